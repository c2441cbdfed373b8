//! Accounts in the app: the connect screen's login fields (the password goes to the keyring,
//! never to the settings file, and is asked for when there is no keyring), and the nick list
//! showing who is logged in, fed by the client state from a scripted server.

mod common;

use anyhow::{Context as _, Result};
use charla_app::AppOptions;
use charla_app::CharlaApp;
use charla_app::config::ConfigStore;
use charla_app::nicklist::LOGGED_IN_BADGE;
use charla_app::secrets::{SecretKey, Secrets};
use charla_client::TrustStore;
use common::{WAIT, app, click, connect, fill, runtime, shows, shows_part, step_until};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

const PASSWORD: &str = "contraseña de Ñandú 🎉";

/// The accessible names of the logged-in badges on screen (the badge shows a check mark; its
/// name and hover text say whose account it is).
fn badges(h: &Harness<'static, CharlaApp>) -> Vec<String> {
    h.query_all_by_label_contains(LOGGED_IN_BADGE)
        .map(|node| format!("{node:?}"))
        .collect()
}

#[test]
fn the_password_goes_to_the_keyring_and_never_to_the_settings_file() -> Result<()> {
    let rt = runtime()?;
    let dir = std::env::temp_dir().join(format!("charla-app-account-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let secrets = Secrets::in_memory();
    let options = AppOptions {
        store: ConfigStore::at(dir.join("charla.toml")),
        trust: TrustStore::in_memory(),
        notifications: false,
        secrets: secrets.clone(),
    };

    let mut h = app(&rt, options.clone());
    fill(&mut h, "Host", "irc.example.org");
    fill(&mut h, "Port", "6697");
    fill(&mut h, "Nick", "Ñandú");
    fill(&mut h, "Account", "ñandú");
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .set_text_value_accesskit(PASSWORD);
    h.step();
    fill(&mut h, "Client certificate", "/home/ñandú/cert.pem");
    assert!(shows(&h, "Certificate key"), "the key's field appears");
    assert!(shows(&h, "Login method"));
    click(&mut h, "Save")?;
    drop(h);

    let saved = std::fs::read_to_string(dir.join("charla.toml"))?;
    assert!(saved.contains("account = \"ñandú\""), "{saved}");
    assert!(saved.contains("/home/ñandú/cert.pem"), "{saved}");
    assert!(
        !saved.contains(PASSWORD),
        "the password is not in the file: {saved}"
    );
    assert!(
        !saved.contains("contraseña"),
        "not even part of it: {saved}"
    );
    let key = SecretKey::new("irc.example.org", 6697, "ñandú");
    assert_eq!(
        secrets.lookup(&key).poll(),
        Some(Ok(Some(PASSWORD.to_owned()))),
        "the keyring has it, keyed by server and account"
    );

    // The next start fills the form from the saved server and the password from the keyring.
    let mut h = app(&rt, options);
    step_until(&mut h, "the password from the keyring", |h| {
        h.state().connect_form().password == PASSWORD
    })?;
    assert!(shows(&h, "The password came from the system keyring."));
    assert_ne!(
        h.get_by_role_and_label(Role::PasswordInput, "Password")
            .value()
            .as_deref(),
        Some(PASSWORD),
        "the field is masked"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn without_a_keyring_the_password_is_asked_for() -> Result<()> {
    let rt = runtime()?;
    let options = AppOptions {
        secrets: Secrets::Unavailable,
        ..AppOptions::ephemeral()
    };
    let mut h = app(&rt, options);
    fill(&mut h, "Nick", "ana");
    fill(&mut h, "Account", "ana");
    step_until(&mut h, "the keyring's absence in words", |h| {
        shows(
            h,
            "No system keyring is available: enter the password each time.",
        )
    })?;
    click(&mut h, "Connect")?;
    assert!(shows(&h, "Enter the password of the account “ana”."));
    assert!(h.state().sessions().is_empty(), "nothing connected");
    Ok(())
}

#[test]
fn the_nick_list_marks_who_is_logged_in_and_whois_says_it() -> Result<()> {
    let rt = runtime()?;
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    // A scripted server: welcome, a channel with bob and carla, bob logged in.
    let server = rt.spawn(async move {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept()).await??;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("USER ") {
                break;
            }
        }
        for line in [
            ":srv 001 ana :Welcome",
            ":ana!a@h JOIN #charla",
            ":srv 353 ana = #charla :ana @bob carla",
            ":srv 366 ana #charla :End of /NAMES list.",
            ":bob!b@h ACCOUNT bobby",
            ":srv 311 ana dora d h * :Dora",
            ":srv 330 ana dora dora_acct :is logged in as",
            ":srv 318 ana dora :End of /WHOIS list.",
        ] {
            write.write_all(format!("{line}\r\n").as_bytes()).await?;
        }
        // Stay up until the test is done.
        while lines.next_line().await?.is_some() {}
        anyhow::Ok(())
    });

    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "ana")?;
    step_until(&mut h, "bob's badge", |h| {
        badges(h)
            .iter()
            .any(|b| b.contains("bob is logged in as bobby"))
    })?;
    assert!(shows(&h, "@bob"), "the nick list is on screen");
    assert_eq!(
        badges(&h).len(),
        1,
        "no badge for carla, who is not logged in"
    );
    let session = h.state().sessions().first().context("session")?;
    assert_eq!(session.state.account_of("bob"), Some("bobby"));
    // WHOIS replies are in the buffer in words.
    h.state_mut().sessions_mut()[0].select(charla_client::BufferId::Server);
    step_until(&mut h, "the WHOIS line", |h| {
        shows_part(h, "dora is logged in as dora_acct")
    })?;
    server.abort();
    Ok(())
}

#[test]
fn creates_an_account_then_logs_in_with_sasl_on_the_real_server() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = common::server(&rt)?;
    let secrets = Secrets::in_memory();
    let options = AppOptions {
        secrets: secrets.clone(),
        ..AppOptions::ephemeral()
    };
    // 1. Create the account on connecting.
    let mut h = app(&rt, options.clone());
    fill(&mut h, "Account", "Ñandú");
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .set_text_value_accesskit(PASSWORD);
    h.step();
    click(&mut h, "Create this account after connecting")?;
    connect(&mut h, addr, "Ñandú")?;
    step_until(&mut h, "account created", |h| {
        shows_part(h, "The account Ñandú was created.")
    })?;
    drop(h);

    // 2. Log in with SASL (SCRAM, which the server offers first).
    let mut h = app(&rt, options.clone());
    fill(&mut h, "Account", "Ñandú");
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .set_text_value_accesskit(PASSWORD);
    h.step();
    connect(&mut h, addr, "Ñandú")?;
    step_until(&mut h, "logged in", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.state.account.as_deref() == Some("Ñandú"))
    })?;
    assert!(shows_part(&h, "logged in as Ñandú"));
    drop(h);

    // 3. A wrong password is said in words, and the chat carries on without an account.
    let mut h = app(&rt, options);
    fill(&mut h, "Account", "Ñandú");
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .set_text_value_accesskit("mala");
    h.step();
    connect(&mut h, addr, "otro")?;
    step_until(&mut h, "the failure in words", |h| {
        shows_part(h, "wrong account name or password")
    })?;
    Ok(())
}

//! NickServ: accounts for clients that speak no SASL.
//!
//! `REGISTER <password> [<email>]` (the account is named after the current nick),
//! `IDENTIFY [<account>] <password>`, `LOGOUT`, `GHOST <nick>`, `DROP <password>`,
//! `SET PASSWORD <new password>`, `SET ALWAYS-ON ON|OFF|DEFAULT`, `INFO [<account>]`, `CERT ADD [<fingerprint>]`,
//! `CERT DEL <fingerprint>`, `CERT LIST`, `HELP`.

use charla_proto::casemap::casefold;
use charla_store::{Conflict, Write};
use tracing::warn;

use crate::account::check::{self, Failure};
use crate::account::create::{self, CreateError};
use crate::account::password::Password;
use crate::account::services::{Service, tell, words};
use crate::account::{PASSWORD_NEEDS_TLS, key, login, may_send_password};
use crate::command::Flow;
use crate::config::Registration;
use crate::session::Session;
use crate::timefmt;

const HELP: &[&str] = &[
    "NickServ keeps accounts. Commands:",
    "REGISTER <password> [email] - register an account named after your nick",
    "IDENTIFY [account] <password> - log in",
    "LOGOUT - log out",
    "GHOST <nick> - disconnect a session using your account's nick",
    "DROP <password> - delete your account",
    "SET PASSWORD <new password> - change your password",
    "SET ALWAYS-ON ON|OFF|DEFAULT - stay online (nick, channels, messages kept) when your last device disconnects",
    "INFO [account] - about an account",
    "CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST - log in with a TLS client certificate (SASL EXTERNAL)",
];

fn say(s: &Session, text: &str) {
    tell(s, Service::NickServ, text);
}

/// Runs one line sent to NickServ.
pub async fn run(s: &mut Session, params: Vec<String>) -> Flow {
    let text = params.into_iter().next().unwrap_or_default();
    let (verb, args) = words(&text);
    match verb.as_str() {
        "REGISTER" => register(s, &args).await,
        "IDENTIFY" | "LOGIN" => identify(s, &args).await,
        "LOGOUT" => {
            if s.client.info.read().account.is_none() {
                say(s, "You are not logged in.");
            } else {
                login::log_out(s);
                say(s, "You are now logged out.");
            }
            Flow::Continue
        }
        "GHOST" => {
            ghost(s, &args);
            Flow::Continue
        }
        "DROP" => drop_account(s, &args).await,
        "SET" => set(s, &args).await,
        "INFO" => {
            info(s, &args).await;
            Flow::Continue
        }
        "CERT" => {
            cert(s, &args).await;
            Flow::Continue
        }
        "HELP" | "" => {
            for line in HELP {
                say(s, line);
            }
            Flow::Continue
        }
        _ => {
            say(
                s,
                &format!("Unknown command {verb}. Send HELP for the list."),
            );
            Flow::Continue
        }
    }
}

/// The logged-in account of the session, or a word to the user.
fn logged_in(s: &Session) -> Option<String> {
    let account = s.client.info.read().account.clone();
    if account.is_none() {
        say(s, "You are not logged in.");
    }
    account
}

fn password_allowed(s: &Session) -> bool {
    if may_send_password(&s.client) {
        return true;
    }
    say(s, PASSWORD_NEEDS_TLS);
    false
}

async fn register(s: &mut Session, args: &[&str]) -> Flow {
    let Some(password) = args.first() else {
        say(s, "Syntax: REGISTER <password> [email]");
        return Flow::Continue;
    };
    if !password_allowed(s) {
        return Flow::Continue;
    }
    if s.client.info.read().account.is_some() {
        say(s, "You are already logged in.");
        return Flow::Continue;
    }
    match s.state.config.accounts.registration {
        Registration::Open => {}
        Registration::Opers if s.client.is_oper() => {}
        Registration::Opers => {
            say(s, "Only IRC operators may register accounts here.");
            return Flow::Continue;
        }
        Registration::Closed => {
            say(s, "Account registration is closed on this server.");
            return Flow::Continue;
        }
    }
    let nick = s.nick();
    let email = args.get(1).map(|e| (*e).to_owned());
    match create::create(&s.state, &nick, Password::new(*password), email).await {
        Ok(record) => {
            say(
                s,
                &format!(
                    "The account {} is registered, and you are logged in.",
                    record.name
                ),
            );
            login::log_in(s, &record.name, "NickServ REGISTER");
        }
        Err(e) => say(s, &e.to_string()),
    }
    Flow::Continue
}

async fn identify(s: &mut Session, args: &[&str]) -> Flow {
    // A password with spaces needs the account named first.
    let joined;
    let (account, password) = match args {
        [password] => (s.nick(), *password),
        [account, rest @ ..] => {
            joined = rest.join(" ");
            ((*account).to_owned(), joined.as_str())
        }
        [] => {
            say(s, "Syntax: IDENTIFY [account] <password>");
            return Flow::Continue;
        }
    };
    if !password_allowed(s) {
        return Flow::Continue;
    }
    if s.client.info.read().account.is_some() {
        say(s, "You are already logged in.");
        return Flow::Continue;
    }
    match check::password(s, &account, Password::new(password), "NickServ IDENTIFY").await {
        Ok(record) => {
            say(s, &format!("You are now logged in as {}.", record.name));
            login::log_in(s, &record.name, "NickServ IDENTIFY");
            Flow::Continue
        }
        Err(Failure::Wrong) => {
            say(s, "Wrong account or password.");
            Flow::Continue
        }
        Err(Failure::Throttled) => {
            say(s, "Too many failed attempts, try again later.");
            Flow::Continue
        }
        Err(Failure::Unavailable) => {
            say(s, "Accounts are not available right now, try again later.");
            Flow::Continue
        }
        Err(Failure::TooManyOnConnection) => {
            say(s, "Wrong account or password.");
            Flow::Close("Too many failed password attempts".to_owned())
        }
    }
}

/// `GHOST <nick>`: disconnects whoever uses the nick of your account, or a session logged into
/// your account.
fn ghost(s: &Session, args: &[&str]) {
    let Some(account) = logged_in(s) else {
        return;
    };
    let Some(nick) = args.first() else {
        say(s, "Syntax: GHOST <nick>");
        return;
    };
    let Some(target) = s.state.find_nick(nick) else {
        say(s, &format!("No one is using {nick}."));
        return;
    };
    if target.id == s.client.id {
        say(s, "That is you.");
        return;
    }
    let theirs = target.info.read().account.as_deref().map(key);
    if casefold(nick) != key(&account) && theirs.as_deref() != Some(key(&account).as_str()) {
        say(
            s,
            &format!("{nick} is not your account's nick, nor logged into your account."),
        );
        return;
    }
    let me = s.nick();
    crate::devices::kill(&s.state, &target, format!("GHOST command used by {me}"));
    say(s, &format!("{nick} has been disconnected."));
}

async fn drop_account(s: &mut Session, args: &[&str]) -> Flow {
    let Some(account) = logged_in(s) else {
        return Flow::Continue;
    };
    let Some(password) = args.first() else {
        say(
            s,
            "Syntax: DROP <password> (this deletes your account and the channels it founded)",
        );
        return Flow::Continue;
    };
    if !password_allowed(s) {
        return Flow::Continue;
    }
    match check::password(s, &account, Password::new(*password), "NickServ DROP").await {
        Ok(record) => {
            let founded = s
                .state
                .store
                .channels_of(&record.key)
                .await
                .unwrap_or_default();
            match s
                .state
                .store
                .write(Write::DropAccount {
                    account: record.key.clone(),
                })
                .await
            {
                Ok(Ok(())) => {
                    s.state.http_logins.forget(&record.key);
                    for ch in founded.iter().filter_map(|c| s.state.channel(c)) {
                        ch.set_registration(None);
                        s.state.drop_channel_if_empty(&ch);
                    }
                    login::log_out(s);
                    say(s, &format!("The account {} is deleted.", record.name));
                }
                Ok(Err(Conflict::NotFound | Conflict::Exists)) => {
                    say(s, "That account no longer exists.");
                }
                Err(e) => {
                    warn!(error = %e, "cannot drop an account");
                    say(s, "Accounts are not available right now, try again later.");
                }
            }
            Flow::Continue
        }
        Err(Failure::TooManyOnConnection) => {
            say(s, "Wrong password.");
            Flow::Close("Too many failed password attempts".to_owned())
        }
        Err(_) => {
            say(s, "Wrong password.");
            Flow::Continue
        }
    }
}

async fn set(s: &mut Session, args: &[&str]) -> Flow {
    match args {
        [what, new, ..] if what.eq_ignore_ascii_case("PASSWORD") => {
            let Some(account) = logged_in(s) else {
                return Flow::Continue;
            };
            if !password_allowed(s) {
                return Flow::Continue;
            }
            let password = Password::new(*new);
            if let Err(e) = create::check_password(&s.state, &password) {
                say(s, &e.to_string());
                return Flow::Continue;
            }
            let Some(hashed) = create::hash(&s.state, password).await else {
                say(s, &CreateError::Unavailable.to_string());
                return Flow::Continue;
            };
            let write = Write::SetPassword {
                account: key(&account),
                password_hash: hashed.phc,
                scram: Some(hashed.scram),
            };
            match s.state.store.write(write).await {
                Ok(Ok(())) => {
                    s.state.http_logins.forget(&account);
                    say(s, "Your password is changed.");
                }
                _ => say(s, &CreateError::Unavailable.to_string()),
            }
        }
        [what, choice, ..] if what.eq_ignore_ascii_case("ALWAYS-ON") => {
            let Some(account) = logged_in(s) else {
                return Flow::Continue;
            };
            let value = match choice.to_ascii_uppercase().as_str() {
                "ON" | "TRUE" | "YES" => Some(true),
                "OFF" | "FALSE" | "NO" => Some(false),
                "DEFAULT" => None,
                _ => {
                    say(s, "Syntax: SET ALWAYS-ON ON|OFF|DEFAULT");
                    return Flow::Continue;
                }
            };
            let write = Write::SetAlwaysOn {
                account: key(&account),
                value,
            };
            match s.state.store.write(write).await {
                Ok(Ok(())) => {
                    s.client.info.write().always_on = value;
                    let on = value.unwrap_or(s.state.config.accounts.always_on);
                    let text = match (on, value.is_none()) {
                        (true, false) => {
                            "Always-on is on: you stay online when your last device disconnects."
                        }
                        (false, false) => {
                            "Always-on is off: you leave when your last device disconnects."
                        }
                        (true, true) => "Always-on follows the server's default, which is on.",
                        (false, true) => "Always-on follows the server's default, which is off.",
                    };
                    say(s, text);
                }
                _ => say(s, &CreateError::Unavailable.to_string()),
            }
        }
        _ => say(
            s,
            "Syntax: SET PASSWORD <new password> | SET ALWAYS-ON ON|OFF|DEFAULT",
        ),
    }
    Flow::Continue
}

async fn info(s: &mut Session, args: &[&str]) {
    let name = match args.first() {
        Some(name) => (*name).to_owned(),
        None => match s.client.info.read().account.clone() {
            Some(account) => account,
            None => s.nick(),
        },
    };
    match s.state.store.account(&key(&name)).await {
        Ok(Some(record)) => {
            say(s, &format!("Account: {}", record.name));
            let since = timefmt::readable(timefmt::from_unix_millis(record.created_at));
            say(s, &format!("Registered: {since}"));
            let online: Vec<String> = s
                .state
                .all_clients()
                .iter()
                .filter(|c| c.info.read().account.as_deref().map(key) == Some(record.key.clone()))
                .map(|c| c.nick())
                .collect();
            if online.is_empty() {
                say(s, "Online: no");
            } else {
                say(s, &format!("Online as: {}", online.join(" ")));
            }
            let mine = s.client.info.read().account.as_deref().map(key) == Some(record.key.clone());
            if mine && let Ok(certs) = s.state.store.certs(&record.key).await {
                say(s, &format!("Client certificates: {}", certs.len()));
            }
        }
        Ok(None) => say(s, &format!("{name} is not a registered account.")),
        Err(_) => say(s, "Accounts are not available right now, try again later."),
    }
}

/// Whether `text` is a SHA-256 fingerprint as CERT takes it (64 hex digits, `:` allowed).
fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

async fn cert(s: &mut Session, args: &[&str]) {
    let Some(account) = logged_in(s) else {
        return;
    };
    let account = key(&account);
    let sub = args
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    match sub.as_str() {
        "ADD" => {
            let fp = match args.get(1) {
                Some(text) => normalize_fingerprint(text),
                None => s.conn.transport.certfp().map(str::to_owned),
            };
            let Some(fp) = fp else {
                say(
                    s,
                    "Give a SHA-256 fingerprint, or connect with a TLS client certificate.",
                );
                return;
            };
            let held = s.state.store.certs(&account).await.unwrap_or_default();
            if held.len() >= s.state.config.accounts.max_certs {
                say(
                    s,
                    &format!(
                        "An account holds at most {} certificates.",
                        s.state.config.accounts.max_certs
                    ),
                );
                return;
            }
            match s
                .state
                .store
                .write(Write::AddCert {
                    account,
                    fingerprint: fp.clone(),
                })
                .await
            {
                Ok(Ok(())) => say(
                    s,
                    &format!("Certificate {fp} added: log in with SASL EXTERNAL."),
                ),
                Ok(Err(_)) => say(s, "That certificate already belongs to an account."),
                Err(_) => say(s, "Accounts are not available right now, try again later."),
            }
        }
        "DEL" => {
            let Some(fp) = args.get(1).and_then(|t| normalize_fingerprint(t)) else {
                say(s, "Syntax: CERT DEL <fingerprint>");
                return;
            };
            match s
                .state
                .store
                .write(Write::DelCert {
                    account,
                    fingerprint: fp.clone(),
                })
                .await
            {
                Ok(Ok(())) => say(s, &format!("Certificate {fp} removed.")),
                Ok(Err(_)) => say(s, "Your account has no such certificate."),
                Err(_) => say(s, "Accounts are not available right now, try again later."),
            }
        }
        "LIST" => match s.state.store.certs(&account).await {
            Ok(certs) if certs.is_empty() => say(s, "Your account has no certificates."),
            Ok(certs) => {
                for fp in certs {
                    say(s, &fp);
                }
            }
            Err(_) => say(s, "Accounts are not available right now, try again later."),
        },
        _ => say(
            s,
            "Syntax: CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST",
        ),
    }
}

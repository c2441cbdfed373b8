//! ChanServ: channel registration. A registered channel keeps its topic, modes, lists and
//! access list across restarts, and gives operator or voice status on join by account.
//!
//! `REGISTER <#channel>` (a channel operator, logged in), `DROP <#channel>` (the founder or an
//! IRC operator), `INFO <#channel>`, `ACCESS <#channel> ADD <account> OP|VOICE`,
//! `ACCESS <#channel> DEL <account>`, `ACCESS <#channel> LIST`, `HELP`.

use std::time::SystemTime;

use charla_store::{AccessLevel, Conflict, Write};
use tracing::{info, warn};

use crate::account::key;
use crate::account::services::{Service, tell, words};
use crate::channel::{Channel, Registration};
use crate::command::Flow;
use crate::logtext::Escaped;
use crate::session::Session;
use crate::timefmt;

const HELP: &[&str] = &[
    "ChanServ keeps channels registered. Commands:",
    "REGISTER <#channel> - register a channel where you are an operator",
    "DROP <#channel> - unregister it (its founder)",
    "INFO <#channel> - about a registered channel",
    "ACCESS <#channel> ADD <account> OP|VOICE - give an account status on join",
    "ACCESS <#channel> DEL <account> - take it away",
    "ACCESS <#channel> LIST - who has status",
];

fn say(s: &Session, text: &str) {
    tell(s, Service::ChanServ, text);
}

/// Runs one line sent to ChanServ.
pub async fn run(s: &mut Session, params: Vec<String>) -> Flow {
    let text = params.into_iter().next().unwrap_or_default();
    let (verb, args) = words(&text);
    match verb.as_str() {
        "REGISTER" => register(s, &args).await,
        "DROP" => drop_channel(s, &args).await,
        "INFO" => info(s, &args),
        "ACCESS" => access(s, &args).await,
        "HELP" | "" => {
            for line in HELP {
                say(s, line);
            }
        }
        _ => say(
            s,
            &format!("Unknown command {verb}. Send HELP for the list."),
        ),
    }
    Flow::Continue
}

/// The channel named by the first word, or a word to the user.
fn channel(s: &Session, args: &[&str], syntax: &str) -> Option<std::sync::Arc<Channel>> {
    let Some(name) = args.first() else {
        say(s, &format!("Syntax: {syntax}"));
        return None;
    };
    let ch = s.state.channel(name);
    if ch.is_none() {
        say(s, &format!("{name} does not exist."));
    }
    ch
}

fn account(s: &Session) -> Option<String> {
    let account = s.client.info.read().account.clone();
    if account.is_none() {
        say(
            s,
            "Log in to an account first (NickServ IDENTIFY, or SASL).",
        );
    }
    account
}

async fn register(s: &mut Session, args: &[&str]) {
    let Some(ch) = channel(s, args, "REGISTER <#channel>") else {
        return;
    };
    let Some(founder) = account(s) else {
        return;
    };
    if ch.registration().is_some() {
        say(s, &format!("{} is already registered.", ch.name()));
        return;
    }
    if !ch.read(|st| st.member(s.client.id).is_some_and(|m| m.op)) {
        say(
            s,
            &format!("You must be an operator of {} to register it.", ch.name()),
        );
        return;
    }
    let record = ch.to_record(&key(&founder));
    match s.state.store.write(Write::RegisterChannel(record)).await {
        Ok(Ok(())) => {
            ch.set_registration(Some(Registration {
                founder: key(&founder),
                access: Vec::new(),
                registered_at: SystemTime::now(),
                store: s.state.store.clone(),
            }));
            info!(channel = %Escaped(&ch.name()), founder = %Escaped(&founder), "channel registered");
            say(s, &format!("{} is registered to {founder}.", ch.name()));
        }
        Ok(Err(Conflict::Exists)) => say(s, &format!("{} is already registered.", ch.name())),
        Ok(Err(Conflict::NotFound)) => say(s, "Your account no longer exists."),
        Err(e) => {
            warn!(error = %e, "cannot register a channel");
            say(
                s,
                "Channel registration is not available right now, try again later.",
            );
        }
    }
}

/// Whether the session may manage `reg`: its founder, or an IRC operator.
fn may_manage(s: &Session, reg: &Registration) -> bool {
    let mine = s.client.info.read().account.as_deref().map(key);
    mine.as_deref() == Some(reg.founder.as_str()) || s.client.is_oper()
}

async fn drop_channel(s: &mut Session, args: &[&str]) {
    let Some(ch) = channel(s, args, "DROP <#channel>") else {
        return;
    };
    let Some(reg) = ch.registration() else {
        say(s, &format!("{} is not registered.", ch.name()));
        return;
    };
    if !may_manage(s, &reg) {
        say(
            s,
            &format!("Only the founder of {} may drop it.", ch.name()),
        );
        return;
    }
    match s
        .state
        .store
        .write(Write::DropChannel { channel: ch.key() })
        .await
    {
        Ok(_) => {
            ch.set_registration(None);
            s.state.drop_channel_if_empty(&ch);
            say(s, &format!("{} is no longer registered.", ch.name()));
        }
        Err(e) => {
            warn!(error = %e, "cannot drop a channel");
            say(
                s,
                "Channel registration is not available right now, try again later.",
            );
        }
    }
}

fn info(s: &Session, args: &[&str]) {
    let Some(ch) = channel(s, args, "INFO <#channel>") else {
        return;
    };
    let Some(reg) = ch.registration() else {
        say(s, &format!("{} is not registered.", ch.name()));
        return;
    };
    say(s, &format!("Channel: {}", ch.name()));
    say(s, &format!("Founder: {}", reg.founder));
    say(
        s,
        &format!("Registered: {}", timefmt::readable(reg.registered_at)),
    );
    say(s, &format!("Access entries: {}", reg.access.len()));
}

async fn access(s: &mut Session, args: &[&str]) {
    const SYNTAX: &str = "ACCESS <#channel> ADD <account> OP|VOICE | DEL <account> | LIST";
    let Some(ch) = channel(s, args, SYNTAX) else {
        return;
    };
    let Some(reg) = ch.registration() else {
        say(s, &format!("{} is not registered.", ch.name()));
        return;
    };
    let sub = args
        .get(1)
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    if sub == "LIST" {
        if reg.access.is_empty() {
            say(s, &format!("{} has no access entries.", ch.name()));
        }
        for a in &reg.access {
            say(s, &format!("{} {}", a.account, a.level.as_str()));
        }
        return;
    }
    if !may_manage(s, &reg) {
        say(
            s,
            &format!(
                "Only the founder of {} may change its access list.",
                ch.name()
            ),
        );
        return;
    }
    match (sub.as_str(), args.get(2), args.get(3)) {
        ("ADD", Some(name), Some(level)) => {
            let level = match level.to_ascii_uppercase().as_str() {
                "OP" => AccessLevel::Op,
                "VOICE" => AccessLevel::Voice,
                _ => {
                    say(s, &format!("Syntax: {SYNTAX}"));
                    return;
                }
            };
            match s.state.store.account(&key(name)).await {
                Ok(Some(record)) => {
                    ch.set_access(&record.key, Some(level));
                    say(
                        s,
                        &format!(
                            "{} gets {} in {} on join.",
                            record.name,
                            level.as_str(),
                            ch.name()
                        ),
                    );
                }
                Ok(None) => say(s, &format!("{name} is not a registered account.")),
                Err(_) => say(s, "Accounts are not available right now, try again later."),
            }
        }
        ("DEL", Some(name), _) => {
            if reg.access.iter().any(|a| a.account == key(name)) {
                ch.set_access(&key(name), None);
                say(s, &format!("{name} has no access in {} now.", ch.name()));
            } else {
                say(s, &format!("{name} has no access in {}.", ch.name()));
            }
        }
        _ => say(s, &format!("Syntax: {SYNTAX}")),
    }
}

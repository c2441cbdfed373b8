//! NickServ and ChanServ: the services classic clients know, for those that speak no SASL or
//! REGISTER, and for channel registration.
//!
//! Not users: their names are reserved, and a line to them (`PRIVMSG NickServ :IDENTIFY ...`,
//! or the short commands `NS`/`NICKSERV`/`CS`/`CHANSERV`) is taken by the server, never
//! relayed nor logged (it may hold a password). They answer with NOTICEs from
//! `NickServ!NickServ@<server>`. Their work waits for the store or the hashing pool, so they
//! run as async handlers.

use charla_proto::LineBuilder;

use crate::command::table::{Owned, Wait};
use crate::command::{Flow, Pending};
use crate::session::Session;
use crate::state::State;

pub mod chanserv;
pub mod nickserv;

/// A service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Accounts and nicks.
    NickServ,
    /// Channel registration.
    ChanServ,
}

impl Service {
    /// The service a target names, if any (`NickServ`, `nickserv@server`, any case).
    pub fn named(target: &str) -> Option<Service> {
        let name = target.split('@').next().unwrap_or(target);
        if name.eq_ignore_ascii_case("NickServ") {
            Some(Service::NickServ)
        } else if name.eq_ignore_ascii_case("ChanServ") {
            Some(Service::ChanServ)
        } else {
            None
        }
    }

    /// Its nick.
    pub fn nick(self) -> &'static str {
        match self {
            Service::NickServ => "NickServ",
            Service::ChanServ => "ChanServ",
        }
    }
}

/// Whether `nick` is reserved for a service.
pub fn is_reserved(nick: &str) -> bool {
    Service::named(nick).is_some() && !nick.contains('@')
}

/// The source of a service's lines: `Name!Name@<server>`.
pub fn source(state: &State, name: &str) -> String {
    format!("{name}!{name}@{}", state.name())
}

/// A NOTICE from `service` to the session's client.
pub fn tell(s: &Session, service: Service, text: &str) {
    let mut line = LineBuilder::new();
    line.source(&source(&s.state, service.nick()))
        .command("NOTICE")
        .param(&s.nick())
        .trailing(text);
    s.send_line(line);
}

/// Hands `text`, a line to `service`, to it: it runs once the connection gets to it.
pub fn to_service(service: Service, text: &str) -> Flow {
    let run: fn(&mut Session, Vec<String>) -> Wait<'_> = match service {
        Service::NickServ => |s, p| Box::pin(nickserv::run(s, p)),
        Service::ChanServ => |s, p| Box::pin(chanserv::run(s, p)),
    };
    Flow::Wait(Box::new(Pending::new(run, vec![text.to_owned()])))
}

/// `NS <text>` / `NICKSERV <text>`: a line to NickServ.
pub async fn ns(s: &mut Session, p: Owned<1>) -> Flow {
    nickserv::run(s, vec![joined(&p)]).await
}

/// `CS <text>` / `CHANSERV <text>`: a line to ChanServ.
pub async fn cs(s: &mut Session, p: Owned<1>) -> Flow {
    chanserv::run(s, vec![joined(&p)]).await
}

/// The words of a short command as one text (`NS IDENTIFY pw` has them as parameters).
fn joined(p: &Owned<1>) -> String {
    let mut text = p.req[0].clone();
    let mut i = 1;
    while let Some(more) = p.get(i) {
        text.push(' ');
        text.push_str(more);
        i += 1;
    }
    text
}

/// Splits a service command into its verb (upper case) and the rest.
pub fn words(text: &str) -> (String, Vec<&str>) {
    let mut it = text.split(' ').filter(|w| !w.is_empty());
    let verb = it.next().unwrap_or("").to_ascii_uppercase();
    (verb, it.collect())
}

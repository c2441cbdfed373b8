//! Command handlers, one file per command or small family: a reader finds "what happens on
//! JOIN" in `join.rs`. [`dispatch`] checks registration and parameter counts that every
//! command shares, then calls the handler.
//!
//! Handlers are synchronous: they change the shared state and push encoded lines into send
//! queues, never touching a socket. The one that must wait (OPER hashes a password on a
//! blocking thread) returns [`Flow::Wait`] with what it needs, and the connection awaits
//! [`finish`].

pub mod away;
pub mod cap;
pub mod info;
pub mod invite;
pub mod join;
pub mod kick;
pub mod list;
pub mod mode;
pub mod names;
pub mod nick;
pub mod oper;
pub mod paced;
pub mod part;
pub mod ping;
pub mod privmsg;
pub mod quit;
pub mod registration;
pub mod setname;
pub mod topic;
pub mod userhost;
pub mod who;
pub mod whois;

use charla_proto::Message;
use charla_proto::numeric::{ERR_NEEDMOREPARAMS, ERR_NOTREGISTERED, ERR_UNKNOWNCOMMAND};

use crate::session::Session;

/// What the session does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Carry on.
    Continue,
    /// The client quit with this message.
    Quit(String),
    /// The server ends the session for this reason (e.g. a wrong password).
    Close(String),
    /// The command must wait before it can finish; the connection awaits [`finish`] with it,
    /// holding nothing else of the line.
    Wait(Box<Deferred>),
}

/// The part of a command that must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// OPER's password check, on a blocking thread.
    Oper(oper::OperCheck),
}

/// Finishes a command that had to wait.
pub async fn finish(s: &mut Session, deferred: Deferred) -> Flow {
    match deferred {
        Deferred::Oper(check) => oper::finish_oper(s, check).await,
    }
}

/// Commands allowed before registration (<https://modern.ircdocs.horse/#connection-registration>).
fn allowed_unregistered(cmd: &str) -> bool {
    matches!(
        cmd,
        "PASS" | "NICK" | "USER" | "CAP" | "PING" | "PONG" | "QUIT"
    )
}

/// The least number of parameters each command needs; fewer gets ERR_NEEDMOREPARAMS.
fn min_params(cmd: &str) -> usize {
    match cmd {
        "PASS" | "PING" | "JOIN" | "PART" | "TOPIC" | "MODE" | "WHOWAS" | "ISON" | "USERHOST"
        | "KILL" | "WALLOPS" | "GLOBAL" | "TAGMSG" | "SETNAME" | "CAP" => 1,
        "INVITE" | "KICK" | "OPER" => 2,
        "USER" => 4,
        _ => 0,
    }
}

/// Extra flood tokens a command costs on top of its line's one: commands whose answer is
/// large or that change shared state weigh more, as in other servers' fakelag.
pub fn penalty(cmd: &str) -> u32 {
    match cmd {
        "LIST" => 4,
        "WHO" | "WHOWAS" => 2,
        "JOIN" | "PART" | "NICK" | "WHOIS" | "NAMES" | "INVITE" => 1,
        _ => 0,
    }
}

/// Items (clients or channels) a command may look at for one flood token: a query that scans
/// the whole server costs its asker in proportion to the server's size, so that no one can
/// make the server scan it for others faster than ordinary use does.
pub const ITEMS_PER_TOKEN: usize = 250;

/// The extra flood tokens for looking at `items` clients or channels.
pub fn work_penalty(items: usize) -> u32 {
    u32::try_from(items / ITEMS_PER_TOKEN).unwrap_or(u32::MAX)
}

/// Runs one parsed line.
pub fn dispatch(s: &mut Session, msg: &Message<'_>) -> Flow {
    let cmd = msg.command.to_ascii_uppercase();
    let cmd = cmd.as_str();
    s.penalty = penalty(cmd);
    if !s.reg.done && !allowed_unregistered(cmd) {
        s.num(ERR_NOTREGISTERED).t("You have not registered").send();
        return Flow::Continue;
    }
    if msg.params.len() < min_params(cmd) {
        s.num(ERR_NEEDMOREPARAMS)
            .p(cmd)
            .t("Not enough parameters")
            .send();
        return Flow::Continue;
    }
    let p = &msg.params[..];
    match cmd {
        "PASS" => registration::pass(s, p),
        "NICK" => nick::nick(s, p),
        "USER" => registration::user(s, p),
        "CAP" => cap::cap(s, p),
        "PING" => ping::ping(s, p),
        "PONG" => Flow::Continue,
        "QUIT" => Flow::Quit(p.first().copied().unwrap_or("").to_owned()),
        "JOIN" => join::join(s, p),
        "PART" => part::part(s, p),
        "PRIVMSG" => privmsg::message(s, msg, privmsg::Kind::Privmsg),
        "NOTICE" => privmsg::message(s, msg, privmsg::Kind::Notice),
        "TAGMSG" => privmsg::message(s, msg, privmsg::Kind::Tagmsg),
        "NAMES" => names::names(s, p),
        "TOPIC" => topic::topic(s, p),
        "LIST" => list::list(s, p),
        "INVITE" => invite::invite(s, p),
        "KICK" => kick::kick(s, p),
        "MODE" => mode::mode(s, p),
        "WHO" => who::who(s, p),
        "WHOIS" => whois::whois(s, p),
        "WHOWAS" => whois::whowas(s, p),
        "AWAY" => away::away(s, p),
        "ISON" => userhost::ison(s, p),
        "USERHOST" => userhost::userhost(s, p),
        "VERSION" => info::version(s),
        "TIME" => info::time(s),
        "INFO" => info::info(s),
        "MOTD" => info::motd(s),
        "LUSERS" => info::lusers(s),
        "OPER" => oper::oper(s, p),
        "KILL" => oper::kill(s, p),
        "WALLOPS" => oper::wallops(s, p),
        "GLOBAL" => oper::global(s, p),
        "SETNAME" => setname::setname(s, p),
        _ => {
            s.num(ERR_UNKNOWNCOMMAND)
                .p(msg.command)
                .t("Unknown command")
                .send();
            Flow::Continue
        }
    }
}

/// Splits a comma-separated list, skipping empty items.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|x| !x.is_empty())
}

//! Command handlers, one file per command or small family: a reader finds "what happens on
//! JOIN" in `join.rs`, and what every command needs before it runs in one line of the
//! [`table`]. [`dispatch`] looks the command up, checks registration and the parameter count,
//! charges its flood cost, then calls the handler.
//!
//! Handlers change the shared state and hand lines for others to [`crate::deliver`]; their own
//! replies are collected in the session and queued when the command ends. A handler that must
//! wait (a password check, the store) is async in the table, or returns [`Flow::Wait`] with
//! what it needs; the connection awaits it before it reads the next line.

pub mod away;
pub mod cap;
pub mod chathistory;
pub mod committing;
pub mod help;
pub mod info;
pub mod invite;
pub mod join;
pub mod kick;
pub mod list;
pub mod markread;
pub mod metadata;
pub mod mode;
pub mod monitor;
pub mod multiline;
pub mod names;
pub mod nick;
pub mod oper;
pub mod paced;
pub mod part;
pub mod ping;
pub mod privmsg;
pub mod quit;
pub mod redact;
pub mod register;
pub mod registration;
pub mod rename;
pub mod search;
pub mod setname;
pub mod table;
pub mod topic;
pub mod turns;
pub mod userhost;
pub mod webirc;
pub mod who;
pub mod whois;

use charla_proto::Message;
use charla_proto::numeric::{ERR_NEEDMOREPARAMS, ERR_NOTREGISTERED, ERR_UNKNOWNCOMMAND};

use charla_proto::message::parse_tags;

use crate::caps::Cap;
use crate::session::Session;
use table::{Handler, Wait};

/// What the session does after a command.
#[derive(Debug)]
pub enum Flow {
    /// Carry on.
    Continue,
    /// The client quit with this message.
    Quit(String),
    /// The server ends the session for this reason (e.g. a wrong password).
    Close(String),
    /// The command must wait before it can finish: the connection runs this, holding nothing
    /// else of the line.
    Wait(Box<Pending>),
}

/// The part of a command that must wait: an async handler and its parameters, or any
/// continuation (e.g. delivering a message once its history is committed).
pub struct Pending(Waiting);

/// A continuation of a command.
pub type Later = Box<dyn for<'s> FnOnce(&'s mut Session) -> Wait<'s> + Send>;

enum Waiting {
    Command {
        run: fn(&mut Session, Vec<String>) -> Wait<'_>,
        params: Vec<String>,
    },
    Later(Later),
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The parameters may hold a password.
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Pending {
    /// `run` with `params`, once the connection gets to it.
    pub fn new(run: fn(&mut Session, Vec<String>) -> Wait<'_>, params: Vec<String>) -> Self {
        Pending(Waiting::Command { run, params })
    }

    /// `later`, once the connection gets to it.
    pub fn later(later: Later) -> Self {
        Pending(Waiting::Later(later))
    }

    /// Runs it.
    pub fn run(self, s: &mut Session) -> Wait<'_> {
        match self.0 {
            Waiting::Command { run, params } => run(s, params),
            Waiting::Later(later) => later(s),
        }
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
    if !msg.raw_tags.is_empty()
        && s.conn.has_cap(Cap::Multiline)
        && let Some(flow) = multiline::intercept(s, msg)
    {
        return flow;
    }
    start_label(s, msg);
    if !msg.command.eq_ignore_ascii_case("WEBIRC") {
        s.reg.spoke = true;
    }
    let Some(command) = table::find(msg.command) else {
        if !s.reg.done {
            s.num(ERR_NOTREGISTERED).t("You have not registered").send();
        } else {
            s.num(ERR_UNKNOWNCOMMAND)
                .p(msg.command)
                .t("Unknown command")
                .send();
        }
        return Flow::Continue;
    };
    s.penalty = command.cost;
    if !s.reg.done && !command.before_registration {
        s.num(ERR_NOTREGISTERED).t("You have not registered").send();
        return Flow::Continue;
    }
    if msg.params.len() < command.min_params {
        s.num(ERR_NEEDMOREPARAMS)
            .p(command.name)
            .t("Not enough parameters")
            .send();
        return Flow::Continue;
    }
    match command.handler {
        Handler::Sync(run) => run(s, msg),
        Handler::Async(run) => Flow::Wait(Box::new(Pending::new(
            run,
            msg.params.iter().map(|p| (*p).to_owned()).collect(),
        ))),
    }
}

/// The longest label accepted; a longer one is ignored (the spec's limit is 64 bytes).
const MAX_LABEL: usize = 64;

/// Marks the command as labeled if it carries a `label` and the client asked for
/// `labeled-response` (<https://ircv3.net/specs/extensions/labeled-response>).
fn start_label(s: &Session, msg: &Message<'_>) {
    if msg.raw_tags.is_empty() || !s.conn.has_cap(Cap::LabeledResponse) {
        return;
    }
    if let Some(label) = parse_tags(msg.raw_tags).find(|t| t.key == "label")
        && !label.value.is_empty()
        && label.value.len() <= MAX_LABEL
    {
        s.replies
            .start_label(&label.value, s.conn.has_cap(Cap::Batch), s.state.name());
    }
}

/// Splits a comma-separated list, skipping empty items.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|x| !x.is_empty())
}

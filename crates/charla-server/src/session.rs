//! A session: what the command handlers see of one connection — the shared state, the client,
//! and the registration progress — plus helpers to reply.

use std::sync::Arc;

use charla_proto::LineBuilder;
use charla_proto::numeric::{ERR_CHANOPRIVSNEEDED, ERR_NOTONCHANNEL};

use crate::client::Client;
use crate::command::paced::Pending;
use crate::deliver::{Actor, Replies};
use crate::outbound::{Line, Outgoing};
use crate::state::State;

/// Registration progress (<https://modern.ircdocs.horse/#connection-registration>).
#[derive(Debug, Default)]
pub struct Registration {
    /// NICK was accepted.
    pub has_nick: bool,
    /// USER was accepted.
    pub has_user: bool,
    /// CAP LS or CAP REQ started negotiation; registration waits for CAP END.
    pub cap_negotiating: bool,
    /// The client asked `CAP LS 302` (or higher).
    pub cap_302: bool,
    /// The password given with PASS.
    pub pass: Option<crate::account::password::Password>,
    /// A SASL exchange under way (AUTHENTICATE).
    pub sasl: Option<Box<crate::account::sasl::Exchange>>,
    /// Registration finished.
    pub done: bool,
    /// Failed password attempts on this connection (OPER, SASL, NickServ).
    pub password_failures: u32,
    /// A command came (WEBIRC aside): WEBIRC, which must be the first, is too late.
    pub spoke: bool,
    /// The nick asked for is held by a user logged into an account, and this connection may
    /// still log into it and attach to that user: it is claimed when registration ends.
    pub nick_deferred: bool,
    /// In a cluster, this connection is relayed to the node where its account's user lives
    /// ([`crate::cluster::relay`]): its lines are run there.
    pub relayed: bool,
}

/// One connection's session.
#[derive(Debug)]
pub struct Session {
    /// The shared state.
    pub state: Arc<State>,
    /// The user this connection acts as: its nick, modes and channels. The connection's own
    /// `Client` ([`conn`](Self::conn)) until it attaches to a user already present on its account
    /// ([`crate::devices`]).
    pub client: Arc<Client>,
    /// This connection: its send queue, capabilities, transport and address.
    pub conn: Arc<Client>,
    /// Registration progress.
    pub reg: Registration,
    /// Extra flood tokens the last command costs (its cost in the command table, plus what a
    /// scan adds: [`crate::command::work_penalty`]).
    pub penalty: u32,
    /// The rest of a big reply, produced as the send queue drains ([`crate::command::paced`]).
    pub pending: Pending,
    /// The current command's replies, queued when it ends ([`Session::flush`]).
    pub replies: Replies,
    /// A `draft/multiline` batch the client is sending.
    pub multiline: Option<Box<crate::command::multiline::Batch>>,
    /// Messages sent and waiting for their history commits before delivery
    /// ([`crate::command::committing`]), and the current line's admission to the store;
    /// `None` between lines when there are none.
    pub in_flight: Option<Box<crate::command::committing::InFlight>>,
}

/// A numeric reply being built; [`Reply::send`] queues it to the session's client.
#[derive(Debug)]
#[must_use = "a reply does nothing until sent"]
pub struct Reply<'a> {
    line: LineBuilder,
    session: &'a Session,
}

impl Reply<'_> {
    /// Adds a middle parameter (it becomes trailing if it must).
    pub fn p(mut self, param: &str) -> Self {
        self.line.param(param);
        self
    }

    /// Adds the trailing parameter.
    pub fn t(mut self, text: &str) -> Self {
        self.line.trailing(text);
        self
    }

    /// Queues the reply.
    pub fn send(self) {
        self.session.send_line(self.line);
    }
}

impl Session {
    /// A session for a new connection, acting as itself.
    pub fn new(state: Arc<State>, client: Arc<Client>) -> Self {
        Session {
            state,
            conn: client.clone(),
            client,
            reg: Registration::default(),
            penalty: 0,
            pending: None,
            replies: Replies::default(),
            multiline: None,
            in_flight: None,
        }
    }

    /// The current nick (`*` before NICK).
    pub fn nick(&self) -> String {
        self.client.nick()
    }

    /// A numeric reply to this client: `:server NNN <nick> ...`.
    pub fn num(&self, numeric: u16) -> Reply<'_> {
        let mut line = LineBuilder::new();
        line.source(self.state.name())
            .numeric(numeric)
            .param(&self.nick());
        Reply {
            line,
            session: self,
        }
    }

    /// Queues a finished line to this client.
    pub fn send_line(&self, line: LineBuilder) {
        self.send_bytes(Line::exact(line.finish()));
    }

    /// A line from this client to others, with its account for `account-tag` clients and the
    /// `bot` tag if it is a bot.
    pub fn outgoing(&self, line: LineBuilder) -> Outgoing {
        self.tagged(Outgoing::new(line))
    }

    /// `out` with the tags every line from this client carries (its account, `bot`).
    pub fn tagged(&self, out: Outgoing) -> Outgoing {
        self.client.tagged(out)
    }

    /// `442 ERR_NOTONCHANNEL`: the client acted on a channel it is not in.
    pub fn err_not_on_channel(&self, channel: &str) {
        self.num(ERR_NOTONCHANNEL)
            .p(channel)
            .t("You're not on that channel")
            .send();
    }

    /// `482 ERR_CHANOPRIVSNEEDED`: the action needs channel operator status.
    pub fn err_chanop_needed(&self, channel: &str) {
        self.num(ERR_CHANOPRIVSNEEDED)
            .p(channel)
            .t("You're not channel operator")
            .send();
    }

    /// Adds encoded bytes to the current command's replies.
    pub fn send_bytes(&self, line: Line) {
        self.replies.push(line);
    }

    /// This connection as the one acting in a delivery: its own copy of a line goes out after
    /// the replies collected so far.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            id: self.conn.id,
            replies: &self.replies,
        }
    }

    /// Who sends what this session sends: its user, from this connection.
    pub fn from(&self) -> crate::channel::From {
        crate::channel::From {
            user: self.client.id,
            conn: self.conn.id,
        }
    }

    /// Queues the collected replies; the command goes on (it waits, or produces a big reply a
    /// piece at a time). A full queue closes itself and ends the session.
    pub fn flush(&self) {
        self.replies.flush(&self.conn.queue);
    }

    /// Queues the replies of the command that just ran. It has ended unless a paced reply of
    /// it is still being produced; then its labeled response, if any, stays open.
    pub fn end_command(&self) {
        if self.pending.is_some() {
            self.replies.flush(&self.conn.queue);
        } else {
            self.replies.finish(&self.conn.queue);
        }
    }

    /// A line from the server: `:server COMMAND`.
    pub fn server_line(&self, command: &str) -> LineBuilder {
        self.state.server_line(command)
    }

    /// The RPL_ISUPPORT lines.
    pub fn send_isupport(&self) {
        for line in self.state.isupport.lines(self.state.name(), &self.nick()) {
            self.send_bytes(Line::from(line));
        }
    }

    /// Sends a standard reply `FAIL <command> <code> :<text>`
    /// (<https://ircv3.net/specs/extensions/standard-replies>).
    pub fn fail(&self, command: &str, code: &str, text: &str) {
        let mut line = self.server_line("FAIL");
        line.param(command).param(code).trailing(text);
        self.send_line(line);
    }
}

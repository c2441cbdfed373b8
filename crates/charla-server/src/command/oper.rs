//! Operator commands (<https://modern.ircdocs.horse/#operator-messages>): OPER, KILL, WALLOPS,
//! and server-wide notices — `PRIVMSG/NOTICE $<servermask> :text` as other servers do, and
//! `GLOBAL :text` as a short form of `NOTICE $* :text`.

use charla_proto::LineBuilder;
use charla_proto::numeric::{
    ERR_NEEDMOREPARAMS, ERR_NOPRIVILEGES, ERR_NOSUCHNICK, ERR_PASSWDMISMATCH, RPL_YOUREOPER,
};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::account::throttle::{Admission, FAILURES_PER_CONNECTION};
use crate::account::{self, password::Password};
use crate::command::Flow;
use crate::command::table::{Args, Owned};
use crate::deliver::{self, Payload};
use crate::event::{MessageKind, ServerEvent};
use crate::logtext::Escaped;
use crate::mask;
use crate::outbound::Outgoing;
use crate::session::Session;
use crate::state::Counter;
use crate::state::State;

/// Why a session is closed after too many wrong passwords.
const TOO_MANY_FAILURES: &str = "Too many failed password attempts";

fn no_privileges(s: &Session) {
    s.num(ERR_NOPRIVILEGES)
        .t("Permission Denied- You're not an IRC operator")
        .send();
}

/// `OPER <name> [<password>]`. An operator block that names an account takes a user logged
/// into it, with no password; one with a password hash checks the password on the hashing
/// pool (Argon2 is slow on purpose, and must not stall the other sessions of this runtime
/// thread).
pub async fn oper(s: &mut Session, p: Owned<1>) -> Flow {
    let password = p.get(1).map(Password::new);
    let [name] = p.req;
    let block = s
        .state
        .config
        .opers
        .iter()
        .find(|o| o.name == name)
        .cloned();
    let by_account = block
        .as_ref()
        .and_then(|b| b.account.as_deref())
        .is_some_and(|a| {
            s.client.info.read().account.as_deref().map(account::key) == Some(account::key(a))
        });
    if by_account {
        return become_oper(s, name);
    }
    let Some(password) = password else {
        s.num(ERR_NEEDMOREPARAMS)
            .p("OPER")
            .t("Not enough parameters")
            .send();
        return Flow::Continue;
    };
    let hash = block.and_then(|b| b.password_hash);
    // Guessing is braked per address: the attempt may have to wait its turn, or be refused.
    let ip = s.conn.addr.ip();
    match s.state.auth_throttle.admit(&ip, Instant::now()) {
        Admission::Now => {}
        Admission::At(at) => tokio::time::sleep_until(at).await,
        Admission::Refused => {
            warn!(conn_id = %s.conn.id, peer = %s.conn.addr, "OPER refused: too many failed attempts from this address");
            return Flow::Close(TOO_MANY_FAILURES.to_owned());
        }
    }
    let ok = match hash {
        Some(hash) => s.state.hasher.verify(hash, password).await,
        None => false,
    };
    if !ok {
        // One reply for unknown names and wrong passwords: do not reveal which names exist.
        s.reg.password_failures += 1;
        s.state.auth_throttle.failed(&ip, Instant::now());
        warn!(conn_id = %s.conn.id, peer = %s.conn.addr, oper = %Escaped(&name),
            failures = s.reg.password_failures, "failed OPER");
        s.num(ERR_PASSWDMISMATCH).t("Password incorrect").send();
        if s.reg.password_failures >= FAILURES_PER_CONNECTION {
            return Flow::Close(TOO_MANY_FAILURES.to_owned());
        }
        return Flow::Continue;
    }
    s.state.auth_throttle.succeeded(&ip);
    become_oper(s, name)
}

/// Gives the session's client operator status as `name`.
fn become_oper(s: &Session, name: String) -> Flow {
    let nick = {
        let mut info = s.client.info.write();
        if !info.modes.oper {
            s.state.count(Counter::Opers, true);
        }
        info.modes.oper = true;
        info.oper_name = Some(name.clone());
        info.nick.clone()
    };
    s.num(RPL_YOUREOPER).t("You are now an IRC operator").send();
    let mut line = LineBuilder::new();
    line.source(&nick).command("MODE").param(&nick).param("+o");
    s.send_line(line);
    debug!(conn_id = %s.conn.id, nick = %Escaped(&nick), oper = %Escaped(&name), "OPER");
    s.state.emit(ServerEvent::Opered { nick, name });
    Flow::Continue
}

/// `KILL <nick> <comment>`.
pub fn kill(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if !s.client.is_oper() {
        no_privileges(s);
        return Flow::Continue;
    }
    let Some(target) = s.state.find_nick(p.req[0]) else {
        s.num(ERR_NOSUCHNICK)
            .p(p.req[0])
            .t("No such nick/channel")
            .send();
        return Flow::Continue;
    };
    let comment = p.get(1).filter(|c| !c.is_empty()).unwrap_or("No reason");
    let killer = s.client.nick();
    let mut line = LineBuilder::new();
    line.source(&s.client.source())
        .command("KILL")
        .param(&target.nick())
        .trailing(comment);
    deliver::to_client(&target, &Payload::new(Outgoing::new(line)), Some(s.actor()));
    let tnick = target.nick();
    crate::devices::kill(&s.state, &target, format!("Killed ({killer} ({comment}))"));
    // The operator hears that it was done (they may share no channel with the target).
    if target.id != s.client.id {
        let mut notice = s.server_line("NOTICE");
        notice
            .param(&killer)
            .trailing(&format!("Killed {tnick} ({comment})"));
        s.send_line(notice);
    }
    Flow::Continue
}

/// `WALLOPS <text>`: to every user with mode +w.
pub fn wallops(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if !s.client.is_oper() {
        no_privileges(s);
        return Flow::Continue;
    }
    let mut line = LineBuilder::new();
    line.source(&s.client.source())
        .command("WALLOPS")
        .trailing(p.req[0]);
    deliver::to_wallops(&s.state, &Payload::new(Outgoing::new(line)));
    Flow::Continue
}

/// `GLOBAL <text>`: `NOTICE $* :<text>` from the operator to everyone.
pub fn global(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if !s.client.is_oper() {
        no_privileges(s);
        return Flow::Continue;
    }
    let source = s.client.source();
    server_notice_all(&s.state, &source, p.req[0]);
    s.state.emit(ServerEvent::Message {
        from: s.client.nick(),
        target: "$*".to_owned(),
        text: p.req[0].to_owned(),
        kind: MessageKind::Notice,
    });
    Flow::Continue
}

/// `NOTICE $* :<text>` from `source` to every registered user, encoded once.
pub fn server_notice_all(state: &State, source: &str, text: &str) {
    let mut line = LineBuilder::new();
    line.source(source)
        .command("NOTICE")
        .param("$*")
        .trailing(text);
    deliver::to_everyone(state, &Payload::new(Outgoing::new(line)));
    if source == state.name() {
        state.emit(ServerEvent::Message {
            from: source.to_owned(),
            target: "$*".to_owned(),
            text: text.to_owned(),
            kind: MessageKind::Notice,
        });
    }
}

/// PRIVMSG/NOTICE to `$<servermask>`: operators only. Returns whether it was sent.
pub fn to_server_mask(s: &Session, target: &str, payload: &Payload) -> bool {
    if !s.client.is_oper() {
        no_privileges(s);
        return false;
    }
    let server_mask = &target[1..];
    if !mask::matches(server_mask, s.state.name()) {
        s.num(ERR_NOSUCHNICK)
            .p(target)
            .t("No such nick/channel")
            .send();
        return false;
    }
    deliver::to_everyone(&s.state, payload);
    true
}

//! NICK (<https://modern.ircdocs.horse/#nick-message>): choosing a nick before registration and
//! changing it after. A change of case only (`alice` -> `Alice`) is allowed.

use charla_proto::LineBuilder;
use charla_proto::numeric::{ERR_ERRONEUSNICKNAME, ERR_NICKNAMEINUSE, ERR_NONICKNAMEGIVEN};
use charla_proto::validate::is_valid_nick;

use crate::command::{Flow, registration};
use crate::event::ServerEvent;
use crate::outbound::Outgoing;
use crate::session::Session;

/// `NICK <nickname>`.
pub fn nick(s: &mut Session, p: &[&str]) -> Flow {
    let Some(&wanted) = p.first().filter(|n| !n.is_empty()) else {
        s.num(ERR_NONICKNAMEGIVEN).t("No nickname given").send();
        return Flow::Continue;
    };
    if !is_valid_nick(wanted) {
        s.num(ERR_ERRONEUSNICKNAME)
            .p(wanted)
            .t("Erroneous nickname")
            .send();
        return Flow::Continue;
    }
    let (old_source, old_nick) = {
        let info = s.client.info.read();
        (info.source(&s.client.host), info.nick.clone())
    };
    if old_nick == wanted {
        return Flow::Continue;
    }
    if s.state.claim_nick(&s.client, wanted).is_err() {
        s.num(ERR_NICKNAMEINUSE)
            .p(wanted)
            .t("Nickname is already in use")
            .send();
        return Flow::Continue;
    }
    if !s.reg.done {
        s.reg.has_nick = true;
        return registration::try_complete(s);
    }
    s.state.remember_as(&s.client, &old_nick);
    let mut line = LineBuilder::new();
    line.source(&old_source).command("NICK").param(wanted);
    let out = Outgoing::new(line);
    s.state.send_to_peers(&s.client, &out, true, |_| true);
    s.state.emit(ServerEvent::NickChanged {
        old: old_nick,
        new: wanted.to_owned(),
    });
    Flow::Continue
}

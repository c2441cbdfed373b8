//! INVITE (<https://modern.ircdocs.horse/#invite-message>) with `invite-notify`
//! (<https://ircv3.net/specs/extensions/invite-notify>).

use charla_proto::LineBuilder;
use charla_proto::numeric::{
    ERR_NOSUCHCHANNEL, ERR_NOSUCHNICK, ERR_USERONCHANNEL, RPL_AWAY, RPL_INVITING,
};

use crate::caps::Cap;
use crate::channel::Denied;
use crate::command::Flow;
use crate::command::table::Args;
use crate::deliver::{self, Payload};
use crate::session::Session;

/// `INVITE <nickname> <channel>`.
pub fn invite(s: &mut Session, p: Args<'_, 2>) -> Flow {
    let (nick, channel) = (p.req[0], p.req[1]);
    let Some(target) = s.state.find_nick(nick).filter(|c| c.info.read().registered) else {
        s.num(ERR_NOSUCHNICK)
            .p(nick)
            .t("No such nick/channel")
            .send();
        return Flow::Continue;
    };
    let Some(ch) = s.state.channel(channel) else {
        s.num(ERR_NOSUCHCHANNEL)
            .p(channel)
            .t("No such channel")
            .send();
        return Flow::Continue;
    };
    let source = s.client.source();
    let target_nick = target.nick();
    let mut line = LineBuilder::new();
    line.source(&source)
        .command("INVITE")
        .param(&target_nick)
        .param(&ch.name);
    let to_target = Payload::new(s.outgoing(line.clone()));
    // invite-notify: members who could have invited too (everyone unless +i) hear of it.
    let notify = Payload::only_with(Cap::InviteNotify, s.outgoing(line));
    match ch.invite(s.client.id, target.id, &notify, Some(s.actor())) {
        Ok(()) => {}
        Err(Denied::NotOperator) => {
            s.err_chanop_needed(&ch.name);
            return Flow::Continue;
        }
        Err(Denied::TargetOnChannel) => {
            s.num(ERR_USERONCHANNEL)
                .p(&target_nick)
                .p(&ch.name)
                .t("is already on channel")
                .send();
            return Flow::Continue;
        }
        Err(_) => {
            s.err_not_on_channel(&ch.name);
            return Flow::Continue;
        }
    }
    deliver::to_client(&target, &to_target, Some(s.actor()));
    s.num(RPL_INVITING).p(&target_nick).p(&ch.name).send();
    if let Some(away) = target.info.read().away.clone() {
        s.num(RPL_AWAY).p(&target_nick).t(&away).send();
    }
    Flow::Continue
}

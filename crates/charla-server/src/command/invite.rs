//! INVITE (<https://modern.ircdocs.horse/#invite-message>) with `invite-notify`
//! (<https://ircv3.net/specs/extensions/invite-notify>), and `INVITE` alone: the channels the
//! client is invited to (RPL_INVITELIST, RPL_ENDOFINVITELIST). What an invitation lets its
//! target past is [`crate::channel::Invitation`]'s to say.

use charla_proto::LineBuilder;
use std::sync::Arc;

use charla_proto::numeric::{
    ERR_NEEDMOREPARAMS, ERR_NOSUCHCHANNEL, ERR_NOSUCHNICK, ERR_USERONCHANNEL, RPL_AWAY,
    RPL_ENDOFINVITELIST, RPL_INVITELIST, RPL_INVITING,
};

use crate::caps::Cap;
use crate::channel::{Channel, Denied};
use crate::command::Flow;
use crate::command::table::Args;
use crate::deliver::{self, Payload};
use crate::session::Session;

/// `INVITE <nickname> <channel>`, or `INVITE` alone for the list.
pub fn invite(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let (nick, channel) = match p.all() {
        [] => {
            list(s);
            return Flow::Continue;
        }
        [nick, channel, ..] => (*nick, *channel),
        [_] => {
            s.num(ERR_NEEDMOREPARAMS)
                .p("INVITE")
                .t("Not enough parameters")
                .send();
            return Flow::Continue;
        }
    };
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
        .param(&ch.name());
    let to_target = Payload::new(s.outgoing(line.clone()));
    // invite-notify: members who could have invited too (everyone unless +i) hear of it.
    let notify = Payload::only_with(Cap::InviteNotify, s.outgoing(line));
    match ch.invite(s.client.id, &target, &notify, Some(s.actor())) {
        Ok(()) => {}
        Err(Denied::NotOperator) => {
            s.err_chanop_needed(&ch.name());
            return Flow::Continue;
        }
        Err(Denied::TargetOnChannel) => {
            s.num(ERR_USERONCHANNEL)
                .p(&target_nick)
                .p(&ch.name())
                .t("is already on channel")
                .send();
            return Flow::Continue;
        }
        Err(_) => {
            s.err_not_on_channel(&ch.name());
            return Flow::Continue;
        }
    }
    // A user of another node: the invitation goes to its node, which lets it in when it joins.
    if let (Some(cluster), Some(remote)) = (s.state.cluster(), &target.remote) {
        let by_op = ch.read(|st| {
            st.invited
                .iter()
                .find(|i| i.id == target.id)
                .is_some_and(|i| i.by_op)
        });
        cluster.invited(remote, &ch.key(), by_op);
    }
    deliver::to_client(&target, &to_target, Some(s.actor()));
    s.num(RPL_INVITING).p(&target_nick).p(&ch.name()).send();
    if let Some(away) = target.info.read().away.clone() {
        s.num(RPL_AWAY).p(&target_nick).t(&away).send();
    }
    Flow::Continue
}

/// `INVITE` alone: 336 for each channel with an invitation still pending, then 337.
fn list(s: &Session) {
    let channels: Vec<Arc<Channel>> = s
        .client
        .info
        .read()
        .invites
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    for ch in channels {
        if ch.has_invited(s.client.id) {
            s.num(RPL_INVITELIST).p(&ch.name()).send();
        }
    }
    s.num(RPL_ENDOFINVITELIST).t("End of /INVITE list").send();
}

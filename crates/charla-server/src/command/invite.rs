//! INVITE (<https://modern.ircdocs.horse/#invite-message>) with `invite-notify`
//! (<https://ircv3.net/specs/extensions/invite-notify>).

use charla_proto::LineBuilder;
use charla_proto::numeric::{
    ERR_NOSUCHCHANNEL, ERR_NOSUCHNICK, ERR_USERONCHANNEL, RPL_AWAY, RPL_INVITING,
};

use crate::caps::Cap;
use crate::command::Flow;
use crate::outbound::Outgoing;
use crate::session::Session;

/// Pending invitations a channel remembers; the oldest is forgotten first.
const MAX_PENDING_INVITES: usize = 64;

/// `INVITE <nickname> <channel>`.
pub fn invite(s: &mut Session, p: &[&str]) -> Flow {
    let (nick, channel) = (p[0], p[1]);
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
    let mut st = ch.state.lock();
    let Some(me) = st.member(s.client.id) else {
        drop(st);
        s.err_not_on_channel(&ch.name);
        return Flow::Continue;
    };
    if st.modes.invite_only && !me.op {
        drop(st);
        s.err_chanop_needed(&ch.name);
        return Flow::Continue;
    }
    if st.member(target.id).is_some() {
        drop(st);
        s.num(ERR_USERONCHANNEL)
            .p(&target_nick)
            .p(&ch.name)
            .t("is already on channel")
            .send();
        return Flow::Continue;
    }
    if !st.invited.contains(&target.id) {
        // Invites of people who never came (or left the server) must not pile up forever.
        if st.invited.len() >= MAX_PENDING_INVITES {
            st.invited.remove(0);
        }
        st.invited.push(target.id);
    }
    let mut line = LineBuilder::new();
    line.source(&source)
        .command("INVITE")
        .param(&target_nick)
        .param(&ch.name);
    let out = Outgoing::new(line);
    let _ = target.queue.push(out.for_caps(target.caps()));
    // invite-notify: members who could have invited too (everyone unless +i) hear of it.
    let invite_only = st.modes.invite_only;
    st.broadcast_if(&out, |m| {
        m.client.id != s.client.id && m.client.has_cap(Cap::InviteNotify) && (!invite_only || m.op)
    });
    drop(st);
    s.num(RPL_INVITING).p(&target_nick).p(&ch.name).send();
    if let Some(away) = target.info.read().away.clone() {
        s.num(RPL_AWAY).p(&target_nick).t(&away).send();
    }
    Flow::Continue
}

//! KICK (<https://modern.ircdocs.horse/#kick-message>): operators remove members.

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::numeric::{
    ERR_NEEDMOREPARAMS, ERR_NOSUCHCHANNEL, ERR_NOSUCHNICK, ERR_USERNOTINCHANNEL,
};
use charla_proto::validate::KICKLEN;

use crate::channel::Denied;
use crate::command::table::Args;
use crate::command::topic::truncate;
use crate::command::{Flow, split_list};
use crate::deliver::Payload;
use crate::event::ServerEvent;
use crate::history::Event;
use crate::outbound::Outgoing;
use crate::session::Session;
use crate::state::State;

/// Users one KICK may name (ISUPPORT `TARGMAX` KICK).
pub const MAX_KICK_TARGETS: usize = 4;

/// The KICK line from `source` for `victim` in `channel`.
fn kick_line(source: &str, channel: &str, victim: &str, comment: &str) -> Payload {
    let mut line = LineBuilder::new();
    line.source(source)
        .command("KICK")
        .param(channel)
        .param(victim)
        .trailing(comment);
    Payload::new(Outgoing::new(line))
}

/// Why the server could not kick someone from a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickError {
    /// The channel does not exist.
    NoSuchChannel,
    /// The nick is not on that channel.
    NotOnChannel,
}

/// Kicks `nick` from `channel` with the server as the source (the operator API).
pub fn kick_by_server(
    state: &State,
    channel: &str,
    nick: &str,
    reason: &str,
) -> Result<(), KickError> {
    let ch = state.channel(channel).ok_or(KickError::NoSuchChannel)?;
    let folded = casefold(nick);
    let comment = truncate(reason, KICKLEN);
    let kicked = ch
        .kick(
            None,
            &folded,
            |victim| {
                let params = vec![ch.name(), victim.to_owned(), comment.to_owned()];
                (
                    kick_line(state.name(), &ch.name(), victim, comment),
                    Event::by_server(state, "KICK", params).map(|e| e.through_log(state)),
                )
            },
            None,
        )
        .map_err(|_| KickError::NotOnChannel)?;
    if let Some(cluster) = state.cluster() {
        cluster.kicked(&ch, &kicked.victim, &kicked.line, kicked.record.clone());
    }
    state.drop_channel_if_empty(&ch);
    state.emit(ServerEvent::Kicked {
        channel: ch.name(),
        nick: kicked.nick,
        by: state.name().to_owned(),
        reason: comment.to_owned(),
    });
    Ok(())
}

/// `KICK <channel>{,<channel>} <user>{,<user>} [<comment>]`: one channel and several users, or
/// as many channels as users, paired in order (RFC 2812 3.2.8). At most
/// [`MAX_KICK_TARGETS`] users either way.
pub fn kick(s: &mut Session, p: Args<'_, 2>) -> Flow {
    let channels: Vec<&str> = split_list(p.req[0]).collect();
    let users: Vec<&str> = split_list(p.req[1]).take(MAX_KICK_TARGETS).collect();
    let nick = s.nick();
    let comment = truncate(p.get(2).filter(|c| !c.is_empty()).unwrap_or(&nick), KICKLEN).to_owned();
    match channels[..] {
        [channel] => kick_from(s, channel, &users, &comment),
        _ if channels.len() == users.len() => {
            for (channel, user) in channels.iter().zip(&users) {
                kick_from(s, channel, std::slice::from_ref(user), &comment);
            }
        }
        _ => s
            .num(ERR_NEEDMOREPARAMS)
            .p("KICK")
            .t("Give one channel, or one channel per user")
            .send(),
    }
    Flow::Continue
}

/// Kicks each of `users` from `channel`.
fn kick_from(s: &Session, channel: &str, users: &[&str], comment: &str) {
    let Some(ch) = s.state.channel(channel) else {
        s.num(ERR_NOSUCHCHANNEL)
            .p(channel)
            .t("No such channel")
            .send();
        return;
    };
    let (source, nick) = {
        let info = s.client.info.read();
        (info.source(&s.client.host), info.nick.clone())
    };
    for &target in users {
        let kicked = ch.kick(
            Some(s.client.id),
            &casefold(target),
            |victim| {
                let params = vec![ch.name(), victim.to_owned(), comment.to_owned()];
                (
                    kick_line(&source, &ch.name(), victim, comment),
                    Event::new(&s.state, &s.client, "KICK", params)
                        .map(|e| e.through_log(&s.state)),
                )
            },
            Some(s.actor()),
        );
        match kicked {
            Ok(kicked) => {
                if let Some(cluster) = s.state.cluster() {
                    cluster.kicked(&ch, &kicked.victim, &kicked.line, kicked.record.clone());
                }
                s.state.emit(ServerEvent::Kicked {
                    channel: ch.name(),
                    nick: kicked.nick,
                    by: nick.clone(),
                    reason: comment.to_owned(),
                });
            }
            Err(Denied::NotOperator) => {
                s.err_chanop_needed(&ch.name());
                return;
            }
            Err(Denied::TargetNotOnChannel) => {
                if s.state.find_nick(target).is_none() {
                    s.num(ERR_NOSUCHNICK)
                        .p(target)
                        .t("No such nick/channel")
                        .send();
                } else {
                    s.num(ERR_USERNOTINCHANNEL)
                        .p(target)
                        .p(&ch.name())
                        .t("They aren't on that channel")
                        .send();
                }
            }
            Err(_) => {
                s.err_not_on_channel(&ch.name());
                return;
            }
        }
    }
    s.state.drop_channel_if_empty(&ch);
}

//! JOIN (<https://modern.ircdocs.horse/#join-message>): several channels with keys, `JOIN 0`,
//! and the checks of modes +k +l +i +b. The first joiner of a new channel becomes its operator.
//!
//! A name without the `#` prefix gets ERR_NOSUCHCHANNEL; a `#` name that holds a character
//! channel names may not (a control, an invisible or a bidirectional character), or that looks
//! like an existing channel's name, gets ERR_BADCHANNAME (479, as charybdis/solanum answer an
//! illegal name).

use charla_proto::LineBuilder;
use charla_proto::numeric::{
    ERR_BADCHANNAME, ERR_BADCHANNELKEY, ERR_BANNEDFROMCHAN, ERR_CHANNELISFULL, ERR_INVITEONLYCHAN,
    ERR_NOSUCHCHANNEL, ERR_TOOMANYCHANNELS,
};
use charla_proto::validate::{ChannelError, check_channel};

use crate::caps::Cap;
use crate::channel::Member;
use crate::command::{Flow, names, part, split_list, topic};
use crate::event::ServerEvent;
use crate::outbound::Outgoing;
use crate::session::Session;

/// `JOIN <channel>{,<channel>} [<key>{,<key>}]` or `JOIN 0`.
pub fn join(s: &mut Session, p: &[&str]) -> Flow {
    if p[0] == "0" {
        let channels: Vec<String> = s
            .client
            .info
            .read()
            .channels
            .iter()
            .map(|c| c.name.clone())
            .collect();
        for name in channels {
            part::part_one(s, &name, None);
        }
        return Flow::Continue;
    }
    let mut keys = p.get(1).map(|k| k.split(',')).into_iter().flatten();
    for name in split_list(p[0]) {
        let key = keys.next().filter(|k| !k.is_empty());
        join_one(s, name, key);
    }
    Flow::Continue
}

/// Why a join was refused.
enum Refused {
    Key,
    Full,
    InviteOnly,
    Banned,
}

fn join_one(s: &mut Session, name: &str, key: Option<&str>) {
    match check_channel(name) {
        Ok(()) => {}
        Err(ChannelError::NoPrefix) => {
            s.num(ERR_NOSUCHCHANNEL).p(name).t("No such channel").send();
            return;
        }
        Err(why) => {
            s.num(ERR_BADCHANNAME)
                .p(name)
                .t(&format!("Illegal channel name: {why}"))
                .send();
            return;
        }
    }
    let (in_count, source, nick, realname) = {
        let info = s.client.info.read();
        (
            info.channels.len(),
            info.source(&s.client.host),
            info.nick.clone(),
            info.realname.clone(),
        )
    };
    if in_count >= s.state.config.limits.max_channels_per_user {
        s.num(ERR_TOOMANYCHANNELS)
            .p(name)
            .t("You have joined too many channels")
            .send();
        return;
    }
    // A channel emptied and removed between the lookup and the lock is "dead": look again.
    for _ in 0..8 {
        let (ch, created) = match s.state.channel_or_create(name) {
            Ok(found) => found,
            Err(look_alike) => {
                s.num(ERR_BADCHANNAME)
                    .p(name)
                    .t(&look_alike.to_string())
                    .send();
                return;
            }
        };
        let mut st = ch.state.lock();
        if st.dead {
            continue;
        }
        if st.member(s.client.id).is_some() {
            return;
        }
        if !created {
            let invited = st.invited.contains(&s.client.id);
            let refused = if st.modes.key.is_some() && st.modes.key.as_deref() != key {
                Some(Refused::Key)
            } else if st.modes.limit.is_some_and(|l| st.members.len() >= l) {
                Some(Refused::Full)
            } else if st.modes.invite_only && !invited && !st.is_invex(&source) {
                Some(Refused::InviteOnly)
            } else if !invited && st.is_banned(&source) {
                Some(Refused::Banned)
            } else {
                None
            };
            if let Some(r) = refused {
                drop(st);
                let (num, text) = match r {
                    Refused::Key => (ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
                    Refused::Full => (ERR_CHANNELISFULL, "Cannot join channel (+l)"),
                    Refused::InviteOnly => (ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
                    Refused::Banned => (ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
                };
                s.num(num).p(&ch.name).t(text).send();
                return;
            }
        }
        let first = st.members.is_empty();
        st.invited.retain(|id| *id != s.client.id);
        st.members.push(Member {
            client: s.client.clone(),
            op: first,
            voice: false,
        });
        s.client.info.write().channels.push(ch.clone());

        let mut plain = LineBuilder::new();
        plain.source(&source).command("JOIN").param(&ch.name);
        let plain = Outgoing::new(plain);
        // extended-join: `JOIN <channel> <account> :<realname>`; no accounts yet, so `*`.
        let mut ext = LineBuilder::new();
        ext.source(&source)
            .command("JOIN")
            .param(&ch.name)
            .param("*")
            .trailing(&realname);
        let ext = Outgoing::new(ext);
        // away-notify: members who follow away states learn right after the JOIN that the
        // newcomer is away (https://ircv3.net/specs/extensions/away-notify).
        let away = s.client.info.read().away.clone().map(|text| {
            let mut line = LineBuilder::new();
            line.source(&source).command("AWAY").trailing(&text);
            Outgoing::new(line)
        });
        for m in &st.members {
            let caps = m.client.caps();
            let out = if caps.has(Cap::ExtendedJoin) {
                &ext
            } else {
                &plain
            };
            let _ = m.client.queue.push(out.for_caps(caps));
            if let Some(away) = &away
                && m.client.id != s.client.id
                && caps.has(Cap::AwayNotify)
            {
                let _ = m.client.queue.push(away.for_caps(caps));
            }
        }
        drop(st);

        topic::send_topic(s, &ch, false);
        names::send_names(s, ch.clone());
        s.state.emit(ServerEvent::Joined {
            nick,
            channel: ch.name.clone(),
        });
        return;
    }
}

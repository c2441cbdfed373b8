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

use std::sync::Arc;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::channel::{JoinError, JoinRefused, Joiner};
use crate::command::table::Args;
use crate::command::turns::{self, InTurn};
use crate::command::{Flow, markread, metadata, names, part, split_list, topic};
use crate::deliver::Payload;
use crate::event::ServerEvent;
use crate::history::Event;
use crate::session::Session;

/// `JOIN <channel>{,<channel>} [<key>{,<key>}]` or `JOIN 0`.
pub fn join(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if p.req[0] == "0" {
        let channels: Vec<String> = s
            .client
            .info
            .read()
            .channels
            .iter()
            .map(|c| c.name())
            .collect();
        return part::leave(s, channels, None);
    }
    let mut keys = p.get(1).map(|k| k.split(',')).into_iter().flatten();
    let list: Vec<(String, Option<String>)> = split_list(p.req[0])
        .map(|name| {
            let key = keys.next().filter(|k| !k.is_empty()).map(str::to_owned);
            (name.to_owned(), key)
        })
        .collect();
    // One token per channel: `JOIN #a,#b,#c` costs what three JOINs cost.
    s.penalty += u32::try_from(list.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let job = JoinList {
        list,
        next: 0,
        joined: Vec::new(),
        // draft/read-marker: each channel's marker comes before its end of NAMES, so the NAMES
        // of a logged-in client with the capability wait for the markers to be read.
        defer: markread::wanted(s),
    };
    turns::run(s, job)
}

/// The channels of one JOIN line, joined in order.
struct JoinList {
    list: Vec<(String, Option<String>)>,
    /// The first not tried yet.
    next: usize,
    joined: Vec<Arc<Channel>>,
    defer: bool,
}

impl InTurn for JoinList {
    /// Joins the channels from `next` on, each in its turn.
    fn run(&mut self, s: &mut Session, held: Option<&Arc<Channel>>) -> Result<(), Arc<Channel>> {
        let mut held = held;
        while let Some((name, key)) = self.list.get(self.next) {
            // A new channel has no one to fan out to, and no one waits for it.
            let mut existing = s.state.channel(name);
            // In a cluster, the first member here of a channel joins once its members on the
            // other nodes are known: following it holds its turn until then.
            if let Some(cluster) = s.state.cluster()
                && check_channel(name).is_ok()
            {
                if existing.is_none() {
                    existing = s.state.channel_or_create(name).ok().map(|(ch, _)| ch);
                }
                if let Some(ch) = &existing
                    && cluster.begin_following(ch)
                {
                    return Err(ch.clone());
                }
            }
            let _turn = turns::take(s, existing.as_ref(), held)?;
            held = None;
            self.next += 1;
            if let Some(ch) = join_one(s, name, key.as_deref(), self.defer) {
                self.joined.push(ch);
            }
        }
        Ok(())
    }

    /// After the last channel: the read markers and NAMES that waited for them.
    fn finish(self, s: &mut Session) -> Flow {
        if self.defer {
            markread::after_join(s, self.joined)
        } else {
            Flow::Continue
        }
    }
}

/// What follows a JOIN and its topic: NAMES (unless the client has `draft/no-implicit-names`),
/// then the channel's metadata for a `draft/metadata-2` client.
pub fn after_topic(s: &mut Session, ch: &Arc<Channel>) {
    if !s.conn.has_cap(Cap::NoImplicitNames) {
        names::send_names(s, ch.clone());
    }
    metadata::sync_for_joiner(s, ch);
}

/// Joins one channel; returns it if it did. `defer`: leave NAMES (and what follows them) to
/// the caller.
fn join_one(s: &mut Session, name: &str, key: Option<&str>, defer: bool) -> Option<Arc<Channel>> {
    match check_channel(name) {
        Ok(()) => {}
        Err(ChannelError::NoPrefix) => {
            s.num(ERR_NOSUCHCHANNEL).p(name).t("No such channel").send();
            return None;
        }
        Err(why) => {
            s.num(ERR_BADCHANNAME)
                .p(name)
                .t(&format!("Illegal channel name: {why}"))
                .send();
            return None;
        }
    }
    let (in_count, source, nick, realname, account) = {
        let info = s.client.info.read();
        (
            info.channels.len(),
            info.source(&s.client.host),
            info.nick.clone(),
            info.realname.clone(),
            info.account.clone(),
        )
    };
    if in_count >= s.state.config.limits.max_channels_per_user {
        s.num(ERR_TOOMANYCHANNELS)
            .p(name)
            .t("You have joined too many channels")
            .send();
        return None;
    }
    let services_source = crate::account::services::source(&s.state, "ChanServ");
    // A channel emptied and removed between the lookup and the lock is "dead": look again.
    for _ in 0..8 {
        let (ch, created) = match s.state.channel_or_create(name) {
            Ok(found) => found,
            Err(look_alike) => {
                s.num(ERR_BADCHANNAME)
                    .p(name)
                    .t(&look_alike.to_string())
                    .send();
                return None;
            }
        };
        let mut plain = LineBuilder::new();
        plain.source(&source).command("JOIN").param(&ch.name());
        // extended-join: `JOIN <channel> <account> :<realname>`, `*` when not logged in.
        let mut ext = LineBuilder::new();
        ext.source(&source)
            .command("JOIN")
            .param(&ch.name())
            .param(account.as_deref().unwrap_or("*"))
            .trailing(&realname);
        let join =
            Payload::or_else(Cap::ExtendedJoin, s.outgoing(ext), s.outgoing(plain)).may_wait();
        // away-notify: members who follow away states learn right after the JOIN that the
        // newcomer is away (https://ircv3.net/specs/extensions/away-notify).
        let away = s.client.info.read().away.clone().map(|text| {
            let mut line = LineBuilder::new();
            line.source(&source).command("AWAY").trailing(&text);
            Payload::only_with(Cap::AwayNotify, s.outgoing(line)).may_wait()
        });
        let event = Event::new(&s.state, &s.client, "JOIN", vec![ch.name()])
            .map(|e| e.through_log(&s.state));
        let joiner = Joiner {
            client: &s.client,
            source: &source,
            key,
            check_modes: !created,
            services_source: &services_source,
            event: event.as_ref(),
        };
        match ch.join(&joiner, &join, away.as_ref(), Some(s.actor())) {
            Ok(()) => {
                if let Some(cluster) = s.state.cluster() {
                    let record = event.as_ref().and_then(Event::take_held);
                    cluster.joined(&ch, &s.client, &join, away.as_ref(), record);
                }
            }
            Err(JoinError::Dead) => continue,
            Err(JoinError::AlreadyMember) => return None,
            Err(JoinError::Refused(r)) => {
                let (num, text) = match r {
                    JoinRefused::Key => (ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
                    JoinRefused::Full => (ERR_CHANNELISFULL, "Cannot join channel (+l)"),
                    JoinRefused::InviteOnly => (ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
                    JoinRefused::Banned => (ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
                };
                s.num(num).p(&ch.name()).t(text).send();
                // In a cluster, a channel followed for this joiner alone is let go.
                s.state.drop_channel_if_empty(&ch);
                return None;
            }
        }
        topic::send_topic(s, &ch, false);
        metadata::announce_joiner(s, &ch);
        crate::devices::tell_other_devices_joined(s, &ch);
        if !defer {
            after_topic(s, &ch);
        }
        s.state.emit(ServerEvent::Joined {
            nick,
            channel: ch.name(),
        });
        return Some(ch);
    }
    None
}

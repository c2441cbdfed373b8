//! A channel: its members with their prefixes, topic, modes and lists, and every operation on
//! them.
//!
//! Each channel has its own mutex, private to this module: an operation (JOIN, PART, KICK, a
//! message, a topic or mode change) is a method that takes the lock, checks, changes the state
//! and hands its lines to [`deliver`] before letting go, so every member sees the channel's
//! lines in one order. Pushes never block, so the lock is held only for the time of N queue
//! pushes. Queries read through [`Channel::read`]. The lock order is stated once, in
//! [`crate::state`]. Never hold a channel lock across `.await`.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use charla_proto::casemap::casefold;
use parking_lot::{Mutex, RwLock};

use charla_proto::LineBuilder;
use charla_store::{AccessLevel, HistoryRecord, Receipt, StoreHandle, Write};

use crate::client::{Client, ConnectionId};
use crate::deliver::{self, Actor, Payload};
use crate::history::Event;

use crate::outbound::Outgoing;

mod lists;
mod registration;
mod remote;
mod rename;

pub use lists::{Ban, ListEntry};
pub use registration::Registration;
pub use remote::{LocalView, ModeView};
pub use rename::Renamed;

/// One member of a channel.
#[derive(Debug, Clone)]
pub struct Member {
    /// The client's id, kept beside it: finding a member in a channel of thousands reads the
    /// members' list alone, not every member's client.
    id: ConnectionId,
    /// The client.
    pub client: Arc<Client>,
    /// Channel operator (`+o`, prefix `@`).
    pub op: bool,
    /// Voice (`+v`, prefix `+`).
    pub voice: bool,
    /// When it joined (Unix milliseconds): where its view of the history may start.
    pub joined_ms: i64,
}

impl Member {
    /// `client`, a member with these rights since `joined_ms` (Unix milliseconds).
    pub fn new(client: Arc<Client>, op: bool, voice: bool, joined_ms: i64) -> Member {
        Member {
            id: client.id,
            client,
            op,
            voice,
            joined_ms,
        }
    }

    /// The prefixes to show: all of them (`multi-prefix`) or the highest only.
    pub fn prefixes(&self, all: bool) -> &'static str {
        match (self.op, self.voice, all) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
        }
    }
}

/// A channel's topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The text.
    pub text: String,
    /// Who set it (a nick).
    pub set_by: String,
    /// When.
    pub set_at: SystemTime,
}

/// The extended-ban prefix and types (ISUPPORT `EXTBAN=~,m`,
/// <https://modern.ircdocs.horse/#extban-parameter>): `~m:<mask>` in the ban list mutes.
pub const EXTBAN: &str = "~,m";

/// The channel modes without list modes (<https://modern.ircdocs.horse/#channel-modes>).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ChannelModes {
    /// `+n`: no messages from outside.
    pub no_external: bool,
    /// `+t`: only operators change the topic.
    pub topic_lock: bool,
    /// `+m`: only voiced members and operators speak.
    pub moderated: bool,
    /// `+i`: join by invitation only.
    pub invite_only: bool,
    /// `+s`: hidden from LIST and WHOIS of outsiders.
    pub secret: bool,
    /// `+C`: no CTCP but ACTION to the channel.
    pub no_ctcp: bool,
    /// `+k`: the key.
    pub key: Option<String>,
    /// `+l`: the member limit.
    pub limit: Option<usize>,
}

impl ChannelModes {
    /// The mode string and its parameters, e.g. `("+ntkl", ["key", "10"])`. The key is shown
    /// only to members.
    pub fn to_mode_string(&self, show_key: bool) -> (String, Vec<String>) {
        let mut s = format!("+{}", self.flag_letters());
        let mut params = Vec::new();
        if let Some(key) = &self.key {
            s.push('k');
            params.push(if show_key {
                key.clone()
            } else {
                "*".to_owned()
            });
        }
        if let Some(limit) = self.limit {
            s.push('l');
            params.push(limit.to_string());
        }
        (s, params)
    }
}

/// What is behind a channel's lock.
#[derive(Debug, Default)]
pub struct ChannelState {
    /// The members, in join order.
    pub members: Vec<Member>,
    /// The topic, if set.
    pub topic: Option<Topic>,
    /// The modes.
    pub modes: ChannelModes,
    /// `+b` masks.
    pub bans: Vec<ListEntry>,
    /// `+e` masks (exceptions to bans).
    pub excepts: Vec<ListEntry>,
    /// `+I` masks (may join a `+i` channel).
    pub invex: Vec<ListEntry>,
    /// Clients invited with INVITE, cleared when they join.
    pub invited: Vec<Invitation>,
    /// Its `draft/metadata-2` keys and values.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The channel was removed from the server's map; a joiner holding it must look again.
    pub dead: bool,
    /// Its founder and access list, if it is registered.
    pub registration: Option<Registration>,
    /// Messages waiting for their history commit before delivery, in the order they were
    /// sent (the order the store keeps them in).
    waiting: VecDeque<Waiting>,
    /// In a cluster: the member (node, id) whose JOIN created the channel, as this node knows
    /// it ([`crate::cluster`] settles two nodes creating one channel at once).
    pub creator: Option<(String, u64)>,
}

/// A pending invitation (<https://modern.ircdocs.horse/#invite-message>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invitation {
    /// Who is invited.
    pub id: ConnectionId,
    /// It came from a channel operator, so it lets its target in past `+i`, `+k`, `+l` and
    /// `+b`, as ergo and InspIRCd do: the operator could have lifted each of them. One from
    /// another member (who may invite on a `-i` channel) is only a notice.
    pub by_op: bool,
}

/// A message on its way to the members once its history entry is committed.
#[derive(Debug)]
struct Waiting {
    /// Its history write (`None`: it is not kept, but waits behind those that are).
    receipt: Option<Receipt>,
    what: Pending,
}

/// What waits in a channel's queue.
// Messages are what waits, thousands a second: boxing them would cost each an allocation;
// the rare rename is boxed instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Pending {
    /// A message.
    Message {
        payload: Payload,
        from: From,
        status: Option<char>,
        echo: bool,
    },
    /// The announcement of a rename, behind the messages sent before it.
    Rename(Box<Renamed>),
}

/// Who sent a line: the user, and the connection of the user it came from (its other
/// connections see it as sent; that one only with `echo-message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct From {
    /// The user (the member).
    pub user: ConnectionId,
    /// The connection it came from.
    pub conn: ConnectionId,
}

/// A message to a channel's members, as [`Channel::message`] checks and sends it.
#[derive(Debug)]
pub struct Message<'a> {
    /// The sender.
    pub from: From,
    /// Its `nick!user@host`, checked against bans.
    pub source: &'a str,
    /// A status prefix (`@` or `+`, STATUSMSG): only members with that status or higher get it.
    pub status: Option<char>,
    /// The sender gets its own copy (`echo-message`).
    pub echo: bool,
    /// It is a CTCP other than ACTION (refused by `+C`).
    pub ctcp: bool,
    /// The line.
    pub payload: Payload,
    /// Its history entry and the store to keep it in; `None`: deliver without keeping it.
    pub history: Option<(&'a StoreHandle, HistoryRecord)>,
    /// The cluster, when this node is one of several: the message takes its place in the
    /// channel's log before any member sees it ([`crate::cluster::Cluster::sequence`]).
    pub cluster: Option<&'a Arc<crate::cluster::Cluster>>,
}

/// What became of a message [`Channel::message`] accepted.
#[derive(Debug)]
pub enum Sent {
    /// Delivered to the members.
    Delivered,
    /// Queued for the store: delivered once this receipt says it is committed, by whoever
    /// calls [`Channel::deliver_committed`] first after that.
    Waiting(Receipt),
}

/// Who a KICK took out, and the line every member got.
#[derive(Debug)]
pub struct Kicked {
    /// The victim's nick.
    pub nick: String,
    /// The victim.
    pub victim: Arc<Client>,
    /// The KICK line.
    pub line: Payload,
    /// Its history entry, when it goes into history through the channel's log.
    pub record: Option<charla_store::HistoryRecord>,
}

/// A channel.
#[derive(Debug)]
pub struct Channel {
    /// The name as its creator (or the last RENAME) wrote it. A leaf lock: read it anywhere,
    /// take nothing while holding it; only a rename, holding the channel map's lock and this
    /// channel's, writes it.
    name: RwLock<String>,
    /// When it was created.
    pub created: SystemTime,
    /// Members, topic, modes.
    state: Mutex<ChannelState>,
    /// One JOIN at a time: a joiner's task waits here for its turn (see [`Channel::turn`]).
    turn: tokio::sync::Semaphore,
}

impl Channel {
    /// A new, empty channel with the default modes `+nt`.
    pub fn new(name: &str) -> Self {
        Channel {
            name: RwLock::new(name.to_owned()),
            created: SystemTime::now(),
            state: Mutex::new(ChannelState {
                modes: ChannelModes {
                    no_external: true,
                    topic_lock: true,
                    ..ChannelModes::default()
                },
                ..ChannelState::default()
            }),
            turn: tokio::sync::Semaphore::new(1),
        }
    }
}

/// Why a JOIN was refused by the channel's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefused {
    /// `+k`: no key or the wrong one.
    Key,
    /// `+l`: full.
    Full,
    /// `+i`: not invited.
    InviteOnly,
    /// `+b`: banned.
    Banned,
}

/// Who joins, as [`Channel::join`] checks them.
#[derive(Debug, Clone, Copy)]
pub struct Joiner<'a> {
    /// The client.
    pub client: &'a Arc<Client>,
    /// Its `nick!user@host`, checked against bans and invite exceptions.
    pub source: &'a str,
    /// The key it gave.
    pub key: Option<&'a str>,
    /// Whether the modes apply (not to the channel's creator).
    pub check_modes: bool,
    /// The source of ChanServ's MODE when the access list gives the joiner status.
    pub services_source: &'a str,
    /// The JOIN to keep in the channel's history.
    pub event: Option<&'a Event<'a>>,
}

/// Why a JOIN did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The channel was removed from the server's map meanwhile: look it up again.
    Dead,
    /// Already a member: nothing to do.
    AlreadyMember,
    /// The modes keep the joiner out.
    Refused(JoinRefused),
}

/// Why a member could not do something in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The actor is not a member (ERR_NOTONCHANNEL).
    NotOnChannel,
    /// The action needs channel operator status (ERR_CHANOPRIVSNEEDED).
    NotOperator,
    /// The target is not a member (KICK: ERR_USERNOTINCHANNEL).
    TargetNotOnChannel,
    /// The target is already a member (INVITE: ERR_USERONCHANNEL).
    TargetOnChannel,
    /// The sender may not speak here (ERR_CANNOTSENDTOCHAN).
    CannotSend,
    /// The sender is muted here (`+b ~m:`; ERR_CANNOTSENDTOCHAN).
    Muted,
    /// The message is a CTCP (not ACTION) and the channel is `+C` (ERR_CANNOTSENDTOCHAN).
    NoCtcp,
    /// The message cannot be recorded (the store's queue is full or it stopped): it was not
    /// delivered.
    NotRecorded,
}

/// Pending invitations a channel remembers; the oldest is forgotten first.
const MAX_PENDING_INVITES: usize = 64;

impl Channel {
    /// Its name (it changes with a RENAME).
    pub fn name(&self) -> String {
        self.name.read().clone()
    }

    /// Reads the channel's state under its lock. Keep `f` short: every member's delivery waits
    /// for it.
    pub fn read<R>(&self, f: impl FnOnce(&ChannelState) -> R) -> R {
        f(&self.state.lock())
    }

    /// Runs `f` on the channel's metadata.
    pub fn with_metadata<R>(
        &self,
        f: impl FnOnce(&mut std::collections::BTreeMap<String, String>) -> R,
    ) -> R {
        f(&mut self.state.lock().metadata)
    }

    /// Whether `id` is a member.
    pub fn is_member(&self, id: ConnectionId) -> bool {
        self.read(|st| st.member(id).is_some())
    }

    /// Whether `id` has an invitation here still pending.
    pub fn has_invited(&self, id: ConnectionId) -> bool {
        self.read(|st| !st.dead && st.invited.iter().any(|i| i.id == id))
    }

    /// The JOINs' and PARTs' turnstile: each fans out to every member while it holds the
    /// channel's lock (a channel of thousands: a millisecond), so in a storm of them a runtime
    /// worker that blocked on that lock would hold up every connection queued behind the
    /// joiner's. A joiner (or leaver) takes this permit first, without blocking when it is free
    /// (`try_acquire`) and otherwise as a task that waits (`acquire().await`), FIFO; the
    /// worker meanwhile serves the other connections (see [`crate::command::turns`]).
    pub fn turn(&self) -> &tokio::sync::Semaphore {
        &self.turn
    }

    /// How many members it has.
    pub fn member_count(&self) -> usize {
        self.read(|st| st.members.len())
    }

    /// `payload` to the members `keep` accepts (e.g. a peer's NICK or AWAY change).
    pub fn fan_out(
        &self,
        payload: &Payload,
        event: Option<&Event<'_>>,
        actor: Option<Actor<'_>>,
        keep: impl FnMut(&Member) -> bool,
    ) {
        let st = self.state.lock();
        if let Some(event) = event {
            event.record(self.key());
        }
        deliver::to_members(&st.members, payload, actor, keep);
    }

    /// Adds the joiner as a member (the first one becomes operator), unless the modes keep it
    /// out. Then every member gets `join` and, all but the joiner, `then` (the joiner's AWAY for
    /// `away-notify`).
    pub fn join(
        self: &Arc<Self>,
        joiner: &Joiner<'_>,
        join: &Payload,
        then: Option<&Payload>,
        actor: Option<Actor<'_>>,
    ) -> Result<(), JoinError> {
        let Joiner {
            client,
            source,
            key,
            check_modes,
            ..
        } = *joiner;
        let mut st = self.state.lock();
        if st.dead {
            return Err(JoinError::Dead);
        }
        if st.member(client.id).is_some() {
            return Err(JoinError::AlreadyMember);
        }
        if check_modes {
            let invited = st.invited.iter().any(|i| i.id == client.id && i.by_op);
            let refused = if invited {
                None
            } else if st.modes.key.is_some() && st.modes.key.as_deref() != key {
                Some(JoinRefused::Key)
            } else if st.modes.limit.is_some_and(|l| st.members.len() >= l) {
                Some(JoinRefused::Full)
            } else if st.modes.invite_only && !st.is_invex(source) {
                Some(JoinRefused::InviteOnly)
            } else if st.is_banned(source) {
                Some(JoinRefused::Banned)
            } else {
                None
            };
            if let Some(r) = refused {
                return Err(JoinError::Refused(r));
            }
        }
        // A registered channel gives status by its access list; another, to its first member.
        let (op, voice) = match &st.registration {
            Some(reg) => {
                let account = client
                    .info
                    .read()
                    .account
                    .as_deref()
                    .map(|a| casefold(a).into_owned());
                match account.and_then(|a| reg.level_of(&a)) {
                    Some(AccessLevel::Op) => (true, false),
                    Some(AccessLevel::Voice) => (false, true),
                    None => (false, false),
                }
            }
            None => (st.members.is_empty(), false),
        };
        let by_access = st.registration.is_some() && (op || voice);
        st.invited.retain(|i| i.id != client.id);
        st.members.push(Member::new(
            client.clone(),
            op,
            voice,
            crate::timefmt::unix_millis(SystemTime::now()),
        ));
        {
            let mut info = client.info.write();
            info.channels.push(self.clone());
            let me = Arc::downgrade(self);
            info.invites.retain(|w| !w.ptr_eq(&me));
        }
        if let Some(event) = joiner.event {
            event.record(self.key());
        }
        deliver::to_members(&st.members, join, actor, |_| true);
        if let Some(then) = then {
            deliver::to_members(&st.members, then, actor, |m| m.client.id != client.id);
        }
        if by_access {
            let mut line = LineBuilder::new();
            line.source(joiner.services_source)
                .command("MODE")
                .param(&self.name())
                .param(if op { "+o" } else { "+v" })
                .param(&client.nick());
            deliver::to_members(
                &st.members,
                &Payload::new(Outgoing::new(line)),
                actor,
                |_| true,
            );
        }
        Ok(())
    }

    /// Tells every member (the leaver included) `payload`, then takes `client` out.
    pub fn part(
        self: &Arc<Self>,
        client: &Client,
        payload: &Payload,
        event: Option<&Event<'_>>,
        actor: Option<Actor<'_>>,
    ) -> Result<(), Denied> {
        let mut st = self.state.lock();
        if st.member(client.id).is_none() {
            return Err(Denied::NotOnChannel);
        }
        if let Some(event) = event {
            event.record(self.key());
        }
        deliver::to_members(&st.members, payload, actor, |_| true);
        st.remove(client.id);
        client
            .info
            .write()
            .channels
            .retain(|c| !Arc::ptr_eq(c, self));
        Ok(())
    }

    /// Kicks the member whose nick folds to `folded`: `by` must be an operator here (`None`: the
    /// server itself). Every member, the victim included, gets the line `line` makes from the
    /// victim's nick (with the event to keep in history).
    pub fn kick<'e>(
        self: &Arc<Self>,
        by: Option<ConnectionId>,
        folded: &str,
        line: impl FnOnce(&str) -> (Payload, Option<Event<'e>>),
        actor: Option<Actor<'_>>,
    ) -> Result<Kicked, Denied> {
        let mut st = self.state.lock();
        if let Some(by) = by {
            match st.member(by) {
                None => return Err(Denied::NotOnChannel),
                Some(m) if !m.op => return Err(Denied::NotOperator),
                Some(_) => {}
            }
        }
        let victim = st
            .members
            .iter()
            .find(|m| casefold(&m.client.info.read().nick) == folded)
            .map(|m| m.client.clone())
            .ok_or(Denied::TargetNotOnChannel)?;
        let victim_nick = victim.nick();
        let (payload, event) = line(&victim_nick);
        let record = event.and_then(|event| {
            event.record(self.key());
            event.take_held()
        });
        deliver::to_members(&st.members, &payload, actor, |_| true);
        st.remove(victim.id);
        victim
            .info
            .write()
            .channels
            .retain(|c| !Arc::ptr_eq(c, self));
        Ok(Kicked {
            nick: victim_nick,
            victim,
            line: payload,
            record,
        })
    }

    /// Takes `id` out and tells the members not yet in `told` (adding them, unless this is the
    /// `last` of the leaver's channels): a QUIT reaches each peer once, however many channels
    /// they share.
    pub fn remove_and_tell(
        &self,
        id: ConnectionId,
        payload: &Payload,
        event: Option<&Event<'_>>,
        told: &mut HashSet<ConnectionId>,
        last: bool,
    ) {
        let mut st = self.state.lock();
        st.remove(id);
        if let Some(event) = event {
            event.record(self.key());
        }
        if last && told.len() <= 1 {
            // Its only channel (the set holds the leaver alone): no one to skip, and a hash per
            // member under the lock made a mass quit from a big channel quadratic.
            deliver::to_members(&st.members, payload, None, |_| true);
        } else if last {
            deliver::to_members(&st.members, payload, None, |m| !told.contains(&m.client.id));
        } else {
            deliver::to_members(&st.members, payload, None, |m| told.insert(m.client.id));
        }
    }

    /// Sets the topic (`None` clears it) if `by` may, and tells every member.
    pub fn set_topic(
        &self,
        by: ConnectionId,
        topic: Option<Topic>,
        payload: &Payload,
        event: Option<&Event<'_>>,
        actor: Option<Actor<'_>>,
    ) -> Result<(), Denied> {
        let mut st = self.state.lock();
        let Some(me) = st.member(by) else {
            return Err(Denied::NotOnChannel);
        };
        if st.modes.topic_lock && !me.op {
            return Err(Denied::NotOperator);
        }
        st.topic = topic;
        if let Some(event) = event {
            event.record(self.key());
        }
        deliver::to_members(&st.members, payload, actor, |_| true);
        st.persist_topic(&self.key());
        Ok(())
    }

    /// Records that `by` invited `target`, if `by` may, and tells the members who follow
    /// invitations (`invite-notify`; on a `+i` channel only its operators) with `payload`.
    pub fn invite(
        self: &Arc<Self>,
        by: ConnectionId,
        target: &Client,
        payload: &Payload,
        actor: Option<Actor<'_>>,
    ) -> Result<(), Denied> {
        let mut st = self.state.lock();
        let Some(me) = st.member(by) else {
            return Err(Denied::NotOnChannel);
        };
        let by_op = me.op;
        if st.modes.invite_only && !by_op {
            return Err(Denied::NotOperator);
        }
        if st.member(target.id).is_some() {
            return Err(Denied::TargetOnChannel);
        }
        match st.invited.iter_mut().find(|i| i.id == target.id) {
            // A second invitation, by an operator this time, becomes one that overrides.
            Some(pending) => pending.by_op |= by_op,
            None => {
                // Invites of people who never came (or left the server) must not pile up
                // forever.
                if st.invited.len() >= MAX_PENDING_INVITES {
                    st.invited.remove(0);
                }
                st.invited.push(Invitation {
                    id: target.id,
                    by_op,
                });
            }
        }
        {
            let mut info = target.info.write();
            let me = Arc::downgrade(self);
            info.invites
                .retain(|w| w.strong_count() > 0 && !w.ptr_eq(&me));
            if info.invites.len() >= MAX_PENDING_INVITES {
                info.invites.remove(0);
            }
            info.invites.push(me);
        }
        let invite_only = st.modes.invite_only;
        deliver::to_members(&st.members, payload, actor, |m| {
            m.client.id != by && (!invite_only || m.op)
        });
        Ok(())
    }

    /// Changes modes as operator `by`: `change` edits the state and returns the lines that
    /// announce what it did, which every member gets before the lock is let go (and the caller
    /// gets back).
    pub fn change_modes(
        &self,
        by: ConnectionId,
        change: impl FnOnce(&mut ChannelState) -> Vec<Payload>,
        actor: Option<Actor<'_>>,
    ) -> Result<Vec<Payload>, Denied> {
        let mut st = self.state.lock();
        if !st.member(by).is_some_and(|m| m.op) {
            return Err(Denied::NotOperator);
        }
        let lines = change(&mut st);
        for payload in &lines {
            deliver::to_members(&st.members, payload, actor, |_| true);
        }
        if !lines.is_empty() {
            st.persist_modes(&self.key());
        }
        Ok(lines)
    }

    /// A message to the members: refused if the channel's modes keep its sender out (`+n`,
    /// `+m`, `+b` and mutes, none of which hold back operators and voiced members) or its
    /// kind (`+C`: CTCP other than ACTION, from anyone). With a history entry it is queued for the store and delivered once committed
    /// ([`Sent::Waiting`]); without one it goes out at once, unless messages wait before it.
    pub fn message(&self, msg: Message<'_>, actor: Option<Actor<'_>>) -> Result<Sent, Denied> {
        let mut st = self.state.lock();
        if msg.ctcp && st.modes.no_ctcp {
            return Err(Denied::NoCtcp);
        }
        let (outside, privileged) = match st.member(msg.from.user) {
            Some(m) => (false, m.op || m.voice),
            None => (true, false),
        };
        if !privileged {
            if (outside && st.modes.no_external) || st.modes.moderated {
                return Err(Denied::CannotSend);
            }
            match st.ban_of(msg.source) {
                Some(Ban::Ban) => return Err(Denied::CannotSend),
                Some(Ban::Mute) => return Err(Denied::Muted),
                None => {}
            }
        }
        let receipt = match (msg.cluster, msg.history) {
            // In a cluster, the entry rides in the channel's log, and every node following the
            // channel commits it before its members see the message.
            // It joins the channel's queue when the log brings it back (its place in the order).
            (Some(cluster), history) => {
                return Ok(Sent::Waiting(cluster.sequence(
                    &self.key(),
                    msg.from,
                    msg.status,
                    msg.echo,
                    msg.payload,
                    history.map(|(_, mut entry)| {
                        entry.target = self.key();
                        entry
                    }),
                )));
            }
            // Under the key the channel has now: a RENAME may have come since the entry was made.
            (None, Some((store, mut entry))) => match store.append(Write::Append({
                entry.target = self.key();
                entry
            })) {
                Ok(receipt) => Some(receipt),
                Err(error) => {
                    if let Some(skipped) = crate::logtext::STORE_REFUSALS.admit() {
                        tracing::warn!(channel = %crate::logtext::Escaped(&self.name()), %error,
                            skipped, "a message was refused: the store cannot take it");
                    }
                    return Err(Denied::NotRecorded);
                }
            },
            (None, None) if st.waiting.is_empty() => {
                let ready = Ready {
                    payload: msg.payload,
                    from: msg.from,
                    status: msg.status,
                    echo: msg.echo,
                };
                deliver_messages(&st.members, std::slice::from_ref(&ready), actor);
                return Ok(Sent::Delivered);
            }
            (None, None) => None,
        };
        st.waiting.push_back(Waiting {
            receipt: receipt.clone(),
            what: Pending::Message {
                payload: msg.payload,
                from: msg.from,
                status: msg.status,
                echo: msg.echo,
            },
        });
        Ok(match receipt {
            Some(receipt) => Sent::Waiting(receipt),
            None => Sent::Delivered,
        })
    }

    /// A line that must be in history before anyone sees it, and that no mode holds back (a
    /// REDACT, already allowed): `write` is queued for the store under the lock, so that it
    /// lands among the channel's messages where members will see it, and the line waits among
    /// them for [`Channel::deliver_committed`]. Every member gets it but the connection it came
    /// from (its own copy is the caller's to give).
    pub fn relay_recorded(
        &self,
        store: &StoreHandle,
        write: Write,
        payload: Payload,
        from: From,
    ) -> Result<Receipt, Denied> {
        let mut st = self.state.lock();
        let receipt = store.append(write).map_err(|error| {
            if let Some(skipped) = crate::logtext::STORE_REFUSALS.admit() {
                tracing::warn!(channel = %crate::logtext::Escaped(&self.name()), %error,
                    skipped, "a line was refused: the store cannot take it");
            }
            Denied::NotRecorded
        })?;
        st.waiting.push_back(Waiting {
            receipt: Some(receipt.clone()),
            what: Pending::Message {
                payload,
                from,
                status: None,
                echo: false,
            },
        });
        Ok(receipt)
    }

    /// Delivers the waiting messages whose history is committed, in order, up to the first
    /// still waiting; drops those whose write failed (their senders are told). Whoever calls
    /// it first after a commit delivers everything that commit made ready.
    pub fn deliver_committed(&self, actor: Option<Actor<'_>>) {
        let mut st = self.state.lock();
        // The messages ready, delivered together (member by member) up to a rename or the
        // first one still waiting.
        let mut ready = Vec::new();
        while let Some(front) = st.waiting.front() {
            let committed = match &front.receipt {
                None => true,
                Some(receipt) => match receipt.outcome() {
                    None => break,
                    Some(outcome) => matches!(outcome, Ok(Ok(()))),
                },
            };
            let Some(w) = st.waiting.pop_front() else {
                break;
            };
            match w.what {
                Pending::Message {
                    payload,
                    from,
                    status,
                    echo,
                } if committed => ready.push(Ready {
                    payload,
                    from,
                    status,
                    echo,
                }),
                Pending::Message { .. } => {}
                Pending::Rename(renamed) => {
                    deliver_messages(&st.members, &ready, actor);
                    ready.clear();
                    renamed.announce(&st, actor);
                }
            }
        }
        deliver_messages(&st.members, &ready, actor);
    }

    /// Marks the channel dead if it has no members left; returns whether it did (the caller
    /// then takes it out of the server's map, whose lock it holds).
    pub(crate) fn mark_dead_if_empty(&self) -> bool {
        let mut st = self.state.lock();
        if st.members.is_empty() && !st.dead && st.registration.is_none() {
            st.dead = true;
            true
        } else {
            false
        }
    }
}

/// A message whose history is committed, on its way to the members.
struct Ready {
    payload: Payload,
    from: From,
    status: Option<char>,
    echo: bool,
}

/// Messages to the members a status prefix selects; the sender's other connections too, and
/// its acting one only with `echo`.
fn deliver_messages(members: &[Member], ready: &[Ready], actor: Option<Actor<'_>>) {
    if ready.is_empty() {
        return;
    }
    deliver::to_members_many(members, ready.len(), actor, |m, i, to| {
        let r = &ready[i];
        if m.client.id == r.from.user {
            // The sender's copies go out in its place among the members.
            to.sender(&r.payload, r.from.conn, r.echo);
        } else if match r.status {
            None => true,
            Some('@') => m.op,
            Some(_) => m.op || m.voice,
        } {
            to.give(&r.payload);
        }
    });
}

#[cfg(test)]
impl Channel {
    /// `client` joins as anyone may (no key, no modes checked), `join` going to the members
    /// (tests).
    pub fn join_unchecked(self: &Arc<Self>, client: &Arc<Client>, join: &Payload) {
        let joiner = Joiner {
            client,
            source: "x!u@h",
            key: None,
            check_modes: false,
            services_source: "",
            event: None,
        };
        self.join(&joiner, join, None, None).expect("joined");
    }
}

#[cfg(test)]
mod tests;

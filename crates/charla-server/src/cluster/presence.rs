//! Who is on which node: users up, renamed, changed, down, killed and invited elsewhere;
//! heartbeats and the nodes that stop answering; the roster a starting node asks for. A remote
//! user is a [`Client`] of this node's with [`Client::remote`] set (see [`super`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::wire::{Heartbeat, Presence, WirePayload, WireUser};
use super::{Cluster, MAX_INVITES, Node, RemoteCounts, RemoteUser};
use crate::channel::Channel;
use crate::client::{Client, ConnectionId};
use crate::command::turns;
use crate::deliver::{self, Payload};
use crate::state::State;

impl Cluster {
    /// Tells the others about every registered user of this node (at start, and when NATS
    /// comes back: what was said while it was away is lost).
    pub(super) fn announce_all(&self) {
        for user in self.roster() {
            self.link
                .core(self.subject("users"), &Presence::Up { user });
        }
    }

    /// What NATS says of the connection: when it comes back, this node tells its users again
    /// and asks for the others' (presence said meanwhile was lost).
    pub(super) async fn follow_news(
        self: Arc<Self>,
        mut news: mpsc::UnboundedReceiver<async_nats::Event>,
    ) {
        let mut lost = false;
        while let Some(event) = news.recv().await {
            match event {
                async_nats::Event::Disconnected => {
                    lost = true;
                    self.drop_all_relays();
                    warn!("cluster: NATS lost; channel messages are refused until it is back");
                }
                async_nats::Event::Connected if std::mem::take(&mut lost) => {
                    info!("cluster: NATS back; users told again, channels read on");
                    self.announce_all();
                    self.read_missed();
                    tokio::spawn(self.clone().ask_roster());
                }
                async_nats::Event::SlowConsumer(_) => {
                    // Once per event dropped: logged at most once a second.
                    static SLOW: crate::logtext::Throttle = crate::logtext::Throttle::new();
                    if let Some(skipped) = SLOW.admit() {
                        warn!(
                            skipped,
                            "cluster: NATS events came faster than read; \
                            the channels' logs are read back"
                        );
                    }
                    self.read_missed();
                }
                _ => {}
            }
        }
    }

    /// Asks the other nodes for their users (at start: those who registered before).
    pub(super) async fn ask_roster(self: Arc<Self>) {
        for reply in self
            .gather(self.subject("roster"), Duration::from_millis(500))
            .await
        {
            if let Ok(users) = serde_json::from_slice::<Vec<WireUser>>(&reply) {
                for user in users {
                    // The reply is read at the end of the wait: a user in it may have left
                    // since (and said so straight away).
                    let key = (user.node.clone(), user.id);
                    if !self.departed.lock().contains(&key, Instant::now()) {
                        self.presence(Presence::Up { user });
                    }
                }
            }
        }
    }

    /// This node's registered users, for a node that asked.
    pub(super) fn roster(&self) -> Vec<WireUser> {
        let Some(state) = self.state.upgrade() else {
            return Vec::new();
        };
        state
            .all_clients()
            .into_iter()
            .filter(|c| c.remote.is_none() && c.info.read().registered)
            .map(|c| WireUser::of(&self.node, &c))
            .collect()
    }

    pub(super) fn heard(&self, beat: Heartbeat) {
        if beat.node == self.node {
            return;
        }
        let restarted = {
            let mut nodes = self.nodes.lock();
            let node = nodes.entry(beat.node.clone()).or_insert(Node {
                last: Instant::now(),
                started_ms: beat.started_ms,
            });
            node.last = Instant::now();
            let before = std::mem::replace(&mut node.started_ms, beat.started_ms);
            // 0: known from its users before its first heartbeat.
            before != 0 && before != beat.started_ms
        };
        if restarted {
            self.forget_node(&beat.node);
        }
        // It is there (again): what it logs is news of users it has.
        self.departed.lock().node_back(&beat.node);
    }

    /// Tells the node of `user` that it was invited into channel `key`.
    pub fn invited(&self, user: &RemoteUser, key: &str, by_op: bool) {
        self.link.core(
            self.subject("users"),
            &Presence::Invite {
                node: user.node.clone(),
                id: user.id,
                channel: key.to_owned(),
                by_op,
            },
        );
    }

    /// Gives channel `ch` the invitations other nodes sent for it to users of this node.
    pub(super) fn apply_invitations(&self, state: &State, ch: &Arc<crate::channel::Channel>) {
        let key = ch.key();
        let mine: Vec<(u64, bool)> = {
            let mut invites = self.invites.lock();
            let found: Vec<(u64, bool)> = invites
                .iter()
                .filter(|((k, _), _)| *k == key)
                .map(|((_, id), by_op)| (*id, *by_op))
                .collect();
            for (id, _) in &found {
                invites.remove(&(key.clone(), *id));
            }
            found
        };
        for (id, by_op) in mine {
            if let Some(user) = state.client(ConnectionId(id)) {
                ch.add_invitation(&user, by_op);
            }
        }
    }

    /// Whether this node reaches NATS now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// How many users of other nodes this node knows.
    pub fn remote_user_count(&self) -> usize {
        self.remote.lock().len()
    }

    /// The other nodes' users as this node knows them, and the other nodes alive.
    pub fn remote_counts(&self) -> RemoteCounts {
        // Kept up to date as users come, change and go: LUSERS is in every welcome.
        RemoteCounts {
            nodes: self.nodes.lock().len(),
            users: self.remote.lock().len(),
            invisible: self
                .remote_invisible
                .load(std::sync::atomic::Ordering::Relaxed),
            opers: self.remote_opers.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Counts a remote user's `+i` and `+o` in (`up`) or out.
    pub(super) fn count_modes(&self, modes: crate::client::UserModes, up: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        for (on, counter) in [
            (modes.invisible, &self.remote_invisible),
            (modes.oper, &self.remote_opers),
        ] {
            if on {
                if up {
                    counter.fetch_add(1, Relaxed);
                } else {
                    counter.fetch_sub(1, Relaxed);
                }
            }
        }
    }

    /// A registered local user, to the others.
    pub fn user_up(&self, client: &Client) {
        self.link.core(
            self.subject("users"),
            &Presence::Up {
                user: WireUser::of(&self.node, client),
            },
        );
    }

    /// A local user's new nick, to the others.
    pub fn user_nick(&self, client: &Client, nick: &str) {
        self.link.core(
            self.subject("users"),
            &Presence::Nick {
                node: self.node.clone(),
                id: client.id.0,
                nick: nick.to_owned(),
            },
        );
    }

    /// A local user's away state, account, user name or real name changed; `line` told its
    /// peers here.
    pub fn user_changed(&self, client: &Client, line: &Payload) {
        self.link.core(
            self.subject("users"),
            &Presence::Changed {
                user: WireUser::of(&self.node, client),
                line: WirePayload::of(line),
            },
        );
    }

    /// A `draft/metadata-2` key of user `client` changed here (`None`: removed), as `line`
    /// told its subscribers here. Another node's user's keys are not changed here.
    pub fn user_metadata(&self, client: &Client, key: &str, value: Option<&str>, line: &Payload) {
        if client.remote.is_some() {
            return;
        }
        self.link.core(
            self.subject("users"),
            &Presence::Meta {
                node: self.node.clone(),
                id: client.id.0,
                key: key.to_owned(),
                value: value.map(str::to_owned),
                line: WirePayload::of(line),
            },
        );
    }

    /// A local user left the network.
    pub fn user_down(&self, client: &Client, reason: &str) {
        self.link.core(
            self.subject("users"),
            &Presence::Down {
                node: self.node.clone(),
                id: client.id.0,
                reason: reason.to_owned(),
            },
        );
    }

    /// What another node says of its users.
    pub(super) fn presence(&self, p: Presence) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        match p {
            Presence::Up { user } if user.node != self.node => {
                // Ids are not reused while a node runs: an id that left and is up again is of
                // a node that restarted.
                {
                    let mut departed = self.departed.lock();
                    departed.remove(&(user.node.clone(), user.id));
                    departed.node_back(&user.node);
                }
                // A node whose users are heard of is alive, heartbeat or not yet: it answers
                // requests (a channel's first joiner here waits for every node's answer).
                self.nodes.lock().entry(user.node.clone()).or_insert(Node {
                    last: Instant::now(),
                    started_ms: 0,
                });
                self.remote_user(&state, &user);
            }
            Presence::Nick { node, id, nick } if node != self.node => {
                let Some(ghost) = self.remote.lock().get(&(node, id)).cloned() else {
                    return;
                };
                rename_remote(&state, &ghost, &nick);
            }
            Presence::Changed { user, line } if user.node != self.node => {
                let ghost = self
                    .remote
                    .lock()
                    .get(&(user.node.clone(), user.id))
                    .cloned();
                let (Some(ghost), Some(payload)) =
                    (ghost, line.to_payload().map(Payload::may_wait))
                else {
                    return;
                };
                let (before, after) = {
                    let mut info = ghost.info.write();
                    let before = info.modes;
                    info.user = user.user;
                    info.realname = user.realname;
                    info.account = user.account;
                    info.away = user.away;
                    info.modes.invisible = user.invisible;
                    info.modes.oper = user.oper;
                    info.modes.bot = user.bot;
                    // Its keys as its node has them now (a log-in brings the account's).
                    if !user.metadata.is_empty() || info.metadata.is_some() {
                        info.metadata.get_or_insert_default().values = user.metadata;
                    }
                    (before, info.modes)
                };
                self.count_modes(before, false);
                self.count_modes(after, true);
                self.index_account(&ghost);
                deliver::to_peers_and_watchers(&state, &ghost, &payload, false, None);
            }
            Presence::Invite {
                node,
                id,
                channel,
                by_op,
            } if node == self.node => {
                {
                    let mut invites = self.invites.lock();
                    // Invitations of users who never join must not pile up.
                    if invites.len() >= MAX_INVITES {
                        invites.clear();
                    }
                    invites.insert((channel.clone(), id), by_op);
                }
                if let Some(ch) = state.channel(&channel) {
                    self.apply_invitations(&state, &ch);
                }
            }
            Presence::Kill { node, id, reason } if node == self.node => {
                if let Some(user) = state.client(ConnectionId(id))
                    && user.remote.is_none()
                {
                    crate::devices::kill(&state, &user, reason);
                }
            }
            Presence::Meta {
                node,
                id,
                key,
                value,
                line,
            } if node != self.node => {
                let ghost = self.remote.lock().get(&(node, id)).cloned();
                if let (Some(ghost), Some(line)) = (ghost, line.to_payload()) {
                    crate::command::metadata::changed_elsewhere(
                        &crate::command::metadata::Target::User(ghost),
                        &key,
                        value.as_deref(),
                        &line,
                    );
                }
            }
            Presence::NodeLeaving { node } if node != self.node => {
                self.nodes.lock().remove(&node);
                self.forget_node(&node);
            }
            Presence::Down { node, id, reason } if node != self.node => {
                let key = (node, id);
                // Held until the user is out of every channel ([`Cluster::join_member`]).
                let mut departed = self.departed.lock();
                departed.insert(key.clone(), Instant::now());
                let ghost = self.remote.lock().remove(&key);
                if let Some(ghost) = ghost {
                    self.unindex_account(&ghost);
                    self.count_modes(ghost.info.read().modes, false);
                    remove_remote(&state, &ghost, &reason);
                }
                drop(departed);
            }
            _ => {}
        }
    }

    /// The remote user `user` as a snapshot of a channel names it: made or brought up to date,
    /// unless its node said it left. That news comes straight from its node, a channel's by
    /// another road, so it may come first: a user named after it must not come back as a
    /// ghost that no one would ever remove.
    pub(super) fn member_user(&self, state: &State, user: &WireUser) -> Option<Arc<Client>> {
        self.unless_departed(&mut self.departed.lock(), state, user)
    }

    /// [`Cluster::remote_user`], unless `departed` has it; the caller holds the lock.
    fn unless_departed(
        &self,
        departed: &mut Departed,
        state: &State,
        user: &WireUser,
    ) -> Option<Arc<Client>> {
        let key = (user.node.clone(), user.id);
        (!departed.contains(&key, Instant::now())).then(|| self.remote_user(state, user))
    }

    /// The remote user `user` joins `ch` (its JOIN read from the channel's log, or a member in
    /// a snapshot), unless its node said it left ([`Cluster::member_user`]). The check and the
    /// join are one step for the news that it left, which is applied under the same lock:
    /// either the join comes first and the leaving takes the user out of the channel, or the
    /// leaving comes first and there is no join.
    pub(super) fn join_member(
        &self,
        state: &State,
        ch: &Arc<Channel>,
        user: &WireUser,
        (op, voice): (bool, bool),
        join: Option<&Payload>,
        then: Option<&Payload>,
    ) -> Option<Arc<Client>> {
        let mut departed = self.departed.lock();
        let ghost = self.unless_departed(&mut departed, state, user)?;
        ch.join_remote(&ghost, op, voice, join, then);
        Some(ghost)
    }

    /// The remote user `user`, made or brought up to date.
    pub(super) fn remote_user(&self, state: &State, user: &WireUser) -> Arc<Client> {
        let key = (user.node.clone(), user.id);
        if !self.remote.lock().contains_key(&key) {
            // A user of a node that left and is back: those still leaving go first.
            self.quit_now(state, &user.node);
        }
        let mut remote = self.remote.lock();
        if let Some(ghost) = remote.get(&key).cloned() {
            drop(remote);
            if ghost.nick() != user.nick {
                rename_remote(state, &ghost, &user.nick);
            }
            return ghost;
        }
        // The client map's lock is a leaf: taken inside this one, never the other way.
        let ghost = state.add_remote_user(
            user,
            RemoteUser {
                node: user.node.clone(),
                id: user.id,
                link: self.link.clone(),
            },
        );
        remote.insert(key, ghost.clone());
        drop(remote);
        self.index_account(&ghost);
        self.count_modes(ghost.info.read().modes, true);
        claim_remote(state, &ghost, &user.nick);
        if state
            .find_nick(&user.nick)
            .is_some_and(|c| c.id == ghost.id)
        {
            crate::monitor::tell_online(state, &user.nick, &ghost.source());
        }
        ghost
    }

    /// Every user of `node` quits here (it died, restarted, or left): at once for what it
    /// counts in (the remote users, LUSERS, accounts), and for its channels a few at a time
    /// among the others' work ([`Cluster::quit_leavers`]): thousands of users in channels of
    /// thousands would otherwise hold a worker for as long as a quit storm does.
    pub(super) fn forget_node(&self, node: &str) {
        // Held until its users are queued: a JOIN of one of them read meanwhile from a
        // channel's log is refused ([`Cluster::join_member`]).
        let mut departed = self.departed.lock();
        let gone: Vec<Arc<Client>> = {
            let mut remote = self.remote.lock();
            let keys: Vec<_> = remote.keys().filter(|(n, _)| n == node).cloned().collect();
            keys.iter().filter_map(|k| remote.remove(k)).collect()
        };
        self.drop_relays_of(node);
        // Its users are all gone; if it comes back, it numbers them from the start again.
        departed.forget_node(node, Instant::now());
        if gone.is_empty() {
            return;
        }
        let reason: Arc<str> = format!("{} {}", self.node, node).into();
        for ghost in &gone {
            self.unindex_account(ghost);
            self.count_modes(ghost.info.read().modes, false);
        }
        self.leaving
            .lock()
            .extend(gone.into_iter().map(|ghost| Leaver {
                ghost,
                reason: reason.clone(),
            }));
        drop(departed);
        self.more_leaving.notify_one();
    }

    /// Tells this node's users that the users of nodes that left quit ([`Cluster::forget_node`]),
    /// one at a time, each in its channels' turns as a local user's QUIT, and letting the others
    /// run after every [`BIG`](turns::BIG) members told.
    pub(super) async fn quit_leavers(self: Arc<Self>) {
        loop {
            self.more_leaving.notified().await;
            let (started, mut quit, mut told) = (Instant::now(), 0usize, 0usize);
            loop {
                let next = self.leaving.lock().front().map(|l| l.ghost.clone());
                let Some(next) = next else {
                    break;
                };
                let Some(state) = self.state.upgrade() else {
                    return;
                };
                let channels = next.info.read().channels.clone();
                told += 1 + channels.iter().map(|ch| ch.member_count()).sum::<usize>();
                let held = turns::take_all(&state, &channels).await;
                {
                    let mut leaving = self.leaving.lock();
                    // Unless its node came back meanwhile, and it was told at once (`quit_now`).
                    if leaving
                        .front()
                        .is_some_and(|l| Arc::ptr_eq(&l.ghost, &next))
                        && let Some(l) = leaving.pop_front()
                    {
                        remove_remote(&state, &l.ghost, &l.reason);
                        quit += 1;
                    }
                }
                drop(held);
                if told >= turns::BIG {
                    told = 0;
                    tokio::task::yield_now().await;
                }
            }
            if quit > 0 {
                info!(
                    users = quit,
                    ms = started.elapsed().as_millis() as u64,
                    "cluster: the users of nodes that left quit here"
                );
            }
        }
    }

    /// Tells at once that the users of `node` still leaving quit ([`Cluster::quit_leavers`]):
    /// news of the node's users is coming again, and must come after.
    fn quit_now(&self, state: &State, node: &str) {
        let mut leaving = self.leaving.lock();
        if !leaving.iter().any(|l| l.of(node)) {
            return;
        }
        let (now, later) = std::mem::take(&mut *leaving)
            .into_iter()
            .partition::<Vec<_>, _>(|l| l.of(node));
        leaving.extend(later);
        for l in now {
            remove_remote(state, &l.ghost, &l.reason);
        }
    }
}

/// A remote user of a node that left, whose QUIT is still to be told here.
#[derive(Debug)]
pub(super) struct Leaver {
    ghost: Arc<Client>,
    reason: Arc<str>,
}

impl Leaver {
    fn of(&self, node: &str) -> bool {
        self.ghost.remote.as_ref().is_some_and(|r| r.node == node)
    }
}

/// Gives the remote user `ghost` the nick `nick`, if it wins it: when a user of this node
/// holds it too (both took it before hearing of the other), the user of the node whose name
/// sorts first keeps it and the other is renamed by its own node.
fn claim_remote(state: &State, ghost: &Arc<Client>, nick: &str) {
    let mine = ghost.remote.as_ref().map(|r| r.node.as_str()).unwrap_or("");
    if let Some(holder) = state.find_nick(nick)
        && holder.id != ghost.id
    {
        let holder_node = holder
            .remote
            .as_ref()
            .map(|r| r.node.clone())
            .or_else(|| state.cluster().map(|c| c.node.clone()))
            .unwrap_or_default();
        if holder_node.as_str() < mine {
            // The holder wins; `ghost` stays out of the nick map until its node renames it.
            state.release_nick(ghost);
            ghost.info.write().nick = nick.to_owned();
            return;
        }
        if holder.remote.is_none() {
            crate::account::protect::rename_to_guest(state, &holder, |old, guest| {
                format!(
                    "{old} was taken on another server at the same moment: you are now {guest}."
                )
            });
        } else {
            state.release_nick(&holder);
        }
    }
    if state.claim_nick(ghost, nick).is_err() {
        state.release_nick(ghost);
        ghost.info.write().nick = nick.to_owned();
    }
}

/// The remote user `ghost` is now `nick`: its peers here are told.
fn rename_remote(state: &State, ghost: &Arc<Client>, nick: &str) {
    let (old_source, old_nick) = {
        let info = ghost.info.read();
        (info.source(&ghost.host), info.nick.clone())
    };
    if old_nick == nick {
        return;
    }
    state.remember_as(ghost, &old_nick);
    crate::monitor::tell_offline(state, &old_nick);
    state.release_nick(ghost);
    claim_remote(state, ghost, nick);
    crate::monitor::tell_online(state, nick, &ghost.source());
    let mut line = charla_proto::LineBuilder::new();
    line.source(&old_source).command("NICK").param(nick);
    deliver::to_peers(
        ghost,
        &Payload::new(crate::outbound::Outgoing::new(line)).may_wait(),
        false,
        None,
        |_| true,
    );
}

/// The remote user `ghost` quit: its peers here are told, and it is gone.
fn remove_remote(state: &State, ghost: &Arc<Client>, reason: &str) {
    let (channels, source) = {
        let mut info = ghost.info.write();
        (std::mem::take(&mut info.channels), info.source(&ghost.host))
    };
    if !channels.is_empty() {
        let mut line = charla_proto::LineBuilder::new();
        line.source(&source).command("QUIT").trailing(reason);
        deliver::to_peers_leaving(
            ghost,
            &channels,
            &Payload::new(ghost.tagged(crate::outbound::Outgoing::new(line))).may_wait(),
            None,
        );
        for ch in &channels {
            state.drop_channel_if_empty(ch);
        }
    }
    state.remove_remote_user(ghost);
}

/// How long a remote user that left is remembered ([`Departed`]): far longer than news of it
/// takes to come by any road, a channel's log read back after a gap included.
const DEPARTED_FOR: Duration = Duration::from_secs(300);

/// The most remote users that left remembered at once; the oldest are forgotten first.
const DEPARTED_MOST: usize = 65_536;

/// Remote users that left lately, by (node, id), with when they left: bounded in time and count;
/// and the nodes that left (stopped, died, restarted) with all their users, until they are
/// heard from again.
#[derive(Debug, Default)]
pub(super) struct Departed {
    at: HashMap<(String, u64), Instant>,
    order: VecDeque<((String, u64), Instant)>,
    nodes: HashMap<String, Instant>,
}

impl Departed {
    pub(super) fn insert(&mut self, key: (String, u64), now: Instant) {
        self.prune(now);
        self.at.insert(key.clone(), now);
        self.order.push_back((key, now));
        while self.order.len() > DEPARTED_MOST {
            self.pop();
        }
    }

    pub(super) fn contains(&mut self, key: &(String, u64), now: Instant) -> bool {
        self.prune(now);
        self.at.contains_key(key) || self.nodes.contains_key(&key.0)
    }

    pub(super) fn remove(&mut self, key: &(String, u64)) {
        self.at.remove(key);
    }

    /// `node` left with all its users (it stopped, died or restarted): each of them counts as
    /// departed until the node is heard from again ([`Departed::node_back`]).
    pub(super) fn forget_node(&mut self, node: &str, now: Instant) {
        self.at.retain(|(n, _), _| n != node);
        self.order.retain(|((n, _), _)| n != node);
        self.nodes.insert(node.to_owned(), now);
    }

    /// `node` is heard from: its users are news again.
    pub(super) fn node_back(&mut self, node: &str) {
        self.nodes.remove(node);
    }

    fn prune(&mut self, now: Instant) {
        self.nodes
            .retain(|_, at| now.duration_since(*at) <= DEPARTED_FOR);
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > DEPARTED_FOR)
        {
            self.pop();
        }
    }

    /// Forgets the oldest entry (unless the same user left again since).
    fn pop(&mut self) {
        if let Some((key, at)) = self.order.pop_front()
            && self.at.get(&key) == Some(&at)
        {
            self.at.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(node: &str, id: u64) -> (String, u64) {
        (node.to_owned(), id)
    }

    #[test]
    fn a_departed_user_is_remembered_for_a_while_then_forgotten() {
        let mut departed = Departed::default();
        let start = Instant::now();
        departed.insert(key("b", 7), start);
        assert!(departed.contains(&key("b", 7), start + Duration::from_secs(1)));
        assert!(!departed.contains(&key("b", 8), start));
        assert!(!departed.contains(&key("c", 7), start));
        assert!(!departed.contains(&key("b", 7), start + DEPARTED_FOR + Duration::from_secs(1)));
        assert!(departed.order.is_empty());
    }

    #[test]
    fn a_departed_user_up_again_is_forgotten_and_a_departed_node_counts_for_all_its_users() {
        let mut departed = Departed::default();
        let now = Instant::now();
        departed.insert(key("b", 1), now);
        departed.insert(key("b", 2), now);
        departed.insert(key("c", 1), now);
        departed.remove(&key("b", 1));
        assert!(!departed.contains(&key("b", 1), now));
        // Node b leaves: every user of it counts as departed, until it is heard from again.
        departed.forget_node("b", now);
        assert!(departed.contains(&key("b", 40), now));
        assert!(departed.contains(&key("c", 1), now));
        departed.node_back("b");
        assert!(!departed.contains(&key("b", 2), now));
        assert!(!departed.contains(&key("b", 40), now));
        // A node that never came back is forgotten with time.
        departed.forget_node("d", now);
        assert!(!departed.contains(&key("d", 1), now + DEPARTED_FOR + Duration::from_secs(1)));
    }

    #[test]
    fn departed_users_are_bounded_in_number() {
        let mut departed = Departed::default();
        let now = Instant::now();
        for id in 0..(DEPARTED_MOST as u64 + 10) {
            departed.insert(key("b", id), now);
        }
        assert_eq!(departed.at.len(), DEPARTED_MOST);
        assert!(!departed.contains(&key("b", 9), now));
        assert!(departed.contains(&key("b", 10), now));
    }

    #[test]
    fn a_user_that_left_twice_is_remembered_from_the_second_time() {
        let mut departed = Departed::default();
        let start = Instant::now();
        departed.insert(key("b", 1), start);
        departed.remove(&key("b", 1));
        let later = start + Duration::from_secs(200);
        departed.insert(key("b", 1), later);
        assert!(departed.contains(&key("b", 1), start + DEPARTED_FOR + Duration::from_secs(1)));
    }
}

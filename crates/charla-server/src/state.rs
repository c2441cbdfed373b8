//! The server's shared state: clients, nicks, channels, WHOWAS, and the event stream.
//!
//! One `State` behind an `Arc`, shared by every connection task and the [`crate::ServerHandle`].
//!
//! Nicks and channel names are found by case-fold and held by case-fold and look-alike key
//! (`name_index`): while `pablo` is online, `PABLO` and `pаblo` (Cyrillic `а`) are
//! taken, but a message to `pаblo` does not reach `pablo`.
//!
//! Lock order (never take an earlier lock while holding a later one):
//!
//! 1. `nicks` (the nick map),
//! 2. `channels` (the channel map), then `renaming` (the names RENAMEs are taking, a leaf),
//! 3. a channel's lock, then its name (a leaf),
//! 4. a client's `info`,
//! 5. a user's list of devices ([`crate::client::Devices`]),
//! 6. a client's send queue.
//!
//! The `clients` map, `present` and `whowas` are leaves: take them alone. A channel's lock is private to
//! [`crate::channel`]: its methods take it and deliver through [`crate::deliver`] while they
//! hold it. No lock is ever held across `.await`, and sockets are only written by each
//! connection's own task, outside every lock.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::confusable::skeleton;
use charla_proto::isupport::IsupportBuilder;
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use charla_store::StoreHandle;

use crate::account::password::Hasher;
use crate::account::throttle::AuthThrottle;
use crate::channel::Channel;
use crate::client::{Client, ConnectionId, Gateway, Transport};
use crate::config::Config;
use crate::event::{ServerEvent, UserInfo};
use crate::isupport;
use crate::listener::IpLimiter;
use crate::name_index::NameIndex;
use crate::sendq::SendQueue;
use crate::sts::StsPolicy;

/// A signed-off nick, for WHOWAS.
#[derive(Debug, Clone)]
pub struct WhowasEntry {
    /// The nick.
    pub nick: String,
    /// The user name.
    pub user: String,
    /// The host.
    pub host: String,
    /// The real name.
    pub realname: String,
    /// When it signed off (or changed nick).
    pub at: SystemTime,
}

/// What LUSERS counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Registered users.
    Users,
    /// Registered users with mode +i.
    Invisible,
    /// IRC operators.
    Opers,
}

#[derive(Debug, Default)]
struct Counters {
    users: AtomicUsize,
    invisible: AtomicUsize,
    opers: AtomicUsize,
    /// The most registered users at once since the start (LUSERS 265/266).
    max_users: AtomicUsize,
}

/// A nick is taken by someone else. The `Display` is the text of ERR_NICKNAMEINUSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NickInUse {
    /// Someone holds it (up to case).
    #[error("Nickname is already in use")]
    Taken,
    /// Someone holds a nick that looks the same (the same confusable skeleton).
    #[error("Nickname is already in use: it looks like {0}")]
    LooksLike(String),
}

/// A new channel's name looks like that of an existing channel (the same confusable skeleton).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Illegal channel name: it looks like {0}, which exists")]
pub struct ChannelLooksLike(pub String);

/// Why a RENAME cannot go ahead ([`State::begin_rename`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenameRefused {
    /// The channel is no longer in the map.
    #[error("No such channel")]
    NoSuchChannel,
    /// Another channel has the new name, or one that looks like it, or is being renamed to it.
    #[error("The channel name is already taken")]
    InUse,
    /// A rename of this channel is already under way.
    #[error("The channel is being renamed")]
    Busy,
}

/// A name a RENAME is taking, from its check until the channel holds it.
#[derive(Debug)]
struct Renaming {
    channel: Arc<Channel>,
    fold: String,
    skeleton: String,
}

/// The shared state.
#[derive(Debug)]
pub struct State {
    /// The configuration.
    pub config: Config,
    /// The MOTD lines, read at start.
    pub motd: Option<Vec<String>>,
    /// When the server started.
    pub created: SystemTime,
    /// The RPL_ISUPPORT tokens.
    pub isupport: IsupportBuilder,
    /// Failed password attempts by address.
    pub auth_throttle: AuthThrottle,
    /// The pool that hashes and checks passwords.
    pub hasher: Hasher,
    /// Accounts and channel registrations.
    pub store: StoreHandle,
    /// Failed log-ins by account: a brake on guessing one account's password from many
    /// addresses.
    pub account_throttle: AuthThrottle<String>,
    /// A secret of this run, for answers about accounts that do not exist (SCRAM's decoy salt).
    pub secret: [u8; 32],
    /// Credentials the HTTP side verified lately.
    pub http_logins: crate::account::check::VerifiedLogins,
    /// Makes the message ids of this run.
    pub msgids: crate::msgid::MsgIds,
    /// Who follows whom with MONITOR.
    pub monitors: crate::monitor::Monitors,
    /// Per-IP connection counts: the listeners admit by the socket's (or the PROXY header's)
    /// address, WEBIRC by the address its gateway gives.
    pub ips: Arc<IpLimiter>,
    /// The STS policy sent to clients, if any (resolved at start, once the ports are bound).
    pub sts: Option<StsPolicy>,
    /// The figures of `/metrics`.
    pub metrics: Arc<crate::http::metrics::Metrics>,
    /// How busy the runtime's workers are (the coalescing holds lines longer when they are).
    pub pressure: crate::pressure::Pressure,
    /// The store writes that senders' messages may have queued at once, all connections
    /// together ([`crate::command::committing::admit`]).
    pub admission: Arc<tokio::sync::Semaphore>,
    nicks: RwLock<NameIndex<Arc<Client>>>,
    channels: RwLock<NameIndex<Arc<Channel>>>,
    renaming: Mutex<Vec<Renaming>>,
    clients: RwLock<HashMap<ConnectionId, Arc<Client>>>,
    /// The user each account's new devices attach to (multiclient), by case-folded account.
    present: Mutex<HashMap<String, Arc<Client>>>,
    whowas: Mutex<VecDeque<WhowasEntry>>,
    events: broadcast::Sender<ServerEvent>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    counters: Counters,
    /// The link to the other nodes, when this node is one of several.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl State {
    /// The state for `config`, with MOTD lines already read, keeping accounts in `store`.
    pub fn new(config: Config, motd: Option<Vec<String>>, store: StoreHandle) -> Self {
        let (events, _) = broadcast::channel(4096);
        let hash_threads = match config.accounts.hash_threads {
            0 => Hasher::default_threads(),
            n => n,
        };
        State {
            // Before `store` moves in.
            metrics: crate::http::metrics::Metrics::new(&store),
            pressure: crate::pressure::Pressure::of_current_runtime(),
            hasher: Hasher::new(hash_threads),
            store,
            account_throttle: AuthThrottle::default(),
            secret: rand::random(),
            http_logins: Default::default(),
            msgids: crate::msgid::MsgIds::default(),
            monitors: crate::monitor::Monitors::default(),
            ips: Arc::new(IpLimiter::new(&config.limits)),
            sts: None,
            admission: Arc::new(tokio::sync::Semaphore::new(
                crate::command::committing::ADMITTED_WRITES,
            )),
            isupport: isupport::builder(&config),
            config,
            motd,
            created: SystemTime::now(),
            auth_throttle: AuthThrottle::default(),
            nicks: RwLock::default(),
            channels: RwLock::default(),
            renaming: Mutex::default(),
            clients: RwLock::default(),
            present: Mutex::default(),
            whowas: Mutex::default(),
            events,
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            counters: Counters::default(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// The state for `config` with an in-memory store and the MOTD of the config (tests).
    pub fn in_memory(config: Config) -> Self {
        let store = StoreHandle::new(std::sync::Arc::new(charla_store::MemoryStore::new()))
            .expect("the memory store's threads start");
        State {
            // One connection's behaviour, whatever else the machine runs.
            pressure: crate::pressure::Pressure::none(),
            ..State::new(config, None, store)
        }
    }

    /// The link to the other nodes, when this node is one of several.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// Joins the state to the network (once, at start).
    pub fn set_cluster(&self, cluster: Arc<crate::cluster::Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// A user of another node, as this node shows it: registered, its queue closed (its node
    /// delivers to it), in the client map; its nick is the caller's to claim.
    pub fn add_remote_user(
        &self,
        user: &crate::cluster::wire::WireUser,
        remote: crate::cluster::RemoteUser,
    ) -> Arc<Client> {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let queue = SendQueue::new(0);
        queue.close(crate::sendq::CloseReason::Shutdown);
        // On a TLS connection there (WHOIS 671); its certificate is its node's business.
        let transport = if user.secure {
            Transport::Tls { certfp: None }
        } else {
            Transport::Plain
        };
        let mut client = Client::new(id, SocketAddr::from(([0, 0, 0, 0], 0)), transport, queue);
        client.host = user.host.clone();
        client.remote = Some(Box::new(remote));
        {
            let info = client.info.get_mut();
            info.nick = user.nick.clone();
            info.user = user.user.clone();
            info.realname = user.realname.clone();
            info.registered = true;
            info.account = user.account.clone();
            info.away = user.away.clone();
            info.modes.invisible = user.invisible;
            info.modes.oper = user.oper;
            if !user.metadata.is_empty() {
                info.metadata = Some(Box::new(crate::command::metadata::UserMetadata {
                    values: user.metadata.clone(),
                    subs: Default::default(),
                }));
            }
            info.modes.bot = user.bot;
        }
        let client = Arc::new(client);
        self.clients.write().insert(id, client.clone());
        client
    }

    /// Takes a remote user out of the nick and client maps (its channels are the caller's).
    pub fn remove_remote_user(&self, client: &Client) {
        let nick = client.nick();
        self.release_nick(client);
        self.clients.write().remove(&client.id);
        self.monitors.clear(client);
        crate::monitor::tell_offline(self, &nick);
        self.remember(client);
    }

    /// The server name.
    pub fn name(&self) -> &str {
        &self.config.server_name
    }

    /// Publishes an event for the live log (no subscriber is fine).
    pub fn emit(&self, event: ServerEvent) {
        let _ = self.events.send(event);
    }

    /// A new receiver of events.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.events.subscribe()
    }

    /// Marks the server as shutting down and closes every session.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for c in self.all_clients() {
            // A user kept present with no connection has no session to end: its presence, as
            // it is now (a KICK may have changed its channels), is kept for the next start.
            if c.devices_state()
                .is_some_and(|(others, first_gone, leaving)| others == 0 && first_gone && !leaving)
            {
                crate::devices::keep_presence(self, &c);
            }
            c.close_all(crate::sendq::CloseReason::Shutdown);
        }
        // Devices relayed to their user's node are in no map here.
        if let Some(cluster) = self.cluster() {
            cluster.close_relayed();
        }
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Adds a new connection.
    pub fn add_client(&self, addr: SocketAddr, transport: Transport) -> Arc<Client> {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let queue = SendQueue::new(self.config.limits.sendq_bytes);
        let client = Arc::new(Client::new(id, addr, transport, queue));
        self.clients.write().insert(id, client.clone());
        // Shutdown may have walked the map just before this insert.
        if self.is_shutting_down() {
            client.queue.close(crate::sendq::CloseReason::Shutdown);
        }
        self.emit(ServerEvent::Connected { id, addr });
        client
    }

    /// Gives a connection that has not begun to register the identity a WEBIRC gateway vouched
    /// for: a new client with the same id takes the old one's place in the client map. The old
    /// one is in nothing else yet (no nick, no channel, no MONITOR list).
    pub fn readdress(
        &self,
        old: &Client,
        addr: SocketAddr,
        host: String,
        transport: Transport,
        gateway: Gateway,
    ) -> Arc<Client> {
        let queue = SendQueue::new(self.config.limits.sendq_bytes);
        let mut client = Client::new(old.id, addr, transport, queue);
        client.host = host;
        client.gateway = Some(Box::new(gateway));
        client.set_caps(old.caps());
        let client = Arc::new(client);
        self.clients.write().insert(client.id, client.clone());
        if self.is_shutting_down() {
            client.queue.close(crate::sendq::CloseReason::Shutdown);
        }
        client
    }

    /// The client with id `id`.
    pub fn client(&self, id: ConnectionId) -> Option<Arc<Client>> {
        self.clients.read().get(&id).cloned()
    }

    /// Every connection (registered or not).
    pub fn all_clients(&self) -> Vec<Arc<Client>> {
        self.clients.read().values().cloned().collect()
    }

    /// The registered client using `nick`.
    pub fn find_nick(&self, nick: &str) -> Option<Arc<Client>> {
        self.nicks.read().get(casefold(nick).as_ref()).cloned()
    }

    /// Gives `nick` to `client`, releasing its old nick. Returns the old nick.
    /// A change of case only is allowed, and so is a change to a look-alike of one's own nick.
    pub fn claim_nick(&self, client: &Arc<Client>, nick: &str) -> Result<String, NickInUse> {
        let folded = casefold(nick).into_owned();
        let look = skeleton(nick);
        let mut nicks = self.nicks.write();
        if nicks
            .get(&folded)
            .is_some_and(|owner| owner.id != client.id)
        {
            return Err(NickInUse::Taken);
        }
        if let Some(owner) = nicks.look_alike(&look).filter(|o| o.id != client.id) {
            return Err(NickInUse::LooksLike(owner.nick()));
        }
        let mut info = client.info.write();
        let old = std::mem::replace(&mut info.nick, nick.to_owned());
        drop(info);
        let old_folded = casefold(&old);
        if old_folded != folded
            && nicks
                .get(old_folded.as_ref())
                .is_some_and(|c| c.id == client.id)
        {
            nicks.remove(old_folded.as_ref());
        }
        nicks.insert(folded, look, client.clone());
        Ok(old)
    }

    /// A user kept present with no connection, brought back from the store at start
    /// ([`crate::devices::restore`]): registered, logged into `account` (its name as
    /// registered), away, holding its nick. `None` if the nick is taken.
    pub fn add_kept_user(
        &self,
        presence: &charla_store::PresenceRecord,
        account: &str,
        always_on: Option<bool>,
    ) -> Option<Arc<Client>> {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let queue = SendQueue::new(self.config.limits.sendq_bytes);
        // No connection: deliveries skip the user's own queue.
        queue.close(crate::sendq::CloseReason::WriteFailed);
        let addr = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut client = Client::new(id, addr, Transport::Plain, queue);
        client.host.clone_from(&presence.host);
        let client = Arc::new(client);
        {
            let mut info = client.info.write();
            info.user.clone_from(&presence.user);
            info.realname.clone_from(&presence.realname);
            info.account = Some(account.to_owned());
            info.always_on = always_on;
            info.away = Some(crate::devices::AUTO_AWAY.to_owned());
        }
        self.claim_nick(&client, &presence.nick).ok()?;
        client.info.write().registered = true;
        client.with_devices(|d| d.first_gone = true);
        self.clients.write().insert(id, client.clone());
        self.count(Counter::Users, true);
        self.set_present(account, &client);
        Some(client)
    }

    /// Records `user` as where devices logged into `account` attach, unless one is already.
    pub fn set_present(&self, account: &str, user: &Arc<Client>) {
        self.present
            .lock()
            .entry(casefold(account).into_owned())
            .or_insert_with(|| user.clone());
    }

    /// The user new devices of `account` attach to, if one is present.
    pub fn present(&self, account: &str) -> Option<Arc<Client>> {
        self.present.lock().get(casefold(account).as_ref()).cloned()
    }

    /// Forgets `user` as the present user of `account` (it logged out or left).
    pub fn clear_present(&self, account: &str, user: &Client) {
        let mut present = self.present.lock();
        let key = casefold(account);
        if present.get(key.as_ref()).is_some_and(|c| c.id == user.id) {
            present.remove(key.as_ref());
        }
    }

    /// Takes a connection that attached to another user out of the maps it was in as a
    /// client of its own: its nick (if it claimed one while registering) and the client map.
    /// Returns `false` if the server began shutting down meanwhile (the caller closes it).
    pub fn absorb_device(&self, conn: &Client) -> bool {
        self.release_nick(conn);
        self.clients.write().remove(&conn.id);
        !self.is_shutting_down()
    }

    /// Takes the client's nick out of the nick map, if the map holds it for this client.
    pub fn release_nick(&self, client: &Client) {
        let nick = client.nick();
        let mut nicks = self.nicks.write();
        let folded = casefold(&nick);
        if nicks
            .get(folded.as_ref())
            .is_some_and(|c| c.id == client.id)
        {
            nicks.remove(folded.as_ref());
        }
    }

    /// Takes a client out of the nick and client maps, and records it for WHOWAS.
    pub fn remove_client(&self, client: &Client) {
        let (nick, registered, modes) = {
            let info = client.info.read();
            (info.nick.clone(), info.registered, info.modes)
        };
        if registered {
            self.count(Counter::Users, false);
            if modes.invisible {
                self.count(Counter::Invisible, false);
            }
            if modes.oper {
                self.count(Counter::Opers, false);
            }
        }
        self.release_nick(client);
        self.clients.write().remove(&client.id);
        if let Some(account) = client.info.read().account.as_deref() {
            self.clear_present(account, client);
        }
        self.monitors.clear(client);
        if registered {
            crate::monitor::tell_offline(self, &nick);
            self.remember(client);
        }
    }

    /// Records a client's current identity for WHOWAS.
    pub fn remember(&self, client: &Client) {
        let nick = client.nick();
        self.remember_as(client, &nick);
    }

    /// Records a client for WHOWAS under `nick` (its nick before a change).
    pub fn remember_as(&self, client: &Client, nick: &str) {
        let info = client.info.read();
        let entry = WhowasEntry {
            nick: nick.to_owned(),
            user: info.user.clone(),
            host: client.host.clone(),
            realname: info.realname.clone(),
            at: SystemTime::now(),
        };
        drop(info);
        let mut whowas = self.whowas.lock();
        whowas.push_front(entry);
        whowas.truncate(self.config.limits.whowas_entries);
    }

    /// WHOWAS entries for `nick`, newest first.
    pub fn whowas(&self, nick: &str, max: usize) -> Vec<WhowasEntry> {
        let folded = casefold(nick);
        self.whowas
            .lock()
            .iter()
            .filter(|e| casefold(&e.nick) == folded)
            .take(max)
            .cloned()
            .collect()
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.channels.read().get(casefold(name).as_ref()).cloned()
    }

    /// The channel named `name`, created if missing. Returns it and whether it was created.
    /// A new channel whose name looks like an existing one's is refused.
    pub fn channel_or_create(&self, name: &str) -> Result<(Arc<Channel>, bool), ChannelLooksLike> {
        let folded = casefold(name);
        if let Some(c) = self.channels.read().get(folded.as_ref()) {
            return Ok((c.clone(), false));
        }
        let look = skeleton(name);
        let mut map = self.channels.write();
        if let Some(c) = map.get(folded.as_ref()) {
            return Ok((c.clone(), false));
        }
        if let Some(c) = map.look_alike(&look) {
            return Err(ChannelLooksLike(c.name()));
        }
        // A RENAME is taking this name (or a look-alike): it is about to exist.
        if self
            .renaming
            .lock()
            .iter()
            .any(|r| r.fold == folded || r.skeleton == look)
        {
            return Err(ChannelLooksLike(name.to_owned()));
        }
        let c = Arc::new(Channel::new(name));
        map.insert(folded.into_owned(), look, c.clone());
        Ok((c, true))
    }

    /// Reserves the name `to` for `channel` while its rename is committed to the store: no one
    /// may create a channel of that name (or a look-alike) meanwhile, nor rename another
    /// channel to it. A change of case (or to a look-alike of its own name) is allowed. Then
    /// [`finish_rename`](Self::finish_rename) or [`cancel_rename`](Self::cancel_rename).
    pub fn begin_rename(&self, channel: &Arc<Channel>, to: &str) -> Result<(), RenameRefused> {
        let fold = casefold(to).into_owned();
        let look = skeleton(to);
        let map = self.channels.write();
        if !map
            .get(&channel.key())
            .is_some_and(|c| Arc::ptr_eq(c, channel))
        {
            return Err(RenameRefused::NoSuchChannel);
        }
        let other = |c: &Arc<Channel>| !Arc::ptr_eq(c, channel);
        if map.get(&fold).is_some_and(other) || map.look_alike(&look).is_some_and(other) {
            return Err(RenameRefused::InUse);
        }
        let mut renaming = self.renaming.lock();
        if renaming.iter().any(|r| Arc::ptr_eq(&r.channel, channel)) {
            return Err(RenameRefused::Busy);
        }
        if renaming
            .iter()
            .any(|r| r.fold == fold || r.skeleton == look)
        {
            return Err(RenameRefused::InUse);
        }
        renaming.push(Renaming {
            channel: channel.clone(),
            fold,
            skeleton: look,
        });
        Ok(())
    }

    /// Drops the reservation [`begin_rename`](Self::begin_rename) made for `channel`.
    pub fn cancel_rename(&self, channel: &Arc<Channel>) {
        let _map = self.channels.write();
        self.renaming
            .lock()
            .retain(|r| !Arc::ptr_eq(&r.channel, channel));
    }

    /// Moves `channel` to its reserved name, atomically for everyone who looks it up: under the
    /// channel map's lock and its own, it leaves its old key, takes the new one and its name
    /// changes; then, the map let go, the members are told under the channel's lock. Members' channel lists and invitations hold
    /// the channel itself, so they follow. Returns `false` (and drops the reservation) if the
    /// channel left the map meanwhile.
    pub fn finish_rename(
        &self,
        channel: &Arc<Channel>,
        renamed: crate::channel::Renamed,
        actor: Option<crate::deliver::Actor<'_>>,
    ) -> bool {
        let mut map = self.channels.write();
        let reserved = {
            let mut renaming = self.renaming.lock();
            let at = renaming
                .iter()
                .position(|r| Arc::ptr_eq(&r.channel, channel));
            at.map(|at| renaming.swap_remove(at))
        };
        let Some(reserved) = reserved else {
            return false;
        };
        let old = channel.key();
        if !map.get(&old).is_some_and(|c| Arc::ptr_eq(c, channel)) {
            return false;
        }
        // The map switches under the channel's lock too, and is let go before the members are
        // told: a fallback burst to a big channel must not hold up every lookup.
        let held = channel.clone();
        let switch = move || {
            map.remove(&old);
            map.insert(reserved.fold, reserved.skeleton, held);
        };
        channel.rename(renamed, &self.store, actor, switch);
        true
    }

    /// In a cluster, another node renamed `channel` (the channel's log said so): it takes its
    /// new name here too, unless a channel here holds that name already (then it keeps its old
    /// one, and `false`).
    pub fn rename_followed(
        &self,
        channel: &Arc<Channel>,
        renamed: crate::channel::Renamed,
    ) -> bool {
        let fold = casefold(&renamed.new).into_owned();
        let look = skeleton(&renamed.new);
        let mut map = self.channels.write();
        let old = channel.key();
        let other = |c: &Arc<Channel>| !Arc::ptr_eq(c, channel);
        if !map.get(&old).is_some_and(|c| Arc::ptr_eq(c, channel))
            || map.get(&fold).is_some_and(other)
        {
            return false;
        }
        let held = channel.clone();
        let switch = move || {
            map.remove(&old);
            map.insert(fold, look, held);
        };
        channel.rename(renamed, &self.store, None, switch);
        true
    }

    /// Puts the registered channels the store keeps into the map (at start).
    pub fn load_registered_channels(
        &self,
        records: Vec<(charla_store::ChannelRecord, Vec<(String, String)>)>,
    ) {
        let mut map = self.channels.write();
        for (record, metadata) in records {
            let ch = Channel::from_record(record, &self.store);
            ch.with_metadata(|values| values.extend(metadata));
            map.insert(ch.key(), skeleton(&ch.name()), Arc::new(ch));
        }
    }

    /// Removes `channel` from the map if it has no members left (in a cluster: none of this
    /// node's, the others' forgotten).
    pub fn drop_channel_if_empty(&self, channel: &Arc<Channel>) {
        if let Some(cluster) = self.cluster() {
            cluster.after_leave(channel);
        }
        let mut map = self.channels.write();
        if channel.mark_dead_if_empty() {
            let folded = channel.key();
            if map.get(&folded).is_some_and(|c| Arc::ptr_eq(c, channel)) {
                map.remove(&folded);
            }
        }
    }

    /// Every channel.
    pub fn all_channels(&self) -> Vec<Arc<Channel>> {
        self.channels.read().values().cloned().collect()
    }

    /// How many channels exist.
    pub fn channel_count(&self) -> usize {
        self.channels.read().len()
    }

    /// Snapshots of the registered users.
    pub fn users(&self) -> Vec<UserInfo> {
        let mut users: Vec<UserInfo> = self
            .all_clients()
            .iter()
            .filter_map(|c| {
                let info = c.info.read();
                info.registered.then(|| UserInfo {
                    id: c.id,
                    nick: info.nick.clone(),
                    user: info.user.clone(),
                    realname: info.realname.clone(),
                    host: c.host.clone(),
                    addr: c.addr,
                    channels: info.channels.iter().map(|ch| ch.name()).collect(),
                    connected_since: c.connected_since,
                    oper: info.modes.oper,
                    away: info.away.clone(),
                    sendq_bytes: c.queue.len_bytes(),
                })
            })
            .collect();
        users.sort_by_key(|u| u.id);
        users
    }

    /// A line from the server itself (`:server.name COMMAND ...`).
    pub fn server_line(&self, command: &str) -> LineBuilder {
        let mut b = LineBuilder::new();
        b.source(self.name()).command(command);
        b
    }

    /// Counts for LUSERS: (users, invisible, operators, unregistered connections). Kept in
    /// counters so that a registration (which sends LUSERS) costs O(1), not O(clients).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let users = self.counters.users.load(Ordering::Relaxed);
        // Other nodes' users are in the client map too; they are not connections of ours.
        let remote = self.cluster().map_or(0, |c| c.remote_user_count());
        let total = self.clients.read().len().saturating_sub(remote);
        (
            users,
            self.counters.invisible.load(Ordering::Relaxed),
            self.counters.opers.load(Ordering::Relaxed),
            total.saturating_sub(users),
        )
    }

    /// The most registered users there have been at once since the start.
    pub fn max_users(&self) -> usize {
        self.counters.max_users.load(Ordering::Relaxed)
    }

    /// Counts one more or one less registered user, invisible user or operator.
    pub fn count(&self, which: Counter, up: bool) {
        let c = match which {
            Counter::Users => &self.counters.users,
            Counter::Invisible => &self.counters.invisible,
            Counter::Opers => &self.counters.opers,
        };
        if up {
            let now = c.fetch_add(1, Ordering::Relaxed) + 1;
            if which == Counter::Users {
                self.counters.max_users.fetch_max(now, Ordering::Relaxed);
            }
        } else {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

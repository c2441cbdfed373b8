//! Several nodes, one network: presence and delivery between `charla-server` nodes over NATS,
//! each channel's order from a JetStream log (docs/CLUSTER.md has the design and its limits).
//!
//! A node keeps its own connections; every other node's users are *remote users* here: a
//! [`Client`] with [`Client::remote`] set and a closed send queue, in the nick map, the client
//! map and the channels' member lists like everyone else, so that WHOIS, WHO, NAMES, PRIVMSG by
//! nick and the rest see them without knowing about the cluster. Every delivery skips a closed
//! queue, so a channel's lines never reach a remote member through this node: its own node
//! delivers them, from the channel's log. A line to one remote user ([`crate::deliver::to_client`])
//! crosses to its node once.
//!
//! Subjects, under the configured prefix `p`:
//!
//! | subject | what | how |
//! |---|---|---|
//! | `p.nodes` | heartbeats ([`wire::Heartbeat`]) | core NATS |
//! | `p.users` | users up, renamed, down ([`wire::Presence`]) | core NATS |
//! | `p.roster` | "tell me your users": each node answers with its own | request, many replies |
//! | `p.to.<node>` | a line for one user of that node ([`wire::Direct`]) | core NATS |
//! | `p.snap.<channel>` | "who of yours is in this channel?" ([`wire::Snapshot`]) | request, many replies |
//! | `p.ch.<channel>` | the channel's log: joins, parts, messages ([`wire::ChannelEvent`]) | JetStream |
//!
//! A channel's name appears in subjects as the hex of its case-folded name. The stream holding
//! `p.ch.>` gives every channel one order; a node follows the channels it has members in, and
//! only those (an ordered consumer per channel, created when its first member joins there), so
//! a line crosses to a node only if it has members in the channel, once.

mod channels;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use charla_store::Answer;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::client::{Client, ConnectionId};
use crate::deliver::{self, Payload};
use crate::logtext::Escaped;
use crate::state::State;
use wire::{Direct, Heartbeat, Presence, WirePayload, WireUser};

/// `[cluster]`: this node's place in a network of several (off without `nats`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS servers to connect to (`nats://host:port`, or `tls://`); empty: one node, no
    /// cluster. NATS must have JetStream on.
    pub nats: Vec<String>,
    /// This node's name, unique in the network (letters, digits, `-`, `_`). Default: the
    /// server name with its dots as `_`.
    pub node: Option<String>,
    /// A NATS credentials file (`.creds`: a user JWT and its NKey seed), if NATS asks for one.
    pub credentials: Option<PathBuf>,
    /// A CA certificate (PEM) to check NATS's TLS certificate with, for a NATS whose
    /// certificate no system root vouches for (`tls://` URLs).
    pub ca: Option<PathBuf>,
    /// The first word of every subject, and of the stream's name: networks sharing one NATS
    /// keep apart by it (letters, digits, `-`, `_`).
    pub subject: String,
    /// The channel log's replicas in JetStream (1 for one NATS server; 3 for a NATS cluster of
    /// three, so that the log survives the loss of one).
    pub replicas: usize,
    /// How long the channel log keeps an event (seconds): it orders and carries, history is the
    /// store's; a node cut off from NATS for longer than this cannot read on where it left.
    pub log_max_age_secs: u64,
    /// The most the channel log holds (bytes); the oldest events go first.
    pub log_max_bytes: u64,
    /// How often this node says it is alive, in milliseconds.
    pub heartbeat_ms: u64,
    /// A node not heard from for this long (milliseconds) is gone: its users quit here.
    pub dead_after_ms: u64,
    /// When this node stops (SIGTERM, SIGINT), its users are asked to leave this many a second,
    /// so that the other nodes take them in without a storm; 0: all at once.
    pub drain_per_sec: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: Vec::new(),
            node: None,
            credentials: None,
            ca: None,
            subject: "charla".to_owned(),
            replicas: 1,
            log_max_age_secs: 3600,
            log_max_bytes: 1 << 30,
            heartbeat_ms: 1000,
            dead_after_ms: 5000,
            drain_per_sec: 1000,
        }
    }
}

/// `url` without the user name and password it may carry (`nats://user:pass@host:4222` →
/// `nats://host:4222`).
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        (None, Some(at)) => url[at + 1..].to_owned(),
        _ => url.to_owned(),
    }
}

/// The most invitations from other nodes a node keeps for its users at once.
const MAX_INVITES: usize = 10_000;

/// The most channels a node tells another's LIST about.
const MAX_LISTED: usize = 4096;

/// Whether `word` may be a subject token or a stream name here.
fn is_token(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 64
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClusterConfig {
    /// Whether this node is one of several.
    pub fn enabled(&self) -> bool {
        !self.nats.is_empty()
    }

    /// What is wrong with the settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(node) = &self.node
            && !is_token(node)
        {
            return Err("node must be letters, digits, '-' and '_' (at most 64)".to_owned());
        }
        if !is_token(&self.subject) {
            return Err("subject must be letters, digits, '-' and '_' (at most 64)".to_owned());
        }
        if !(1..=5).contains(&self.replicas) {
            return Err("replicas must be 1 to 5".to_owned());
        }
        if self.log_max_age_secs == 0 || self.log_max_bytes < 1 << 20 {
            return Err("log_max_age_secs must be > 0 and log_max_bytes at least 1 MiB".to_owned());
        }
        if self.heartbeat_ms == 0 || self.dead_after_ms < 2 * self.heartbeat_ms {
            return Err("dead_after_ms must be at least twice heartbeat_ms (> 0)".to_owned());
        }
        Ok(())
    }

    /// This node's name for a server named `server_name`.
    pub fn node_name(&self, server_name: &str) -> String {
        self.node.clone().unwrap_or_else(|| {
            server_name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect()
        })
    }
}

/// Why the cluster link could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS could not be reached or refused us.
    #[error("cannot connect to NATS ({urls}): {error}")]
    Connect {
        /// The URLs tried.
        urls: String,
        /// What went wrong.
        error: String,
    },
    /// JetStream is off, or the channel log's stream could not be made.
    #[error("cannot open the channel log in JetStream (is JetStream on?): {0}")]
    Stream(String),
}

/// Something to publish, in order.
enum Out {
    /// On core NATS.
    Core { subject: String, body: Bytes },
    /// Into the channel log; `token`: answer that message's waiting sender when stored.
    Log {
        subject: String,
        body: Bytes,
        token: Option<u64>,
    },
}

/// What a remote user's [`Client`] knows of where it lives.
#[derive(Debug)]
pub struct RemoteUser {
    /// Its node.
    pub node: String,
    /// Its id there.
    pub id: u64,
    link: Arc<Link>,
}

impl RemoteUser {
    /// Asks the user's node to end it for `reason`.
    pub fn kill(&self, reason: &str) {
        self.link.core(
            format!("{}.users", self.link.prefix),
            &Presence::Kill {
                node: self.node.clone(),
                id: self.id,
                reason: reason.to_owned(),
            },
        );
    }

    /// Sends `payload` to the user on its node.
    pub fn forward(&self, payload: &Payload) {
        let direct = Direct {
            id: self.id,
            line: WirePayload::of(payload),
        };
        self.link
            .core(format!("{}.to.{}", self.link.prefix, self.node), &direct);
    }
}

/// The way out to NATS, shared by the cluster and its remote users.
#[derive(Debug)]
struct Link {
    prefix: String,
    out: mpsc::UnboundedSender<Out>,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Out::Core { subject, .. } | Out::Log { subject, .. } => f.write_str(subject),
        }
    }
}

impl Link {
    fn core(&self, subject: String, what: &impl serde::Serialize) {
        if let Ok(body) = serde_json::to_vec(what) {
            let _ = self.out.send(Out::Core {
                subject,
                body: body.into(),
            });
        }
    }
}

/// What LUSERS adds for the rest of the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteCounts {
    /// Other nodes alive.
    pub nodes: usize,
    /// Their users.
    pub users: usize,
    /// Of which invisible (`+i`).
    pub invisible: usize,
    /// Of which IRC operators.
    pub opers: usize,
}

/// A message of this node's waiting for its place in its channel's log.
#[derive(Debug)]
struct Waiter {
    /// Its channel's key.
    key: String,
    /// Its sender's receipt, and its answer.
    receipt: charla_store::Receipt,
    answer: Answer,
    /// Its history entry (committed here if no consumer here brings it back).
    record: Option<charla_store::HistoryRecord>,
    /// The line, its sender, STATUSMSG prefix and whether the sender gets its own copy.
    payload: Payload,
    from: crate::channel::From,
    status: Option<char>,
    echo: bool,
}

/// Another node, as heard.
#[derive(Debug)]
struct Node {
    last: Instant,
    started_ms: u64,
}

/// This node's link to the others.
pub struct Cluster {
    /// This node's name.
    pub node: String,
    started_ms: u64,
    link: Arc<Link>,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    state: Weak<State>,
    /// Remote users by (node, id).
    remote: Mutex<HashMap<(String, u64), Arc<Client>>>,
    nodes: Mutex<HashMap<String, Node>>,
    /// How each channel's history entries reach the store, by key.
    recorders: Mutex<HashMap<String, Arc<channels::Recorder>>>,
    /// Channels followed, by key.
    followed: Mutex<HashMap<String, channels::Followed>>,
    /// Remote users with `+i`, and with `+o` (LUSERS).
    remote_invisible: AtomicUsize,
    remote_opers: AtomicUsize,
    /// Invitations from other nodes to users of this one, by (channel key, user id): whether
    /// an operator sent it. Given to the channel when this node has or follows it.
    invites: Mutex<HashMap<(String, u64), bool>>,
    /// Channels being joined for the first time here (their members elsewhere not known yet).
    syncing: Mutex<std::collections::HashSet<String>>,
    /// Messages of this node's senders waiting for their place in their channel's log, with
    /// their channel's key.
    waiting: Mutex<HashMap<u64, Waiter>>,
    next_token: AtomicU64,
    heartbeat: Duration,
    dead_after: Duration,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("stream", &self.stream)
            .finish()
    }
}

impl Cluster {
    /// Connects to NATS, opens the channel log and starts following the network. The state
    /// holds the cluster ([`State::set_cluster`]).
    pub async fn start(state: &Arc<State>) -> Result<Arc<Cluster>, ClusterError> {
        let config = &state.config.cluster;
        let node = config.node_name(&state.config.server_name);
        // Never a password in a log line or an error: `nats://user:pass@host` shows its host only.
        let urls = config
            .nats
            .iter()
            .map(|u| without_credentials(u))
            .collect::<Vec<_>>()
            .join(",");
        let connect_error = |error: String| ClusterError::Connect {
            urls: urls.clone(),
            error,
        };
        // NATS's own news (lost, back) reach the cluster's task through this channel.
        let (news_tx, news) = mpsc::unbounded_channel();
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("charla {node}"))
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let news = news_tx.clone();
                async move {
                    let _ = news.send(event);
                }
            });
        if let Some(creds) = &config.credentials {
            options = options
                .credentials_file(creds)
                .await
                .map_err(|e| connect_error(format!("{}: {e}", creds.display())))?;
        }
        if let Some(ca) = &config.ca {
            options = options.add_root_certificates(ca.clone());
        }
        let client = options
            .connect(config.nats.as_slice())
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let prefix = config.subject.clone();
        let stream = format!("{prefix}_channels");
        // Created, or brought to this node's limits (the last node to start sets them).
        js.create_or_update_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.ch.>")],
            // The log orders and carries; history is the store's.
            max_age: Duration::from_secs(config.log_max_age_secs),
            max_bytes: i64::try_from(config.log_max_bytes).unwrap_or(i64::MAX),
            storage: jetstream::stream::StorageType::File,
            num_replicas: config.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::Stream(e.to_string()))?;
        let (out, rx) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            node: node.clone(),
            started_ms: wire::now_ms(),
            link: Arc::new(Link { prefix, out }),
            client,
            js,
            stream,
            state: Arc::downgrade(state),
            remote: Mutex::default(),
            nodes: Mutex::default(),
            followed: Mutex::default(),
            recorders: Mutex::default(),
            syncing: Mutex::default(),
            invites: Mutex::default(),
            remote_invisible: AtomicUsize::new(0),
            remote_opers: AtomicUsize::new(0),
            waiting: Mutex::default(),
            next_token: AtomicU64::new(1),
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            dead_after: Duration::from_millis(config.dead_after_ms),
            tasks: Mutex::default(),
        });
        cluster.listen().await.map_err(connect_error)?;
        cluster.spawn(cluster.clone().publish(rx));
        cluster.spawn(cluster.clone().beat());
        cluster.spawn(cluster.clone().ask_roster());
        // Users kept present across a restart (always-on) registered before the cluster was up.
        cluster.announce_all();
        cluster.spawn(cluster.clone().follow_news(news));
        info!(node = %node, nats = %urls, "cluster: connected");
        Ok(cluster)
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        self.tasks.lock().push(handle);
    }

    fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.link.prefix)
    }

    /// Subscribes to what other nodes say, each subject served by a task of its own.
    async fn listen(self: &Arc<Self>) -> Result<(), String> {
        let sub = |subject: String| {
            let client = self.client.clone();
            async move { client.subscribe(subject).await.map_err(|e| e.to_string()) }
        };
        let mut nodes = sub(self.subject("nodes")).await?;
        let mut users = sub(self.subject("users")).await?;
        let mut roster = sub(self.subject("roster")).await?;
        let mut direct = sub(self.subject(&format!("to.{}", self.node))).await?;
        let mut snaps = sub(self.subject("snap.*")).await?;
        let mut lists = sub(self.subject("list")).await?;
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = nodes.next().await {
                if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&msg.payload) {
                    me.heard(beat);
                }
            }
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = users.next().await {
                if let Ok(p) = serde_json::from_slice::<Presence>(&msg.payload) {
                    me.presence(p);
                }
            }
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = roster.next().await {
                // (Not to itself: the asker counts the other nodes' answers.)
                if let Some(reply) = msg.reply.filter(|_| msg.payload != me.node.as_bytes()) {
                    me.link.core(reply.to_string(), &me.roster());
                }
            }
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = direct.next().await {
                if let Ok(d) = serde_json::from_slice::<Direct>(&msg.payload) {
                    me.direct(d);
                }
            }
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = snaps.next().await {
                let key = msg
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(channels::key_of_hex);
                if let (Some(reply), Some(key)) = (msg.reply, key)
                    && msg.payload != me.node.as_bytes()
                {
                    me.link.core(reply.to_string(), &me.snapshot(&key));
                }
            }
        });
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = lists.next().await {
                if let Some(reply) = msg.reply.filter(|_| msg.payload != me.node.as_bytes()) {
                    me.link.core(reply.to_string(), &me.listed_here());
                }
            }
        });
        self.client.flush().await.map_err(|e| e.to_string())
    }

    /// The channels with members here that are not secret, for another node's LIST.
    fn listed_here(&self) -> Vec<wire::Listed> {
        let Some(state) = self.state.upgrade() else {
            return Vec::new();
        };
        let secs = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        state
            .all_channels()
            .into_iter()
            .filter_map(|ch| {
                ch.read(|st| {
                    let local = st.members.iter().any(|m| m.client.remote.is_none());
                    (local && !st.dead && !st.modes.secret).then(|| wire::Listed {
                        name: String::new(),
                        users: st.members.len(),
                        topic: st
                            .topic
                            .as_ref()
                            .map(|t| t.text.clone())
                            .unwrap_or_default(),
                        topic_set_secs: st.topic.as_ref().map(|t| secs(t.set_at)),
                        created_secs: secs(ch.created),
                    })
                })
                .map(|listed| wire::Listed {
                    name: ch.name(),
                    ..listed
                })
            })
            // One NATS message holds the answer (1 MiB by default): the first this many.
            .take(MAX_LISTED)
            .collect()
    }

    /// The channels the other nodes list (each node its own; the same channel may come from
    /// several), waiting at most half a second for their answers.
    pub async fn list_elsewhere(&self) -> Vec<wire::Listed> {
        self.gather(self.subject("list"), Duration::from_millis(500))
            .await
            .into_iter()
            .filter_map(|reply| serde_json::from_slice::<Vec<wire::Listed>>(&reply).ok())
            .flatten()
            .collect()
    }

    /// Publishes what the node says, in the order it says it.
    async fn publish(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Out>) {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Core { subject, body } => {
                    if let Err(error) = self.client.publish(subject, body).await {
                        warn!(%error, "cluster: a publish to NATS failed");
                    }
                }
                Out::Log {
                    subject,
                    body,
                    token,
                } => match self.js.publish(subject, body).await {
                    Ok(ack) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match ack.await {
                                Ok(_) => {
                                    if let Some(token) = token {
                                        me.stored(token);
                                    }
                                }
                                Err(error) => {
                                    warn!(%error, "cluster: the channel log refused a line");
                                    if let Some(token) = token {
                                        me.refused(token);
                                    }
                                }
                            }
                        });
                    }
                    Err(error) => {
                        warn!(%error, "cluster: the channel log cannot be reached");
                        if let Some(token) = token {
                            self.refused(token);
                        }
                    }
                },
            }
        }
    }

    /// Says this node is alive, and forgets the nodes that stopped saying so.
    async fn beat(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.link.core(
                self.subject("nodes"),
                &Heartbeat {
                    node: self.node.clone(),
                    started_ms: self.started_ms,
                    leaving: false,
                },
            );
            let dead: Vec<String> = {
                let mut nodes = self.nodes.lock();
                let gone: Vec<String> = nodes
                    .iter()
                    .filter(|(_, n)| n.last.elapsed() > self.dead_after)
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in &gone {
                    nodes.remove(name);
                }
                gone
            };
            for name in dead {
                warn!(node = %Escaped(&name), "cluster: a node stopped answering; its users quit");
                self.forget_node(&name);
            }
        }
    }

    /// Tells the others about every registered user of this node (at start, and when NATS
    /// comes back: what was said while it was away is lost).
    fn announce_all(&self) {
        for user in self.roster() {
            self.link
                .core(self.subject("users"), &Presence::Up { user });
        }
    }

    /// What NATS says of the connection: when it comes back, this node tells its users again
    /// and asks for the others' (presence said meanwhile was lost).
    async fn follow_news(self: Arc<Self>, mut news: mpsc::UnboundedReceiver<async_nats::Event>) {
        let mut lost = false;
        while let Some(event) = news.recv().await {
            match event {
                async_nats::Event::Disconnected => {
                    lost = true;
                    warn!("cluster: NATS lost; channel messages are refused until it is back");
                }
                async_nats::Event::Connected if std::mem::take(&mut lost) => {
                    info!("cluster: NATS back; users told again, channels read on");
                    self.announce_all();
                    self.follow_again();
                    tokio::spawn(self.clone().ask_roster());
                }
                _ => {}
            }
        }
    }

    /// Asks the other nodes for their users (at start: those who registered before).
    async fn ask_roster(self: Arc<Self>) {
        for reply in self
            .gather(self.subject("roster"), Duration::from_millis(500))
            .await
        {
            if let Ok(users) = serde_json::from_slice::<Vec<WireUser>>(&reply) {
                for user in users {
                    self.presence(Presence::Up { user });
                }
            }
        }
    }

    /// Publishes a request on `subject` (its body: this node's name, so that this node does not
    /// answer itself) and collects the replies: one from every other node known alive, or what
    /// came within `wait`.
    async fn gather(&self, subject: String, wait: Duration) -> Vec<Bytes> {
        let expected = self.nodes.lock().len();
        let inbox = self.client.new_inbox();
        let Ok(mut sub) = self.client.subscribe(inbox.clone()).await else {
            return Vec::new();
        };
        if self
            .client
            .publish_with_reply(subject, inbox, Bytes::from(self.node.clone()))
            .await
            .is_err()
        {
            return Vec::new();
        }
        let _ = self.client.flush().await;
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while expected == 0 || got.len() < expected {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(Some(msg)) => got.push(msg.payload),
                Ok(None) | Err(_) => break,
            }
        }
        got
    }

    /// This node's registered users, for a node that asked.
    fn roster(&self) -> Vec<WireUser> {
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

    fn heard(&self, beat: Heartbeat) {
        if beat.node == self.node {
            return;
        }
        let restarted = {
            let mut nodes = self.nodes.lock();
            if beat.leaving {
                nodes.remove(&beat.node);
                true
            } else {
                let node = nodes.entry(beat.node.clone()).or_insert(Node {
                    last: Instant::now(),
                    started_ms: beat.started_ms,
                });
                node.last = Instant::now();
                let before = std::mem::replace(&mut node.started_ms, beat.started_ms);
                // 0: known from its users before its first heartbeat.
                before != 0 && before != beat.started_ms
            }
        };
        if restarted {
            self.forget_node(&beat.node);
        }
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
    fn apply_invitations(&self, state: &State, ch: &Arc<crate::channel::Channel>) {
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
    fn count_modes(&self, modes: crate::client::UserModes, up: bool) {
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
    fn presence(&self, p: Presence) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        match p {
            Presence::Up { user } if user.node != self.node => {
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
                let (Some(ghost), Some(payload)) = (ghost, line.to_payload()) else {
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
                    (before, info.modes)
                };
                self.count_modes(before, false);
                self.count_modes(after, true);
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
            Presence::Down { node, id, reason } if node != self.node => {
                let ghost = self.remote.lock().remove(&(node, id));
                if let Some(ghost) = ghost {
                    self.count_modes(ghost.info.read().modes, false);
                    remove_remote(&state, &ghost, &reason);
                }
            }
            _ => {}
        }
    }

    /// The remote user `user`, made or brought up to date.
    fn remote_user(&self, state: &State, user: &WireUser) -> Arc<Client> {
        let key = (user.node.clone(), user.id);
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

    /// Every user of `node` quits here (it died, restarted, or left).
    fn forget_node(&self, node: &str) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let gone: Vec<Arc<Client>> = {
            let mut remote = self.remote.lock();
            let keys: Vec<_> = remote.keys().filter(|(n, _)| n == node).cloned().collect();
            keys.iter().filter_map(|k| remote.remove(k)).collect()
        };
        let reason = format!("{} {}", self.node, node);
        for ghost in gone {
            self.count_modes(ghost.info.read().modes, false);
            remove_remote(&state, &ghost, &reason);
        }
    }

    /// A line another node sent to one of this node's users.
    fn direct(&self, d: Direct) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let (Some(client), Some(payload)) = (state.client(ConnectionId(d.id)), d.line.to_payload())
        else {
            return;
        };
        if client.remote.is_none() {
            deliver::to_client(&client, &payload, None);
        }
    }

    /// Says goodbye to the other nodes (they forget this node's users at once) and stops.
    pub async fn stop(&self) {
        self.link.core(
            self.subject("nodes"),
            &Heartbeat {
                node: self.node.clone(),
                started_ms: self.started_ms,
                leaving: true,
            },
        );
        // The publisher sends it; give it a moment, then flush.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = self.client.flush().await;
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        for (_, f) in self.followed.lock().drain() {
            f.abort();
        }
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
        &Payload::new(crate::outbound::Outgoing::new(line)),
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
            &Payload::new(ghost.tagged(crate::outbound::Outgoing::new(line))),
            None,
        );
        for ch in &channels {
            state.drop_channel_if_empty(ch);
        }
    }
    state.remove_remote_user(ghost);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_before_any_log() {
        assert_eq!(
            without_credentials("nats://ana:contraseña@10.0.0.5:4222"),
            "nats://10.0.0.5:4222"
        );
        assert_eq!(without_credentials("ana:x@h:4222"), "h:4222");
        assert_eq!(without_credentials("tls://h:4222"), "tls://h:4222");
    }

    #[test]
    fn settings_are_checked() {
        let ok = ClusterConfig {
            nats: vec!["nats://127.0.0.1:4222".to_owned()],
            ..ClusterConfig::default()
        };
        assert!(ok.validate().is_ok());
        for bad in [
            ClusterConfig {
                node: Some("a.b".to_owned()),
                ..ok.clone()
            },
            ClusterConfig {
                subject: "x>".to_owned(),
                ..ok.clone()
            },
            ClusterConfig {
                replicas: 0,
                ..ok.clone()
            },
            ClusterConfig {
                dead_after_ms: 1000,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(ok.node_name("irc.example.org"), "irc_example_org");
    }
}

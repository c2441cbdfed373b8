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
//! | `p.list` | "which channels have you?" (LIST) | request, many replies |
//! | `p.ch.<channel>` | the channel's log: joins, parts, messages ([`wire::ChannelEvent`]) | JetStream |
//! | `p.live.<channel>` | the log's events once stored, republished by the stream | core NATS |
//! | `p.relay.<node>` | a device relayed to or from that node ([`relay`]) | core NATS |
//!
//! A channel's name appears in subjects as the hex of its case-folded name. The stream holding
//! `p.ch.>` gives every channel one order; a node follows the channels it has members in, and
//! only those (a subscription to the channel's republished events, made when its first member
//! joins there: [`follow`]), so a line crosses to a node only if it has members in the channel,
//! once.

mod channels;
mod follow;
mod presence;
pub mod relay;
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
use wire::{Direct, Heartbeat, Presence, WirePayload};

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
    /// Into channel `key`'s log; `token`: answer that message's waiting sender when stored.
    Log {
        key: String,
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
    /// Its history entry (committed here if the log does not bring it back here).
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
    /// Remote users that left lately, not to be brought back by later news of them. Taken
    /// before `remote` and any channel's lock, never while one of them is held.
    departed: Mutex<presence::Departed>,
    /// Remote users of nodes that left, whose QUIT is still to be told here, a few at a time
    /// ([`Cluster::quit_leavers`]). Taken after `departed`, and held while one of them is told.
    leaving: Mutex<std::collections::VecDeque<presence::Leaver>>,
    /// Wakes [`Cluster::quit_leavers`] when `leaving` gets more.
    more_leaving: tokio::sync::Notify,
    nodes: Mutex<HashMap<String, Node>>,
    /// How each channel's history entries reach the store, by key.
    recorders: Mutex<HashMap<String, Arc<channels::Recorder>>>,
    /// Channels followed, by key.
    followed: Mutex<HashMap<String, follow::Followed>>,
    /// Republished events to pass over, as if NATS had dropped them (fault injection for tests).
    drop_live: AtomicU64,
    /// How many times this node read missed events back from the stream.
    caught_up: AtomicU64,
    /// Devices relayed to or from other nodes.
    relays: relay::Relays,
    /// Remote users by their account (case-folded), to find where a device's user lives.
    remote_accounts: Mutex<HashMap<String, Arc<Client>>>,
    /// Channels renamed whose follow task still reads the old name's log: old key → new.
    renamed_keys: Mutex<HashMap<String, String>>,
    /// The server's connection tasks (a device relayed here is one).
    tracker: Arc<crate::tracker::Tracker>,
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
    pub async fn start(
        state: &Arc<State>,
        tracker: Arc<crate::tracker::Tracker>,
    ) -> Result<Arc<Cluster>, ClusterError> {
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
            // Every stored event also goes out on core NATS, where nodes follow the channels
            // they have members in with plain subscriptions (see `follow`).
            republish: Some(jetstream::stream::Republish {
                source: format!("{prefix}.ch.>"),
                destination: format!("{prefix}.live.>"),
                headers_only: false,
            }),
            // Missed events are read back by subject (direct get), from any replica.
            allow_direct: true,
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
            departed: Mutex::default(),
            leaving: Mutex::default(),
            more_leaving: tokio::sync::Notify::new(),
            nodes: Mutex::default(),
            followed: Mutex::default(),
            drop_live: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            relays: relay::Relays::default(),
            remote_accounts: Mutex::default(),
            renamed_keys: Mutex::default(),
            tracker,
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
        cluster.spawn(cluster.clone().quit_leavers());
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
        let nodes = sub(self.subject("nodes")).await?;
        let users = sub(self.subject("users")).await?;
        let roster = sub(self.subject("roster")).await?;
        let direct = sub(self.subject(&format!("to.{}", self.node))).await?;
        let snaps = sub(self.subject("snap.*")).await?;
        let lists = sub(self.subject("list")).await?;
        let relays = sub(self.subject(&format!("relay.{}", self.node))).await?;
        self.serve(relays, |me, msg| me.relay_message(&msg));
        self.serve(nodes, |me, msg| {
            if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&msg.payload) {
                me.heard(beat);
            }
        });
        self.serve(users, |me, msg| {
            if let Ok(p) = serde_json::from_slice::<Presence>(&msg.payload) {
                me.presence(p);
            }
        });
        self.serve(direct, |me, msg| {
            if let Ok(d) = serde_json::from_slice::<Direct>(&msg.payload) {
                me.direct(d);
            }
        });
        self.serve(roster, |me, msg| {
            if let Some(asker) = me.asker(&msg) {
                me.link.core(asker, &me.roster());
            }
        });
        self.serve(snaps, |me, msg| {
            let key = msg
                .subject
                .rsplit('.')
                .next()
                .and_then(channels::key_of_hex);
            if let (Some(asker), Some(key)) = (me.asker(&msg), key) {
                me.link.core(asker, &me.snapshot(&key));
            }
        });
        self.serve(lists, |me, msg| {
            if let Some(asker) = me.asker(&msg) {
                me.link.core(asker, &me.listed_here());
            }
        });
        self.client.flush().await.map_err(|e| e.to_string())
    }

    /// Hands every message of `subscription` to `handle`, on a task of its own.
    fn serve(
        self: &Arc<Self>,
        mut subscription: async_nats::Subscriber,
        handle: impl Fn(&Cluster, async_nats::Message) + Send + 'static,
    ) {
        let me = self.clone();
        self.spawn(async move {
            while let Some(msg) = subscription.next().await {
                handle(&me, msg);
            }
        });
    }

    /// Where to answer a request another node sent ([`Cluster::gather`]); `None` for one this
    /// node sent itself (the asker counts the other nodes' answers) or one that wants none.
    fn asker(&self, msg: &async_nats::Message) -> Option<String> {
        msg.reply
            .as_ref()
            .filter(|_| msg.payload != self.node.as_bytes())
            .map(|reply| reply.to_string())
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
                    key,
                    subject,
                    body,
                    token,
                } => match self.js.publish(subject, body).await {
                    Ok(ack) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match ack.await {
                                Ok(ack) => {
                                    me.logged(&key, ack.sequence);
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
            self.subject("users"),
            &Presence::NodeLeaving {
                node: self.node.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_user_on_tls_there_is_secure_here_with_its_metadata() {
        let state = State::in_memory(crate::Config::default());
        let (out, _rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            prefix: "p".to_owned(),
            out,
        });
        for secure in [true, false] {
            let user = wire::WireUser {
                node: "b".to_owned(),
                id: 7,
                nick: format!("ñandú{secure}"),
                user: "x".to_owned(),
                host: "h".to_owned(),
                realname: "X".to_owned(),
                account: None,
                away: None,
                invisible: false,
                oper: false,
                bot: false,
                secure,
                metadata: [("avatar".to_owned(), "https://ejemplo.org/ñ.png".to_owned())].into(),
            };
            let remote = RemoteUser {
                node: "b".to_owned(),
                id: 7,
                link: link.clone(),
            };
            let ghost = state.add_remote_user(&user, remote);
            assert_eq!(ghost.transport.is_secure(), secure);
            let values = ghost
                .info
                .read()
                .metadata
                .as_ref()
                .map(|m| m.values.clone());
            assert_eq!(values, Some(user.metadata.clone()));
            assert_eq!(ghost.transport.certfp(), None);
        }
    }

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

//! Following a channel's log: a plain NATS subscription to the events the stream republishes,
//! with the stream's sequences to notice what the subscription missed and read it back.
//!
//! The stream republishes every event it stores (JetStream `RePublish`, `p.ch.X` → `p.live.X`)
//! with its place in the stream (`Nats-Sequence`) and the place of the channel's event before it
//! (`Nats-Last-Sequence`). A node follows a channel with one subscription, which costs NATS an
//! interest entry, where a JetStream consumer per channel and node cost it a consumer's state and
//! delivery work (with 1,000 channels on three nodes, most of NATS's CPU). Core NATS may drop an
//! event (NATS restarting, a client too slow); the next event then names a place this node has
//! not applied, and the node reads what it missed from the stream (direct get, by subject) before
//! going on. It also reads on when NATS comes back, when the client reports a slow subscription,
//! and when one of its own events was stored and has not come back in [`OVERDUE`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream::stream::DirectGetErrorKind;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::warn;

use super::Cluster;
use super::channels::hex_of_key;
use super::wire::{ChannelEvent, Snapshot};
use crate::channel::Channel;
use crate::logtext::Escaped;

/// How long an event of this node's, stored in the log, may take to come back before the node
/// reads it from the stream.
const OVERDUE: Duration = Duration::from_millis(250);

/// A channel this node follows: the task reading its log, and where it is in the log.
#[derive(Debug)]
pub(super) struct Followed {
    task: tokio::task::AbortHandle,
    place: Arc<Place>,
    /// Which channel of the name: one emptied here may be made again under the same name
    /// while its last member's leaving is still being handled.
    channel: Weak<Channel>,
}

impl Followed {
    /// Stops reading the log.
    pub(super) fn abort(self) {
        self.task.abort();
    }

    /// Whether it is `ch` that is followed, not another channel of the same name.
    pub(super) fn is(&self, ch: &Arc<Channel>) -> bool {
        std::ptr::eq(self.channel.as_ptr(), Arc::as_ptr(ch))
    }
}

/// Where this node is in one channel's log.
#[derive(Debug, Default)]
struct Place {
    /// The stream sequence of the last event applied; before any, the stream's last sequence
    /// when the node began following (what came before is in the snapshot).
    last: AtomicU64,
    /// The highest sequence the log is known to have for the channel (this node's own events,
    /// as the stream acknowledged them).
    known: AtomicU64,
    /// Read what was missed at once (NATS came back, the subscription was too slow).
    now: AtomicBool,
    wake: Notify,
}

/// The republished event's place in the stream and the place of the channel's event before it.
fn places(msg: &async_nats::Message) -> Option<(u64, u64)> {
    let headers = msg.headers.as_ref()?;
    let number = |name: &str| headers.get(name)?.as_str().parse::<u64>().ok();
    Some((
        number("Nats-Sequence")?,
        number("Nats-Last-Sequence").unwrap_or(0),
    ))
}

impl Cluster {
    /// The subject the stream republishes channel `key`'s events to.
    fn live_subject(&self, key: &str) -> String {
        self.subject(&format!("live.{}", hex_of_key(key)))
    }

    /// Before the first member here joins `ch`: starts following it, holding its turn until
    /// its members elsewhere are known. Returns false if it was followed already (or its turn
    /// is taken: then the JOIN goes on without waiting).
    pub fn begin_following(self: &Arc<Self>, ch: &Arc<Channel>) -> bool {
        let key = ch.key();
        let mut followed = self.followed.lock();
        if followed.contains_key(&key) {
            return false;
        }
        let Ok(turn) = ch.turn().try_acquire() else {
            return false;
        };
        turn.forget();
        let place = Arc::new(Place::default());
        let task = tokio::spawn(self.clone().follow(ch.clone(), key.clone(), place.clone()));
        followed.insert(
            key.clone(),
            Followed {
                task: task.abort_handle(),
                place,
                channel: Arc::downgrade(ch),
            },
        );
        self.syncing.lock().insert(key);
        true
    }

    /// Follows `ch`: the subscription, the log's place, the snapshot, then the log.
    async fn follow(self: Arc<Self>, ch: Arc<Channel>, key: String, place: Arc<Place>) {
        let live = match self.subscribe_live(&key).await {
            Ok((live, last)) => {
                place.last.store(last, Ordering::Relaxed);
                Some(live)
            }
            Err(error) => {
                warn!(channel = %Escaped(&ch.name()), %error,
                    "cluster: cannot follow a channel's log; it stays local");
                None
            }
        };
        if live.is_some() {
            let snaps = self
                .gather(
                    self.subject(&format!("snap.{}", hex_of_key(&key))),
                    Duration::from_millis(300),
                )
                .await;
            if let Some(state) = self.state.upgrade() {
                for snap in snaps {
                    let Ok(snap) = serde_json::from_slice::<Snapshot>(&snap) else {
                        continue;
                    };
                    if snap.node == self.node || snap.members.is_empty() {
                        continue;
                    }
                    for (user, op, voice) in &snap.members {
                        if user.node != snap.node {
                            continue;
                        }
                        self.join_member(&state, &ch, user, (*op, *voice), None, None);
                    }
                    if let Some((text, by, at)) = snap.topic {
                        ch.adopt_topic(text, by, at);
                    }
                    ch.adopt_modes(snap.modes, &snap.lists);
                    // Keys set here already (a registered channel's, from the store) stay.
                    ch.with_metadata(|values| {
                        for (key, value) in snap.metadata {
                            values.entry(key).or_insert(value);
                        }
                    });
                }
            }
        }
        if let Some(state) = self.state.upgrade() {
            self.apply_invitations(&state, &ch);
        }
        self.syncing.lock().remove(&key);
        ch.turn().add_permits(1);
        let Some(live) = live else {
            let mut followed = self.followed.lock();
            if followed.get(&key).is_some_and(|f| f.is(&ch)) {
                followed.remove(&key);
            }
            return;
        };
        self.read_log(&ch, live, &place).await;
    }

    /// Subscribes to channel `key`'s republished events, then asks the stream for its last
    /// sequence: every event after it reaches the subscription (or is noticed missing), every
    /// one before it is in the snapshot asked next.
    async fn subscribe_live(&self, key: &str) -> Result<(async_nats::Subscriber, u64), String> {
        let live = self
            .client
            .subscribe(self.live_subject(key))
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| e.to_string())?;
        let last = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .last_sequence;
        Ok((live, last))
    }

    /// Applies `ch`'s log as `live` brings it, reading what it missed from the stream; moves to
    /// the new name's log when the channel is renamed.
    async fn read_log(&self, ch: &Arc<Channel>, mut live: async_nats::Subscriber, place: &Place) {
        let mut key = ch.key();
        let mut subject = self.channel_subject(&key);
        // Armed while an event of this node's is overdue; one timer for the task's life.
        let mut overdue = false;
        let timer = tokio::time::sleep(OVERDUE);
        tokio::pin!(timer);
        loop {
            let mut renamed = None;
            tokio::select! {
                biased;
                () = place.wake.notified() => {}
                () = &mut timer, if overdue => {
                    place.now.store(true, Ordering::Relaxed);
                }
                msg = live.next() => {
                    let Some(msg) = msg else { return };
                    renamed = self.take_live(ch, &subject, &msg, place).await;
                }
            }
            if renamed.is_none() && place.now.swap(false, Ordering::Relaxed) {
                renamed = self.catch_up(ch, &subject, place, None).await;
                overdue = false;
            }
            while let Some(new) = renamed {
                let old = std::mem::replace(&mut key, new);
                subject = self.channel_subject(&key);
                match self.client.subscribe(self.live_subject(&key)).await {
                    Ok(sub) => live = sub,
                    Err(error) => {
                        warn!(channel = %Escaped(&ch.name()), %error,
                            "cluster: cannot follow a renamed channel's log");
                        return;
                    }
                }
                self.moved(&old);
                // What was logged under the new name before this node subscribed.
                renamed = self.catch_up(ch, &subject, place, None).await;
            }
            let behind = place.known.load(Ordering::Relaxed) > place.last.load(Ordering::Relaxed);
            if behind && !overdue {
                timer.as_mut().reset(Instant::now() + OVERDUE);
            }
            overdue = behind;
        }
    }

    /// One republished event: applied if it is the next one, after what was missed if it is
    /// not, passed over if it was applied already. Returns the channel's new key when it was
    /// renamed (the log goes on under that name).
    async fn take_live(
        &self,
        ch: &Arc<Channel>,
        subject: &str,
        msg: &async_nats::Message,
        place: &Place,
    ) -> Option<String> {
        let (seq, before) = places(msg)?;
        if self
            .drop_live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return None;
        }
        let last = place.last.load(Ordering::Relaxed);
        if seq <= last {
            return None;
        }
        if before > last {
            let renamed = self.catch_up(ch, subject, place, Some(seq)).await;
            if renamed.is_some() || seq <= place.last.load(Ordering::Relaxed) {
                return renamed;
            }
        }
        place.last.store(seq, Ordering::Relaxed);
        self.apply_bytes(ch, &msg.payload)
    }

    /// Reads `ch`'s events after the last one applied from the stream and applies them, up to
    /// `until` (included), to the end, or to a rename (whose new key it returns: what follows
    /// under the old name is no longer the channel's).
    async fn catch_up(
        &self,
        ch: &Arc<Channel>,
        subject: &str,
        place: &Place,
        until: Option<u64>,
    ) -> Option<String> {
        self.caught_up.fetch_add(1, Ordering::Relaxed);
        let stream = match self.js.get_stream_no_info(&self.stream).await {
            Ok(stream) => stream,
            Err(error) => {
                warn!(channel = %Escaped(&ch.name()), %error,
                    "cluster: cannot read a channel's log back");
                return None;
            }
        };
        loop {
            let from = place.last.load(Ordering::Relaxed) + 1;
            match stream
                .direct_get_next_for_subject(subject, Some(from))
                .await
            {
                Ok(msg) => {
                    place.last.store(msg.sequence, Ordering::Relaxed);
                    let renamed = self.apply_bytes(ch, &msg.payload);
                    if renamed.is_some() || until.is_some_and(|until| msg.sequence >= until) {
                        return renamed;
                    }
                }
                Err(error) if error.kind() == DirectGetErrorKind::NotFound => return None,
                Err(error) => {
                    warn!(channel = %Escaped(&ch.name()), %error,
                        "cluster: cannot read a channel's log back");
                    return None;
                }
            }
        }
    }

    /// One event of `ch`'s log as it came from NATS; the channel's new key if it renamed it.
    fn apply_bytes(&self, ch: &Arc<Channel>, payload: &[u8]) -> Option<String> {
        match serde_json::from_slice::<ChannelEvent>(payload) {
            Ok(event) => {
                let renamed = match &event {
                    ChannelEvent::Rename { new, .. } => {
                        Some(charla_proto::casemap::casefold(new).into_owned())
                    }
                    _ => None,
                };
                self.apply(ch, event);
                // Only if it took the new name here (a channel here may hold it).
                renamed.filter(|new| *new == ch.key())
            }
            Err(error) => {
                warn!(%error, "cluster: an event of a channel's log is unreadable");
                None
            }
        }
    }

    /// The follow task of a channel formerly named `old` now reads its new name's log: this
    /// node's messages logged under the old name after the rename reach no one (every node
    /// moved on at the rename): their senders are told.
    fn moved(&self, old: &str) {
        self.renamed_keys.lock().remove(old);
        let orphans: Vec<super::Waiter> = {
            let mut waiting = self.waiting.lock();
            let tokens: Vec<u64> = waiting
                .iter()
                .filter(|(_, w)| w.key == old)
                .map(|(token, _)| *token)
                .collect();
            tokens.iter().filter_map(|t| waiting.remove(t)).collect()
        };
        for w in orphans {
            w.answer.answer(Err(charla_store::StoreError::Closed));
        }
    }

    /// After NATS came back, or the client dropped events: every channel followed reads what
    /// it missed from the stream.
    pub(super) fn read_missed(&self) {
        for f in self.followed.lock().values() {
            f.place.now.store(true, Ordering::Relaxed);
            f.place.wake.notify_one();
        }
    }

    /// The stream stored an event of this node's at `seq` in channel `key`'s log: if it does
    /// not come back on the subscription soon, it is read from the stream.
    pub(super) fn logged(&self, key: &str, seq: u64) {
        let renamed = self.renamed_keys.lock().get(key).cloned();
        let key = renamed.as_deref().unwrap_or(key);
        if let Some(f) = self.followed.lock().get(key) {
            f.place.known.fetch_max(seq, Ordering::Relaxed);
            f.place.wake.notify_one();
        }
    }

    /// How many times this node read missed events back from the stream.
    pub fn catch_ups(&self) -> u64 {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Passes over the next `n` republished events (fault injection for tests).
    pub fn drop_live(&self, n: u64) {
        self.drop_live.store(n, Ordering::Relaxed);
    }
}

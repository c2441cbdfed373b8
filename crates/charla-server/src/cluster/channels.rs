//! Channels across nodes: each channel's log in JetStream, followed by every node with members
//! in it ([`super::follow`]), and applied there in the log's order.
//!
//! - A node follows a channel from the moment its first member there is about to join
//!   ([`Cluster::begin_following`]): it subscribes to the channel's events, then asks the other
//!   nodes for their members ([`wire::Snapshot`](super::wire::Snapshot)), and only then lets
//!   the JOIN go on (the channel's turn is held meanwhile): the joiner sees a NAMES of the whole
//!   network, and whoever was first anywhere is the channel's operator. Events that the
//!   snapshot already shows are applied again harmlessly (joins and parts are idempotent).
//! - Joins and parts are applied by their own node at once and logged; the other nodes apply
//!   them as the log brings them.
//! - Messages are ordered by the log alone: a sender's message is committed to history, then
//!   logged, and its own node's members see it when the log brings it back, like every other
//!   node's members ([`Cluster::sequence`]). So every member, on every node, sees a channel's
//!   messages in the log's order.
//! - When its last member here leaves, the node stops following the channel and forgets its
//!   remote members ([`Cluster::after_leave`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use charla_store::{Conflict, HistoryRecord, Receipt, StoreError, Write};
use tracing::warn;

use super::wire::{ChannelEvent, Snapshot, WirePayload, WireRecord, WireUser};
use super::{Cluster, Out, Waiter};
use crate::channel::{Channel, From};
use crate::client::Client;
use crate::deliver::Payload;
use crate::logtext::Escaped;

/// How a channel's history entries reach the store here: in the log's order, and after a
/// store failure one at a time, still in that order.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    /// The place given to the next entry.
    next: AtomicU64,
    retrying: parking_lot::Mutex<Retrying>,
}

/// Entries waiting for the store after a failure, by their place.
#[derive(Debug, Default)]
struct Retrying {
    active: bool,
    queue: std::collections::BTreeMap<u64, (Write, charla_store::Answer)>,
}

/// Whether a write's outcome leaves its entry in the store (written now, or there already;
/// for a redaction, the message gone already).
fn recorded(outcome: &Result<Result<(), Conflict>, StoreError>) -> bool {
    matches!(
        outcome,
        Ok(Ok(())) | Ok(Err(Conflict::Exists)) | Ok(Err(Conflict::NotFound))
    )
}

/// Writes `recorder`'s waiting entries one after the other, each tried again (50 ms to 2 s)
/// until the store takes it, delivering the channel's messages as they are recorded.
async fn retry_in_order(
    state: Arc<crate::state::State>,
    ch: Arc<Channel>,
    recorder: Arc<Recorder>,
) {
    let mut wait = Duration::from_millis(50);
    loop {
        let head = {
            let mut retrying = recorder.retrying.lock();
            match retrying.queue.first_key_value() {
                Some((place, (write, _))) => (*place, write.clone()),
                None => {
                    retrying.active = false;
                    return;
                }
            }
        };
        let outcome = match state.store.append(head.1) {
            Ok(committed) => committed.wait().await,
            Err(error) => Err(error),
        };
        if recorded(&outcome) {
            let done = recorder.retrying.lock().queue.remove(&head.0);
            if let Some((_, answer)) = done {
                answer.answer(Ok(Ok(())));
            }
            ch.deliver_committed(None);
            wait = Duration::from_millis(50);
            continue;
        }
        if let Err(error) = outcome {
            if let Some(skipped) = crate::logtext::STORE_REFUSALS.admit() {
                warn!(channel = %Escaped(&ch.name()), %error, skipped,
                    "cluster: messages of the log wait: the store cannot take them");
            }
            if state.is_shutting_down() {
                let waiting = std::mem::take(&mut recorder.retrying.lock().queue);
                for (_, (_, answer)) in waiting {
                    answer.answer(Err(error.clone()));
                }
                ch.deliver_committed(None);
                recorder.retrying.lock().active = false;
                return;
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// A channel key as a subject token: the hex of its case-folded name.
pub fn hex_of_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The channel key a subject token names; `None` if it is not hex of UTF-8.
pub fn key_of_hex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || hex.len() > 2 * 512 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Cluster {
    pub(super) fn channel_subject(&self, key: &str) -> String {
        self.subject(&format!("ch.{}", hex_of_key(key)))
    }

    /// Whether this node follows the channel `key`.
    pub fn follows(&self, key: &str) -> bool {
        self.followed.lock().contains_key(key)
    }

    /// One event of `ch`'s log.
    pub(super) fn apply(&self, ch: &Arc<Channel>, event: ChannelEvent) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        match event {
            ChannelEvent::Join {
                user,
                op,
                voice,
                join,
                away,
                created,
                record,
            } => {
                self.keep_event(ch, record);
                if user.node == self.node {
                    return;
                }
                let Some(ghost) = self.join_member(
                    &state,
                    ch,
                    &user,
                    (op, voice),
                    join.to_payload().map(Payload::may_wait).as_ref(),
                    away.and_then(|a| a.to_payload())
                        .map(Payload::may_wait)
                        .as_ref(),
                ) else {
                    return;
                };
                if created {
                    self.settle_creation(&state, ch, (user.node.clone(), user.id), &ghost);
                }
            }
            ChannelEvent::Part {
                node,
                id,
                line,
                record,
            } => {
                self.keep_event(ch, record);
                if node == self.node {
                    return;
                }
                let ghost = self.remote.lock().get(&(node, id)).cloned();
                if let Some(ghost) = ghost {
                    ch.part_remote(&ghost, line.to_payload().map(Payload::may_wait).as_ref());
                }
            }
            ChannelEvent::Kick {
                node,
                victim_node,
                victim_id,
                line,
                record,
            } => {
                self.keep_event(ch, record);
                if node == self.node {
                    return;
                }
                let victim = if victim_node == self.node {
                    state
                        .client(crate::client::ConnectionId(victim_id))
                        .filter(|c| c.remote.is_none())
                } else {
                    self.remote.lock().get(&(victim_node, victim_id)).cloned()
                };
                if let Some(victim) = victim {
                    ch.part_remote(&victim, line.to_payload().as_ref());
                    state.drop_channel_if_empty(ch);
                }
            }
            ChannelEvent::Modes {
                node,
                modes,
                lists,
                statuses,
                lines,
            } => {
                let statuses: Vec<(crate::client::ConnectionId, char, bool)> = {
                    let remote = self.remote.lock();
                    statuses
                        .into_iter()
                        .filter_map(|(n, id, mode, given)| {
                            let here = if n == self.node {
                                Some(crate::client::ConnectionId(id))
                            } else {
                                remote.get(&(n, id)).map(|g| g.id)
                            };
                            here.map(|id| (id, mode, given))
                        })
                        .collect()
                };
                let lines: Vec<Payload> =
                    lines.iter().filter_map(WirePayload::to_payload).collect();
                // This node's own change, applied here already, is applied again in its place
                // in the log: two changes made on two nodes at once end as the log orders them
                // everywhere. Its members are told again only if that changed something.
                ch.modes_remote(modes, &lists, &statuses, &lines, node == self.node);
            }
            ChannelEvent::Redact {
                node,
                id,
                msgid,
                record,
                line,
            } => {
                if node == self.node {
                    return;
                }
                let (Some(payload), Some(redaction)) =
                    (line.to_payload(), record.to_record(&ch.key()))
                else {
                    return;
                };
                let (receipt, answer) = Receipt::manual();
                ch.queue_logged(payload, self.sender(node, id), None, false, receipt);
                self.write_then_deliver(ch, Some(Write::Redact { msgid, redaction }), answer);
            }
            ChannelEvent::Topic {
                node,
                topic,
                line,
                record,
            } => {
                self.keep_event(ch, record);
                // This node's own, applied already, is set again silently: two topics set on
                // two nodes at once end as the later one in the log everywhere.
                let line = (node != self.node).then(|| line.to_payload()).flatten();
                ch.topic_remote(topic, line.as_ref());
            }
            ChannelEvent::Kept { record } => self.keep_event(ch, Some(record)),
            ChannelEvent::Meta {
                node,
                key,
                value,
                line,
            } => {
                let Some(line) = line.to_payload().filter(|_| node != self.node) else {
                    return;
                };
                crate::command::metadata::changed_elsewhere(
                    &crate::command::metadata::Target::Channel(ch.clone()),
                    &key,
                    value.as_deref(),
                    &line,
                );
                // A registered channel's keys are kept (in a store of this node's own too).
                if ch.read(|st| st.registration.is_some()) {
                    state.store.write_later(Write::SetMetadata {
                        target: crate::command::metadata::store_target_of_channel(ch),
                        key,
                        value,
                    });
                }
            }
            ChannelEvent::Rename {
                node,
                new,
                reason,
                line,
            } => {
                // Renamed at its node already; the follow task moves to the new name's log.
                if node == self.node {
                    return;
                }
                let Some(line) = line.to_outgoing() else {
                    return;
                };
                let old_key = ch.key();
                let renamed = crate::channel::Renamed {
                    old: ch.name(),
                    new,
                    reason,
                    line,
                    server: state.name().to_owned(),
                };
                if state.rename_followed(ch, renamed) {
                    self.rekey(&old_key, &ch.key());
                } else {
                    warn!(channel = %Escaped(&ch.name()),
                        "cluster: a channel renamed elsewhere keeps its name here: the new one is taken");
                }
            }
            ChannelEvent::Message {
                node,
                id,
                token,
                status,
                line,
                record,
            } => {
                let key = ch.key();
                // A record that is not well formed is not kept (the line still goes out).
                let record = record.and_then(|r| r.to_record(&key));
                if node == self.node {
                    let waiter = self.waiting.lock().remove(&token);
                    if let Some(w) = waiter {
                        // Its place among the channel's messages is here, in the log's order.
                        ch.queue_logged(w.payload, w.from, w.status, w.echo, w.receipt);
                        self.commit_then_deliver(ch, record.or(w.record), w.answer);
                    }
                    return;
                }
                let Some(payload) = line.to_payload() else {
                    return;
                };
                let (receipt, answer) = Receipt::manual();
                ch.queue_logged(payload, self.sender(node, id), status, false, receipt);
                self.commit_then_deliver(ch, record, answer);
            }
        }
    }

    /// Keeps an event's history entry that came through `ch`'s log, in the log's order among
    /// the channel's messages (a shared store keeps the first node's; the others find it).
    fn keep_event(&self, ch: &Arc<Channel>, record: Option<WireRecord>) {
        if let Some(record) = record.and_then(|r| r.to_record(&ch.key())) {
            // Nobody waits for an event's entry.
            let (_, answer) = Receipt::manual();
            self.write_then_deliver(ch, Some(Write::Append(record)), answer);
        }
    }

    /// An event's entry to send through channel `key`'s log: if the channel is not followed
    /// (its log could not be opened), the log will not bring it back, and it is kept here now.
    fn through_log(&self, key: &str, record: Option<HistoryRecord>) -> Option<WireRecord> {
        let record = record?;
        if self.follows(key) {
            return Some(WireRecord::of(&record));
        }
        if let Some(state) = self.state.upgrade() {
            state.store.write_later(Write::Append(record));
        }
        None
    }

    /// A local user's QUIT or NICK, held for the logs of the channels it was told in
    /// ([`crate::history::Event::take_all_held`]): each goes through its channel's log. One
    /// that this node will not read back (the channel is not followed, or has no member here
    /// left to follow it for) is also kept here now; a shared store takes it once (same id).
    pub fn events_held(&self, records: Vec<HistoryRecord>) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        for record in records {
            let key = record.target.clone();
            let follows = self.follows(&key);
            if follows {
                self.log(
                    &key,
                    &ChannelEvent::Kept {
                        record: WireRecord::of(&record),
                    },
                    None,
                );
            }
            let stays = state.channel(&key).is_some_and(|ch| ch.has_local_members());
            if !follows || !stays {
                state.store.write_later(Write::Append(record));
            }
        }
    }

    /// Channel `key` as the other nodes know it, for a query about a channel with no member
    /// here (NAMES, WHO): a channel of its own, not in the server's map, with their members,
    /// modes, lists and topic. `None` if no node has members in it.
    pub async fn view(&self, key: &str) -> Option<Arc<Channel>> {
        let snaps = self
            .gather(
                self.subject(&format!("snap.{}", hex_of_key(key))),
                Duration::from_millis(300),
            )
            .await;
        let state = self.state.upgrade()?;
        let mut view: Option<Arc<Channel>> = None;
        for snap in snaps {
            let Ok(snap) = serde_json::from_slice::<Snapshot>(&snap) else {
                continue;
            };
            if snap.node == self.node || snap.members.is_empty() {
                continue;
            }
            let ch = view
                .get_or_insert_with(|| {
                    let ch = Arc::new(Channel::new(&snap.name));
                    ch.adopt_modes(snap.modes.clone(), &snap.lists);
                    ch
                })
                .clone();
            let members = snap
                .members
                .iter()
                .filter(|(user, _, _)| user.node == snap.node)
                .filter_map(|(user, op, voice)| {
                    Some((self.member_user(&state, user)?, *op, *voice))
                })
                .collect();
            ch.add_viewed(members);
            if let Some((text, by, at)) = snap.topic {
                ch.adopt_topic(text, by, at);
            }
            ch.with_metadata(|values| values.extend(snap.metadata));
        }
        view
    }

    /// The sender of a line another node logged, as this node knows it (`ConnectionId(0)` if it
    /// does not).
    fn sender(&self, node: String, id: u64) -> From {
        let here = self
            .remote
            .lock()
            .get(&(node, id))
            .map_or(crate::client::ConnectionId(0), |g| g.id);
        From {
            user: here,
            conn: here,
        }
    }

    /// A node asks who of ours is in channel `key`.
    /// (Every node answers, with no members if it has none there, so that the asker need not
    /// wait out its timeout.)
    pub(super) fn snapshot(&self, key: &str) -> Snapshot {
        let empty = Snapshot {
            name: String::new(),
            node: self.node.clone(),
            members: Vec::new(),
            topic: None,
            modes: Default::default(),
            lists: Vec::new(),
            metadata: Default::default(),
        };
        let Some(ch) = self.state.upgrade().and_then(|state| state.channel(key)) else {
            return empty;
        };
        let (members, topic) = ch.local_view();
        if members.is_empty() {
            return empty;
        }
        let (modes, lists, _) = ch.mode_view();
        Snapshot {
            name: ch.name(),
            modes,
            lists,
            metadata: ch.read(|st| st.metadata.clone()),
            node: self.node.clone(),
            members: members
                .into_iter()
                .map(|(c, op, voice)| (WireUser::of(&self.node, &c), op, voice))
                .collect(),
            topic,
        }
    }

    /// Two nodes created `ch` at once (each knew no member elsewhere): the creator on the node
    /// whose name sorts first keeps operator status, the other loses it — on every node alike,
    /// each telling its own members with a MODE from the server. `theirs`: the creator the log
    /// just brought (`ghost`, joined here already).
    fn settle_creation(
        &self,
        state: &crate::state::State,
        ch: &Channel,
        theirs: (String, u64),
        ghost: &Arc<Client>,
    ) {
        let mine = ch.read(|st| st.creator.clone());
        let loser = match mine {
            None => {
                ch.set_creator(theirs);
                return;
            }
            Some(mine) if mine == theirs => return,
            Some(mine) if mine.0 < theirs.0 => ghost.clone(),
            Some(mine) => {
                ch.set_creator(theirs);
                let found = if mine.0 == self.node {
                    state.client(crate::client::ConnectionId(mine.1))
                } else {
                    self.remote.lock().get(&mine).cloned()
                };
                match found {
                    Some(client) => client,
                    None => return,
                }
            }
        };
        ch.deop_by_server(&loser, state.name());
    }

    /// A member of this node joined `ch` (after the node told its own members).
    /// `record`: its history entry, to keep through the log ([`crate::history::Event::through_log`]).
    pub fn joined(
        &self,
        ch: &Channel,
        client: &Client,
        join: &Payload,
        away: Option<&Payload>,
        record: Option<HistoryRecord>,
    ) {
        let (op, voice, alone, registered) = ch
            .read(|st| {
                st.member(client.id).map(|m| {
                    (
                        m.op,
                        m.voice,
                        st.members.len() == 1,
                        st.registration.is_some(),
                    )
                })
            })
            .unwrap_or((false, false, false, false));
        let created = op && alone && !registered;
        if created {
            ch.set_creator((self.node.clone(), client.id.0));
        }
        self.log(
            &ch.key(),
            &ChannelEvent::Join {
                user: Box::new(WireUser::of(&self.node, client)),
                op,
                voice,
                join: WirePayload::of(join),
                away: away.map(WirePayload::of),
                created,
                record: self.through_log(&ch.key(), record),
            },
            None,
        );
    }

    /// A member of this node left `ch` with `line` (PART).
    pub fn parted(
        &self,
        ch: &Channel,
        client: &Client,
        line: &Payload,
        record: Option<HistoryRecord>,
    ) {
        self.log(
            &ch.key(),
            &ChannelEvent::Part {
                node: self.node.clone(),
                id: client.id.0,
                line: WirePayload::of(line),
                record: self.through_log(&ch.key(), record),
            },
            None,
        );
    }

    /// A member of `ch` (of any node) was kicked here with `line`.
    pub fn kicked(
        &self,
        ch: &Channel,
        victim: &Client,
        line: &Payload,
        record: Option<HistoryRecord>,
    ) {
        let (victim_node, victim_id) = match &victim.remote {
            Some(r) => (r.node.clone(), r.id),
            None => (self.node.clone(), victim.id.0),
        };
        self.log(
            &ch.key(),
            &ChannelEvent::Kick {
                node: self.node.clone(),
                victim_node,
                victim_id,
                line: WirePayload::of(line),
                record: self.through_log(&ch.key(), record),
            },
            None,
        );
    }

    /// Modes of `ch` were changed here, as `lines` say; `statuses`: op and voice given or
    /// taken (member, `o` or `v`, given).
    pub fn modes_changed(
        &self,
        ch: &Channel,
        lines: &[Payload],
        statuses: &[(Arc<Client>, char, bool)],
    ) {
        let (modes, lists, _) = ch.mode_view();
        let statuses = statuses
            .iter()
            .map(|(c, mode, given)| match &c.remote {
                Some(r) => (r.node.clone(), r.id, *mode, *given),
                None => (self.node.clone(), c.id.0, *mode, *given),
            })
            .collect();
        self.log(
            &ch.key(),
            &ChannelEvent::Modes {
                node: self.node.clone(),
                modes,
                lists,
                statuses,
                lines: lines.iter().map(WirePayload::of).collect(),
            },
            None,
        );
    }

    /// A member of this node redacted message `msgid` of `ch` (committed here, `redaction`
    /// the REDACT event kept): the other nodes delete it from their stores too (already gone
    /// from a shared one) and show `line` to their members.
    pub fn redacted(
        &self,
        ch: &Channel,
        by: &Client,
        msgid: &str,
        redaction: &HistoryRecord,
        line: &Payload,
    ) {
        self.log(
            &ch.key(),
            &ChannelEvent::Redact {
                node: self.node.clone(),
                id: by.id.0,
                msgid: msgid.to_owned(),
                record: WireRecord::of(redaction),
                line: WirePayload::of(line),
            },
            None,
        );
    }

    /// A `draft/metadata-2` key of `ch` changed here (`None`: removed), as `line` told its
    /// subscribers here.
    pub fn channel_metadata(&self, ch: &Channel, key: &str, value: Option<&str>, line: &Payload) {
        self.log(
            &ch.key(),
            &ChannelEvent::Meta {
                node: self.node.clone(),
                key: key.to_owned(),
                value: value.map(str::to_owned),
                line: WirePayload::of(line),
            },
            None,
        );
    }

    /// `ch` (formerly `old_key`) was renamed here, as the RENAME line `line` says: the other
    /// nodes learn it from the old name's log, the last event there.
    pub fn renamed(
        &self,
        old_key: &str,
        ch: &Channel,
        reason: &str,
        line: &crate::outbound::Outgoing,
    ) {
        self.rekey(old_key, &ch.key());
        self.log(
            old_key,
            &ChannelEvent::Rename {
                node: self.node.clone(),
                new: ch.name(),
                reason: reason.to_owned(),
                line: super::wire::WireLine::of(line),
            },
            None,
        );
    }

    /// A channel followed here goes by `new` instead of `old` (its follow task moves to the new
    /// name's log when the rename comes through the old one).
    fn rekey(&self, old: &str, new: &str) {
        {
            let mut followed = self.followed.lock();
            if let Some(f) = followed.remove(old) {
                followed.insert(new.to_owned(), f);
            }
        }
        {
            let mut recorders = self.recorders.lock();
            if let Some(r) = recorders.remove(old) {
                recorders.insert(new.to_owned(), r);
            }
        }
        self.renamed_keys
            .lock()
            .insert(old.to_owned(), new.to_owned());
    }

    /// The topic of `ch` was set here, as the TOPIC line `line` says.
    pub fn topic_set(&self, ch: &Channel, line: &Payload, record: Option<HistoryRecord>) {
        let topic = ch.local_view().1;
        self.log(
            &ch.key(),
            &ChannelEvent::Topic {
                node: self.node.clone(),
                topic,
                line: WirePayload::of(line),
                record: self.through_log(&ch.key(), record),
            },
            None,
        );
    }

    /// A message of this node's `from` to channel `key`, with its history entry if it is
    /// kept: logged at once (under the channel's lock, so in the order the node's members sent
    /// their messages). The receipt returned is answered when the log brings the message back
    /// and its entry is committed here (its place in the channel's order), or with the failure.
    pub fn sequence(
        self: &Arc<Self>,
        key: &str,
        from: From,
        status: Option<char>,
        echo: bool,
        payload: Payload,
        record: Option<HistoryRecord>,
    ) -> Receipt {
        let (receipt, answer) = Receipt::manual();
        let token = self
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let event = ChannelEvent::Message {
            node: self.node.clone(),
            id: from.user.0,
            token,
            status,
            line: WirePayload::of(&payload),
            record: record.as_ref().map(WireRecord::of),
        };
        // A node cut off from NATS refuses messages rather than letting its members see a
        // channel the others do not (the sender is told with FAIL).
        let connected = self.connected();
        let Ok(body) = serde_json::to_vec(&event)
            .map_err(|_| ())
            .and_then(|body| if connected { Ok(body) } else { Err(()) })
        else {
            answer.answer(Err(StoreError::Closed));
            return receipt;
        };
        self.waiting.lock().insert(
            token,
            Waiter {
                key: key.to_owned(),
                receipt: receipt.clone(),
                answer,
                record,
                payload,
                from,
                status,
                echo,
            },
        );
        let _ = self.link.out.send(Out::Log {
            key: key.to_owned(),
            subject: self.channel_subject(key),
            body: Bytes::from(body),
            token: Some(token),
        });
        receipt
    }

    /// Commits `record` (if any) to the store, then answers `answer` and delivers what the
    /// channel has ready. An entry already there (another node following the channel wrote it
    /// first) counts as committed.
    fn commit_then_deliver(
        &self,
        ch: &Arc<Channel>,
        record: Option<HistoryRecord>,
        answer: charla_store::Answer,
    ) {
        self.write_then_deliver(ch, record.map(Write::Append), answer);
    }

    /// [`Cluster::commit_then_deliver`] for any write: an entry already there, or (for a
    /// redaction) a message already gone, counts as done.
    fn write_then_deliver(
        &self,
        ch: &Arc<Channel>,
        write: Option<Write>,
        answer: charla_store::Answer,
    ) {
        let Some(write) = write else {
            answer.answer(Ok(Ok(())));
            ch.deliver_committed(None);
            return;
        };
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let recorder = self.recorder(&ch.key());
        let place = recorder.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut retrying = recorder.retrying.lock();
            if retrying.active {
                // An earlier entry waits for the store: this one goes after it.
                retrying.queue.insert(place, (write, answer));
                return;
            }
        }
        // The first try is queued here, in the log's order (the store commits in the order it
        // is given, so history keeps the log's order).
        let first = state.store.append(write.clone());
        let ch = ch.clone();
        tokio::spawn(async move {
            let outcome = match first {
                Ok(committed) => committed.wait().await,
                Err(error) => Err(error),
            };
            if recorded(&outcome) {
                answer.answer(Ok(Ok(())));
                ch.deliver_committed(None);
                return;
            }
            // The store cannot take it now (a PostgreSQL restart): it, and every entry of
            // this channel after it, are written one after the other, in the log's order,
            // until the store takes them; the channel's later messages wait behind them.
            let start = {
                let mut retrying = recorder.retrying.lock();
                retrying.queue.insert(place, (write, answer));
                !std::mem::replace(&mut retrying.active, true)
            };
            if start {
                retry_in_order(state, ch, recorder).await;
            }
        });
    }

    /// The recorder of channel `key`'s history entries (made when first needed).
    fn recorder(&self, key: &str) -> Arc<Recorder> {
        self.recorders
            .lock()
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// The log stored the message `token`. If its channel is not followed here (a message
    /// from outside to a channel with no members here, or the last one left meanwhile), no
    /// subscription here will bring it back: this node commits its entry and answers its sender.
    pub(super) fn stored(&self, token: u64) {
        let mut waiting = self.waiting.lock();
        if waiting.get(&token).is_none_or(|w| self.follows(&w.key)) {
            return;
        }
        let Some(w) = waiting.remove(&token) else {
            return;
        };
        drop(waiting);
        let Some(state) = self.state.upgrade() else {
            return;
        };
        match state.channel(&w.key) {
            Some(ch) => {
                ch.queue_logged(w.payload, w.from, w.status, w.echo, w.receipt);
                self.commit_then_deliver(&ch, w.record, w.answer);
            }
            None => w.answer.answer(Ok(Ok(()))),
        }
    }

    /// The log refused the message `token` (or could not be reached): its sender is told.
    pub(super) fn refused(&self, token: u64) {
        let waiter = self.waiting.lock().remove(&token);
        if let Some(w) = waiter {
            w.answer.answer(Err(StoreError::Closed));
        }
    }

    fn log(&self, key: &str, event: &ChannelEvent, token: Option<u64>) {
        if let Ok(body) = serde_json::to_vec(event) {
            let _ = self.link.out.send(Out::Log {
                key: key.to_owned(),
                subject: self.channel_subject(key),
                body: body.into(),
                token,
            });
        }
    }

    /// After a member here left `ch`: with none left here, the node stops following it and
    /// forgets its remote members (silently: no one here is left to tell). Not while the
    /// channel is being joined for the first time here.
    pub fn after_leave(&self, ch: &Arc<Channel>) {
        let key = ch.key();
        {
            // Lock order as in `begin_following`: followed, then syncing.
            let mut followed = self.followed.lock();
            if self.syncing.lock().contains(&key) || ch.has_local_members() {
                return;
            }
            // A newer channel of the name, made here by a joiner since this one emptied: its
            // follow holds that channel's turn until its snapshot is read, and stopping it
            // would leave every joiner of it waiting for good. It and its recorder stay.
            if followed.get(&key).is_some_and(|f| !f.is(ch)) {
                drop(followed);
                ch.strip_remote();
                return;
            }
            if let Some(f) = followed.remove(&key) {
                f.abort();
            }
        }
        self.recorders.lock().remove(&key);
        ch.strip_remote();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_keys_cross_as_hex() {
        for key in ["#sala", "#año-nuevo", "#🎉"] {
            let hex = hex_of_key(key);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(key_of_hex(&hex).as_deref(), Some(key));
        }
        assert_eq!(key_of_hex("zz"), None);
        assert_eq!(key_of_hex("abc"), None);
        assert_eq!(key_of_hex("ff"), None, "not UTF-8");
    }
}

//! The one way out for lines to other clients: "this line goes to this audience".
//!
//! Handlers say what happened and to whom; only this module, and the [`Channel`] methods that
//! call it while they hold their lock, put lines into send queues. What every delivery needs is
//! therefore added here once:
//!
//! - the variant each recipient's capabilities ask for ([`Payload`]: one encoding shared by
//!   refcount, a capability gate, a fallback line for those without it);
//! - the acting client's own copy ([`Actor`]): a command's replies are collected
//!   ([`Replies`]) so that labeled-response and BATCH can wrap them, and a line the command sends
//!   to its own client (a JOIN, an echoed PRIVMSG) goes out after the replies collected before it
//!   and in its place among other people's lines, so that the client sees its channel in the
//!   same order as every other member;
//! - next (DESIGN.md): history committed before fan-out, message ids and metrics, and a remote
//!   node as one more recipient (one copy per node, not per member).
//!
//! Audiences: one client ([`to_client`]), a channel's members (`Channel` methods, through
//! `to_members`), everyone who shares a channel with a client ([`to_peers`]), every registered
//! user ([`to_everyone`]), users with `+w` ([`to_wallops`]).
//!
//! A push never blocks: a full queue closes itself, and its own connection task ends that
//! session ("SendQ exceeded").

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::task::Waker;

use crate::caps::{Cap, CapSet};
use crate::channel::{Channel, Member};
use crate::client::{Client, ConnectionId};
use crate::history::Event;
use crate::outbound::{Line, Outgoing};
use crate::sendq::SendQueue;
use crate::state::State;

/// Who gets which variant of a payload.
#[derive(Debug, Clone)]
enum Gate {
    /// Everyone gets the line.
    All,
    /// Only recipients with this capability get the line.
    Cap(Cap),
    /// Recipients with this capability get the line, the others the fallback.
    Fallback(Cap, Box<Outgoing>),
}

/// One line to deliver, in the variants its recipients may need: encoded once, shared by
/// refcount with every recipient of a variant.
#[derive(Debug, Clone)]
pub struct Payload {
    line: Outgoing,
    gate: Gate,
    /// Recipients other than the actor may get it a moment late, with their next lines
    /// ([`Payload::may_wait`]).
    may_wait: bool,
}

impl Payload {
    /// A line every recipient gets.
    pub fn new(line: Outgoing) -> Self {
        Payload {
            line,
            gate: Gate::All,
            may_wait: false,
        }
    }

    /// A line only recipients with `cap` get (e.g. AWAY for `away-notify`, TAGMSG for
    /// `message-tags`).
    pub fn only_with(cap: Cap, line: Outgoing) -> Self {
        Payload {
            line,
            gate: Gate::Cap(cap),
            may_wait: false,
        }
    }

    /// `line` for recipients with `cap`, `fallback` for the others (e.g. the `extended-join`
    /// form of JOIN and the plain one).
    pub fn or_else(cap: Cap, line: Outgoing, fallback: Outgoing) -> Self {
        Payload {
            line,
            gate: Gate::Fallback(cap, Box::new(fallback)),
            may_wait: false,
        }
    }

    /// News of someone else that nobody answers at once (a JOIN, a PART, a QUIT, a new nick,
    /// an away state, an account, a host or a real name): a recipient busy with nothing else
    /// gets it up to a few coalescing windows late, with whatever comes next, so that a channel
    /// of thousands costs a write per member now and then rather than one every few lines when
    /// many join, leave or go away at once ([`SendQueue::push_soon`]). The actor's own copy,
    /// and the copies of the user the news is about, go out at once.
    pub fn may_wait(mut self) -> Self {
        self.may_wait = true;
        self
    }

    /// The same line, not waiting: what the user it tells of gets (a new nick given by the
    /// server rather than asked for has no actor whose copy would go out at once).
    fn at_once(&self) -> Payload {
        Payload {
            may_wait: false,
            ..self.clone()
        }
    }

    /// The line (its id, time and tags).
    pub fn line(&self) -> &Outgoing {
        &self.line
    }

    /// Who gets it, for another node ([`crate::cluster`]): the capability it needs, and the
    /// line for those without it (`None`, `None`: everyone gets the line).
    pub(crate) fn gate(&self) -> (Option<Cap>, Option<&Outgoing>) {
        match &self.gate {
            Gate::All => (None, None),
            Gate::Cap(cap) => (Some(*cap), None),
            Gate::Fallback(cap, fallback) => (Some(*cap), Some(fallback)),
        }
    }

    /// The bytes for a recipient with capabilities `caps`, if it gets this payload at all.
    #[inline(always)]
    pub fn for_caps(&self, caps: CapSet) -> Option<Line> {
        self.line_for(caps).cloned()
    }

    /// [`for_caps`](Self::for_caps), borrowed.
    #[inline(always)]
    pub fn line_for(&self, caps: CapSet) -> Option<&Line> {
        match &self.gate {
            Gate::All => Some(self.line.line_for(caps)),
            Gate::Cap(cap) => caps.has(*cap).then(|| self.line.line_for(caps)),
            Gate::Fallback(cap, _) if caps.has(*cap) => Some(self.line.line_for(caps)),
            Gate::Fallback(_, fallback) => Some(fallback.line_for(caps)),
        }
    }
}

impl From<Outgoing> for Payload {
    fn from(line: Outgoing) -> Self {
        Payload::new(line)
    }
}

/// A command's replies to its own client, collected while it runs and queued when it ends (or
/// earlier, when the command sends its client a line through a delivery: see [`Actor`]).
///
/// With `labeled-response`, the replies of a labeled command carry its label: one reply gets
/// the `label` tag, several are wrapped in a `labeled-response` batch, none are answered `ACK`
/// (<https://ircv3.net/specs/extensions/labeled-response>). The acting client's own copies of
/// delivered lines (an echoed PRIVMSG) then join the replies, so that they carry the label too.
///
/// `Cell`s (taken and put back), not `RefCell`s: every connection has one, idle or not, and
/// the borrow flags would cost each of them bytes. Only the connection's own task touches it.
#[derive(Default)]
pub struct Replies {
    lines: Cell<Vec<Line>>,
    /// The label of the command running, if it has one. Boxed: few commands are labeled.
    label: Cell<Option<Box<Label>>>,
}

/// The label of a command and what of its response has gone out.
#[derive(Debug)]
struct Label {
    /// The tag as sent back: `label=<escaped value>`.
    tag: String,
    /// Whether the client takes batches.
    batch: bool,
    /// The server name, source of `BATCH` and `ACK`.
    server: String,
    /// The reference of the batch already opened, if the response was flushed in pieces.
    open: Option<String>,
    /// Without `batch`: the label went out on a line already.
    used: bool,
}

impl std::fmt::Debug for Replies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = self.lines.take();
        let count = lines.len();
        self.lines.set(lines);
        f.debug_struct("Replies").field("lines", &count).finish()
    }
}

/// Batch references of this run (unique per connection is enough; one counter serves all).
static NEXT_BATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new batch reference.
pub fn batch_ref() -> String {
    let n = NEXT_BATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("b{n:x}")
}

/// `line` with `tags` (`key=value;...`, already escaped) added before any it has.
pub fn with_tags(line: &[u8], tags: &str) -> Line {
    let mut out = Vec::with_capacity(line.len() + tags.len() + 2);
    out.push(b'@');
    out.extend_from_slice(tags.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.push(b';');
            out.extend_from_slice(rest);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
    Line::new(out)
}

impl Replies {
    /// Adds a reply.
    pub fn push(&self, line: Line) {
        let mut lines = self.lines.take();
        lines.push(line);
        self.lines.set(lines);
    }

    /// Marks the command about to run as labeled with `value` (unescaped): its replies carry
    /// the label. `batch`: the client takes batches. `server`: the server's name.
    pub fn start_label(&self, value: &str, batch: bool, server: &str) {
        self.label.set(Some(Box::new(Label {
            tag: format!("label={}", charla_proto::tags::escape(value)),
            batch,
            server: server.to_owned(),
            open: None,
            used: false,
        })));
    }

    /// Drops the running command's label: it will not be answered (a client batch's opening
    /// line, whose answer comes when the batch closes).
    pub fn cancel_label(&self) {
        self.label.set(None);
    }

    /// Whether the running command is labeled.
    pub fn labeled(&self) -> bool {
        let label = self.label.take();
        let labeled = label.is_some();
        self.label.set(label);
        labeled
    }

    /// Queues the replies collected so far, in order, into the client's `queue`. The command
    /// goes on: a labeled one opens its batch, if it has replies, and keeps it open.
    pub fn flush(&self, queue: &SendQueue) {
        let lines = self.lines.take();
        let Some(mut label) = self.label.take() else {
            push_all(queue, lines);
            return;
        };
        if !lines.is_empty() {
            send_labeled(queue, &mut label, lines, false);
        }
        self.label.set(Some(label));
    }

    /// Queues the replies of a command that has ended: a labeled one gets its label, its
    /// batch closed, or `ACK` if it said nothing.
    pub fn finish(&self, queue: &SendQueue) {
        let lines = self.lines.take();
        match self.label.take() {
            None => push_all(queue, lines),
            Some(mut label) => send_labeled(queue, &mut label, lines, true),
        }
    }

    /// Whether no reply waits.
    pub fn is_empty(&self) -> bool {
        let lines = self.lines.take();
        let empty = lines.is_empty();
        self.lines.set(lines);
        empty
    }
}

/// Queues `lines` in order; a full queue closes itself and ends the session, so the rest need
/// not be queued.
fn push_all(queue: &SendQueue, lines: Vec<Line>) {
    for line in lines {
        if queue.push(line).is_err() {
            break;
        }
    }
}

/// Queues `lines` of a labeled response; `last`: the command has ended.
fn send_labeled(queue: &SendQueue, label: &mut Label, lines: Vec<Line>, last: bool) {
    let server = label.server.clone();
    let server_line = |tags: &str, rest: &str| Line::from(format!("@{tags} :{server} {rest}\r\n"));
    if !label.batch {
        // Without batches only one line can say which command it answers.
        let mut out = Vec::with_capacity(lines.len() + 1);
        for line in lines {
            if label.used {
                out.push(line);
            } else {
                label.used = true;
                out.push(with_tags(&line, &label.tag));
            }
        }
        if last && !label.used {
            out.push(server_line(&label.tag, "ACK"));
        }
        push_all(queue, out);
        return;
    }
    if label.open.is_none() && last {
        match lines.len() {
            0 => return push_all(queue, vec![server_line(&label.tag, "ACK")]),
            1 => return push_all(queue, vec![with_tags(&lines[0], &label.tag)]),
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(lines.len() + 2);
    let reference = match &label.open {
        Some(reference) => reference.clone(),
        None => {
            let reference = batch_ref();
            out.push(server_line(
                &label.tag,
                &format!("BATCH +{reference} labeled-response"),
            ));
            label.open = Some(reference.clone());
            reference
        }
    };
    let tag = format!("batch={reference}");
    out.extend(lines.iter().map(|line| with_tags(line, &tag)));
    if last {
        out.push(Line::from(format!(":{server} BATCH -{reference}\r\n")));
    }
    push_all(queue, out);
}

/// The connection whose command causes a delivery: its own copy of the line goes out after
/// the replies it has collected so far.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The acting connection.
    pub id: ConnectionId,
    /// Its command's replies.
    pub replies: &'a Replies,
}

/// Pushes `payload` to every connection of the user `client` in the variant each needs (if
/// it gets this payload at all). Inlined: it is the body of every fan-out loop, and a call per
/// recipient showed in the profile (docs/PROFILE.md, sixth session).
#[inline(always)]
fn push(client: &Client, payload: &Payload, actor: Option<Actor<'_>>) {
    push_one(client, payload, actor);
    if client.is_linked() {
        client.each_device(|d| push_one(d, payload, actor));
    }
}

/// [`push`], but not to connection `skip`.
fn push_except(client: &Client, payload: &Payload, actor: Option<Actor<'_>>, skip: ConnectionId) {
    if skip != client.id {
        push_one(client, payload, actor);
    }
    client.each_device(|d| {
        if skip != d.id {
            push_one(d, payload, actor);
        }
    });
}

/// Pushes `payload` to one connection.
#[inline(always)]
fn push_one(conn: &Client, payload: &Payload, actor: Option<Actor<'_>>) {
    if conn.queue.is_closed() {
        // The user's first connection ended and its other devices carry on.
        return;
    }
    let Some(line) = payload.for_caps(conn.caps()) else {
        return;
    };
    let mut may_wait = payload.may_wait;
    if let Some(actor) = actor
        && actor.id == conn.id
    {
        if actor.replies.labeled() {
            // The acting client's copy is part of its labeled response.
            actor.replies.push(line);
            return;
        }
        actor.replies.flush(&conn.queue);
        may_wait = false;
    }
    // A full queue closes itself; its own task ends that session.
    if !may_wait {
        let _ = conn.queue.push(line);
    } else if let Ok(Some(waker)) = conn.queue.push_soon(line) {
        wake_later(waker);
    }
}

/// How many idle connections a fan-out of lines that may wait wakes at once: fewer than a
/// runtime worker's queue holds (256), so that the rest of its queue does not spill into the
/// runtime's global queue, where whatever the store's thread wakes (a sender whose message was
/// just committed) would wait behind it.
const WAKE_SLICE: usize = 64;

thread_local! {
    /// Idle connections that the fan-outs running on this thread gave lines that may wait,
    /// and how many such fan-outs are running ([`Fanout`]).
    static LATER: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
    static FANOUTS: Cell<u32> = const { Cell::new(0) };
}

/// While one lives on a thread, the idle connections that its fan-out gives lines that may wait
/// are not woken one by one as it goes: when the last one ends, a slice of them is woken, and
/// the rest a slice at a time from a task of their own, each slice after the worker's other
/// tasks had their turn. The first JOIN of a storm into a channel of thousands woke every
/// member at once: past the 256 tasks a runtime worker's own queue holds, they went to tokio's
/// global queue, ahead of every task the store's thread wakes (a sender whose message was just
/// committed) (docs/BENCHMARKS.md, "A join storm", twenty-second session). Measured alone
/// (twenty-third session): on one core it takes an eighth off the storm's CPU and a fifth off
/// its length; on two it changes nothing that shows, and it does not end the one-core stall.
struct Fanout;

impl Fanout {
    fn start() -> Self {
        FANOUTS.with(|n| n.set(n.get() + 1));
        Fanout
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        let last = FANOUTS.with(|n| {
            n.set(n.get().saturating_sub(1));
            n.get() == 0
        });
        if last {
            let wakers = LATER.with(|later| std::mem::take(&mut *later.borrow_mut()));
            wake_in_slices(wakers);
        }
    }
}

/// Wakes `waker` when the running fan-out ends, or now if none runs.
fn wake_later(waker: Waker) {
    if FANOUTS.with(Cell::get) == 0 {
        waker.wake();
    } else {
        LATER.with(|later| later.borrow_mut().push(waker));
    }
}

/// Wakes the first [`WAKE_SLICE`] of `wakers` now and the rest a slice at a time, each after
/// the runtime's other tasks (all now outside a runtime).
fn wake_in_slices(mut wakers: Vec<Waker>) {
    let rest = if wakers.len() > WAKE_SLICE {
        wakers.split_off(WAKE_SLICE)
    } else {
        Vec::new()
    };
    wakers.into_iter().for_each(Waker::wake);
    if rest.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for slice in rest.chunks(WAKE_SLICE) {
                    tokio::task::yield_now().await;
                    slice.iter().for_each(Waker::wake_by_ref);
                }
            });
        }
        Err(_) => rest.into_iter().for_each(Waker::wake),
    }
}

/// To one user (each of its connections; a user of another node, through its node).
pub fn to_client(client: &Client, payload: &Payload, actor: Option<Actor<'_>>) {
    if let Some(remote) = &client.remote {
        remote.forward(payload);
        return;
    }
    push(client, payload, actor);
}

/// To one connection only (not the user's other devices).
pub fn to_connection(conn: &Client, payload: &Payload, actor: Option<Actor<'_>>) {
    push_one(conn, payload, actor);
}

/// To the user who sent `payload` from its connection `by`: its other connections always (a
/// user's devices see what it says on any of them), `by` only with `echo` (its
/// `echo-message`).
pub fn to_sender(
    client: &Client,
    payload: &Payload,
    actor: Option<Actor<'_>>,
    by: ConnectionId,
    echo: bool,
) {
    if echo {
        push(client, payload, actor);
    } else {
        push_except(client, payload, actor, by);
    }
}

/// To the members of a channel that `keep` accepts. Called by [`Channel`] methods with the
/// channel's lock held: that is what gives every member the same order.
pub(crate) fn to_members(
    members: &[Member],
    payload: &Payload,
    actor: Option<Actor<'_>>,
    mut keep: impl FnMut(&Member) -> bool,
) {
    let _fanout = payload.may_wait.then(Fanout::start);
    for m in members.iter().filter(|m| keep(m)) {
        push(&m.client, payload, actor);
    }
}

/// To the members of a channel, several payloads at once (the messages one commit of the
/// history made ready), member by member: `each(member, i, to)` says what the member gets of
/// the `i`-th payload, through `to`. A member given every payload gets them as one burst, the
/// lines back to back in one allocation shared by every member with the same capabilities;
/// others get their lines together, under one lock of their queue. A payload at a time took
/// the lock of every member's queue once per payload, and counted a reference per line and
/// member on the line's shared count, raised here and lowered by the member's write on another
/// worker: the top of the fan-out profile at 4M deliveries a second (docs/PROFILE.md,
/// eighteenth session). Called by [`Channel`] methods with the channel's lock held.
pub(crate) fn to_members_many<'p>(
    members: &[Member],
    count: usize,
    actor: Option<Actor<'_>>,
    mut each: impl FnMut(&Member, usize, &mut Recipient<'_, '_, 'p>),
) {
    let mut lines = Vec::new();
    let mut bursts = Vec::new();
    if count > 1 {
        lines.reserve_exact(count);
    }
    for m in members {
        let client = &*m.client;
        // A user with several connections, or the one acting (whose lines may join its
        // command's replies), gets each payload as a single delivery would give it. One
        // payload goes straight in.
        let gathers = count > 1 && !client.is_linked() && actor.is_none_or(|a| a.id != client.id);
        let mut to = Recipient {
            client,
            caps: client.caps(),
            gathers,
            whole: true,
            count,
            actor,
            lines: &mut lines,
            bursts: &mut bursts,
        };
        for i in 0..count {
            each(m, i, &mut to);
        }
        to.flush();
    }
}

/// One member of a [`to_members_many`] fan-out: what it is given waits in `lines` (when it
/// gathers) and goes to its queue at once, in the order given.
pub(crate) struct Recipient<'a, 'r, 'p> {
    client: &'a Client,
    caps: CapSet,
    gathers: bool,
    /// Nothing went out yet another way ([`Recipient::sender`]).
    whole: bool,
    /// How many payloads the fan-out has.
    count: usize,
    actor: Option<Actor<'r>>,
    lines: &'a mut Vec<&'p Line>,
    /// The bursts made so far, by the capabilities they are for.
    bursts: &'a mut Vec<(CapSet, Line)>,
}

impl<'p> Recipient<'_, '_, 'p> {
    /// The member gets `payload` (in the variant its capabilities ask for, if at all).
    #[inline(always)]
    pub(crate) fn give(&mut self, payload: &'p Payload) {
        if !self.gathers {
            push(self.client, payload, self.actor);
        } else if let Some(line) = payload.line_for(self.caps) {
            self.lines.push(line);
        }
    }

    /// The member sent `payload` from its connection `by`: [`to_sender`], after what it was
    /// given before.
    pub(crate) fn sender(&mut self, payload: &'p Payload, by: ConnectionId, echo: bool) {
        self.flush();
        self.whole = false;
        to_sender(self.client, payload, self.actor, by, echo);
    }

    /// Queues what was gathered.
    fn flush(&mut self) {
        if self.lines.is_empty() || self.client.queue.is_closed() {
            self.lines.clear();
            return;
        }
        // A full queue closes itself; its own task ends that session.
        if self.whole && self.lines.len() == self.count {
            // Every payload, in the variants of these capabilities: the same lines as every
            // other member with them gets.
            let burst = match self.bursts.iter().find(|(caps, _)| *caps == self.caps) {
                Some((_, burst)) => burst.clone(),
                None => {
                    let len = self.lines.iter().map(|l| l.len()).sum();
                    let mut bytes = Vec::with_capacity(len);
                    for line in self.lines.iter() {
                        bytes.extend_from_slice(line);
                    }
                    let burst = Line::new(bytes);
                    self.bursts.push((self.caps, burst.clone()));
                    burst
                }
            };
            let _ = self.client.queue.push_burst(burst, self.lines.len() as u32);
            self.lines.clear();
        } else {
            let _ = self.client.queue.push_many(self.lines.drain(..).cloned());
        }
    }
}

/// Once to every client sharing a channel with `client` that `keep` accepts, and to `client`
/// itself when `include_self`.
pub fn to_peers(
    client: &Client,
    payload: &Payload,
    include_self: bool,
    actor: Option<Actor<'_>>,
    keep: impl Fn(&Client) -> bool,
) {
    to_peers_recorded(client, payload, None, include_self, actor, keep);
}

/// [`to_peers`] (with everyone), and to the clients following `client` with MONITOR that asked
/// for `extended-monitor` and share no channel with it: a change of its AWAY, account, host or
/// real name.
pub fn to_peers_and_watchers(
    state: &State,
    client: &Client,
    payload: &Payload,
    include_self: bool,
    actor: Option<Actor<'_>>,
) {
    // The other nodes tell their own peers of the user.
    if client.remote.is_none()
        && let Some(cluster) = state.cluster()
        && client.info.read().registered
    {
        cluster.user_changed(client, payload);
    }
    let told = to_peers_recorded(client, payload, None, include_self, actor, |_| true);
    for watcher in state.monitors.watchers(&client.nick()) {
        if !told.contains(watcher.id) && watcher.has_cap(Cap::ExtendedMonitor) {
            push(&watcher, payload, actor);
        }
    }
}

/// [`to_peers`], keeping `event` in the history of each of the client's channels (a NICK
/// change). Returns who was told (the client itself among them).
///
/// The members of every channel but the last are recorded, so that a peer in several gets
/// the line once; those of the last are only looked up among them (not at all when it is the
/// only one): a hash per member under the lock made a storm of news into a big channel cost a
/// set of its size per line, as it did for QUIT ([`Channel::remove_and_tell`]).
pub fn to_peers_recorded(
    client: &Client,
    payload: &Payload,
    event: Option<&Event<'_>>,
    include_self: bool,
    actor: Option<Actor<'_>>,
    keep: impl Fn(&Client) -> bool,
) -> Told {
    let channels = client.info.read().channels.clone();
    let mut seen: HashSet<ConnectionId> = HashSet::new();
    seen.insert(client.id);
    if include_self {
        push(client, &payload.at_once(), actor);
    }
    let Some((last, before)) = channels.split_last() else {
        return Told { seen, last: None };
    };
    for ch in before {
        ch.fan_out(payload, event, actor, |m| {
            seen.insert(m.client.id) && keep(&m.client)
        });
    }
    let only = before.is_empty();
    last.fan_out(payload, event, actor, |m| {
        let id = m.client.id;
        (if only {
            id != client.id
        } else {
            !seen.contains(&id)
        }) && keep(&m.client)
    });
    Told {
        seen,
        last: Some(last.clone()),
    }
}

/// Who [`to_peers_recorded`] told: those it recorded, and the members of its last channel.
pub struct Told {
    seen: HashSet<ConnectionId>,
    last: Option<std::sync::Arc<Channel>>,
}

impl Told {
    /// Whether `id` was told (or is the client itself). The last channel's members are looked
    /// up as they are now: one that joined or left it since counts as it is now.
    pub fn contains(&self, id: ConnectionId) -> bool {
        self.seen.contains(&id) || self.last.as_ref().is_some_and(|ch| ch.is_member(id))
    }
}

/// Tells every client sharing a channel with `client` (once each) that it left, and takes it
/// out of all its channels: QUIT, whatever ended the session.
pub fn to_peers_leaving(
    client: &Client,
    channels: &[std::sync::Arc<Channel>],
    payload: &Payload,
    event: Option<&Event<'_>>,
) {
    let mut told: HashSet<ConnectionId> = HashSet::new();
    told.insert(client.id);
    for (i, ch) in channels.iter().enumerate() {
        ch.remove_and_tell(
            client.id,
            payload,
            event,
            &mut told,
            i + 1 == channels.len(),
        );
    }
}

/// To every registered user.
pub fn to_everyone(state: &State, payload: &Payload) {
    for c in state.all_clients() {
        if c.info.read().registered {
            push(&c, payload, None);
        }
    }
}

/// To every registered user with mode `+w`.
pub fn to_wallops(state: &State, payload: &Payload) {
    for c in state.all_clients() {
        let wants = {
            let info = c.info.read();
            info.registered && info.modes.wallops
        };
        if wants {
            push(&c, payload, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charla_proto::LineBuilder;

    fn line(text: &str) -> Outgoing {
        let mut b = LineBuilder::new();
        b.source("a!b@c")
            .command("NOTICE")
            .param("x")
            .trailing(text);
        Outgoing::new(b)
    }

    #[test]
    fn gates_pick_the_variant_by_capability() {
        let with = CapSet(Cap::ExtendedJoin.bit());
        let without = CapSet::default();
        let all = Payload::new(line("all"));
        assert!(all.for_caps(without).is_some());
        let gated = Payload::only_with(Cap::ExtendedJoin, line("gated"));
        assert!(gated.for_caps(with).is_some());
        assert!(gated.for_caps(without).is_none());
        let either = Payload::or_else(Cap::ExtendedJoin, line("ext"), line("plain"));
        let got = either.for_caps(without).expect("fallback");
        assert!(got.ends_with(b":plain\r\n"));
        let got = either.for_caps(with).expect("line");
        assert!(got.ends_with(b":ext\r\n"));
    }

    #[test]
    fn the_actors_own_copy_comes_after_its_replies() {
        let replies = Replies::default();
        replies.push(Line::from("first\r\n".to_owned()));
        let client = Client::detached(7);
        let actor = Actor {
            id: client.id,
            replies: &replies,
        };
        to_client(&client, &Payload::new(line("echo")), Some(actor));
        replies.push(Line::from("after\r\n".to_owned()));
        replies.flush(&client.queue);
        let mut out = std::collections::VecDeque::new();
        client.queue.take_all(&mut out, futures_noop_waker());
        let got: Vec<String> = out
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], "first\r\n");
        assert!(got[1].ends_with(":echo\r\n"));
        assert_eq!(got[2], "after\r\n");
    }

    /// A new nick the server gives (no actor): the user's own copy does not wait, its peers'
    /// may.
    #[test]
    fn news_of_a_user_goes_to_the_user_itself_at_once() {
        let client = Client::detached(7);
        let news = Payload::new(line("nuevo")).may_wait();
        let holds = |c: &Client| c.queue.hold_soon(futures_noop_waker(), 100, false);
        to_client(&client, &news, None);
        assert!(holds(&client), "a peer's copy may wait");
        to_peers_recorded(&client, &news, None, true, None, |_| true);
        assert!(!holds(&client), "the user's own copy waited");
    }

    /// A client in two channels: each peer gets its news once, whether it shares one channel
    /// with it or both, and the client none through the channels; in one channel alone, the
    /// same. Who was told is known either way.
    #[test]
    fn news_goes_once_to_each_peer_of_one_channel_or_several() {
        use std::sync::Arc;
        let state = State::in_memory(crate::config::Config::default());
        let client = |id| Arc::new(Client::detached(id));
        let join = |c: &Arc<Client>, name: &str| {
            let (ch, _) = state.channel_or_create(name).expect("a channel");
            ch.join_unchecked(c, &Payload::new(line("join")));
        };
        let (me, both, only_b, only_a, alone, stranger) = (
            client(1),
            client(2),
            client(3),
            client(4),
            client(5),
            client(6),
        );
        for (c, names) in [
            (&me, &["#a", "#b"][..]),
            (&both, &["#a", "#b"]),
            (&only_b, &["#b"]),
            (&only_a, &["#a"]),
        ] {
            for name in names {
                join(c, name);
            }
        }
        join(&alone, "#solo");
        let news = Payload::new(line("noticia"));
        let everyone = [&me, &both, &only_b, &only_a, &alone];
        let before: Vec<usize> = everyone.iter().map(|c| c.queue.len_bytes()).collect();
        let told = to_peers_recorded(&me, &news, None, false, None, |_| true);
        let got: Vec<usize> = everyone
            .iter()
            .zip(&before)
            .map(|(c, b)| c.queue.len_bytes() - b)
            .collect();
        // One line's bytes.
        let size = got[3];
        assert!(size > 0);
        assert_eq!(got, [0, size, size, size, 0]);
        for c in [&me, &both, &only_b, &only_a] {
            assert!(told.contains(c.id), "{:?}", c.id);
        }
        assert!(!told.contains(stranger.id) && !told.contains(alone.id));

        join(&stranger, "#solo");
        let before = (alone.queue.len_bytes(), stranger.queue.len_bytes());
        let told = to_peers_recorded(&alone, &news, None, false, None, |_| true);
        assert_eq!(alone.queue.len_bytes(), before.0, "told itself");
        assert_eq!(stranger.queue.len_bytes() - before.1, size);
        assert!(told.contains(alone.id) && told.contains(stranger.id) && !told.contains(me.id));
    }

    fn futures_noop_waker() -> &'static std::task::Waker {
        std::task::Waker::noop()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idle_connections_a_fan_out_finds_are_woken_after_it_a_slice_at_a_time() {
        use crate::sendq::counting::{Counter, counter};
        let (counters, wakers): (Vec<_>, Vec<_>) = (0..200).map(|_| counter()).unzip();
        let woken = |c: &[std::sync::Arc<Counter>]| c.iter().map(|c| c.woken()).collect::<Vec<_>>();
        {
            let _outer = Fanout::start();
            {
                let _inner = Fanout::start();
                for waker in &wakers {
                    wake_later(waker.clone());
                }
            }
            assert!(
                woken(&counters).iter().all(|&n| n == 0),
                "woken mid fan-out"
            );
        }
        let first = woken(&counters);
        assert_eq!(first.iter().sum::<usize>(), WAKE_SLICE);
        assert!(first[..WAKE_SLICE].iter().all(|&n| n == 1));
        // The rest, a slice each time the other tasks have had their turn.
        let mut turns = 0;
        while woken(&counters).iter().sum::<usize>() < counters.len() {
            let before = woken(&counters).iter().sum::<usize>();
            tokio::task::yield_now().await;
            let after = woken(&counters).iter().sum::<usize>();
            assert!(after - before <= WAKE_SLICE, "{} at once", after - before);
            turns += 1;
            assert!(turns < 10, "not all woken: {:?}", woken(&counters));
        }
        assert!(woken(&counters).iter().all(|&n| n == 1));
        // Outside a fan-out, at once.
        wake_later(wakers[0].clone());
        assert_eq!(woken(&counters)[0], 2);
    }
}

//! The per-connection send queue: lines waiting for the connection task, bounded in bytes of
//! real memory: each line counts its allocation and a fixed overhead ([`Line::cost`]), not only
//! its length, so a client asking for thousands of short lines reaches the limit as surely as
//! one asking for a few long ones.
//!
//! A push never blocks and never waits. When a push would take the queue past its limit the
//! queue closes with [`CloseReason::SendQExceeded`]: the connection task then ends the session
//! ("SendQ exceeded") while every other client carries on. The same close switch ends a session
//! for any other reason (KILL, server shutdown), so a session has one way to be told to stop.
//!
//! A synchronous mutex guards the queue: pushes only move a refcounted [`Line`] into a
//! `VecDeque` and never await, so the lock is held for nanoseconds and may be taken while a
//! channel's lock is held (it comes last in the lock order of [`crate::state`]).
//!
//! The connection task leaves its [`Waker`] here. A push wakes it only when it asked for lines
//! (it found the queue empty), and only once until it looks again; the close switch always
//! wakes it. So a busy channel costs one wake-up per drained batch, not one per line.
//!
//! Some lines may wait ([`SendQueue::push_soon`]): news about others (a JOIN, a PART, a QUIT,
//! a new nick, an away state...) that nobody answers within milliseconds. A connection holding
//! only such lines is woken by the next line that may not wait, or by its own timer: a channel
//! of thousands that a join storm hits gets its members' JOIN lines a few writes at a time, not
//! a write per member every few lines (docs/PROFILE.md, twenty-second session).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

use parking_lot::Mutex;

use crate::outbound::Line;

/// Why a session was told to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client did not read fast enough and its queue passed the byte limit.
    SendQExceeded,
    /// An operator (or the host application) killed the session; the text is shown to others.
    Killed(String),
    /// The server is shutting down.
    Shutdown,
    /// Writing to the socket failed (the peer is gone).
    WriteFailed,
    /// The session of a device relayed to its user's node ended there; that node sent the
    /// last lines (its `ERROR` among them).
    Relayed,
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// This push took the queue past its limit; the queue is now closed.
    #[error("SendQ exceeded")]
    Exceeded,
    /// The queue was already closed.
    #[error("send queue closed")]
    Closed,
}

#[derive(Debug)]
struct Inner {
    /// What waits: lines, and bursts of lines back to back in one [`Line`] (a fan-out's
    /// messages to every member alike, shared by all of them).
    lines: VecDeque<Line>,
    /// How many lines wait: bursts count each of theirs.
    count: u32,
    /// How many of them may not wait (pushed otherwise than by [`SendQueue::push_soon`]).
    urgent: u32,
    bytes: usize,
    /// Bytes of lines the connection has taken and not yet handed to the socket: they count
    /// against the limit until [`SendQueue::written`] says they are gone.
    in_flight: usize,
    /// Boxed: every client holds this field and almost none ever fills it, so it costs a
    /// pointer instead of a whole `CloseReason`.
    close: Option<Box<CloseReason>>,
    /// The connection task, to wake on close (and on new lines when `want_lines`).
    waker: Option<Waker>,
    /// The connection task found the queue empty and waits for lines.
    want_lines: bool,
    /// The connection task holds lines back and wants to be woken when this many wait.
    wake_at_len: u32,
    /// The connection task holds lines that may wait and wants to be woken by the first that
    /// may not.
    wake_on_urgent: bool,
}

/// A queue of encoded lines for one connection, bounded in bytes.
#[derive(Debug)]
pub struct SendQueue {
    inner: Mutex<Inner>,
    limit: usize,
    is_closed: AtomicBool,
}

impl SendQueue {
    /// An empty queue that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SendQueue {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                count: 0,
                urgent: 0,
                bytes: 0,
                in_flight: 0,
                close: None,
                waker: None,
                want_lines: false,
                wake_at_len: u32::MAX,
                wake_on_urgent: false,
            }),
            limit,
            is_closed: AtomicBool::new(false),
        }
    }

    /// Queues one line. Never blocks. Past the limit the queue closes with
    /// [`CloseReason::SendQExceeded`] and the line is dropped.
    pub fn push(&self, line: Line) -> Result<(), PushError> {
        self.push_entries(std::iter::once((line, 1)), true)
            .map(|_| ())
    }

    /// Queues a line that may wait: it goes out with the next line that may not, or when the
    /// connection's own timer says (see [`hold_soon`](Self::hold_soon)). A connection that
    /// found the queue empty and waits for lines is not woken by it: its waker is returned,
    /// for the caller to wake a moment later (a fan-out to thousands of idle members wakes
    /// them a few dozen at a time, [`crate::deliver`]), and meanwhile a line that may not wait
    /// wakes it as usual.
    pub fn push_soon(&self, line: Line) -> Result<Option<Waker>, PushError> {
        self.push_entries(std::iter::once((line, 1)), false)
    }

    /// Queues a burst: `count` lines back to back in one `line` (several messages at once, as
    /// every member with the same capabilities gets them, shared by all of those members).
    pub fn push_burst(&self, line: Line, count: u32) -> Result<(), PushError> {
        self.push_entries(std::iter::once((line, count)), true)
            .map(|_| ())
    }

    /// Queues `lines` in order under one lock: a fan-out of several messages at once (those
    /// one commit of the history made ready) queues each member's share of them together.
    /// Past the limit the queue closes with [`CloseReason::SendQExceeded`] and the rest of the
    /// lines are dropped.
    pub fn push_many(&self, lines: impl IntoIterator<Item = Line>) -> Result<(), PushError> {
        self.push_entries(lines.into_iter().map(|line| (line, 1)), true)
            .map(|_| ())
    }

    /// Queues `entries` (each a line or a burst, and how many lines it holds) in order under
    /// one lock; `urgent` unless they may wait. Returns the waker of an idle connection that
    /// lines that may wait did not wake ([`push_soon`](Self::push_soon)).
    #[inline(always)]
    fn push_entries(
        &self,
        entries: impl Iterator<Item = (Line, u32)>,
        urgent: bool,
    ) -> Result<Option<Waker>, PushError> {
        let mut inner = self.inner.lock();
        if inner.close.is_some() {
            return Err(PushError::Closed);
        }
        for (line, count) in entries {
            let cost = line.cost();
            if inner.bytes + inner.in_flight + cost > self.limit {
                inner.close = Some(Box::new(CloseReason::SendQExceeded));
                self.is_closed.store(true, Ordering::Release);
                let waker = inner.waker.take();
                drop(inner);
                wake(waker);
                return Err(PushError::Exceeded);
            }
            inner.bytes += cost;
            inner.count += count;
            if urgent {
                inner.urgent += count;
            }
            inner.lines.push_back(line);
        }
        // Lines that may wait for an idle connection: its waker goes to the caller, and the
        // connection now holds them (the next line that may not wait wakes it).
        if !urgent && inner.want_lines && inner.count > 0 && !self.soon_full(&inner) {
            inner.want_lines = false;
            inner.wake_at_len = u32::MAX;
            inner.wake_on_urgent = true;
            return Ok(inner.waker.clone());
        }
        // Only a connection that found the queue empty is woken, and only by the first lines:
        // it takes everything at once. One wake-up per pushed line was the top of the fan-out
        // profile. A connection holding lines back is woken once enough of them wait, or, if
        // it holds lines that may wait, by the first that may not.
        let waker = if (inner.want_lines && inner.count > 0)
            || inner.count >= inner.wake_at_len
            || (inner.wake_on_urgent && (inner.urgent > 0 || self.soon_full(&inner)))
        {
            inner.want_lines = false;
            inner.wake_at_len = u32::MAX;
            inner.wake_on_urgent = false;
            inner.waker.take()
        } else {
            None
        };
        drop(inner);
        wake(waker);
        Ok(None)
    }

    /// Queues a line even when the queue is closed or full: the session's own last words
    /// (`ERROR :Closing Link ...`), written before the socket closes.
    pub fn push_final(&self, line: Line) {
        let mut inner = self.inner.lock();
        inner.bytes += line.cost();
        inner.count += 1;
        inner.urgent += 1;
        inner.lines.push_back(line);
    }

    /// Closes the queue for `reason` unless it is closed already. Returns whether this call
    /// closed it.
    pub fn close(&self, reason: CloseReason) -> bool {
        let mut inner = self.inner.lock();
        if inner.close.is_some() {
            return false;
        }
        inner.close = Some(Box::new(reason));
        self.is_closed.store(true, Ordering::Release);
        let waker = inner.waker.take();
        drop(inner);
        wake(waker);
        true
    }

    /// Wakes the connection task (it has work besides lines: [`crate::client::Client::post`]).
    pub fn nudge(&self) {
        let waker = self.inner.lock().waker.take();
        wake(waker);
    }

    /// Why the queue closed, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.lock().close.as_deref().cloned()
    }

    /// Whether the queue has closed.
    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// Takes every queued line at once into `out` (for one coalesced write): swapped with
    /// `out` when it is empty, so that the two deques trade places and neither reallocates
    /// while lines flow. When there is none, leaves `waker` to be woken by the next push (or
    /// the close switch). Returns how many lines it took.
    pub fn take_all(&self, out: &mut VecDeque<Line>, waker: &Waker) -> usize {
        let mut inner = self.inner.lock();
        inner.wake_at_len = u32::MAX;
        inner.wake_on_urgent = false;
        if inner.lines.is_empty() {
            inner.want_lines = true;
            set_waker(&mut inner.waker, waker);
            return 0;
        }
        if out.is_empty() {
            std::mem::swap(&mut inner.lines, out);
        } else {
            out.extend(inner.lines.drain(..));
        }
        inner.in_flight += inner.bytes;
        inner.bytes = 0;
        inner.urgent = 0;
        std::mem::take(&mut inner.count) as usize
    }

    /// The connection handed lines worth `cost` bytes ([`Line::cost`]) that it had taken to the
    /// socket.
    pub fn written(&self, cost: usize) {
        let mut inner = self.inner.lock();
        inner.in_flight = inner.in_flight.saturating_sub(cost);
    }

    /// Leaves `waker` to be woken once `enough` lines wait, or by the close switch: the
    /// connection holds queued lines back for a moment to write them together, and looks again
    /// at a time of its own. Returns how many lines are waiting.
    pub fn watch(&self, waker: &Waker, enough: usize) -> usize {
        let mut inner = self.inner.lock();
        let waiting = inner.count as usize;
        inner.want_lines = false;
        inner.wake_at_len = u32::try_from(enough).unwrap_or(u32::MAX);
        inner.wake_on_urgent = false;
        set_waker(&mut inner.waker, waker);
        waiting
    }

    /// Holds lines that may wait ([`push_soon`](Self::push_soon)): when every line waiting is
    /// one, fewer than `most` wait, in less than a quarter of the limit, and some do or
    /// `idle_too`, leaves `waker` to be woken by the first line that may not wait, once `most`
    /// wait, or by the close switch, and returns `true`. Otherwise changes nothing and returns
    /// `false`: the lines are the connection's to write now, or there are none and the next
    /// one wakes it.
    pub fn hold_soon(&self, waker: &Waker, most: usize, idle_too: bool) -> bool {
        let mut inner = self.inner.lock();
        let waiting = inner.count as usize;
        if inner.urgent > 0
            || waiting >= most
            || (waiting == 0 && !idle_too)
            || self.soon_full(&inner)
        {
            return false;
        }
        inner.want_lines = false;
        inner.wake_at_len = u32::try_from(most).unwrap_or(u32::MAX);
        inner.wake_on_urgent = true;
        set_waker(&mut inner.waker, waker);
        true
    }

    /// Lines that may wait hold a quarter of the limit: they go out, so that waiting never
    /// brings a small queue near its end.
    fn soon_full(&self, inner: &Inner) -> bool {
        (inner.bytes + inner.in_flight) * 4 > self.limit
    }

    /// Gives back the queue's memory when it is empty (the connection went quiet): idle
    /// clients hold none.
    pub fn shrink(&self) {
        let mut inner = self.inner.lock();
        if inner.lines.is_empty() && inner.lines.capacity() > 0 {
            inner.lines = VecDeque::new();
        }
    }

    /// Leaves `waker` to be woken by the close switch only: the connection has lines in hand
    /// and waits for the socket, so new lines need not wake it.
    pub fn wake_on_close(&self, waker: &Waker) {
        let mut inner = self.inner.lock();
        inner.want_lines = false;
        inner.wake_at_len = u32::MAX;
        inner.wake_on_urgent = false;
        set_waker(&mut inner.waker, waker);
    }

    /// Drops every queued line (the backlog of a client that fell too far behind).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.lines.clear();
        inner.count = 0;
        inner.urgent = 0;
        inner.bytes = 0;
        inner.in_flight = 0;
    }

    /// Bytes of memory the waiting lines hold right now, those the connection has taken and
    /// not yet written included.
    pub fn len_bytes(&self) -> usize {
        let inner = self.inner.lock();
        inner.bytes + inner.in_flight
    }
}

fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A waker that counts its wake-ups, for the tests of what wakes a connection (here and in
/// [`crate::deliver`]).
#[cfg(test)]
pub(crate) mod counting {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    #[derive(Default)]
    pub(crate) struct Counter(pub(crate) AtomicUsize);

    impl Counter {
        /// How many times it was woken.
        pub(crate) fn woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A counter, and a waker that counts into it.
    pub(crate) fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter::default());
        (c.clone(), Waker::from(c))
    }
}

#[cfg(test)]
mod tests {
    use super::counting::counter;
    use super::*;
    use crate::outbound::LINE_OVERHEAD;

    #[test]
    fn push_past_the_limit_closes_the_queue() {
        let q = SendQueue::new(2 * (5 + LINE_OVERHEAD));
        let (_, waker) = counter();
        assert!(q.push(Line::from(&b"12345"[..])).is_ok());
        assert!(q.push(Line::from(&b"12345"[..])).is_ok());
        assert_eq!(q.push(Line::from(&b"1"[..])), Err(PushError::Exceeded));
        assert!(q.is_closed());
        assert_eq!(q.close_reason(), Some(CloseReason::SendQExceeded));
        assert_eq!(q.push(Line::from(&b"1"[..])), Err(PushError::Closed));
        let mut out = VecDeque::new();
        q.take_all(&mut out, &waker);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn one_wake_up_per_drained_batch() {
        let q = SendQueue::new(1000);
        let (count, waker) = counter();
        let mut out = VecDeque::new();
        q.take_all(&mut out, &waker);
        assert!(out.is_empty());
        for _ in 0..3 {
            q.push(Line::from(&b"a\r\n"[..])).expect("push");
        }
        assert_eq!(count.woken(), 1, "one wake for three lines");
        q.take_all(&mut out, &waker);
        assert_eq!(out.len(), 3);
        // The queue is empty again: the next push must wake the connection once more.
        out.clear();
        q.take_all(&mut out, &waker);
        q.push(Line::from(&b"b\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 2);
    }

    #[test]
    fn a_connection_busy_writing_is_woken_by_close_only() {
        let q = SendQueue::new(1000);
        let (count, waker) = counter();
        q.wake_on_close(&waker);
        q.push(Line::from(&b"a\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 0);
        assert!(q.close(CloseReason::Killed("bye".into())));
        assert_eq!(count.woken(), 1);
    }

    #[test]
    fn a_connection_holding_lines_is_woken_once_enough_wait() {
        let q = SendQueue::new(1000);
        let (count, waker) = counter();
        assert_eq!(q.watch(&waker, 3), 0);
        q.push(Line::from(&b"a\r\n"[..])).expect("push");
        q.push(Line::from(&b"b\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 0, "held back");
        q.push(Line::from(&b"c\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 1, "three wait: enough");
        q.push(Line::from(&b"d\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 1, "once until it looks again");
        assert_eq!(q.watch(&waker, 3), 4);
        q.take_all(&mut VecDeque::new(), &waker);
        // Written, and holding again: the first line of the next write does not wake it.
        assert_eq!(q.watch(&waker, 3), 0);
        q.push(Line::from(&b"e\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 1);
        // Taken with nothing waiting, the queue wakes it for the next line.
        q.take_all(&mut VecDeque::new(), &waker);
        q.take_all(&mut VecDeque::new(), &waker);
        q.push(Line::from(&b"f\r\n"[..])).expect("push");
        assert_eq!(count.woken(), 2);
    }

    #[test]
    fn lines_that_may_wait_wake_nobody_until_one_that_may_not_comes() {
        let line = |text: &str| Line::from(text.as_bytes());
        let q = SendQueue::new(10_000);
        let (count, waker) = counter();
        let woken = || count.woken();
        let mut out = VecDeque::new();
        // Found the queue empty: the first line that may wait hands its waker to the caller,
        // to wake a moment later, and holds the lines meanwhile.
        q.take_all(&mut out, &waker);
        let later = q.push_soon(line("JOIN a\r\n")).expect("push");
        assert!(later.is_some_and(|w| w.will_wake(&waker)));
        assert_eq!(woken(), 0);
        assert!(q.push_soon(line("JOIN b\r\n")).expect("push").is_none());
        assert_eq!(woken(), 0);
        // The first line that may not wait wakes it.
        q.push_many([line("JOIN c\r\n"), line("JOIN d\r\n")])
            .expect("push");
        assert_eq!(woken(), 1, "lines pushed otherwise may not wait");
        assert!(
            !q.hold_soon(&waker, 10, false),
            "a line that may not wait is queued"
        );
        q.take_all(&mut out, &waker);
        let got: Vec<&[u8]> = out.iter().map(|l| &l[..]).collect();
        assert_eq!(
            got,
            [
                &b"JOIN a\r\n"[..],
                b"JOIN b\r\n",
                b"JOIN c\r\n",
                b"JOIN d\r\n"
            ]
        );
        // Held by the connection itself: nothing waits, so only if asked to be, idle too;
        // then `most` of them wake it.
        assert!(!q.hold_soon(&waker, 3, false));
        assert!(q.hold_soon(&waker, 3, true));
        assert!(q.push_soon(line("PART a\r\n")).expect("push").is_none());
        q.push_soon(line("PART b\r\n")).expect("push");
        assert_eq!(woken(), 1);
        q.push_soon(line("PART c\r\n")).expect("push");
        assert_eq!(woken(), 2, "three wait: the most held");
        assert!(!q.hold_soon(&waker, 3, true));
        // The close switch wakes a connection holding them.
        out.clear();
        q.take_all(&mut out, &waker);
        assert_eq!(out.len(), 3);
        assert!(q.hold_soon(&waker, 3, true));
        q.push_soon(line("QUIT\r\n")).expect("push");
        assert_eq!(woken(), 2);
        q.close(CloseReason::Shutdown);
        assert_eq!(woken(), 3);
        // A quarter of a small queue's limit held: it goes out, however few the lines.
        let q = SendQueue::new(4 * (8 + LINE_OVERHEAD) * 2);
        let (count, waker) = counter();
        assert!(q.hold_soon(&waker, 100, true));
        q.push_soon(line("JOIN a\r\n")).expect("push");
        q.push_soon(line("JOIN b\r\n")).expect("push");
        assert_eq!(count.woken(), 0);
        q.push_soon(line("JOIN c\r\n")).expect("push");
        assert_eq!(count.woken(), 1);
        assert!(!q.hold_soon(&waker, 100, true));
    }

    #[test]
    fn lines_pushed_together_keep_their_order_wake_once_and_stop_at_the_limit() {
        let line = |text: &str| Line::from(text.as_bytes());
        let q = SendQueue::new(4 * (3 + LINE_OVERHEAD));
        let (count, waker) = counter();
        let mut out = VecDeque::new();
        q.take_all(&mut out, &waker);
        q.push_many([]).expect("nothing");
        assert_eq!(count.woken(), 0, "no line, no wake-up");
        q.push_many([line("a\r\n"), line("b\r\n")]).expect("push");
        assert_eq!(count.woken(), 1);
        // Holding for three: two more lines at once reach it with one wake-up.
        q.take_all(&mut out, &waker);
        q.written(out.drain(..).map(|l| l.cost()).sum());
        assert_eq!(q.watch(&waker, 3), 0);
        q.push(line("c\r\n")).expect("push");
        q.push_many([line("d\r\n"), line("e\r\n")]).expect("push");
        assert_eq!(count.woken(), 2);
        // Past the limit the queue closes and keeps what came before the line too many.
        let refused = q.push_many([line("f\r\n"), line("g\r\n"), line("h\r\n")]);
        assert_eq!(refused, Err(PushError::Exceeded));
        assert_eq!(q.close_reason(), Some(CloseReason::SendQExceeded));
        q.take_all(&mut out, &waker);
        let got: Vec<&[u8]> = out.iter().map(|l| &l[..]).collect();
        assert_eq!(got, [&b"c\r\n"[..], b"d\r\n", b"e\r\n", b"f\r\n"]);
        assert_eq!(q.push_many([line("i\r\n")]), Err(PushError::Closed));
    }

    #[test]
    fn close_is_idempotent_and_keeps_the_first_reason() {
        let q = SendQueue::new(10);
        assert!(q.close(CloseReason::Shutdown));
        assert!(!q.close(CloseReason::Killed("x".into())));
        assert_eq!(q.close_reason(), Some(CloseReason::Shutdown));
        q.push_final(Line::from(&b"ERROR :bye\r\n"[..]));
        assert_eq!(q.len_bytes(), 12 + LINE_OVERHEAD);
    }

    #[test]
    fn lines_taken_but_not_written_still_count() {
        let q = SendQueue::new(3 * (3 + LINE_OVERHEAD));
        let (_, waker) = counter();
        let mut out = VecDeque::new();
        q.push(Line::from(&b"a\r\n"[..])).expect("push");
        q.push(Line::from(&b"b\r\n"[..])).expect("push");
        q.take_all(&mut out, &waker);
        assert_eq!(q.len_bytes(), 2 * (3 + LINE_OVERHEAD));
        q.push(Line::from(&b"c\r\n"[..])).expect("push");
        // Two taken and one waiting: a fourth is one too many, until the socket takes some.
        let more = Line::from(&b"d\r\n"[..]);
        q.written(out.pop_front().expect("taken").cost());
        q.push(more).expect("room again");
        assert_eq!(q.push(Line::from(&b"e\r\n"[..])), Err(PushError::Exceeded));
    }

    #[test]
    fn a_line_costs_its_allocation_not_only_its_length() {
        // A short line built in a roomy buffer holds the whole buffer while it waits.
        let mut roomy = Vec::with_capacity(1024);
        roomy.extend_from_slice(b"a\r\n");
        let q = SendQueue::new(64 * 1024);
        let mut pushed = 0;
        while q.push(Line::new(roomy.clone_with_capacity())).is_ok() {
            pushed += 1;
        }
        assert_eq!(pushed, 64 * 1024 / (1024 + LINE_OVERHEAD));
        // Given back its room, the same line costs its length and the overhead.
        let q = SendQueue::new(64 * 1024);
        let exact = Line::exact(roomy.clone_with_capacity());
        assert_eq!(exact.cost(), 3 + LINE_OVERHEAD);
        q.push(exact).expect("push");
    }

    trait CloneWithCapacity {
        fn clone_with_capacity(&self) -> Self;
    }

    impl CloneWithCapacity for Vec<u8> {
        fn clone_with_capacity(&self) -> Self {
            let mut v = Vec::with_capacity(self.capacity());
            v.extend_from_slice(self);
            v
        }
    }
}

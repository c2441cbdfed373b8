//! The per-connection send queue: lines waiting for the writer, bounded in bytes.
//!
//! A push never blocks and never waits. When a push would take the queue past its limit the
//! queue closes with [`CloseReason::SendQExceeded`]: the connection task then ends the session
//! ("SendQ exceeded") while every other client carries on. The same close switch ends a session
//! for any other reason (KILL, server shutdown), so a session has one way to be told to stop.
//!
//! A synchronous mutex guards the queue: pushes only move a refcounted [`Bytes`] into a
//! `VecDeque` and never await, so the lock is held for nanoseconds and may be taken while a
//! channel's lock is held (lock order: channel -> client -> queue).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Queue slots kept once the writer has taken the lines; more are given back after a burst.
const KEEP_SLOTS: usize = 4;

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
    lines: VecDeque<Bytes>,
    bytes: usize,
    close: Option<CloseReason>,
    /// No more lines will come: the writer ends once the queue is empty.
    finished: bool,
}

/// A queue of encoded lines for one connection, bounded in bytes.
#[derive(Debug)]
pub struct SendQueue {
    inner: Mutex<Inner>,
    limit: usize,
    /// Wakes the writer when lines arrive (a stored permit covers a push before the wait).
    data: Notify,
    /// Wakes the connection task when the queue closes.
    closed: Notify,
    is_closed: AtomicBool,
}

impl SendQueue {
    /// An empty queue that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SendQueue {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                bytes: 0,
                close: None,
                finished: false,
            }),
            limit,
            data: Notify::new(),
            closed: Notify::new(),
            is_closed: AtomicBool::new(false),
        }
    }

    /// Queues one line. Never blocks. Past the limit the queue closes with
    /// [`CloseReason::SendQExceeded`] and the line is dropped.
    pub fn push(&self, line: Bytes) -> Result<(), PushError> {
        let mut inner = self.inner.lock();
        if inner.close.is_some() {
            return Err(PushError::Closed);
        }
        if inner.bytes + line.len() > self.limit {
            inner.close = Some(CloseReason::SendQExceeded);
            drop(inner);
            self.mark_closed();
            return Err(PushError::Exceeded);
        }
        // Only the first line into an empty queue wakes the writer: it takes everything at
        // once, so while lines are waiting it has been woken already (or is writing and will
        // look again before it sleeps). One wake-up per push was the top of the fan-out profile.
        let was_empty = inner.lines.is_empty();
        inner.bytes += line.len();
        inner.lines.push_back(line);
        drop(inner);
        if was_empty {
            self.data.notify_one();
        }
        Ok(())
    }

    /// Queues a line even when the queue is closed or full: the session's own last words
    /// (`ERROR :Closing Link ...`), written before the socket closes.
    pub fn push_final(&self, line: Bytes) {
        let mut inner = self.inner.lock();
        inner.bytes += line.len();
        inner.lines.push_back(line);
        drop(inner);
        self.data.notify_one();
    }

    /// Closes the queue for `reason` unless it is closed already. Returns whether this call
    /// closed it.
    pub fn close(&self, reason: CloseReason) -> bool {
        let mut inner = self.inner.lock();
        if inner.close.is_some() {
            return false;
        }
        inner.close = Some(reason);
        drop(inner);
        self.mark_closed();
        true
    }

    fn mark_closed(&self) {
        self.is_closed.store(true, Ordering::Release);
        self.closed.notify_one();
        // Wake the writer too, so that it can notice the end.
        self.data.notify_one();
    }

    /// Why the queue closed, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.lock().close.clone()
    }

    /// Whether the queue has closed.
    pub fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// Waits until the queue closes. Cancel-safe.
    pub async fn wait_closed(&self) {
        loop {
            if self.is_closed() {
                return;
            }
            self.closed.notified().await;
        }
    }

    /// Takes every queued line at once into `out` (for one coalesced write). Returns whether
    /// [`finish`](Self::finish) was called: then nothing more will come after these lines.
    pub fn take_all(&self, out: &mut Vec<Bytes>) -> bool {
        let mut inner = self.inner.lock();
        out.extend(inner.lines.drain(..));
        // Give back what a burst grew (the registration burst alone is 20-odd lines); a few
        // slots stay so that a steady trickle pushes without allocating.
        if inner.lines.capacity() > KEEP_SLOTS {
            inner.lines = VecDeque::new();
        }
        inner.bytes = 0;
        inner.finished
    }

    /// Says that no more lines will come; the writer stops once it has written the rest.
    pub fn finish(&self) {
        self.inner.lock().finished = true;
        self.data.notify_one();
    }

    /// Waits until lines may be available (or the queue closed). Cancel-safe.
    pub async fn wait_data(&self) {
        self.data.notified().await;
    }

    /// Drops every queued line (the backlog of a client that fell too far behind).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.lines.clear();
        inner.bytes = 0;
    }

    /// Bytes waiting right now.
    pub fn len_bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_past_the_limit_closes_the_queue() {
        let q = SendQueue::new(10);
        assert!(q.push(Bytes::from_static(b"12345")).is_ok());
        assert!(q.push(Bytes::from_static(b"12345")).is_ok());
        assert_eq!(q.push(Bytes::from_static(b"1")), Err(PushError::Exceeded));
        assert_eq!(q.close_reason(), Some(CloseReason::SendQExceeded));
        assert_eq!(q.push(Bytes::from_static(b"1")), Err(PushError::Closed));
        let mut out = Vec::new();
        assert!(!q.take_all(&mut out));
        assert_eq!(out.len(), 2);
        q.finish();
        assert!(q.take_all(&mut out));
    }

    #[tokio::test]
    async fn lines_pushed_while_lines_wait_are_taken_with_them() {
        let q = SendQueue::new(1000);
        q.push(Bytes::from_static(b"a\r\n")).expect("push");
        q.push(Bytes::from_static(b"b\r\n")).expect("push");
        let wait = std::time::Duration::from_secs(5);
        tokio::time::timeout(wait, q.wait_data())
            .await
            .expect("woken");
        let mut out = Vec::new();
        q.take_all(&mut out);
        assert_eq!(out.len(), 2);
        // The queue is empty again: the next push must wake the writer once more.
        q.push(Bytes::from_static(b"c\r\n")).expect("push");
        tokio::time::timeout(wait, q.wait_data())
            .await
            .expect("woken again");
        out.clear();
        q.take_all(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn close_is_idempotent_and_keeps_the_first_reason() {
        let q = SendQueue::new(10);
        assert!(q.close(CloseReason::Shutdown));
        assert!(!q.close(CloseReason::Killed("x".into())));
        assert_eq!(q.close_reason(), Some(CloseReason::Shutdown));
        q.push_final(Bytes::from_static(b"ERROR :bye\r\n"));
        assert_eq!(q.len_bytes(), 12);
    }
}

//! Replies too big to queue at once (LIST of every channel, WHO or NAMES of a channel of
//! thousands), produced as the client's send queue drains.
//!
//! A handler that would queue many lines leaves a [`Paced`] reply in the session instead. The
//! connection asks it for more whenever its queue holds less than [`LOW_WATER`] bytes and the
//! last lines have been written, and each call queues lines until the queue holds about
//! [`HIGH_WATER`]: a client that reads gets the whole reply, a client that does not read costs
//! no more than that, and no reply is bigger than the asker can take. While a reply is being
//! produced the connection reads no new commands, so what they answer comes after it.

use std::collections::VecDeque;
use std::fmt::Debug;

use crate::session::Session;

/// Below this many bytes in the queue, the connection asks for more of the reply.
pub const LOW_WATER: usize = 16 * 1024;

/// Each call queues lines until the queue holds this many bytes (or the reply ends).
pub const HIGH_WATER: usize = 64 * 1024;

/// A reply produced a piece at a time.
pub trait Paced: Send + Debug {
    /// Queues the next lines, until the session's queue holds `until` bytes or the reply is
    /// complete (its end line included). Returns whether more is to come.
    fn produce(&mut self, s: &Session, until: usize) -> bool;
}

/// Whether the session's queue has room for more lines of a paced reply.
/// The lines produced so far are queued first, so that the queue's level counts them.
pub fn has_room(s: &Session, until: usize) -> bool {
    s.flush();
    s.conn.queue.len_bytes() < until && !s.conn.queue.is_closed()
}

/// Replies waiting to be produced, in the order they were asked (JOIN of several channels
/// starts a NAMES for each). Boxed: most sessions never have one, and hold only a pointer.
pub type Pending = Option<Box<VecDeque<Box<dyn Paced>>>>;

/// Starts `reply`: queues its first piece at once (the whole of it if it is small) and leaves
/// the rest, if any, for the connection. Behind another paced reply, it waits its turn.
pub fn start(s: &mut Session, mut reply: Box<dyn Paced>) {
    if let Some(waiting) = s.pending.as_mut() {
        waiting.push_back(reply);
        return;
    }
    if reply.produce(s, high_water(s)) {
        s.pending = Some(Box::new(VecDeque::from([reply])));
    }
}

/// Queues the next piece of the session's paced replies, if it has some.
pub fn resume(s: &mut Session) {
    let Some(mut waiting) = s.pending.take() else {
        return;
    };
    let until = high_water(s);
    while let Some(reply) = waiting.front_mut() {
        if reply.produce(s, until) {
            break;
        }
        waiting.pop_front();
        if !has_room(s, until) {
            break;
        }
    }
    if !waiting.is_empty() {
        s.pending = Some(waiting);
    }
}

/// The queue level a piece fills to: [`HIGH_WATER`], or less with a small `sendq_bytes`.
fn high_water(s: &Session) -> usize {
    HIGH_WATER.min(s.state.config.limits.sendq_bytes / 2)
}

/// The queue level under which the connection asks for the next piece.
pub fn low_water(s: &Session) -> usize {
    LOW_WATER.min(s.state.config.limits.sendq_bytes / 8)
}

//! Commands that go through a list of channels and fan out to each one's members (JOIN,
//! PART) take each channel's turn ([`Channel::turn`]) first: at once when it is free, and
//! otherwise as a task that waits for it, so that a worker never blocks on a channel another
//! one is fanning out to, and the channel's joins and parts go in the order they came. A user
//! that leaves the server takes the turns of all its channels for its QUIT ([`take_all`]), and
//! one whose news goes to all its channels (NICK, AWAY, SETNAME) for that ([`in_all_turns`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::SemaphorePermit;

use crate::channel::Channel;
use crate::command::{Flow, Pending, Wait};
use crate::session::Session;
use crate::state::State;

/// Members from which a channel's JOIN, PART, QUIT or news of a member (NICK, AWAY, SETNAME),
/// while the runtime is behind ([`Pressure::behind`]), takes the channel's turn as a task and
/// lets the others run before it goes on. A JOIN into a channel of thousands costs 100-300 µs
/// (NAMES, a line to every member), the others about half; a storm of a thousand of them, all
/// readable at once, put 0.1-0.3 s of work ahead of every other user on a server with one
/// core, whose messages waited that long (docs/BENCHMARKS.md, "A join storm", twenty-third and
/// twenty-fourth sessions). Waiting for the turn, the others in the storm cost nothing; the
/// one holding it goes on after the tasks queued before it, so the storm's commands go one by
/// one among the others' work, as a fair share: the probes' p99 on one core fell from 100-280
/// ms to 4-17. With the runtime not behind, they run at once, as they did; a runtime of one
/// worker is always behind.
///
/// [`Pressure::behind`]: crate::pressure::Pressure::behind
pub const BIG: usize = 500;

/// A command's walk through its channels, one at a time, each in its turn.
pub trait InTurn: Send + 'static {
    /// Goes on through the channels from the first not done, taking each one's turn with
    /// [`take`]; `held`: the caller holds the turn of the next one. `Err` with the channel
    /// whose turn it must wait for: the caller waits and calls again.
    fn run(&mut self, s: &mut Session, held: Option<&Arc<Channel>>) -> Result<(), Arc<Channel>>;

    /// After the last channel.
    fn finish(self, s: &mut Session) -> Flow;
}

/// Runs `job` through its channels: at once while their turns are free, and otherwise as a
/// task that waits for each turn it finds taken (or that it must take as one, see [`BIG`]).
pub fn run<J: InTurn>(s: &mut Session, mut job: J) -> Flow {
    let Err(busy) = job.run(s, None) else {
        return job.finish(s);
    };
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                let mut busy = busy;
                loop {
                    // The semaphore is never closed.
                    let Ok(turn) = busy.turn().acquire().await else {
                        break;
                    };
                    // A big channel's turn lets the others run first (see `BIG`).
                    if must_queue(&s.state, &busy) {
                        tokio::task::yield_now().await;
                    }
                    let done = job.run(s, Some(&busy));
                    drop(turn);
                    match done {
                        Ok(()) => break,
                        Err(next) => busy = next,
                    }
                }
                match job.finish(s) {
                    Flow::Wait(then) => then.run(s).await,
                    flow => flow,
                }
            })
        },
    ))))
}

/// The turn of `ch` (`None`: no channel, nothing to take), unless the caller holds it
/// already (`held` is `ch`: `Ok(None)`). `Err` with the channel when the turn is taken, or
/// when it must be taken as a task (see [`BIG`]).
pub fn take<'c>(
    s: &Session,
    ch: Option<&'c Arc<Channel>>,
    held: Option<&Arc<Channel>>,
) -> Result<Option<SemaphorePermit<'c>>, Arc<Channel>> {
    let Some(ch) = ch.filter(|ch| !held.is_some_and(|h| Arc::ptr_eq(h, ch))) else {
        return Ok(None);
    };
    if must_queue(&s.state, ch) {
        return Err(ch.clone());
    }
    match ch.turn().try_acquire() {
        Ok(turn) => Ok(Some(turn)),
        Err(_) => Err(ch.clone()),
    }
}

/// Whether the runtime is behind and `ch` is big enough that its turn goes after the others.
fn must_queue(state: &State, ch: &Channel) -> bool {
    state.pressure.behind() && ch.member_count() >= BIG
}

/// The longest a user waits for the turns of all its channels together ([`take_all`]): past
/// it, its QUIT or news goes to the channels whose turn it has not got without it (as it always
/// could: a worker then blocks on the channel's lock for a fan-out's time). A turn is held for
/// a fan-out's time, or by a cluster following a channel until its members on the other nodes
/// are known, which must not keep a closed connection from ending.
const MOST_WAIT: Duration = Duration::from_secs(2);

/// The turns of `channels`, for a QUIT or news that goes to them all at once: taken in one
/// order (the channels' addresses), so that two users that share channels never hold one each
/// while they wait for the other's, and waited for as a task, so that the worker serves others
/// meanwhile. Lets the others run first once it has them if one of them is big and the runtime
/// is behind (see [`BIG`]).
pub async fn take_all<'c>(state: &State, channels: &'c [Arc<Channel>]) -> Vec<SemaphorePermit<'c>> {
    let mut order: Vec<&Arc<Channel>> = channels.iter().collect();
    order.sort_by_key(|ch| Arc::as_ptr(ch) as usize);
    let until = tokio::time::Instant::now() + MOST_WAIT;
    let mut turns = Vec::with_capacity(order.len());
    for ch in order {
        // A free turn is taken even past the deadline: the timeout looks at it first.
        if let Ok(Ok(turn)) = tokio::time::timeout_at(until, ch.turn().acquire()).await {
            turns.push(turn);
        }
    }
    if channels.iter().any(|ch| must_queue(state, ch)) {
        tokio::task::yield_now().await;
    }
    turns
}

/// Runs `then`, news of the session's user to all its channels (a new nick, an away state, a
/// real name), holding the turns of those channels: at once when every turn is free and none
/// must be taken as a task (see [`BIG`]), and otherwise as a task that waits for them
/// ([`take_all`]); the session's next lines wait for it.
pub fn in_all_turns<F>(s: &mut Session, then: F) -> Flow
where
    F: FnOnce(&mut Session) -> Flow + Send + 'static,
{
    let channels = s.client.info.read().channels.clone();
    {
        let free: Option<Vec<SemaphorePermit<'_>>> = channels
            .iter()
            .map(|ch| take(s, Some(ch), None).ok().flatten())
            .collect();
        if let Some(_turns) = free {
            return then(s);
        }
    }
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                let flow = {
                    let _turns = take_all(&s.state, &channels).await;
                    then(s)
                };
                match flow {
                    Flow::Wait(more) => more.run(s).await,
                    flow => flow,
                }
            })
        },
    ))))
}

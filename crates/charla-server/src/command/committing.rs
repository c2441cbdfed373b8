//! A sender's messages on their way through the store: committed to history first, delivered
//! after (the guarantee of [`crate::history`]).
//!
//! A sender does not wait for one message's commit before its next line is read: its messages
//! queue here ([`InFlight`], in the order they were sent, which is the order the store commits
//! them in) while the connection goes on reading, so that one group commit takes many of a
//! busy sender's lines and the commits may be few and large. The connection delivers each as
//! its commit lands ([`poll_committed`], [`finish`]).
//!
//! Anything that must come after the messages waits for them: a command other than an
//! unlabeled PRIVMSG, NOTICE or TAGMSG runs only once every queued message is delivered
//! ([`passes`], [`after_drain`]); so do a labeled message (its answer is its echo) and a
//! sender with [`MAX_IN_FLIGHT`] messages queued. A session that ends delivers what it queued
//! before it says goodbye ([`drain`]); if it is dropped before, the queue delivers itself
//! ([`InFlight`]'s `Drop`).
//!
//! The store's queue is bounded, and all senders together must not fill it: a message line is
//! first admitted for the store writes it may make ([`admit`], a share of
//! [`ADMITTED_WRITES`]), held until its messages are delivered. A line that finds no room waits
//! for it, with the connection's own messages delivered first ([`after_admission`]), and its
//! sender's next lines wait in the socket: a store that falls behind slows its senders down
//! instead of refusing their messages.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use charla_proto::Message;
use charla_store::Receipt;
use tokio::sync::OwnedSemaphorePermit;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::{Client, ConnectionId};
use crate::command::privmsg::Kind;
use crate::command::table::Wait;
use crate::command::{Flow, Pending};
use crate::deliver::{self, Payload};
use crate::session::Session;

/// The most messages one sender may have waiting for their commits; the next line waits until
/// they are delivered. Bounds what a sender holds in memory (its lines then wait in the socket).
pub const MAX_IN_FLIGHT: usize = 64;

/// The store writes that senders' messages may have queued at once, all connections together:
/// half the store's queue, the other half left for everything else (joins, read markers,
/// accounts), so that a busy store never refuses a message for want of room.
pub const ADMITTED_WRITES: usize = charla_store::WRITE_QUEUE / 2;

/// Store writes a private message may make: its history entry and the conversation noted for
/// each of the two parties' accounts. A channel message makes one.
const WRITES_PER_USER: usize = 3;

/// A message accepted but not yet delivered: it waits for its history commit.
pub(crate) enum Committed {
    /// To a channel: whoever delivers first after the commit delivers it to every member.
    Channel {
        channel: Arc<Channel>,
        receipt: Receipt,
        /// The sender's own copy when it goes with the command's labeled response (delivered
        /// by the sender, after the commit, rather than in the channel's order).
        own_copy: Option<Payload>,
        kind: Kind,
        /// The admission of the line it came in (on its last message): given back once
        /// delivered.
        slot: Option<OwnedSemaphorePermit>,
    },
    /// To one user (and the sender's other connections, and its own copy with
    /// `echo-message`).
    User {
        to: Arc<Client>,
        payload: Payload,
        receipt: Receipt,
        echo: bool,
        kind: Kind,
        /// The admission of the line it came in (on its last message): given back once
        /// delivered.
        slot: Option<OwnedSemaphorePermit>,
    },
}

impl Committed {
    fn receipt(&self) -> &Receipt {
        match self {
            Committed::Channel { receipt, .. } | Committed::User { receipt, .. } => receipt,
        }
    }
}

/// A sender's messages waiting for their commits, oldest first.
pub struct InFlight {
    items: VecDeque<Committed>,
    /// Wakes the connection when the oldest one's commit lands.
    waiter: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The sender and its connection, for the deliveries of a queue left behind.
    sender: Arc<Client>,
    conn: ConnectionId,
    /// The store writes the line being run was admitted for ([`admit`]): taken by its last
    /// message in flight, given back when the line is done otherwise ([`line_done`]).
    admitted: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("messages", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl Drop for InFlight {
    /// A session gone before its messages were delivered (it panicked, or its task was
    /// dropped): what is committed still reaches its recipients.
    fn drop(&mut self) {
        if self.items.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let items = std::mem::take(&mut self.items);
        let sender = self.sender.clone();
        let conn = self.conn;
        runtime.spawn(async move {
            for item in items {
                let committed = matches!(item.receipt().wait().await, Ok(Ok(())));
                match item {
                    Committed::Channel { channel, .. } => channel.deliver_committed(None),
                    Committed::User {
                        to, payload, echo, ..
                    } if committed => {
                        deliver::to_client(&to, &payload, None);
                        if to.id != sender.id {
                            deliver::to_sender(&sender, &payload, None, conn, echo);
                        }
                    }
                    Committed::User { .. } => {}
                }
            }
        });
    }
}

/// Whether `msg` may run while messages are in flight: an unlabeled PRIVMSG, NOTICE or TAGMSG
/// (its delivery keeps its place behind theirs). Anything else waits for them.
pub(crate) fn passes(s: &Session, msg: &Message<'_>) -> bool {
    is_message(msg) && !(s.conn.has_cap(Cap::LabeledResponse) && has_label(msg.raw_tags))
}

/// Whether `msg` is a PRIVMSG, NOTICE or TAGMSG.
fn is_message(msg: &Message<'_>) -> bool {
    ["PRIVMSG", "NOTICE", "TAGMSG"]
        .iter()
        .any(|c| msg.command.eq_ignore_ascii_case(c))
}

/// Whether raw tags hold a `label`.
fn has_label(raw_tags: &str) -> bool {
    !raw_tags.is_empty()
        && raw_tags
            .split(';')
            .any(|tag| tag == "label" || tag.starts_with("label="))
}

/// How many store writes a message line must be admitted for before it runs, if it must: a
/// PRIVMSG, NOTICE or TAGMSG while history is on, one for each channel among its targets and
/// [`WRITES_PER_USER`] for each user (the first `max_targets`, the others are refused).
/// `None`: it runs now (admitted at once when there was room, the admission kept in the
/// sender's [`InFlight`] until the line is done).
pub(crate) fn admit(s: &mut Session, msg: &Message<'_>) -> Option<u32> {
    let admitted = s.in_flight.as_ref().is_some_and(|f| f.admitted.is_some());
    if !is_message(msg) || !s.state.config.history.enabled || admitted {
        return None;
    }
    let targets = msg.params.first().copied().unwrap_or_default();
    let writes: usize = targets
        .split(',')
        .take(s.state.config.limits.max_targets)
        .map(|target| match target.chars().next() {
            // A channel, or some of its members (STATUSMSG).
            Some('#' | '&' | '@' | '+') => 1,
            _ => WRITES_PER_USER,
        })
        .sum();
    let writes = u32::try_from(writes.clamp(1, ADMITTED_WRITES)).unwrap_or(1);
    match s.state.admission.clone().try_acquire_many_owned(writes) {
        Ok(permit) => {
            in_flight(s).admitted = Some(permit);
            None
        }
        Err(_) => Some(writes),
    }
}

/// Runs `line` once the store has room for its `writes` ([`admit`]): the connection's own
/// messages in flight are delivered first (they give their room back, so that no two senders
/// wait for each other), then it waits its turn.
pub(crate) fn after_admission(line: String, writes: u32) -> Flow {
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                drain(s).await;
                // Closed only if the server drops it: run the line without, the store decides.
                let admission = s.state.admission.clone().acquire_many_owned(writes).await;
                in_flight(s).admitted = admission.ok();
                run_line(s, &line).await
            })
        },
    ))))
}

/// After a line ran: its admission, unless its messages took it, is given back.
pub(crate) fn line_done(s: &mut Session) {
    if let Some(in_flight) = s.in_flight.as_mut() {
        in_flight.admitted = None;
        if in_flight.items.is_empty() {
            s.in_flight = None;
        }
    }
}

/// The sender's queue, made when it has none.
fn in_flight(s: &mut Session) -> &mut InFlight {
    s.in_flight.get_or_insert_with(|| {
        Box::new(InFlight {
            items: VecDeque::new(),
            waiter: None,
            sender: s.client.clone(),
            conn: s.conn.id,
            admitted: None,
        })
    })
}

/// Runs `line` once every message in flight is delivered.
pub(crate) fn after_drain(line: String) -> Flow {
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                drain(s).await;
                run_line(s, &line).await
            })
        },
    ))))
}

/// Runs a line that had to wait, and what it then waits for itself.
async fn run_line(s: &mut Session, line: &str) -> Flow {
    match crate::connection::handle_line(s, line) {
        Flow::Wait(pending) => {
            s.flush();
            pending.run(s).await
        }
        flow => flow,
    }
}

/// Queues a command's messages for delivery after their commits. The command waits for them
/// when it is labeled (its replies end with them) or when the sender has too many in flight.
pub(crate) fn queue(s: &mut Session, mut later: Vec<Committed>) -> Flow {
    let labeled = s.replies.labeled();
    let in_flight = in_flight(s);
    if let Some(last) = later.last_mut() {
        let (Committed::Channel { slot, .. } | Committed::User { slot, .. }) = last;
        *slot = in_flight.admitted.take();
    }
    in_flight.items.extend(later);
    if labeled || in_flight.items.len() >= MAX_IN_FLIGHT {
        Flow::Wait(Box::new(Pending::later(Box::new(
            |s: &mut Session| -> Wait<'_> {
                Box::pin(async move {
                    drain(s).await;
                    Flow::Continue
                })
            },
        ))))
    } else {
        Flow::Continue
    }
}

/// Ready when the oldest message in flight is committed (or failed): [`finish`] then delivers
/// it and whatever was committed with it. Pending when nothing is in flight.
pub(crate) fn poll_committed(s: &mut Session, cx: &mut Context<'_>) -> Poll<()> {
    let Some(in_flight) = s.in_flight.as_mut() else {
        return Poll::Pending;
    };
    let Some(front) = in_flight.items.front() else {
        return Poll::Ready(());
    };
    if front.receipt().outcome().is_some() {
        return Poll::Ready(());
    }
    let waiter = in_flight.waiter.get_or_insert_with(|| {
        let receipt = front.receipt().clone();
        Box::pin(async move {
            let _ = receipt.wait().await;
        })
    });
    waiter.as_mut().poll(cx)
}

/// Delivers the messages in flight whose commits have landed, oldest first, up to the first
/// still waiting; a message that could not be recorded is not delivered and its sender gets
/// `FAIL`. The queue is freed once empty.
pub(crate) fn finish(s: &mut Session) {
    while let Some(in_flight) = s.in_flight.as_mut() {
        let Some(front) = in_flight.items.front() else {
            s.in_flight = None;
            return;
        };
        let Some(outcome) = front.receipt().outcome() else {
            return;
        };
        let committed = matches!(outcome, Ok(Ok(())));
        in_flight.waiter = None;
        let Some(item) = in_flight.items.pop_front() else {
            return;
        };
        deliver(s, item, committed);
    }
}

/// Waits for every message in flight and delivers them.
pub(crate) async fn drain(s: &mut Session) {
    while let Some(receipt) = s
        .in_flight
        .as_ref()
        .and_then(|in_flight| in_flight.items.front())
        .map(|front| front.receipt().clone())
    {
        let _ = receipt.wait().await;
        finish(s);
    }
}

/// One message after its commit (`committed`) or its failure.
fn deliver(s: &Session, item: Committed, committed: bool) {
    match item {
        Committed::Channel {
            channel,
            own_copy,
            kind,
            ..
        } => {
            channel.deliver_committed(Some(s.actor()));
            if !committed {
                not_recorded(s, kind, &channel.name());
            } else if let Some(copy) = own_copy {
                deliver::to_connection(&s.conn, &copy, Some(s.actor()));
            }
        }
        Committed::User {
            to,
            payload,
            echo,
            kind,
            ..
        } => {
            if !committed {
                not_recorded(s, kind, &to.nick());
                return;
            }
            deliver::to_client(&to, &payload, Some(s.actor()));
            if to.id != s.client.id {
                deliver::to_sender(&s.client, &payload, Some(s.actor()), s.conn.id, echo);
            }
        }
    }
}

/// `FAIL <command> MESSAGE_ERROR <target>`: the message could not be kept, so nobody got it.
pub(crate) fn not_recorded(s: &Session, kind: Kind, target: &str) {
    let mut line = s.server_line("FAIL");
    line.param(kind.command())
        .param("MESSAGE_ERROR")
        .param(target)
        .trailing("Message not delivered: the server could not record it; try again later");
    s.send_line(line);
}

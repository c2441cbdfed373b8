//! One connection's life, top to bottom, in one task: register in the state, then one loop
//! that reads lines and runs their commands, writes what others queued for this client, and
//! keeps the timers (registration deadline, PING, flood delay); then one exit path that always
//! cleans up (channels, nick, WHOWAS, event) and says goodbye with `ERROR`.
//!
//! One task per connection that both reads and writes keeps an idle client small: no second
//! task for the writer, no split of the stream, one timer, and no read buffer while it waits
//! (DESIGN.md: memory per client). The loop is a hand-written poll ([`Conn::poll_step`]) so
//! that what waits is a few fields, not the sum of a `select!`'s futures.
//!
//! Generic over the stream, so TCP, TLS and an in-process `tokio::io::duplex` (tests, fuzzing)
//! share it.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use charla_proto::limits::{MAX_CLIENT_TAGS, MAX_INBOUND, MAX_LINE};
use charla_proto::numeric::{ERR_INPUTTOOLONG, ERR_UNKNOWNERROR};
use charla_proto::{Message, ParseError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep, sleep_until};
use tracing::{debug, error};

use crate::client::{ConnectionId, Transport};
use crate::command::{self, Flow, committing, paced};
use crate::devices::{self, Departure};
use crate::event::ServerEvent;
use crate::flood::{RecvQ, TokenBucket};
use crate::framing::{Frame, LineReader};
use crate::listener::IpGuard;
use crate::logtext::Escaped;
use crate::outbound::Line;
use crate::sendq::CloseReason;
use crate::session::Session;
use crate::state::State;
use crate::tracker::TaskGuard;
use crate::writer::Outbox;

/// How long the last lines may take to go out before the socket is dropped.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection holds until it ends: its slot under `max_clients`, its per-IP count, and
/// its place in the task count that shutdown waits on.
#[derive(Debug)]
#[allow(dead_code, reason = "the fields are held for their Drop")]
pub(crate) struct Guards {
    pub permit: Option<OwnedSemaphorePermit>,
    pub ip: Option<IpGuard>,
    pub task: TaskGuard,
}

/// Why a session ended.
#[derive(Debug)]
enum Exit {
    Quit(String),
    /// The server ended the session (e.g. a wrong password).
    Refused(String),
    Eof,
    ReadError(String),
    RegistrationTimeout,
    PingTimeout(u64),
    ExcessFlood,
    Closed(CloseReason),
    /// The session task panicked (a bug); the connection is closed cleanly all the same.
    Internal,
}

impl Exit {
    /// The reason shown to others in QUIT and to the live log.
    fn reason(&self) -> String {
        match self {
            Exit::Quit(m) if m.is_empty() => "Quit".to_owned(),
            Exit::Quit(m) => format!("Quit: {m}"),
            Exit::Refused(m) => m.clone(),
            Exit::Eof => "Connection closed".to_owned(),
            Exit::ReadError(e) => format!("Read error: {e}"),
            Exit::RegistrationTimeout => "Registration timed out".to_owned(),
            Exit::PingTimeout(secs) => format!("Ping timeout: {secs} seconds"),
            Exit::ExcessFlood => "Excess Flood".to_owned(),
            Exit::Internal => "Internal error".to_owned(),
            Exit::Closed(CloseReason::SendQExceeded) => "SendQ exceeded".to_owned(),
            Exit::Closed(CloseReason::Killed(text)) => text.clone(),
            Exit::Closed(CloseReason::Shutdown) => "Server shutting down".to_owned(),
            Exit::Closed(CloseReason::WriteFailed) => "Write error".to_owned(),
            Exit::Closed(CloseReason::Relayed) => "Closed by the user's server".to_owned(),
        }
    }

    /// The text of the last `ERROR` line to the client.
    fn error_text(&self, host: &str) -> String {
        match self {
            Exit::Closed(CloseReason::Shutdown) => "Server shutting down".to_owned(),
            other => format!("Closing Link: {host} ({})", other.reason()),
        }
    }
}

/// What the loop hands to the async part: a line to run, or the end.
enum Step {
    Line(Frame),
    /// The queue has drained: time for the next piece of a big reply.
    Produce,
    /// Another connection of the user left work for this one ([`devices::run_mail`]).
    Mail,
    /// Messages this client sent are committed: deliver them ([`committing::finish`]).
    Committed,
    Exit(Exit),
}

/// One connection's state between polls.
struct Conn<S> {
    stream: S,
    session: Session,
    reader: LineReader,
    out: Outbox,
    bucket: TokenBucket,
    /// Lines read while the flood bucket was empty, run as tokens come back.
    waiting: RecvQ,
    last_input: Instant,
    /// The next registration deadline or idle check. Input does not move it (that would touch
    /// the timer wheel on every line): when it comes, it looks at the time of the last input.
    check_at: Instant,
    ping_sent: Option<Instant>,
    registered: bool,
    /// A whole line came from the client: past the silent deadline, it has the rest of the
    /// registration timeout.
    heard: bool,
    /// The registration deadline (not the silent one) is the one set.
    extended: bool,
    /// The client closed its side: the lines it sent before are still run, then the session
    /// ends.
    eof: bool,
    /// When the last write finished (the start of the coalescing window).
    last_write: Instant,
    /// The end of the current coalescing window: the task looks again then, to write the
    /// lines it held back or, if none came, to give its buffers back.
    write_at: Option<Instant>,
    /// The client's own command just ran: its replies go out at once, window or not.
    eager: bool,
    /// Lines are held back until `write_at`.
    holding: bool,
    /// Lines that may wait (and only such) are held until `write_at` ([`soon_delay`]).
    soon: bool,
    /// About how many lines this connection was written per coalescing window lately
    /// ([`pace`]): its lines are held only while this is at least [`HOLD_PACE`].
    pace: f32,
}

/// Runs one connection over any byte stream to its end.
///
/// The client enters the shared state at once; the returned future (the connection's task)
/// holds only the connection and its guards.
pub(crate) fn serve<S>(
    state: Arc<State>,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    guards: Guards,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_as(state, stream, peer, transport, guards, None)
}

/// Runs a device of `account` that another node of the cluster registered and relays here
/// ([`crate::cluster::relay`]): logged in already, it attaches to the account's user when it
/// finishes registering.
pub(crate) fn serve_relayed<S>(
    state: Arc<State>,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    guards: Guards,
    account: String,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_as(state, stream, peer, transport, guards, Some(account))
}

fn serve_as<S>(
    state: Arc<State>,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    guards: Guards,
    account: Option<String>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    state.metrics.opened(&transport);
    let client = state.add_client(peer, transport);
    if account.is_some() {
        client.info.write().account = account;
    }
    debug!(conn_id = %client.id, %peer, "connection accepted");
    let now = Instant::now();
    let conn = Conn {
        stream,
        reader: LineReader::new(MAX_INBOUND),
        out: Outbox::default(),
        bucket: TokenBucket::new(&state.config.flood),
        waiting: RecvQ::default(),
        last_input: now,
        // Silent connections are closed first (the registration deadline comes after).
        check_at: now + state.config.limits.silent_timeout(),
        ping_sent: None,
        registered: false,
        heard: false,
        extended: false,
        eof: false,
        // As if the last write were long ago: the first lines go out at once.
        last_write: now.checked_sub(Duration::from_secs(1)).unwrap_or(now),
        write_at: None,
        eager: false,
        holding: false,
        soon: false,
        pace: 0.0,
        session: Session::new(state, client),
    };
    conn.life(guards)
}

/// The most held lines that make a connection write before its window ends: with this many in
/// one write its fixed cost is already spread thin, and waiting longer would only add latency.
/// As many as a full commit of the history brings (the store's `FULL_COMMIT`): a member of
/// the busiest channel is written once per commit, not once per two (at 4M deliveries a
/// second, p99 13-14 ms instead of 17-20, for 5-10 % of the deliveries per CPU-second;
/// docs/PROFILE.md, eighteenth session).
const FULL_WRITE_LINES: usize = 48;

/// How long a busy connection's lines are held, as a share of the window: a quarter (7.5 ms at
/// the default 30) for a client of a channel of a few hundred lines a second, growing with its
/// pace to half the window at [`LONG_HOLD_PACE`] lines a window (2,000 a second at 30 ms) and
/// more. A person reads a calm channel line by line and sees every millisecond; a client sent
/// thousands of lines a second reads them in chunks, and it is where a write saved saves most.
fn hold_share(pace: f32) -> f32 {
    (0.5 * pace / LONG_HOLD_PACE).clamp(0.25, 0.5)
}

/// The share of the window lines are held for, at least, while the runtime's workers are
/// `busy` (0 to 1): nothing more below [`BUSY_FROM`], up to the whole window from
/// [`BUSY_FULL`]. Under load a write saved is CPU for others (a join storm into a channel of
/// thousands wakes every member on every JOIN), and a line held is not the latency that
/// waiting for a saturated worker would be.
fn busy_share(busy: f32) -> f32 {
    ((busy - BUSY_FROM) / (BUSY_FULL - BUSY_FROM)).clamp(0.0, 1.0)
}

/// The workers' busy share from which lines are held for more of the window.
const BUSY_FROM: f32 = 0.5;

/// The workers' busy share from which lines are held for the whole window.
const BUSY_FULL: f32 = 0.8;

/// The pace (lines per window) from which a connection's lines are held for half the window;
/// from half of it down, for a quarter.
const LONG_HOLD_PACE: f32 = 60.0;

/// How many held lines make a connection write, at `pace` lines per window: those it gets in
/// its [`hold_share`] of the window, from 2 to [`FULL_WRITE_LINES`], like the interrupt
/// moderation of network cards: a member of a channel of 500 lines a second writes 3 or 4 at a
/// time, one of 2,000 lines a second 30, one of 8,000 48; more while the server is busy.
///
/// The write is made when the line that completes it is queued: the fan-out that queues it
/// wakes the members of a channel in one run, and a write made so costs much less than one
/// made when each connection's own timer fires, alone (docs/PROFILE.md, seventeenth session).
/// The window's end is a backstop for when the lines stop coming.
///
/// Less up to a quarter, by connection: every member of a busy channel gets the same lines at
/// the same moments, so with one threshold for all they would reach it on the same line and all
/// write in the same instant; staggered, their writes spread out (at 4M deliveries/s: p50 4.8
/// ms instead of 5.8, and 4% less CPU).
fn enough_lines(id: ConnectionId, pace: f32, busy: f32) -> usize {
    let share = hold_share(pace).max(busy_share(busy));
    let enough = (pace * share).clamp(2.0, FULL_WRITE_LINES as f32) as usize;
    enough - (id.0 % 16) as usize * enough / 64
}

/// How long lines that may wait (news of others, [`crate::deliver::Payload::may_wait`]) are
/// held after the first of them, unless a line that may not wait comes first: two coalescing
/// windows, and up to four more by connection, so that the members of a channel a join storm hits do not all write at once (spread over
/// half a window, their writes of a few hundred JOIN lines each kept a probe waiting 90 ms;
/// over two, 55-64 ms in three runs of four; docs/BENCHMARKS.md, "A join storm").
/// Nobody answers a JOIN within milliseconds; a member of a channel of thousands written every
/// few JOIN lines was most of a join storm's CPU, and the queue the other clients waited in
/// (docs/PROFILE.md, twenty-second session).
fn soon_delay(id: ConnectionId, window: Duration) -> Duration {
    window * 2 + window * (id.0 % 64) as u32 / 16
}

/// The most lines that may wait held back: past it they go out, however early.
const SOON_MOST_LINES: usize = 8 * FULL_WRITE_LINES;

/// The pace (lines per coalescing window) from which a connection's lines are held back for the
/// window's end: at the default 30 ms window, about 270 lines a second, a member of a busy
/// channel. Below it every line goes out as it comes: a client of a calm channel (100 lines a
/// second, some of them a millisecond apart) would otherwise have some of its lines held, and
/// held lines go out several at a time, which looks busy: held for good, at 15 ms on average.
const HOLD_PACE: f32 = 8.0;

/// `pace` (lines per `window`, as of the last write) `since` that write: what is left after
/// a straight-line decay to nothing over one window.
fn pace(pace: f32, since: Duration, window: Duration) -> f32 {
    if since >= window {
        return 0.0;
    }
    pace * (1.0 - since.as_secs_f32() / window.as_secs_f32())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The whole life of the connection: the session, then the cleanup and the goodbye.
    ///
    /// An `async` block, not an `async fn`: the block keeps `self` where it was captured, where
    /// an `async fn` would also copy its arguments into locals, doubling the task's size.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would copy `self` (see above)"
    )]
    fn life(mut self, guards: Guards) -> impl Future<Output = ()> + Send
    where
        S: Send,
    {
        async move {
            let exit = {
                // One timer for everything: registration deadline, idle PING and its timeout,
                // flood delay, write window.
                let mut timer = pin!(sleep_until(self.check_at));
                let mut run = pin!(self.run(timer.as_mut()));
                // A bug (a panic) in a command handler ends only this session, and still goes
                // through the cleanup below: no user is left behind.
                poll_fn(|cx| {
                    catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(cx))).unwrap_or_else(|_| {
                        error!("session panicked");
                        Poll::Ready(Exit::Internal)
                    })
                })
                .await
            };

            // Boxed: kept inline, what the cleanup holds would make every connection's task
            // bigger for its whole life, only for its last few milliseconds.
            Box::pin(self.close(exit)).await;
            drop(guards);
        }
    }

    /// After the session: what it sent is delivered, the user leaves (QUIT to its channels),
    /// the exit is counted and told, and the last lines (ERROR) go out.
    async fn close(&mut self, exit: Exit) {
        // What it sent is delivered before it leaves (QUIT comes after its messages).
        if self.session.in_flight.is_some() {
            let drain = committing::drain(&mut self.session);
            if tokio::time::timeout(FLUSH_TIMEOUT, drain).await.is_err() {
                debug!(conn_id = %self.session.conn.id, "messages in flight at the close");
            }
        }
        // Replies of the last command (a 464 before the close) go out before the goodbye.
        self.session.end_command();
        let state = &self.session.state;
        let reason = exit.reason();
        let nick = self.session.reg.done.then(|| self.session.client.nick());
        // A device relayed to its user's node was never a user here (it left the maps
        // when it was relayed): its departure is that node's business.
        let departure = (!self.session.reg.relayed).then(|| devices::depart(&self.session));
        let user = &self.session.client;
        let client = &self.session.conn;
        match departure {
            None => {}
            Some(Departure::User) => devices::leave_in_turns(state, user, &reason).await,
            Some(departure) => {
                if Arc::ptr_eq(user, client) {
                    devices::retire_first(user);
                }
                if departure == Departure::Kept {
                    devices::mark_auto_away(state, user);
                    devices::keep_presence(state, user);
                }
            }
        }
        let sendq = matches!(exit, Exit::Closed(CloseReason::SendQExceeded));
        let flood = matches!(exit, Exit::ExcessFlood);
        state.metrics.closed(sendq, flood);
        debug!(conn_id = %client.id, peer = %client.addr,
            nick = %Escaped(nick.as_deref().unwrap_or("*")), reason = %Escaped(&reason),
            ?departure, "connection closed");
        state.emit(ServerEvent::Disconnected {
            id: client.id,
            nick,
            addr: client.addr,
            reason,
            stays: departure != Some(Departure::User),
        });

        if matches!(exit, Exit::Closed(CloseReason::SendQExceeded)) {
            // The client cannot keep up: drop its backlog so that the ERROR line goes out next.
            self.out.abandon();
            client.queue.clear();
        }
        if let Some(cluster) = state.cluster()
            && self.session.reg.relayed
        {
            cluster.relay_left(client.id);
        }
        // A relayed device's last lines (its ERROR among them) came from its user's node.
        if !matches!(exit, Exit::Closed(CloseReason::Relayed)) {
            let mut error = charla_proto::LineBuilder::new();
            error
                .command("ERROR")
                .trailing(&exit.error_text(&client.host));
            client.queue.push_final(Line::new(error.finish()));
        }
        // A peer that does not read must not keep the socket forever.
        if !matches!(exit, Exit::Closed(CloseReason::WriteFailed))
            && tokio::time::timeout(FLUSH_TIMEOUT, self.farewell())
                .await
                .is_err()
        {
            debug!(conn_id = %self.session.conn.id, "the last lines did not go out in time");
        }
    }

    /// The session's main loop: returns why it ended.
    async fn run(&mut self, mut timer: Pin<&mut Sleep>) -> Exit {
        loop {
            // Kept in a block so that the frame is not held across the wait below: every
            // byte held across an `.await` is a byte of every connection's task.
            let mut flow = {
                let frame = match poll_fn(|cx| self.poll_step(cx, timer.as_mut())).await {
                    Step::Line(frame) => Some(frame),
                    Step::Mail => None,
                    Step::Committed => {
                        committing::finish(&mut self.session);
                        self.session.end_command();
                        continue;
                    }
                    Step::Produce => {
                        paced::resume(&mut self.session);
                        self.session.end_command();
                        self.eager = true;
                        // It read the last piece: it is alive, though it may not send anything
                        // (its PONG waits behind the reply) until the reply ends.
                        self.last_input = Instant::now();
                        continue;
                    }
                    Step::Exit(exit) => return exit,
                };
                match frame {
                    Some(frame) => handle_frame(&mut self.session, frame),
                    None => devices::run_mail(&mut self.session),
                }
            };
            if let Flow::Wait(pending) = flow {
                // What the command said before it had to wait goes out now.
                self.session.flush();
                // Rare (a password check, the store): the future is boxed, so that the wait
                // does not make every task bigger.
                flow = Box::pin(wait_for(&mut self.session, pending)).await;
            }
            self.session.end_command();
            // Expensive commands cost extra flood tokens.
            let penalty = std::mem::take(&mut self.session.penalty);
            if penalty > 0 && !self.flood_exempt() {
                self.bucket.penalize(penalty, Instant::now());
            }
            if let Some(exit) = flow_exit(flow) {
                return exit;
            }
            // The answer to the client's own command goes out at once.
            self.eager = true;
        }
    }

    fn flood_exempt(&self) -> bool {
        !self.session.state.config.flood.enabled || self.session.client.is_oper()
    }

    /// Does everything that is ready without waiting: writes queued lines, keeps the timers,
    /// and reads input until a line may run (flood tokens permitting) or nothing is left.
    ///
    /// In this order: the close switch; output (what others sent this client goes out even
    /// while it floods us); the timer (a client that never stops sending must still meet its
    /// registration deadline); the next piece of a big reply, once the last one is written;
    /// lines waiting for flood tokens (they came first); new input.
    fn poll_step(&mut self, cx: &mut Context<'_>, mut timer: Pin<&mut Sleep>) -> Poll<Step> {
        loop {
            if self.session.conn.queue.is_closed() {
                let reason = self
                    .session
                    .client
                    .queue
                    .close_reason()
                    .unwrap_or(CloseReason::Shutdown);
                return Poll::Ready(Step::Exit(Exit::Closed(reason)));
            }
            if !self.registered && self.session.reg.done {
                self.registered = true;
                self.check_at = Instant::now() + self.session.state.config.limits.ping_interval();
            }
            let now = Instant::now();
            if let Poll::Ready(Err(e)) = self.poll_output(cx, now) {
                debug!(conn_id = %self.session.conn.id, error = %e, "write failed");
                self.session.conn.queue.close(CloseReason::WriteFailed);
                continue;
            }
            if now >= self.check_at {
                if let Some(exit) = self.check_idle(now) {
                    return Poll::Ready(Step::Exit(exit));
                }
                continue;
            }
            // Messages this client sent whose commits have landed go out.
            if committing::poll_committed(&mut self.session, cx).is_ready() {
                return Poll::Ready(Step::Committed);
            }
            // A big reply is being produced: its next piece once the last one is written, and
            // no new command until it is complete (its answers would come in the middle).
            if self.session.pending.is_some() {
                if self.out.is_empty()
                    && self.session.conn.queue.len_bytes() < paced::low_water(&self.session)
                {
                    return Poll::Ready(Step::Produce);
                }
            } else {
                if self.registered && self.session.client.has_mail(self.session.conn.id) {
                    return Poll::Ready(Step::Mail);
                }
                if !self.waiting.is_empty()
                    && (self.flood_exempt() || self.bucket.try_take(now))
                    && let Some(frame) = self.waiting.pop()
                {
                    return Poll::Ready(Step::Line(frame));
                }
                if self.eof {
                    if self.waiting.is_empty() {
                        return Poll::Ready(Step::Exit(Exit::Eof));
                    }
                } else {
                    match self.reader.poll_frame(cx, &mut self.stream) {
                        Poll::Ready(Ok(Some(frame))) => {
                            self.session.state.metrics.lines_in.inc();
                            self.last_input = now;
                            self.heard = true;
                            if self.waiting.is_empty()
                                && (self.flood_exempt() || self.bucket.try_take(now))
                            {
                                return Poll::Ready(Step::Line(frame));
                            }
                            let recvq = self.session.state.config.flood.recvq_bytes;
                            if self.waiting.push(frame, recvq).is_err() {
                                return Poll::Ready(Step::Exit(Exit::ExcessFlood));
                            }
                            continue;
                        }
                        Poll::Ready(Ok(None)) => {
                            // What it sent before closing still runs (a bot that posts and quits
                            // at once loses nothing, its QUIT reason included).
                            self.eof = true;
                            continue;
                        }
                        Poll::Ready(Err(e)) => {
                            return Poll::Ready(Step::Exit(Exit::ReadError(e.to_string())));
                        }
                        Poll::Pending => {}
                    }
                }
            }
            let mut wake_at = self.check_at;
            if !self.waiting.is_empty() && self.session.pending.is_none() {
                wake_at = wake_at.min(self.bucket.ready_at(now));
            }
            // A deadline already past was seen to by `poll_output` just now (the lines went out,
            // or the socket is full and will wake the task): a timer set to it would fire at
            // once, and the task would spin until the window ended or the socket drained (a
            // join storm's members did, 1.7 million times a second in all).
            if let Some(at) = self.write_at.filter(|at| *at > now) {
                wake_at = wake_at.min(at);
            }
            if timer.deadline() != wake_at {
                timer.as_mut().reset(wake_at);
            }
            if timer.as_mut().poll(cx).is_ready() {
                continue;
            }
            // The close switch may have been thrown after the first look and before the
            // waker was left with the queue.
            if self.session.conn.queue.is_closed() {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Writes what is queued until the queue is empty (`Ready(Ok)`, and the queue will wake
    /// this task for the next line) or the socket is full (`Pending`).
    ///
    /// While a client gets lines at [`HOLD_PACE`] or more per `write_coalesce_ms`, a line that
    /// comes within the window after a write is held back, with those that follow, until as
    /// many wait as its pace brings in a share of the window ([`enough_lines`]) or, if the lines
    /// stop coming, until the window ends (`write_at`), like TCP's autocorking: a client in a
    /// busy channel gets several lines per write instead of one, and neither a line to a client
    /// of a calm channel or conversation nor the answer to the client's own command is delayed
    /// at all.
    fn poll_output(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<std::io::Result<()>> {
        let queue = &self.session.conn.queue;
        loop {
            if self.out.is_empty() {
                let window = self.session.state.config.limits.write_coalesce();
                let window_end = self.last_write + window;
                let in_window = now < window_end;
                // Lines that may wait (news of others: a JOIN, a new nick...) and only such: held
                // until a while after the first of them, or until a line that may not wait comes.
                // Once written, the next ones are held as long again without a wake-up for the
                // first of them, until a wait finds none.
                let soon_due = self.soon && self.write_at.is_some_and(|at| at <= now);
                if !self.eager
                    && !window.is_zero()
                    && !soon_due
                    && queue.hold_soon(cx.waker(), SOON_MOST_LINES, self.soon)
                {
                    if !self.soon {
                        self.soon = true;
                        self.write_at = Some(now + soon_delay(self.session.conn.id, window));
                    }
                    return Poll::Ready(Ok(()));
                }
                self.soon = false;
                // A busy client's lines are held until the window's end, with every line that
                // follows: busy means it has lately been written lines at HOLD_PACE or more a
                // window (a member of a busy channel). Other lines go out at once.
                let held = self.holding;
                let since = now.saturating_duration_since(self.last_write);
                let busy = held || pace(self.pace, since, window) >= HOLD_PACE;
                if in_window && !self.eager && busy && !soon_due {
                    // Held until the window's end (the task looks again then, lines or not),
                    // or until enough lines wait: the line that completes them wakes the task,
                    // and no line before it does.
                    let load = self.session.state.pressure.busy();
                    let enough = enough_lines(self.session.conn.id, self.pace, load);
                    let waiting = queue.watch(cx.waker(), enough);
                    if waiting < enough {
                        self.holding = true;
                        self.write_at = Some(window_end);
                        return Poll::Ready(Ok(()));
                    }
                }
                self.holding = false;
                self.eager = false;
                let lines = queue.take_all(self.out.batch_mut(), cx.waker());
                if soon_due && lines > 0 {
                    // Lines that waited do not count in the pace of those that may not wait,
                    // which is only decayed to this write.
                    self.pace = pace(self.pace, since, window);
                    self.soon = true;
                    self.write_at = Some(now + soon_delay(self.session.conn.id, window));
                } else if lines > 0 {
                    // As of this write: decayed for the time since the last one, once (a look
                    // that finds nothing changes nothing, or a task looked at often would
                    // forget its pace faster than one looked at seldom).
                    self.pace = pace(self.pace, since, window) + lines as f32;
                }
                self.session.state.metrics.sent(lines);
                if self.out.is_empty() {
                    if !in_window {
                        // Quiet for a whole window: give the buffers back.
                        self.write_at = None;
                        self.out.shrink();
                        queue.shrink();
                    } else if self.write_at.is_some() {
                        // A write since the lines were held began a new window: look again at
                        // its end, not at the last one's.
                        self.write_at = Some(window_end);
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            let result = self.out.poll_write(cx, &mut self.stream);
            let written = self.out.take_written();
            if written > 0 {
                queue.written(written);
            }
            match result {
                Poll::Ready(Ok(())) => self.last_write = now,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    queue.wake_on_close(cx.waker());
                    return Poll::Pending;
                }
            }
        }
    }

    /// The registration deadline or the idle check came: ends the session, sends a PING, or
    /// sets the next check.
    fn check_idle(&mut self, now: Instant) -> Option<Exit> {
        let limits = &self.session.state.config.limits;
        if !self.session.reg.done {
            if self.heard && !self.extended {
                // The silent deadline, with lines heard: the rest of the registration timeout.
                self.extended = true;
                let rest = limits
                    .registration_timeout()
                    .saturating_sub(limits.silent_timeout());
                if !rest.is_zero() {
                    self.check_at = now + rest;
                    return None;
                }
            }
            return Some(Exit::RegistrationTimeout);
        }
        if self.ping_sent.is_some_and(|sent| self.last_input <= sent) {
            return Some(Exit::PingTimeout(
                limits.ping_interval_secs + limits.ping_timeout_secs,
            ));
        }
        let idle_until = self.last_input + limits.ping_interval();
        if now >= idle_until {
            let mut ping = self.session.server_line("PING");
            ping.trailing(self.session.state.name());
            // Straight into the queue: not part of any command's (labeled) response.
            let _ = self.session.conn.queue.push(Line::exact(ping.finish()));
            self.ping_sent = Some(now);
            self.check_at = now + limits.ping_timeout();
        } else {
            self.ping_sent = None;
            self.check_at = idle_until;
        }
        None
    }

    /// Writes the last lines (the `ERROR` among them) and closes the stream.
    async fn farewell(&mut self) {
        let queue = &self.session.conn.queue;
        let _ = poll_fn(|cx| {
            loop {
                if self.out.is_empty() {
                    queue.take_all(self.out.batch_mut(), cx.waker());
                    if self.out.is_empty() {
                        break;
                    }
                }
                std::task::ready!(self.out.poll_write(cx, &mut self.stream))?;
            }
            Pin::new(&mut self.stream).poll_shutdown(cx)
        })
        .await;
    }
}

/// Runs a command's part that must wait. Its own (thin) box around the handler's future: a
/// fat `Pin<Box<dyn Future>>` held across the wait would make every connection's task bigger.
async fn wait_for(session: &mut Session, pending: Box<command::Pending>) -> Flow {
    pending.run(session).await
}

/// The exit a command's flow asks for, if any.
fn flow_exit(flow: Flow) -> Option<Exit> {
    match flow {
        Flow::Continue => None,
        Flow::Quit(msg) => Some(Exit::Quit(msg)),
        Flow::Close(reason) => Some(Exit::Refused(reason)),
        Flow::Wait(_) => None,
    }
}

/// Checks one raw line and hands it to its command handler.
fn handle_frame(session: &mut Session, frame: Frame) -> Flow {
    let raw = match frame {
        Frame::Line(raw) => raw,
        Frame::TooLong => {
            session
                .num(ERR_INPUTTOOLONG)
                .t("Input line was too long")
                .send();
            return Flow::Continue;
        }
    };
    let raw: &[u8] = raw.strip_suffix(b"\r").unwrap_or(&raw);
    // A device relayed to its user's node: that node runs its lines.
    if session.reg.relayed {
        if let Some(cluster) = session.state.cluster() {
            cluster.relay_up(session.conn.id, raw);
        }
        return Flow::Continue;
    }
    if raw.contains(&0) {
        session
            .num(ERR_UNKNOWNERROR)
            .p("*")
            .t("Line rejected: it contains a NUL byte")
            .send();
        return Flow::Continue;
    }
    let Ok(line) = std::str::from_utf8(raw) else {
        // https://ircv3.net/specs/extensions/utf8-only: answer and drop the line.
        let lossy = String::from_utf8_lossy(raw);
        let command = Message::parse(&lossy)
            .map(|m| m.command.to_ascii_uppercase())
            .unwrap_or_else(|_| "*".to_owned());
        session.fail(
            &command,
            "INVALID_UTF8",
            "Message rejected, it contained invalid UTF-8",
        );
        return Flow::Continue;
    };
    // Tags and body have separate limits (https://ircv3.net/specs/extensions/message-tags).
    let (tag_len, body) = match line.strip_prefix('@') {
        Some(rest) => match rest.split_once(' ') {
            Some((tags, body)) => (tags.len() + 2, body),
            None => (rest.len() + 1, ""),
        },
        None => (0, line),
    };
    if tag_len > MAX_CLIENT_TAGS || body.len() + 2 > MAX_LINE {
        session
            .num(ERR_INPUTTOOLONG)
            .t("Input line was too long")
            .send();
        return Flow::Continue;
    }
    handle_line(session, line)
}

/// Runs one checked line (UTF-8, within the limits): parsed and dispatched, or answered with
/// the parse error. A command that must come after the messages still in flight waits for them.
pub(crate) fn handle_line(session: &mut Session, line: &str) -> Flow {
    match Message::parse(line) {
        Ok(msg) if session.in_flight.is_some() && !committing::passes(session, &msg) => {
            committing::after_drain(line.to_owned())
        }
        Ok(msg) => match committing::admit(session, &msg) {
            Some(writes) => committing::after_admission(line.to_owned(), writes),
            None => {
                let flow = command::dispatch(session, &msg);
                committing::line_done(session);
                flow
            }
        },
        Err(ParseError::Empty) => Flow::Continue,
        Err(ParseError::BadTags) => {
            session.fail(
                "*",
                "INVALID_TAGS",
                "Message rejected, its tags are malformed",
            );
            Flow::Continue
        }
        Err(e) => {
            session
                .num(ERR_UNKNOWNERROR)
                .p("*")
                .t(&format!("Line rejected: {e}"))
                .send();
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests;

//! One connection's life, top to bottom: register in the state, spawn the writer, run one
//! `select!` over input, flood-delayed lines, timers and the close switch, then one exit path
//! that always cleans up (channels, nick, WHOWAS, event) and says goodbye with `ERROR`.
//!
//! Generic over the stream, so TCP, an in-process `tokio::io::duplex` (tests, fuzzing) and
//! later TLS or WebSocket listeners all share it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use charla_proto::limits::{MAX_CLIENT_TAGS, MAX_INBOUND, MAX_LINE};
use charla_proto::numeric::{ERR_INPUTTOOLONG, ERR_UNKNOWNERROR};
use charla_proto::{Message, ParseError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error};

use crate::command::{self, Flow};
use crate::event::ServerEvent;
use crate::flood::TokenBucket;
use crate::framing::{Frame, LineReader};
use crate::listener::IpGuard;
use crate::sendq::CloseReason;
use crate::session::Session;
use crate::state::State;
use crate::tracker::TaskGuard;
use crate::writer;

/// How long the writer may take to flush the last lines before the socket is dropped.
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

/// Runs one connection over any byte stream to its end.
pub(crate) async fn serve<S>(state: Arc<State>, stream: S, peer: SocketAddr, guards: Guards)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    serve_halves(state, rd, wr, peer, guards).await;
}

/// Runs one TCP connection to its end. `into_split` gives halves without the lock that
/// `tokio::io::split` needs for a generic stream.
pub(crate) async fn serve_tcp(
    state: Arc<State>,
    stream: TcpStream,
    peer: SocketAddr,
    guards: Guards,
) {
    let (rd, wr) = stream.into_split();
    serve_halves(state, rd, wr, peer, guards).await;
}

/// Runs one connection, given its read and write halves, to its end.
async fn serve_halves<R, W>(state: Arc<State>, rd: R, wr: W, peer: SocketAddr, guards: Guards)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let client = state.add_client(peer);
    let conn_id = client.id;
    debug!(%conn_id, %peer, "connection accepted");
    let writer = tokio::spawn(writer::write_loop(wr, client.queue.clone()));

    // The session runs in its own task so that a bug (a panic) in a command handler ends
    // only this session, and still goes through the cleanup below: no user is left behind.
    let mut session = Session::new(state.clone(), client.clone());
    let (session, exit) = match tokio::spawn(async move {
        let exit = run(&mut session, rd).await;
        (session, exit)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => {
            error!(%conn_id, %peer, error = %e, "session task failed");
            let mut session = Session::new(state.clone(), client.clone());
            session.reg.done = client.info.read().registered;
            (session, Exit::Internal)
        }
    };

    let reason = exit.reason();
    let nick = session.reg.done.then(|| client.nick());
    command::quit::leave_everything(&session, &reason);
    state.remove_client(&client);
    debug!(%conn_id, %peer, nick = nick.as_deref().unwrap_or("*"), %reason, "connection closed");
    state.emit(ServerEvent::Disconnected {
        id: conn_id,
        nick,
        addr: peer,
        reason,
    });

    if matches!(exit, Exit::Closed(CloseReason::SendQExceeded)) {
        // The client cannot keep up: drop its backlog so that the ERROR line goes out next.
        client.queue.clear();
    }
    let mut error = charla_proto::LineBuilder::new();
    error
        .command("ERROR")
        .trailing(&exit.error_text(&client.host));
    client.queue.push_final(Bytes::from(error.finish()));
    client.queue.finish();
    // A peer that does not read must not keep the writer (and the socket) forever. The timer
    // is boxed: kept inline it made this task, which every connection has for its whole life,
    // hundreds of bytes bigger only for the last few milliseconds.
    let abort = writer.abort_handle();
    if Box::pin(tokio::time::timeout(FLUSH_TIMEOUT, writer))
        .await
        .is_err()
    {
        debug!(%conn_id, "writer did not flush in time; dropping the connection");
        abort.abort();
    }
    drop(guards);
}

/// The session's main loop: returns why it ended.
async fn run<R: AsyncRead + Unpin>(session: &mut Session, rd: R) -> Exit {
    let state = session.state.clone();
    let client = session.client.clone();
    let limits = &state.config.limits;
    let flood_cfg = &state.config.flood;
    let mut reader = LineReader::new(rd, MAX_INBOUND);
    let mut bucket = TokenBucket::new(flood_cfg);
    let mut waiting: VecDeque<Frame> = VecDeque::new();
    let mut last_input = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    // One timer for the registration deadline, then for idle PINGs and their timeout. Input
    // does not re-arm it (that would touch the timer wheel on every line): when it fires, it
    // looks at the time of the last input and re-arms itself.
    let timer = sleep_until(last_input + limits.registration_timeout());
    tokio::pin!(timer);
    let mut registered = false;

    loop {
        if !registered && session.reg.done {
            registered = true;
            timer
                .as_mut()
                .reset(Instant::now() + limits.ping_interval());
        }
        let flood_ready = if waiting.is_empty() {
            None
        } else {
            Some(bucket.ready_at(Instant::now()))
        };

        // Biased, in this order: the close switch, then the timer (a client that never stops
        // sending must still meet its registration deadline), then lines waiting for flood
        // tokens (they came first), then new input.
        tokio::select! {
            biased;
            () = client.queue.wait_closed() => {
                return Exit::Closed(client.queue.close_reason().unwrap_or(CloseReason::Shutdown));
            }
            () = &mut timer => {
                if !session.reg.done {
                    return Exit::RegistrationTimeout;
                }
                if ping_sent.is_some_and(|sent| last_input <= sent) {
                    return Exit::PingTimeout(limits.ping_interval_secs + limits.ping_timeout_secs);
                }
                let now = Instant::now();
                let idle_until = last_input + limits.ping_interval();
                if now >= idle_until {
                    let mut ping = session.server_line("PING");
                    ping.trailing(state.name());
                    session.send_line(ping);
                    ping_sent = Some(now);
                    timer.as_mut().reset(now + limits.ping_timeout());
                } else {
                    ping_sent = None;
                    timer.as_mut().reset(idle_until);
                }
            }
            () = sleep_until(flood_ready.unwrap_or(last_input)), if flood_ready.is_some() => {
                let exempt = !flood_cfg.enabled || client.is_oper();
                if (exempt || bucket.try_take(Instant::now()))
                    && let Some(frame) = waiting.pop_front()
                    && let Some(exit) = process(session, frame, &mut bucket, exempt).await
                {
                    return exit;
                }
            }
            frame = reader.next_frame() => {
                let frame = match frame {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return Exit::Eof,
                    Err(e) => return Exit::ReadError(e.to_string()),
                };
                last_input = Instant::now();
                let exempt = !flood_cfg.enabled || client.is_oper();
                if waiting.is_empty() && (exempt || bucket.try_take(last_input)) {
                    if let Some(exit) = process(session, frame, &mut bucket, exempt).await {
                        return exit;
                    }
                } else {
                    waiting.push_back(frame);
                    if waiting.len() > flood_cfg.max_queued_lines {
                        return Exit::ExcessFlood;
                    }
                }
            }
        }
    }
}

/// Runs one line and charges its extra flood cost (expensive commands weigh more).
async fn process(
    session: &mut Session,
    frame: Frame,
    bucket: &mut TokenBucket,
    exempt: bool,
) -> Option<Exit> {
    let exit = flow_exit(handle_frame(session, frame).await);
    let penalty = std::mem::take(&mut session.penalty);
    if !exempt && penalty > 0 {
        bucket.penalize(penalty, Instant::now());
    }
    exit
}

/// The exit a command's flow asks for, if any.
fn flow_exit(flow: Flow) -> Option<Exit> {
    match flow {
        Flow::Continue => None,
        Flow::Quit(msg) => Some(Exit::Quit(msg)),
        Flow::Close(reason) => Some(Exit::Refused(reason)),
    }
}

/// Checks one raw line and hands it to its command handler.
async fn handle_frame(session: &mut Session, frame: Frame) -> Flow {
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
    match Message::parse(line) {
        Ok(msg) => command::dispatch(session, &msg).await,
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
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_session_task_stays_small() {
        // Every connection has one, idle or not: 10,000 idle clients multiply its size.
        let state = Arc::new(State::new(Config::default(), None));
        let client = state.add_client("127.0.0.1:1".parse().expect("addr"));
        let mut session = Session::new(state, client);
        let (a, _b) = tokio::io::duplex(64);
        let (rd, _wr) = tokio::io::split(a);
        let task = run(&mut session, rd);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 2048, "session task is {size} bytes");
    }
}

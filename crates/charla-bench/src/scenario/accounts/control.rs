//! The control pair of `login-storm`: two clients from another loopback address in one
//! channel, each sending a stamped message every 40 ms, in turn (one every 20 ms between
//! them), and timing the other's as they arrive (one-way latency on the generator's clock,
//! [`load::now_micros`]). The latencies are split by when each message was sent: before the
//! storm, while its clients connect, and after.
//!
//! The pair runs on a runtime of its own, on its own thread: on the generator's main runtime
//! its reads would queue behind the storm's thousand TLS handshakes, and the generator's delay
//! would be counted as the server's.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::setup::SETUP_DEADLINE;
use crate::conn::{self, Client, Reply};
use crate::load::{self, Stamp};
use crate::scenario::Ctx;
use crate::stats::Latency;

/// Time between two messages of the pair (each of the two sends every other one).
const CONTROL_INTERVAL: Duration = Duration::from_millis(20);

/// The control pair's latencies, split by when each message was sent: before the storm,
/// while its clients connect (TCP and TLS handshakes), and once all have connected (the
/// server is then left with their password hashes).
#[derive(Debug, Default)]
pub(super) struct Phases {
    /// `[before the storm, while connecting, after]`.
    latency: std::sync::Mutex<[Latency; 3]>,
    /// When the storm started ([`load::now_micros`]); `0` until it does.
    pub storm_start: AtomicU64,
    /// When the last storm client's connect (and TLS handshake) ended; `0` until then.
    pub connected: AtomicU64,
    /// When it ended; `0` until it does.
    pub storm_end: AtomicU64,
}

impl Phases {
    /// Records a message sent at `sent` that took `micros`; after the storm it is not kept.
    fn record(&self, sent: u64, micros: u64) {
        let at = |t: &AtomicU64| match t.load(Ordering::Relaxed) {
            0 => u64::MAX,
            t => t,
        };
        let phase = if sent < at(&self.storm_start) {
            0
        } else if sent < at(&self.connected) {
            1
        } else if sent < at(&self.storm_end) {
            2
        } else {
            return;
        };
        // A poisoned lock only means the other reader panicked; its samples are still good.
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        latency[phase].record(micros);
    }

    /// The distributions before the storm, during all of it, and after its clients had all
    /// connected.
    pub fn take(&self) -> (Latency, Latency, Latency) {
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut during = latency[1].clone();
        during.merge(&latency[2]);
        (latency[0].clone(), during, latency[2].clone())
    }
}

/// Two clients from another loopback address in one channel, talking in turn.
pub(super) struct ControlPair {
    /// Its latencies, shared with the storm, which marks the phases.
    pub phases: Arc<Phases>,
    tasks: Vec<JoinHandle<Result<(), String>>>,
    /// Ends the pair's runtime (its thread waits for it); cancelled when the pair is dropped.
    runtime_done: CancellationToken,
}

impl Drop for ControlPair {
    fn drop(&mut self) {
        self.runtime_done.cancel();
    }
}

/// Starts a single-threaded runtime on a thread of its own, until `done`.
async fn own_runtime(done: CancellationToken) -> Result<Handle, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("control-pair".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    let _ = tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(done.cancelled());
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot start its runtime: {e}")));
                }
            }
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    rx.await
        .map_err(|_| "its thread ended at once".to_owned())?
}

impl ControlPair {
    /// Registers the two, joins them, and starts their conversation until `stop`.
    pub async fn start(ctx: &Ctx, run: &str, stop: CancellationToken) -> Result<Self, String> {
        let runtime_done = CancellationToken::new();
        // Until the pair is made, a failure ends the runtime.
        let guard = runtime_done.clone().drop_guard();
        let handle = own_runtime(runtime_done.clone()).await?;
        let connector = ctx.other_ip();
        let channel = format!("#ls{run}");
        let phases = Arc::new(Phases::default());
        let mut tasks = Vec::new();
        for index in 0..2u32 {
            let nick = load::nick('p', run, index as usize);
            // Connected from the pair's runtime, so that its reactor drives the socket.
            let (connector, channel_name) = (connector.clone(), channel.clone());
            let client = handle
                .spawn(async move {
                    let mut client = conn::register(&connector, &nick, SETUP_DEADLINE)
                        .await
                        .map_err(|e| format!("{nick} could not register: {e}"))?;
                    conn::join(&mut client, &channel_name, SETUP_DEADLINE)
                        .await
                        .map_err(|e| format!("{nick} could not join {channel_name}: {e}"))?;
                    Ok::<Client, String>(client)
                })
                .await
                .map_err(|e| format!("a control task failed: {e}"))??;
            // Each sends every other message: one every 20 ms between them.
            let offset = CONTROL_INTERVAL * index;
            tasks.push(handle.spawn(converse(
                client,
                index,
                channel.clone(),
                offset,
                phases.clone(),
                stop.clone(),
            )));
        }
        guard.disarm();
        Ok(Self {
            phases,
            tasks,
            runtime_done,
        })
    }

    /// Waits for both to stop (after `stop` was cancelled); returns what went wrong.
    pub async fn finish(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for task in self.tasks.drain(..) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(format!("a control task failed: {e}")),
            }
        }
        errors
    }
}

/// What one control client waits for next.
enum Event {
    Stop,
    Send,
    Read(io::Result<usize>),
}

/// One control client: a stamped message into the channel every `2 × CONTROL_INTERVAL`
/// (starting after `offset`), and the other's messages timed as they arrive.
async fn converse(
    client: Client,
    index: u32,
    channel: String,
    offset: Duration,
    phases: Arc<Phases>,
    stop: CancellationToken,
) -> Result<(), String> {
    let Client {
        mut reader,
        mut writer,
        ..
    } = client;
    let mut tick = tokio::time::interval_at(Instant::now() + offset, CONTROL_INTERVAL * 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let prefix = format!("PRIVMSG {channel} :");
    let mut seq = 0u64;
    let mut line = Vec::with_capacity(128);
    loop {
        let event = tokio::select! {
            biased;
            () = stop.cancelled() => Event::Stop,
            _ = tick.tick() => Event::Send,
            read = reader.fill() => Event::Read(read),
        };
        match event {
            Event::Stop => return Ok(()),
            Event::Send => {
                line.clear();
                line.extend_from_slice(prefix.as_bytes());
                let stamp = Stamp {
                    sender: index,
                    seq,
                    micros: load::now_micros(),
                };
                load::write_stamp(&mut line, stamp, 0);
                line.extend_from_slice(b"\r\n");
                seq += 1;
                writer
                    .write_all(&line)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            }
            Event::Read(Ok(0)) => return Err("closed by the server".into()),
            Event::Read(Err(e)) => return Err(format!("read: {e}")),
            Event::Read(Ok(_)) => {
                let now = load::now_micros();
                let mut pongs = Vec::new();
                while let Some(line) = reader.next_buffered() {
                    if let Some(stamp) = load::find_stamp(line) {
                        phases.record(stamp.micros, now.saturating_sub(stamp.micros));
                        continue;
                    }
                    match conn::classify(&String::from_utf8_lossy(line)) {
                        Reply::Ping(pong) => pongs.push(pong),
                        Reply::Error(text) => return Err(format!("ERROR {text}")),
                        _ => {}
                    }
                }
                for pong in pongs {
                    writer
                        .write_all(pong.as_bytes())
                        .await
                        .map_err(|e| format!("write: {e}"))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_split_by_send_time() {
        let phases = Phases::default();
        phases.record(10, 1_000);
        phases.storm_start.store(100, Ordering::Relaxed);
        phases.record(50, 2_000);
        phases.record(150, 6_000);
        phases.connected.store(160, Ordering::Relaxed);
        phases.record(170, 3_000);
        phases.storm_end.store(200, Ordering::Relaxed);
        phases.record(199, 4_000);
        phases.record(250, 5_000);
        let (before, during, hashing) = phases.take();
        assert_eq!(before.count(), 2);
        assert_eq!(during.count(), 3);
        assert_eq!(hashing.count(), 2);
        assert!(during.max_ms() >= 5.9);
        assert!(hashing.max_ms() < 5.9);
    }
}

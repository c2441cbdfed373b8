//! How busy the server is: the share of its runtime workers' time spent working, sampled at
//! most every [`SAMPLE`] by whichever connection asks (no timer of its own: an idle server
//! wakes for nothing). Connections hold their lines for more of the coalescing window while
//! it is high, as a network card moderates its interrupts more under load: when the workers
//! are busy, a write saved is CPU given to someone else, and the latency it costs is less than
//! what waiting for a busy worker would cost.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::runtime::RuntimeMetrics;

/// Tasks waiting in the runtime's global queue past which the runtime is behind
/// ([`Pressure::behind`]): a few, beside the 256 a worker's own queue holds.
const BEHIND: usize = 8;

/// The shortest time between two samples of the workers' busy time (which tokio's workers
/// report when they park, and every few dozen tasks while they do not).
const SAMPLE: Duration = Duration::from_millis(20);

/// The workers' busy share over the last sample.
pub struct Pressure {
    metrics: Option<RuntimeMetrics>,
    epoch: Instant,
    /// When the last sample was taken, in microseconds since `epoch`.
    sampled_at: AtomicU64,
    /// The workers' busy time, all together, at that sample, in microseconds.
    busy_then: AtomicU64,
    /// The busy share between the last two samples, in thousandths of the workers' time.
    busy: AtomicU32,
    /// Says it is behind whatever the runtime says (tests of what is done then).
    #[cfg(test)]
    always_behind: bool,
}

impl std::fmt::Debug for Pressure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pressure")
            .field("busy", &self.busy.load(Relaxed))
            .finish()
    }
}

impl Pressure {
    /// The pressure on the runtime this is called in (none outside one).
    pub fn of_current_runtime() -> Self {
        Pressure::of(
            tokio::runtime::Handle::try_current()
                .ok()
                .map(|h| h.metrics()),
        )
    }

    /// A pressure that is always nothing (tests that look at one connection alone).
    pub fn none() -> Self {
        Pressure::of(None)
    }

    fn of(metrics: Option<RuntimeMetrics>) -> Self {
        Pressure {
            metrics,
            epoch: Instant::now(),
            sampled_at: AtomicU64::new(0),
            busy_then: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            #[cfg(test)]
            always_behind: false,
        }
    }

    /// A pressure that says the runtime is always behind ([`behind`](Self::behind)).
    #[cfg(test)]
    pub fn always_behind() -> Self {
        Pressure {
            always_behind: true,
            ..Pressure::none()
        }
    }

    /// The share of the workers' time they spent working lately, from 0 to 1.
    pub fn busy(&self) -> f32 {
        let Some(metrics) = &self.metrics else {
            return 0.0;
        };
        let now = micros(self.epoch.elapsed());
        let then = self.sampled_at.load(Relaxed);
        if now >= then + micros(SAMPLE)
            && self
                .sampled_at
                .compare_exchange(then, now, Relaxed, Relaxed)
                .is_ok()
        {
            let workers = metrics.num_workers();
            let total: u64 = (0..workers)
                .map(|w| micros(metrics.worker_total_busy_duration(w)))
                .sum();
            let before = self.busy_then.swap(total, Relaxed);
            let span = (now - then) * workers.max(1) as u64;
            let share = total.saturating_sub(before) * 1000 / span.max(1);
            self.busy.store(share.min(1000) as u32, Relaxed);
        }
        self.busy.load(Relaxed) as f32 / 1000.0
    }
}

impl Pressure {
    /// Whether the runtime is behind: tasks woken from outside it (a sender whose message the
    /// store just committed) or spilled from a worker's full queue wait in its global queue,
    /// which a busy worker serves once every few of its own tasks. Read as it is, not sampled.
    ///
    /// A runtime of one worker (a server on one core) counts as behind whenever asked: no other
    /// worker takes what waits while it works, and a storm whose tasks all fit in the worker's
    /// own queue (256) never shows in the global one (docs/BENCHMARKS.md, "A join storm",
    /// twenty-fifth session).
    pub fn behind(&self) -> bool {
        #[cfg(test)]
        if self.always_behind {
            return true;
        }
        self.metrics
            .as_ref()
            .is_some_and(|m| m.num_workers() == 1 || m.global_queue_depth() > BEHIND)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_or_without_one_there_is_no_pressure() {
        assert_eq!(Pressure::of_current_runtime().busy(), 0.0);
        assert_eq!(Pressure::none().busy(), 0.0);
    }

    /// A runtime of one worker, and its pressure.
    fn one_worker() -> (tokio::runtime::Runtime, Pressure) {
        workers(1)
    }

    /// A runtime of `n` workers, and its pressure.
    fn workers(n: usize) -> (tokio::runtime::Runtime, Pressure) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()
            .expect("runtime");
        let pressure = runtime.block_on(async { Pressure::of_current_runtime() });
        (runtime, pressure)
    }

    #[test]
    fn workers_kept_busy_are_seen_busy_and_idle_ones_idle() {
        let (runtime, pressure) = one_worker();
        // Idle: the worker parked.
        std::thread::sleep(Duration::from_millis(60));
        pressure.busy();
        std::thread::sleep(Duration::from_millis(60));
        assert!(pressure.busy() < 0.2, "{}", pressure.busy());
        // The worker working, a tenth of a millisecond at a time: a worker that never parks
        // reports its busy time at its maintenance (every 61 polls by default), so the polls
        // are short beside the sample.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let stop = stop.clone();
            runtime.spawn(async move {
                while !stop.load(Relaxed) {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_micros(100) {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(60));
        pressure.busy();
        std::thread::sleep(Duration::from_millis(100));
        let busy = pressure.busy();
        stop.store(true, Relaxed);
        assert!(busy > 0.6, "{busy}");
    }

    #[test]
    fn tasks_waiting_for_busy_workers_put_them_behind() {
        let (runtime, pressure) = workers(2);
        assert!(!pressure.behind());
        // Both workers held for a while; tasks spawned from this thread meanwhile wait in the
        // global queue.
        let (held, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(std::sync::Mutex::new(hold));
        let (started, start) = std::sync::mpsc::channel::<()>();
        for _ in 0..2 {
            let (started, hold) = (started.clone(), hold.clone());
            runtime.spawn(async move {
                let _ = started.send(());
                let _ = hold.lock().map(|h| h.recv_timeout(Duration::from_secs(10)));
            });
        }
        for _ in 0..2 {
            start
                .recv_timeout(Duration::from_secs(10))
                .expect("the workers run");
        }
        let waiting: Vec<_> = (0..=BEHIND).map(|_| runtime.spawn(async {})).collect();
        assert!(pressure.behind());
        for _ in 0..2 {
            held.send(()).expect("a worker holds");
        }
        for task in waiting {
            runtime.block_on(task).expect("ran");
        }
        assert!(!pressure.behind());
        assert!(!Pressure::none().behind());
    }

    #[test]
    fn a_runtime_of_one_worker_is_always_behind() {
        let (_runtime, pressure) = one_worker();
        assert!(pressure.behind());
    }
}

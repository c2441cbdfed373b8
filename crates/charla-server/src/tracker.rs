//! Knowing when every connection task has ended, for a graceful shutdown.
//!
//! Each task holds a [`TaskGuard`]; dropping the last one wakes [`Tracker::wait_idle`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts live connection tasks.
#[derive(Debug, Default)]
pub struct Tracker {
    active: AtomicUsize,
    idle: Notify,
}

/// One live task; its drop counts it out.
#[derive(Debug)]
pub struct TaskGuard {
    tracker: Arc<Tracker>,
}

impl Tracker {
    /// Counts one more task.
    pub fn enter(self: &Arc<Self>) -> TaskGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        TaskGuard {
            tracker: self.clone(),
        }
    }

    /// How many tasks are live.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits until no task is live.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.tracker.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.tracker.idle.notify_waiters();
        }
    }
}

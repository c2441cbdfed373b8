//! Checkpoints off the writer's path: a thread of its own copies the WAL into the database.
//!
//! SQLite's automatic checkpoint runs in the commit that fills the WAL past a threshold: that
//! commit, and every write queued behind it, waits while tens of megabytes are copied and the
//! database file is synced (the p99 of a commit under load was a checkpoint's length). Here the
//! writer's connection checkpoints nothing by itself; after a commit it reads how many frames
//! the WAL holds (SQLite's WAL hook) and, past [`START_FRAMES`], wakes the checkpointer, whose
//! connection runs PASSIVE checkpoints (never waiting for the writer or readers) while commits
//! go on.
//!
//! The WAL starts over from its beginning only when a write transaction begins after a
//! checkpoint copied all of it. A checkpoint that runs beside commits may never catch the last
//! one, so the writer bounds the WAL itself: past [`LIMIT_FRAMES`] it runs a PASSIVE
//! checkpoint in its own turn, which then has only the frames the checkpointer has not copied
//! yet.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// Frames in the WAL (pages of 4 KiB) past which the checkpointer is woken: 16 MiB. A busy
/// conversation's pages are rewritten to the WAL by every commit but copied once per
/// checkpoint, so a larger WAL copies less in all.
pub(super) const START_FRAMES: c_int = 4 * 1024;

/// Frames past which the writer runs a checkpoint itself (see the module documentation): 64 MiB.
pub(super) const LIMIT_FRAMES: c_int = 16 * 1024;

thread_local! {
    /// The frames in the WAL after the last commit made on this thread, as the WAL hook saw
    /// them (a plain function, so it keeps its finding here; the writer reads it right after
    /// its commit, on the same thread).
    static FRAMES: Cell<c_int> = const { Cell::new(0) };
}

fn note_frames(_: &Wal, frames: c_int) -> rusqlite::Result<()> {
    FRAMES.set(frames);
    Ok(())
}

/// Turns the writer's own automatic checkpoints off and has its commits noted for
/// [`frames_after_commit`].
pub(super) fn watch(writer: &Connection) -> rusqlite::Result<()> {
    // Setting the pragma replaces SQLite's own hook, which is what checkpointed.
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    writer.wal_hook(Some(note_frames));
    Ok(())
}

/// The frames the WAL held after the last commit on this thread, and forgets them (0 if the
/// commit wrote nothing).
pub(super) fn frames_after_commit() -> c_int {
    FRAMES.replace(0)
}

/// A checkpoint as one more statement: copies what it can, waits for nobody.
pub(super) fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// The thread that checkpoints, the way to wake it, and the WAL's sizes that matter.
/// Dropping it ends the thread after its current checkpoint.
pub(super) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// [`START_FRAMES`], or less in tests.
    pub(super) start_frames: c_int,
    /// [`LIMIT_FRAMES`], or less in tests.
    pub(super) limit_frames: c_int,
}

impl Checkpointer {
    /// Starts the thread, checkpointing with `conn` (a connection of its own).
    pub(super) fn start(conn: Connection) -> std::io::Result<Self> {
        // One pending wake is enough: it means "the WAL is big, checkpoint once more".
        let (wake, woken) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("charla-store-ck".to_owned())
            .spawn(move || run(conn, woken))?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
            start_frames: START_FRAMES,
            limit_frames: LIMIT_FRAMES,
        })
    }

    /// A checkpointer whose thread never checkpoints (and is not started): only the writer's
    /// own checkpoint at the limit is left.
    #[cfg(test)]
    pub(super) fn parked() -> Self {
        Checkpointer {
            wake: None,
            thread: None,
            start_frames: START_FRAMES,
            limit_frames: LIMIT_FRAMES,
        }
    }

    /// Asks for a checkpoint; nothing if one is already asked for.
    pub(super) fn wake(&self) {
        if let Some(wake) = &self.wake
            && let Err(TrySendError::Disconnected(())) = wake.try_send(())
        {
            // The thread is gone (it only ends when dropped): the writer's limit still holds.
        }
    }
}

fn run(conn: Connection, woken: Receiver<()>) {
    while woken.recv().is_ok() {
        // A failure (the disk, a damaged file) is the writer's to report, at its next commit;
        // the next wake tries again.
        let _ = passive(&conn);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

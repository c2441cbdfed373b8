//! History in the chat view, as plain state (the drawing in [`chat`](crate::chat) stays thin):
//! where the "new since you were last here" separator goes, keeping the view still while older
//! lines are added above it, when reaching the top loads more, and telling the server what was
//! read without telling it every frame.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use charla_client::{Buffer, Line};
use chrono::{DateTime, Utc};

/// How often at most the app tells the server what was read in one buffer.
pub const MARK_READ_EVERY: Duration = Duration::from_secs(2);

/// Whether a line is news for the separator and the counts: someone else's message.
fn is_news(line: &Line) -> bool {
    line.kind.is_chat() && !line.own
}

/// Where the user had read a buffer up to when they came to it: lines from others after this
/// time are new. `None` when nothing is unread. The later of the account's read marker (from
/// the server, maybe set on another device) and what this window counted as unread.
pub fn read_up_to(buffer: &Buffer) -> Option<DateTime<Utc>> {
    if buffer.unread == 0 {
        return None;
    }
    // `unread` counts others' messages: the oldest unread one is that many back.
    let first_unread = buffer
        .lines
        .iter()
        .rev()
        .filter(|l| is_news(l))
        .nth(buffer.unread - 1)
        .map(|l| l.time - chrono::Duration::milliseconds(1));
    match (buffer.read_marker, first_unread) {
        (Some(marker), Some(local)) => Some(marker.max(local)),
        (marker, local) => marker.or(local),
    }
}

/// The index of the line the separator goes above: the first line from others after `after`.
pub fn separator_at(lines: &VecDeque<Line>, after: DateTime<Utc>) -> Option<usize> {
    lines.iter().position(|l| is_news(l) && l.time > after)
}

/// A line kept in place on screen while lines are added above it: the line that was at the top
/// of the view when older lines were asked for, and how far below the view's top it was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScrollAnchor {
    /// The line ([`Line::seq`]).
    pub seq: u64,
    /// Its top, from the top of the view (its place in the content less the scroll offset).
    pub below_top: f32,
}

impl ScrollAnchor {
    /// The line `seq`, whose top is at `y` in the content, with the view scrolled to `offset`.
    pub fn new(seq: u64, y: f32, offset: f32) -> Self {
        ScrollAnchor {
            seq,
            below_top: y - offset,
        }
    }

    /// The line is now at `y` in the content, the view at `offset` (of at most `max`): the
    /// offset that puts it back where it was on screen, or `None` when it is there (or as near
    /// as the content allows).
    pub fn correction(&self, offset: f32, y: f32, max: f32) -> Option<f32> {
        let want = (y - self.below_top).clamp(0.0, max.max(0.0));
        ((want - offset).abs() > 0.5).then_some(want)
    }
}

/// What reaching the top of a buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtTop {
    /// Draw more of the lines the app has (`hidden` lines are not drawn yet).
    ShowMore,
    /// Ask the server for older lines.
    LoadOlder,
    /// Nothing: a request is out, or this is the beginning.
    Nothing,
}

/// What to do at the top, with `hidden` lines not drawn and the buffer's history as it is.
pub fn at_top(hidden: usize, buffer: &Buffer) -> AtTop {
    if hidden > 0 {
        AtTop::ShowMore
    } else if buffer.history.more && !buffer.history.loading && buffer.history.oldest.is_some() {
        AtTop::LoadOlder
    } else {
        AtTop::Nothing
    }
}

/// Telling the server what was read in one buffer (`MARKREAD`): at most once every
/// [`MARK_READ_EVERY`], never backwards; a time held back goes out when its turn comes.
#[derive(Debug, Clone, Default)]
pub struct ReadSync {
    sent: Option<DateTime<Utc>>,
    sent_at: Option<Instant>,
    pending: Option<DateTime<Utc>>,
}

impl ReadSync {
    /// The user has read up to `time` (the newest line's); `marker` is the read marker the
    /// server knows. Returns the time to send now, if any.
    pub fn read(
        &mut self,
        time: DateTime<Utc>,
        marker: Option<DateTime<Utc>>,
        now: Instant,
    ) -> Option<DateTime<Utc>> {
        let known = self.sent.max(marker);
        if known.is_none_or(|k| time > k) && self.pending.is_none_or(|p| time > p) {
            self.pending = Some(time);
        }
        self.due(now)
    }

    /// A time held back whose turn has come.
    pub fn due(&mut self, now: Instant) -> Option<DateTime<Utc>> {
        self.pending?;
        if self
            .sent_at
            .is_some_and(|at| now.saturating_duration_since(at) < MARK_READ_EVERY)
        {
            return None;
        }
        let time = self.pending.take()?;
        if self.sent.is_some_and(|s| time <= s) {
            return None;
        }
        self.sent = Some(time);
        self.sent_at = Some(now);
        Some(time)
    }

    /// How long until a held-back time is due (to wake the window then).
    pub fn wake_in(&self, now: Instant) -> Option<Duration> {
        self.pending?;
        let at = self.sent_at? + MARK_READ_EVERY;
        Some(at.saturating_duration_since(now))
    }

    /// Whether `marker` is what this window told the server (its answer), rather than news
    /// from another client of the account.
    pub fn is_own(&self, marker: DateTime<Utc>) -> bool {
        self.sent == Some(marker)
    }
}

#[cfg(test)]
mod tests;

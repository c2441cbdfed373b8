//! Reading lines from a byte stream with a hard cap on their length.
//!
//! Never an unbounded `lines()`: bytes are read into a buffer that never grows past the cap.
//! A line longer than the cap is reported once as [`Frame::TooLong`] and the rest of it is
//! skipped up to its LF, after which reading carries on normally. Lines are raw bytes: UTF-8 is
//! checked by the session so that it can answer a bad line instead of dropping the connection.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes made room for before each read while a line is incomplete.
const READ_CHUNK: usize = 2048;
/// Bytes made room for when nothing is buffered: most of the time a connection waits here,
/// idle, so this is what an idle connection holds (a line that does not fit grows the buffer).
const IDLE_CHUNK: usize = 256;

/// What the reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One line without its LF (a CR before the LF is kept; the parser ignores it).
    Line(Bytes),
    /// A line passed the cap and was discarded.
    TooLong,
}

/// Reads capped lines from `R`.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    max: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of lines of at most `max` bytes (LF included).
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader,
            // Allocated on the first read: an idle connection holds no read buffer.
            buf: BytesMut::new(),
            max,
            discarding: false,
            eof: false,
        }
    }

    /// The next frame, or `None` at end of stream. Cancel-safe: bytes read before a
    /// cancellation stay in the buffer.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Some(frame));
            }
            if self.eof {
                // A last line without LF is dropped: the peer is gone and cannot get a reply.
                return Ok(None);
            }
            // Read at most up to the cap, so the buffer stays bounded.
            let room = (self.max + 1).saturating_sub(self.buf.len()).max(1);
            if self.buf.is_empty() {
                // Nothing partial to keep: give back what a burst grew and wait in a small
                // buffer (10,000 idle clients each kept 2 KiB here).
                if self.buf.capacity() > IDLE_CHUNK {
                    self.buf = BytesMut::new();
                }
                self.buf.reserve(room.min(IDLE_CHUNK));
            } else {
                self.buf.reserve(room.min(READ_CHUNK));
            }
            let mut limited = (&mut self.reader).take(room as u64);
            let n = limited.read_buf(&mut self.buf).await?;
            if n == 0 {
                self.eof = true;
            }
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        loop {
            match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    if self.discarding {
                        self.buf.advance(i + 1);
                        self.discarding = false;
                        continue;
                    }
                    if i + 1 > self.max {
                        self.buf.advance(i + 1);
                        return Some(Frame::TooLong);
                    }
                    let line = self.buf.split_to(i + 1).freeze();
                    return Some(Frame::Line(line.slice(..i)));
                }
                None => {
                    if self.buf.len() > self.max {
                        self.buf.clear();
                        if !self.discarding {
                            self.discarding = true;
                            return Some(Frame::TooLong);
                        }
                    } else if self.discarding {
                        self.buf.clear();
                    }
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.expect("read") {
            out.push(f);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_cr() {
        let f = frames(b"NICK a\r\nUSER a 0 * :A\nPING x", 64).await;
        assert_eq!(f, vec![line("NICK a\r"), line("USER a 0 * :A")]);
    }

    #[tokio::test]
    async fn over_long_lines_are_reported_once_and_skipped() {
        let mut input = b"a".repeat(100);
        input.extend_from_slice(b"\nPING ok\n");
        input.extend_from_slice(&b"b".repeat(40));
        input.extend_from_slice(b"\nPING two\n");
        let f = frames(&input, 16).await;
        assert_eq!(
            f,
            vec![
                Frame::TooLong,
                line("PING ok"),
                Frame::TooLong,
                line("PING two")
            ]
        );
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_cap_passes() {
        let mut input = b"a".repeat(15);
        input.push(b'\n');
        let f = frames(&input, 16).await;
        assert_eq!(f, vec![line(&"a".repeat(15))]);
    }
}

//! Reading lines from a byte stream with a hard cap on their length.
//!
//! Never an unbounded `lines()`: bytes are read into a buffer that never grows past the cap.
//! A line longer than the cap is reported once as [`Frame::TooLong`] and the rest of it is
//! skipped up to its LF, after which reading carries on normally. Lines are raw bytes: UTF-8 is
//! checked by the session so that it can answer a bad line instead of dropping the connection.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read per `read` call, into a buffer on the stack: a connection that waits for input
/// holds no read buffer at all, and bytes are copied into one only when they arrive.
const READ_CHUNK: usize = 4096;

/// What the reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One line without its LF (a CR before the LF is kept; the parser ignores it).
    Line(Bytes),
    /// A line passed the cap and was discarded.
    TooLong,
}

/// Splits capped lines out of the bytes read from a stream. It does not own the stream, so
/// that one task can read and write the same socket.
#[derive(Debug)]
pub struct LineReader {
    /// Bytes of an incomplete line (empty, and unallocated, most of the time).
    buf: BytesMut,
    max: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    eof: bool,
}

impl LineReader {
    /// A reader of lines of at most `max` bytes (LF included).
    pub fn new(max: usize) -> Self {
        LineReader {
            buf: BytesMut::new(),
            max,
            discarding: false,
            eof: false,
        }
    }

    /// Polls for the next frame from `rd`, or `None` at end of stream. Bytes read stay here
    /// between polls, so a caller may stop polling at any time without losing input.
    pub fn poll_frame<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        rd: &mut R,
    ) -> Poll<std::io::Result<Option<Frame>>> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Poll::Ready(Ok(Some(frame)));
            }
            if self.eof {
                // A last line without LF is dropped: the peer is gone and cannot get a reply.
                return Poll::Ready(Ok(None));
            }
            // Read at most up to the cap, so the buffer stays bounded.
            let room = (self.max + 1)
                .saturating_sub(self.buf.len())
                .clamp(1, READ_CHUNK);
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk[..room]);
            let polled = Pin::new(&mut *rd).poll_read(cx, &mut read);
            if polled.is_pending() && self.buf.is_empty() {
                // About to wait with nothing partial: give the allocation back (the lines
                // split out of it keep their own references). An idle connection holds no
                // read buffer.
                self.buf = BytesMut::new();
            }
            ready!(polled)?;
            if read.filled().is_empty() {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(read.filled());
            }
        }
    }

    /// The next frame from `rd` (see [`poll_frame`](Self::poll_frame)).
    pub async fn next_frame<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
    ) -> std::io::Result<Option<Frame>> {
        std::future::poll_fn(|cx| self.poll_frame(cx, rd)).await
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
        let mut r = LineReader::new(max);
        let mut rd = input;
        let mut out = Vec::new();
        while let Some(f) = r.next_frame(&mut rd).await.expect("read") {
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

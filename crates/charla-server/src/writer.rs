//! The lines a connection has taken from its [`SendQueue`](crate::sendq::SendQueue) and is
//! writing to its socket.
//!
//! The connection task takes every queued line at once and writes them with as few syscalls as
//! it can: with `writev` straight from the shared [`Line`]s when the stream supports vectored
//! writes (TCP does), else by copying into a small buffer (TLS, where one write makes one TLS
//! record). Either way it never makes a private copy of a whole backlog: a client that stops
//! reading holds references to lines that are shared with every other recipient, plus at most
//! 16 KiB of its own.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use crate::outbound::Line;

/// Lines per `writev` call (well under IOV_MAX).
pub(crate) const MAX_IOV: usize = 64;
/// Bytes copied per write when the stream has no vectored writes.
const COPY_CHUNK: usize = 16 * 1024;

/// Lines on their way to the socket.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Lines taken from the queue and not written yet; the first may be written in part.
    batch: VecDeque<Line>,
    /// Bytes of the first line of `batch` already written (vectored writes).
    front_done: usize,
    /// The copy buffer of streams without vectored writes; `buf[buf_pos..]` is unwritten.
    buf: Vec<u8>,
    buf_pos: usize,
    /// The copy buffer's last write ended inside a line: the rest must go out before anything
    /// else.
    partial: bool,
    /// Bytes were written since the last flush.
    unflushed: bool,
}

impl Outbox {
    /// Whether everything taken has been written.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.buf_pos == self.buf.len()
    }

    /// Where the queue puts the next lines (only when [`is_empty`](Self::is_empty)): it swaps
    /// its lines with this empty deque, so that both keep their capacity while lines flow.
    pub(crate) fn batch_mut(&mut self) -> &mut VecDeque<Line> {
        &mut self.batch
    }

    /// Gives back its memory (the connection went quiet): idle clients hold none.
    pub(crate) fn shrink(&mut self) {
        if self.batch.is_empty() && self.batch.capacity() > 0 {
            self.batch = VecDeque::new();
        }
        if self.buf_pos == self.buf.len() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.buf_pos = 0;
        }
    }

    /// Drops the lines not written yet, except the rest of a line already written in part (the
    /// client must not see a line cut in two): the backlog of a client that fell behind.
    pub(crate) fn abandon(&mut self) {
        if self.buf_pos < self.buf.len() {
            let keep = if self.partial {
                self.buf[self.buf_pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.buf.len(), |i| self.buf_pos + i + 1)
            } else {
                self.buf_pos
            };
            self.buf.truncate(keep);
            self.batch.clear();
        } else {
            self.batch.truncate(usize::from(self.front_done > 0));
        }
    }

    /// Writes and flushes everything taken. `Ready(Ok)` once all of it is out.
    pub(crate) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        wr: &mut W,
    ) -> Poll<std::io::Result<()>> {
        if wr.is_write_vectored() {
            ready!(self.poll_vectored(cx, wr))?;
        } else {
            ready!(self.poll_copied(cx, wr))?;
        }
        if self.unflushed {
            ready!(Pin::new(&mut *wr).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_vectored<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        wr: &mut W,
    ) -> Poll<std::io::Result<()>> {
        while !self.batch.is_empty() {
            // The slices live on the stack for the length of one call, never in the task.
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            let mut skip = self.front_done;
            for (slot, line) in slices.iter_mut().zip(&self.batch) {
                *slot = IoSlice::new(&line[skip..]);
                skip = 0;
                n += 1;
            }
            let written = ready!(Pin::new(&mut *wr).poll_write_vectored(cx, &slices[..n]))?;
            if written == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.unflushed = true;
            let mut left = written;
            while left > 0 {
                let Some(line) = self.batch.front() else {
                    break;
                };
                let rest = line.len() - self.front_done;
                if rest <= left {
                    left -= rest;
                    self.batch.pop_front();
                    self.front_done = 0;
                } else {
                    self.front_done += left;
                    left = 0;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_copied<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        wr: &mut W,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if self.buf_pos == self.buf.len() {
                self.buf.clear();
                self.buf_pos = 0;
                while let Some(line) = self.batch.front() {
                    if !self.buf.is_empty() && self.buf.len() + line.len() > COPY_CHUNK {
                        break;
                    }
                    self.buf.extend_from_slice(line);
                    self.batch.pop_front();
                }
                if self.buf.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
            let written = ready!(Pin::new(&mut *wr).poll_write(cx, &self.buf[self.buf_pos..]))?;
            if written == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.unflushed = true;
            self.buf_pos += written;
            self.partial = self.buf_pos < self.buf.len() && self.buf[self.buf_pos - 1] != b'\n';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncReadExt;

    fn lines(n: usize) -> VecDeque<Line> {
        (0..n)
            .map(|i| Line::from(format!("PRIVMSG #c :línea {i}\r\n")))
            .collect()
    }

    async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, batch: VecDeque<Line>) {
        let mut out = Outbox::default();
        *out.batch_mut() = batch;
        poll_fn(|cx| out.poll_write(cx, wr)).await.expect("write");
        assert!(out.is_empty());
    }

    /// A stream that reports vectored writes and takes at most 7 bytes per call.
    struct Trickle(tokio::io::DuplexStream);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(7);
            Pin::new(&mut self.0).poll_write(cx, &buf[..n])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            self.poll_write(cx, first)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    async fn round_trip(vectored: bool, batch: VecDeque<Line>) {
        let want: Vec<u8> = batch.iter().flat_map(|l| l.to_vec()).collect();
        let (a, mut b) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        if vectored {
            let mut a = Trickle(a);
            write_all(&mut a, batch).await;
        } else {
            let mut a = a;
            write_all(&mut a, batch).await;
        }
        assert_eq!(reader.await.expect("join"), want);
    }

    #[tokio::test]
    async fn vectored_writes_survive_partial_writes() {
        round_trip(true, lines(200)).await;
    }

    #[tokio::test]
    async fn copied_writes_keep_order() {
        round_trip(false, lines(2000)).await;
    }

    #[test]
    fn abandoning_keeps_the_rest_of_a_line_written_in_part() {
        let mut out = Outbox::default();
        *out.batch_mut() = lines(3);
        out.front_done = 4;
        out.abandon();
        assert_eq!(out.batch.len(), 1);
        assert_eq!(
            &out.batch[0][out.front_done..],
            "MSG #c :línea 0\r\n".as_bytes()
        );

        let mut out = Outbox {
            buf: b"PRIVMSG #c :a\r\nPRIVMSG #c :b\r\n".to_vec(),
            buf_pos: 3,
            partial: true,
            batch: lines(2),
            ..Default::default()
        };
        out.abandon();
        assert_eq!(&out.buf[out.buf_pos..], b"VMSG #c :a\r\n");
        assert!(out.batch.is_empty());
    }
}

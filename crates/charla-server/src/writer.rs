//! The lines a connection has taken from its [`SendQueue`](crate::sendq::SendQueue) and is
//! writing to its socket.
//!
//! The connection task takes every queued line at once, copies them into its worker thread's
//! buffer (at most 16 KiB per write) and writes them with one call. A `writev` straight from the
//! shared [`Line`]s would save that copy, but the kernel's cost per segment (each checked and
//! copied on its own) is more than the copy: at 4M deliveries/s copying cut the server's CPU by
//! 14-29% (four same-minute pairs) and its p99 from ~20 ms to ~12 (docs/PROFILE.md). Over TLS
//! one write makes one TLS record, so the same buffer serves it. Only what the socket does not
//! take stays with the connection: a client that stops reading holds references to lines
//! shared with every other recipient, plus at most 16 KiB of its own.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

use crate::outbound::Line;

/// Bytes copied per write.
const COPY_CHUNK: usize = 16 * 1024;

/// Lines on their way to the socket.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Lines taken from the queue and not copied yet.
    batch: VecDeque<Line>,
    /// Bytes copied for a write that the socket did not take whole; `buf[buf_pos..]` is
    /// unwritten.
    buf: Vec<u8>,
    buf_pos: usize,
    /// The last write ended inside a line: the rest must go out before anything else.
    partial: bool,
    /// Bytes were written since the last flush.
    unflushed: bool,
    /// What the lines copied out of `batch` since the last [`take_written`](Self::take_written)
    /// cost their send queue ([`Line::cost`]).
    written: usize,
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

    /// What the lines handed on since the last call cost: the send queue counts them until
    /// then.
    pub(crate) fn take_written(&mut self) -> usize {
        std::mem::take(&mut self.written)
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
    }

    /// Writes and flushes everything taken. `Ready(Ok)` once all of it is out.
    pub(crate) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        wr: &mut W,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if self.buf_pos < self.buf.len() {
                // The rest of a write the socket did not take whole.
                let rest = &self.buf[self.buf_pos..];
                let written = ready!(Pin::new(&mut *wr).poll_write(cx, rest))?;
                if written == 0 {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                self.unflushed = true;
                self.buf_pos += written;
                self.partial = self.buf_pos < self.buf.len() && self.buf[self.buf_pos - 1] != b'\n';
                continue;
            }
            self.buf.clear();
            self.buf_pos = 0;
            if self.batch.is_empty() {
                break;
            }
            ready!(self.poll_write_batch(cx, wr))?;
        }
        if self.unflushed {
            ready!(Pin::new(&mut *wr).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Copies lines from the batch into the worker thread's scratch buffer and writes them.
    /// What the socket does not take moves to the connection's own buffer: most writes are
    /// taken whole, so a connection keeps no buffer of its own (a buffer per connection, even
    /// freed once it goes quiet, left the heap fragmented after every registration burst).
    fn poll_write_batch<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        wr: &mut W,
    ) -> Poll<std::io::Result<()>> {
        thread_local! {
            static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(COPY_CHUNK));
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            // A burst bigger than the buffer goes out from its own bytes: the buffer keeps
            // its size.
            let mut big = None;
            while let Some(line) = self.batch.front() {
                if !scratch.is_empty() && scratch.len() + line.len() > COPY_CHUNK {
                    break;
                }
                self.written += line.cost();
                if line.len() > COPY_CHUNK {
                    big = self.batch.pop_front();
                    break;
                }
                scratch.extend_from_slice(line);
                self.batch.pop_front();
            }
            let scratch: &[u8] = big.as_deref().unwrap_or(scratch);
            let written = match Pin::new(&mut *wr).poll_write(cx, scratch) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => 0,
            };
            if written > 0 {
                self.unflushed = true;
            }
            if written < scratch.len() {
                self.buf.extend_from_slice(&scratch[written..]);
                self.partial = written > 0 && scratch[written - 1] != b'\n';
            }
            Poll::Ready(Ok(()))
        })
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

    /// A stream that takes at most 7 bytes per call.
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

    async fn round_trip(trickle: bool, batch: VecDeque<Line>) {
        let want: Vec<u8> = batch.iter().flat_map(|l| l.to_vec()).collect();
        let (a, mut b) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        if trickle {
            let mut a = Trickle(a);
            write_all(&mut a, batch).await;
        } else {
            let mut a = a;
            write_all(&mut a, batch).await;
        }
        assert_eq!(reader.await.expect("join"), want);
    }

    #[tokio::test]
    async fn writes_survive_partial_writes() {
        round_trip(true, lines(200)).await;
    }

    #[tokio::test]
    async fn a_backlog_bigger_than_the_buffer_keeps_its_order() {
        round_trip(false, lines(2000)).await;
    }

    #[tokio::test]
    async fn a_burst_bigger_than_the_buffer_goes_out_whole_and_in_order() {
        let burst: Vec<u8> = lines(3000).iter().flat_map(|l| l.to_vec()).collect();
        assert!(burst.len() > COPY_CHUNK);
        let mut batch = lines(3);
        batch.push_back(Line::new(burst));
        batch.extend(lines(3));
        round_trip(true, batch.clone()).await;
        round_trip(false, batch).await;
    }

    #[test]
    fn abandoning_keeps_the_rest_of_a_line_written_in_part() {
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

        // Nothing written in part: everything waiting goes.
        let mut out = Outbox {
            buf: b"PRIVMSG #c :a\r\nPRIVMSG #c :b\r\n".to_vec(),
            buf_pos: 15,
            batch: lines(2),
            ..Default::default()
        };
        out.abandon();
        assert!(out.is_empty());
    }
}

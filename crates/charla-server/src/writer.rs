//! A connection's writer task: drains its [`SendQueue`] into the socket.
//!
//! It takes every queued line at once and writes them with as few syscalls as it can: with
//! `writev` straight from the shared [`Bytes`] when the stream supports vectored writes (TCP
//! does), else by copying into a small buffer. Either way it never makes a private copy of a
//! whole backlog: a client that stops reading holds references to lines that are shared with
//! every other recipient, plus at most 16 KiB of its own.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::sendq::{CloseReason, SendQueue};

/// Lines per `writev` call (well under IOV_MAX).
const MAX_IOV: usize = 64;
/// Batch slots kept between writes; more are given back after a burst.
const KEEP_SLOTS: usize = 4;
/// Bytes copied per write when the stream has no vectored writes.
const COPY_CHUNK: usize = 16 * 1024;

/// Writes queued lines until the queue is finished (or a write fails).
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, queue: Arc<SendQueue>) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let finished = queue.take_all(&mut batch);
        if batch.is_empty() {
            if finished {
                break;
            }
            queue.wait_data().await;
            continue;
        }
        // The last batch (taken after `finish`) holds the goodbye: never abandon it.
        let abandon = (!finished).then_some(&*queue);
        let written = if wr.is_write_vectored() {
            write_vectored(&mut wr, &mut batch, abandon).await
        } else {
            write_copied(&mut wr, &batch, &mut buf, abandon).await
        };
        batch.clear();
        if written.is_err() || wr.flush().await.is_err() {
            queue.close(CloseReason::WriteFailed);
            return;
        }
        // Give memory back after a burst (registration, a busy channel): an idle connection
        // keeps at most a few slots, and a steady trickle of lines reuses them without
        // allocating.
        if batch.capacity() > KEEP_SLOTS {
            batch = Vec::new();
        }
        if buf.capacity() > COPY_CHUNK {
            buf = Vec::new();
        }
    }
    let _ = wr.shutdown().await;
}

/// Whether the rest of a batch should be dropped: the client passed its SendQ, so its backlog
/// is worthless and the closing `ERROR` line should be the next thing written.
fn abandoned(queue: Option<&SendQueue>) -> bool {
    queue.is_some_and(|q| q.is_closed() && q.close_reason() == Some(CloseReason::SendQExceeded))
}

/// Writes `batch` with vectored writes, advancing through partial writes.
async fn write_vectored<W: AsyncWrite + Unpin>(
    wr: &mut W,
    batch: &mut [Bytes],
    queue: Option<&SendQueue>,
) -> std::io::Result<()> {
    let mut i = 0;
    while i < batch.len() && !abandoned(queue) {
        let n = (batch.len() - i).min(MAX_IOV);
        // The slices are rebuilt on each poll inside the closure, so that they live on the
        // stack and not in the task: held across an `.await` they made every connection's
        // writer task 1 KiB bigger, idle or not.
        let lines = &batch[i..i + n];
        let written = std::future::poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            for (slot, line) in slices.iter_mut().zip(lines) {
                *slot = IoSlice::new(line);
            }
            Pin::new(&mut *wr).poll_write_vectored(cx, &slices[..n])
        })
        .await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 && i < batch.len() {
            let len = batch[i].len();
            if len <= left {
                left -= len;
                i += 1;
            } else {
                batch[i].advance(left);
                left = 0;
            }
        }
        // Skip lines that are empty after a partial write.
        while i < batch.len() && batch[i].is_empty() {
            i += 1;
        }
    }
    Ok(())
}

/// Writes `batch` by copying up to [`COPY_CHUNK`] bytes at a time into `buf`.
async fn write_copied<W: AsyncWrite + Unpin>(
    wr: &mut W,
    batch: &[Bytes],
    buf: &mut Vec<u8>,
    queue: Option<&SendQueue>,
) -> std::io::Result<()> {
    for line in batch {
        if abandoned(queue) {
            buf.clear();
            return Ok(());
        }
        if !buf.is_empty() && buf.len() + line.len() > COPY_CHUNK {
            wr.write_all(buf).await?;
            buf.clear();
        }
        buf.extend_from_slice(line);
    }
    if !buf.is_empty() {
        wr.write_all(buf).await?;
        buf.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn lines(n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|i| Bytes::from(format!("PRIVMSG #c :línea {i}\r\n")))
            .collect()
    }

    #[tokio::test]
    async fn vectored_writes_survive_partial_writes() {
        // A duplex with a tiny buffer forces many partial writes.
        let (mut a, mut b) = tokio::io::duplex(7);
        let mut batch = lines(200);
        let want: Vec<u8> = batch.iter().flat_map(|l| l.to_vec()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        write_vectored(&mut a, &mut batch, None)
            .await
            .expect("write");
        drop(a);
        assert_eq!(reader.await.expect("join"), want);
    }

    #[test]
    fn the_writer_task_stays_small() {
        // Every connection has one, idle or not: 10,000 idle clients multiply its size.
        let (a, _b) = tokio::io::duplex(64);
        let task = write_loop(a, Arc::new(SendQueue::new(1024)));
        let size = std::mem::size_of_val(&task);
        assert!(size <= 512, "writer task is {size} bytes");
    }

    #[tokio::test]
    async fn copied_writes_keep_order() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let batch = lines(2000);
        let want: Vec<u8> = batch.iter().flat_map(|l| l.to_vec()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        let mut buf = Vec::new();
        write_copied(&mut a, &batch, &mut buf, None)
            .await
            .expect("write");
        drop(a);
        assert_eq!(reader.await.expect("join"), want);
    }
}

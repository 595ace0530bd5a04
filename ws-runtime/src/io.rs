//! The socket under tungstenite: non-blocking `Read`/`Write` over a tokio `TcpStream`.
//!
//! tungstenite is a synchronous state machine; the engine drives it with a socket whose
//! reads and writes return `WouldBlock` instead of waiting, then waits for readiness
//! itself. This replaces tokio-tungstenite's `AllowStd` adapter (two `Arc`ed waker
//! proxies and a waker swap on every call) with direct readiness calls, which is what
//! lets reader, writer and handler share one task cheaply.
//!
//! Reads are adaptive. tungstenite reads at most `read_buffer_size` bytes per call into
//! a buffer every connection holds, so that buffer must stay small (1 KiB) to keep idle
//! connections cheap. When a read fills the caller's buffer, more data is probably
//! waiting: the next reads go through a transient 64 KiB buffer, one system call per
//! 64 KiB instead of one per KiB, and that buffer is freed when the connection goes idle.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

const BULK: usize = 64 * 1024;

/// A TCP stream with non-blocking `Read` and `Write`.
pub(crate) struct Socket {
    tcp: TcpStream,
    /// Read-ahead bytes not yet handed to the reader, `bulk[pos..]`.
    bulk: Vec<u8>,
    pos: usize,
    /// The last read filled the caller's buffer: read ahead next time.
    streaming: bool,
}

impl Socket {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            bulk: Vec::new(),
            pos: 0,
            streaming: false,
        }
    }

    /// Whether read-ahead bytes are buffered (the socket may not signal readiness for
    /// them, so the engine must not wait before consuming them).
    pub(crate) fn has_buffered(&self) -> bool {
        self.pos < self.bulk.len()
    }

    /// Frees the read-ahead buffer if it holds nothing (called when the engine parks).
    pub(crate) fn release_idle(&mut self) {
        if !self.has_buffered() && self.bulk.capacity() != 0 {
            self.bulk = Vec::new();
            self.pos = 0;
            self.streaming = false;
        }
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_buffered() {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_read_ready(cx)
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_write_ready(cx)
    }

    /// Half-closes the connection (FIN) so the peer sees the end of our data.
    pub(crate) fn shutdown_write(&mut self, cx: &mut Context<'_>) {
        // For a TCP stream this completes at once.
        let _ = Pin::new(&mut self.tcp).poll_shutdown(cx);
    }

    /// Reads and discards whatever the peer still sends (lingering close).
    pub(crate) fn discard_input(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.bulk = Vec::new();
        self.pos = 0;
        let mut scratch = [0u8; 1024];
        loop {
            match self.tcp.try_read(&mut scratch) {
                Ok(0) => return Poll::Ready(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.tcp.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(_)) => return Poll::Ready(()),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(_) => return Poll::Ready(()),
            }
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.has_buffered() {
            let n = buf.len().min(self.bulk.len() - self.pos);
            buf[..n].copy_from_slice(&self.bulk[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.bulk.len() {
                self.bulk.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        if self.streaming && buf.len() < BULK {
            if self.bulk.capacity() == 0 {
                self.bulk.reserve_exact(BULK);
            }
            let n = self.tcp.try_read_buf(&mut self.bulk)?;
            if n == 0 {
                self.streaming = false;
                return Ok(0);
            }
            if n < BULK / 2 {
                // The peer's burst is over: back to direct reads after this one.
                self.streaming = false;
            }
            return self.read(buf);
        }
        let n = self.tcp.try_read(buf)?;
        self.streaming = n == buf.len() && n != 0;
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

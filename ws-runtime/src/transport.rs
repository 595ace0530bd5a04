//! What a connection runs over: any byte stream with tokio's `AsyncRead` and
//! `AsyncWrite` — a TCP stream today, a TLS stream or an in-memory duplex just as well.
//!
//! The driver reads into buffers it owns, writes with vectored writes and flushes after
//! each batch (free on TCP, needed by TLS, whose records are buffered), and half-closes
//! with `poll_shutdown`. A TCP stream's `poll_read` clears its readiness after a short
//! read, so a wake-up costs one `recv` and no `EAGAIN`.

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a WebSocket connection can run over.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

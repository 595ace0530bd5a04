//! Benchmark harness for `ws`: a load generator, peer echo/chat servers built from
//! crates.io, and a driver that runs them side by side and writes `BENCHMARKS.md`.
//!
//! This library holds what the binaries share: the load generator's own minimal
//! WebSocket client (framing, handshake, the client side of permessage-deflate), process
//! statistics read from `/proc`, and the result record the load generator prints.
//!
//! Binaries:
//! - `peers NAME PORT`: one peer server (`tt-naive`, `tt-batched`, `axum`,
//!   `fastwebsockets`, `tokio-websockets`);
//! - `loadgen SCENARIO ...`: one measurement against one running server, a JSON line out;
//! - `bench [--smoke]`: runs every server through every scenario, writes the report.

pub mod deflate;
pub mod procstat;
pub mod record;
pub mod wire;

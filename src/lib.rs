//! `ws`: Ktor-style WebSockets for Rust.
pub use ws_macros::*;
pub use ws_runtime::*;

//! What the `ws` DSL accepts, in one place: the route path grammar ([`path`]).
//!
//! # Why a crate of its own
//!
//! `ws-macros` checks a route path at compile time and `ws-runtime` parses it again
//! when a [`Route`](https://docs.rs/ws-runtime) is built (by the macro's expansion or by
//! `Route::new`). A proc-macro crate can export nothing but macros, and the runtime
//! must not depend on the macros' parsing libraries, so the grammar lives here, in a
//! crate with no dependencies that both build (as Rocket's codegen shares
//! `rocket_http`'s route parser): one scanner, one set of messages, one set of unit
//! tests.
//!
//! Nothing here is `ws`'s public API: users see it through
//! `ws::routing::PathPattern` and the macros' messages.

pub mod path;

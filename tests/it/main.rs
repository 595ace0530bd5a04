//! Integration tests: the server over loopback against clients nobody here wrote.
#![allow(unreachable_pub)]

mod dsl;
mod examples;
mod limits;
mod observability;
mod raw;
mod runtime;
mod security;
mod support;
mod tls;

//! Integration tests: the server over loopback against clients nobody here wrote.
#![allow(unreachable_pub)]

mod cluster;
mod dsl;
mod examples;
mod limits;
mod raw;
mod rooms;
mod runtime;
mod security;
mod support;
mod tls;

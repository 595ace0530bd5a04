//! Integration tests: the server over loopback against clients nobody here wrote.
#![allow(unreachable_pub)]

mod client;
mod cluster;
mod deflate;
mod dsl;
mod examples;
mod http_routes;
mod limits;
mod mount;
mod observability;
mod peer;
mod raw;
mod rooms;
mod runtime;
mod security;
mod support;
mod test_host;
mod tls;

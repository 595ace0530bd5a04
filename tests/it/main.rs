//! Integration tests: the server over loopback against clients nobody here wrote.
#![allow(unreachable_pub)]

mod support;
mod runtime;

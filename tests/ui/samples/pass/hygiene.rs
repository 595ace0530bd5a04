//! Generated code does not depend on what the user's scope calls things.
#![deny(warnings)]
#![forbid(missing_docs)]
#![allow(dead_code, non_camel_case_types, unused_macros)]

struct Result;
struct Option;
struct Box;
struct Vec;
struct String;
struct Duration;
struct Route;
struct HandlerParam;
struct Ok;
struct Some;
struct None;
struct Err;
mod core {}
mod std {}

macro_rules! concat {
    () => {};
}
macro_rules! file {
    () => {};
}
macro_rules! line {
    () => {};
}

use ws::{Frame, WebSocketSession, embedded_server, install, routing, web_socket};

#[web_socket("/echo/{id}")]
async fn echo(session: WebSocketSession, id: ws::Path<u32>) -> ::std::result::Result<(), ws::Error> {
    let __ws_incoming = 1;
    let __ws_frame = 2;
    for frame in session.incoming {
        let _ = (__ws_incoming, __ws_frame, *id);
        if let Frame::Text(_) = frame {
            session.send(frame).await?;
        }
    }
    ::std::result::Result::Ok(())
}

pub mod handlers {
    //! A public, documented handler in a crate that forbids missing docs.

    /// Says hello.
    #[ws::web_socket("/hello")]
    pub async fn hello(outgoing: ws::Outgoing) -> ws::Result<()> {
        outgoing.send("hello").await
    }
}

fn main() {
    let server = embedded_server!(grace_period = 1s, |app| {
        install!(app, WebSockets { ping_period = 15s, max_frame_size = 1KiB });
        routing!(app, echo, handlers::hello);
    });
    let _ = server;
}

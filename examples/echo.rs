//! Ktor's echo sample (`webSocket("/echo")`): asks for a name, answers
//! `Hi, NAME!` to each text, and closes with 1000 "Client said BYE" on `bye`.
//!
//! Run it:
//!
//! ```text
//! cargo run --example echo                 # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --example client -- ws://127.0.0.1:8080/echo   # type a name, then `bye`
//! ```
//!
//! Or from a browser's console:
//! `s = new WebSocket("ws://localhost:8080/echo"); s.onmessage = e => console.log(e.data); s.onopen = () => s.send("Ann")`.

// ws-new: template
// ws-new: test /echo "Please enter your name"
mod common;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    session.send("Please enter your name").await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text.eq_ignore_ascii_case("bye") {
            session
                .close(CloseReason::new(Codes::NORMAL, "Client said BYE"))
                .await?;
        } else {
            session.send(Frame::text(format!("Hi, {text}!"))).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    embedded_server!(
        port = common::port(),
        host = "0.0.0.0",
        //+tls: tls = Tls::pem_files(common::required::<String>("cert"), common::required::<String>("key")),
        |app| {
            install!(app, WebSockets {
                ping_period = 15s,
                timeout = 15s,
                max_frame_size = u64::MAX,
                masking = false,
                //+deflate: extensions { Deflate },
            });
            //+metrics: app.prometheus_route("/metrics");
            routing!(app, echo);
        }
    )
    .start()
    .await
}

//! The README's echo sample (Ktor's), with the full `install!` block.
#![deny(warnings)]
use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    session.send("Please enter your name").await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text.eq_ignore_ascii_case("bye") {
            session.close(CloseReason::new(Codes::NORMAL, "Client said BYE")).await?;
        } else {
            session.send(Frame::text(format!("Hi, {text}!"))).await?;
        }
    }
    Ok(())
}

#[allow(dead_code)]
async fn run() -> Result<(), ServerError> {
    embedded_server!(port = 8080, |app| {
        install!(app, WebSockets {
            ping_period = 15s,
            timeout = 15s,
            max_frame_size = u64::MAX,
            masking = false,
            extensions {
                Deflate { compression_level = 6, compress_if_bigger_than = 1KiB },
            },
        });
        routing!(app, echo);
    })
    .start()
    .await
}

fn main() {
    let server = embedded_server!(port = 0, |app| routing!(app, echo));
    assert_eq!(server.application().routes()[0].path(), "/echo");
}

//! Every form of the `for ... in incoming` rewrite compiles, and other loops are left alone.
#![deny(warnings)]
use ws::prelude::*;

struct Wrapper {
    session: WebSocketSession,
}

impl Wrapper {
    fn incoming(&self) -> &Incoming {
        &self.session.incoming
    }
}

#[web_socket("/forms")]
async fn forms(session: WebSocketSession) -> Result<()> {
    // A field, with the session still usable inside the loop.
    for frame in session.incoming {
        session.send(frame).await?;
    }
    // A reference, a refutable pattern (non-text frames are skipped), `break`.
    for Frame::Text(text) in &session.incoming {
        if text == "stop" {
            break;
        }
    }
    // A user label, nested ordinary loops, `continue 'outer`, `?`.
    'outer: for mut frame in session.incoming {
        for byte in frame.read_bytes().iter() {
            if *byte == b'!' {
                continue 'outer;
            }
        }
        frame = Frame::text("ok");
        session.send(frame).await?;
    }
    // Or-patterns, nested incoming loops, `break 'label`.
    'frames: for (Frame::Text(_) | Frame::Binary(_)) in session.incoming {
        for inner in session.incoming {
            if inner.is_empty() {
                break 'frames;
            }
            break;
        }
    }
    // Inside an async block and an async closure.
    let task = async {
        for frame in session.incoming {
            let _ = frame;
        }
    };
    task.await;
    let wrapper = Wrapper { session };
    // A method call.
    for frame in wrapper.incoming() {
        let _ = frame;
    }
    // Ordinary loops are untouched.
    let mut total = 0;
    for n in [1, 2, 3] {
        total += n;
    }
    let incoming_count = 3;
    for _ in 0..incoming_count {}
    // A nested function keeps its own `for` (a real iterator named `incoming`).
    fn sum(incoming: Vec<u32>) -> u32 {
        let mut s = 0;
        for n in incoming {
            s += n;
        }
        s
    }
    assert_eq!(sum(vec![total]), 6);
    Ok(())
}

#[web_socket("/parts")]
async fn parts(incoming: Incoming, outgoing: Outgoing) {
    let reader = async move {
        for frame in incoming {
            if outgoing.send(frame).await.is_err() {
                break;
            }
        }
    };
    reader.await;
}

#[web_socket("/shadow")]
async fn shadow(session: WebSocketSession) -> Result<()> {
    let frame = "outer";
    for frame in session.incoming {
        let incoming = frame;
        session.send(incoming).await?;
    }
    session.send(frame).await?;
    Ok(())
}

fn main() {
    let _ = embedded_server!(|app| routing!(app, forms, parts, shadow));
}

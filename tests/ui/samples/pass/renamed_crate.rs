//! `crate = path` on every macro: the generated code names the `ws` crate by that path
//! (here a crate-root re-export, as a crate that wraps `ws` would have), never `::ws`.
#![deny(warnings)]
use ws as my_ws;

use my_ws::prelude::*;

#[web_socket("/echo", crate = my_ws)]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

mod rooms {
    use crate::my_ws::prelude::*;

    // From a module, a path that resolves there (a string works too).
    #[web_socket_raw("/rooms/{room}", crate = "crate::my_ws")]
    pub async fn lobby(session: WebSocketSession, Path(room): Path<String>) {
        for Frame::Text(text) in session.incoming {
            let _ = session.send(format!("{room}: {text}")).await;
        }
    }
}

fn main() {
    let server = embedded_server!(crate = my_ws, port = 0, grace_period = 1500ms, |app| {
        install!(crate = my_ws, app, WebSockets {
            ping_period = 15s,
            outgoing_overflow = Close,
            extensions { Deflate { compression_level = 1 } },
        });
        routing!(crate = my_ws, app, echo, rooms::lobby);
    });
    let app = server.application();
    assert_eq!(app.routes().len(), 2);
    assert_eq!(app.options().outgoing_overflow, my_ws::ChannelOverflow::Close);
    assert_eq!(app.options().extension_names(), ["permessage-deflate"]);
}

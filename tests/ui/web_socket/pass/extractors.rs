//! Every extractor, patterns in parameters, paths to handlers in other modules.
#![deny(warnings)]
use std::collections::HashMap;

use ws::prelude::*;

mod rooms {
    use ws::prelude::*;

    /// A documented, public handler: it stays callable and documented.
    #[web_socket("/rooms/{room}/users/{id}")]
    pub async fn user(
        Path((room, id)): Path<(String, u32)>,
        Query(query): Query<std::collections::HashMap<String, String>>,
        headers: Headers,
        RemoteAddr(addr): RemoteAddr,
        incoming: Incoming,
        outgoing: Outgoing,
    ) -> Result<()> {
        let _ = (room, id, query, headers.len(), addr);
        for frame in incoming {
            outgoing.send(frame).await?;
        }
        Ok(())
    }
}

struct Greeting(&'static str);

#[web_socket("/greet")]
async fn greet(State(greeting): State<Greeting>, outgoing: Outgoing) -> std::result::Result<(), String> {
    outgoing.send(greeting.0).await.map_err(|e| e.to_string())
}

#[web_socket("/nothing")]
async fn nothing() {}

#[web_socket("/unit")]
async fn unit(_session: WebSocketSession) -> () {}

fn main() {
    let _: HashMap<String, String> = HashMap::new();
    let server = embedded_server!(port = 0, |app| {
        app.state(Greeting("hello"));
        routing!(app, rooms::user, greet, nothing, unit);
    });
    assert_eq!(server.application().routes()[0].handler_name(), "user");
    // The handler is still an ordinary async function.
    let _future = nothing();
}

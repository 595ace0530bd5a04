use ws::prelude::*;

struct Chat;

impl Chat {
    #[web_socket("/chat")]
    async fn chat(&self, session: WebSocketSession) {
        let _ = session;
    }
}

fn main() {
    let _ = Chat;
}

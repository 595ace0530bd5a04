use ws::prelude::*;

#[web_socket("rooms/{room", protocol = 5)]
fn room<T>(session: &WebSocketSession, state: State<T>) -> Result<String> {
    let _ = (session, state);
    Ok(String::new())
}

fn main() {}

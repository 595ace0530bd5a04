//! Guards on a route, on a block of routes and on the application; principals as
//! extractors; the origin and proxy keys.
use ws::prelude::*;

struct User {
    name: String,
}

struct Admin;

async fn auth(req: &HandshakeRequest<'_>) -> std::result::Result<User, Rejection> {
    match req.query("token") {
        Some(token) if token == "t" => Ok(User { name: "ada".into() }),
        _ => Err(Rejection::unauthorized("Bearer", "a token is required")),
    }
}

async fn admin(req: &HandshakeRequest<'_>) -> std::result::Result<Admin, Rejection> {
    match req.principal::<User>() {
        Some(user) if user.name == "ada" => Ok(Admin),
        _ => Err(Rejection::forbidden("admins only")),
    }
}

/// A guard with settings of its own.
struct Key(&'static str);

impl ws::Guard for Key {
    type Principal = ();
    async fn check(&self, req: &HandshakeRequest<'_>) -> std::result::Result<(), Rejection> {
        if req.cookie("key") == Some(self.0) {
            Ok(())
        } else {
            Err(Rejection::forbidden("no key"))
        }
    }
}

#[web_socket("/chat", guard = auth)]
async fn chat(session: WebSocketSession, Principal(user): Principal<User>) -> Result<()> {
    session.send(format!("hi {}", user.name)).await?;
    Ok(())
}

#[web_socket("/panel")]
async fn panel(session: WebSocketSession, _admin: Principal<Admin>, _user: Principal<User>) -> Result<()> {
    session.close(CloseReason::new(CloseCode::NORMAL, "bye")).await?;
    Ok(())
}

#[web_socket_raw("/raw", guard = Key("k"))]
async fn raw(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

#[web_socket("/open")]
async fn open(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

fn main() {
    let _ = embedded_server!(
        port = 0,
        trusted_proxies = ["10.0.0.0/8", "127.0.0.1", "fd00::/8"],
        proxy_protocol = false,
        |app| {
            install!(app, WebSockets { allowed_origins = any });
            routing!(app, chat, authenticate(auth) { authenticate(admin) { panel } }, raw, open);
        }
    );
    let none: [&str; 0] = [];
    let _ = embedded_server!(port = 0, trusted_proxies = none, |app| {
        install!(app, WebSockets { allowed_origins = ["https://*.app.example"] });
        app.guard(Key("app"));
        routing!(app, open);
    });
}

//! Authentication before the upgrade: a chat whose users are known by a token, with the
//! three places a browser can put one (it cannot set `Authorization` on a WebSocket):
//!
//! - the URL's query: `new WebSocket("wss://host/chat?token=T", "chat")`;
//! - a cookie: `GET /login?token=T` sets `ws_token` (`HttpOnly`, `SameSite=Strict`), and
//!   the browser sends it with the handshake;
//! - `Sec-WebSocket-Protocol`: `new WebSocket(url, ["chat", "bearer.T"])`; the server
//!   selects `chat` and never echoes the token.
//!
//! A guard (`authenticate`) checks them in that order before the `101`: a request
//! without a known token gets `401 Unauthorized` with `WWW-Authenticate: Bearer` and no
//! session starts. The handler takes the user the guard found as `Principal<User>`.
//!
//! Cookies are sent whichever page opens the socket, which is why the origin check is on
//! by default: a page of another site gets 403 even with the user's cookie.
//!
//! Run it:
//!
//! ```text
//! cargo run --example auth                     # port 8080, a random token per user
//! cargo run --example auth -- --port 9000 --users ada=t1,bob=t2
//! ```
//!
//! It prints each user's token; open <http://localhost:8080/>, pick how the page sends
//! the token, and chat. The tokens here stand in for what a real application gets from
//! its login (a session id, a signed JWT): the guard is where that check goes.

// ws-new: template
// ws-new: test /chat "Hello ada"
// ws-new: test-args --users ada=secret-token
// ws-new: test-query ?token=secret-token
// ws-new: test-protocol chat
mod common;

use std::collections::HashMap;
use std::io::Read;

use ws::HttpRequest;
use ws::prelude::*;

const PAGE: &str = include_str!("auth.html");

/// Who is connecting, and how their token came.
#[derive(Debug)]
struct User {
    name: String,
    via: &'static str,
}

/// Token → user name.
struct Users(HashMap<String, String>);

impl Users {
    fn find(&self, token: &str) -> Option<&String> {
        // Compare every token in constant time; the map is tiny.
        self.0
            .iter()
            .find(|(known, _)| common::same_secret(token, known))
            .map(|(_, name)| name)
    }
}

/// The guard: a known token from the query, the `ws_token` cookie or a `bearer.`
/// subprotocol.
async fn authenticate(req: &HandshakeRequest<'_>) -> std::result::Result<User, Rejection> {
    let users = req.state().get::<Users>().expect("users are installed");
    let offered = [
        (req.query("token"), "query"),
        (req.cookie("ws_token").map(str::to_owned), "cookie"),
        (
            req.protocols()
                .find_map(|p| p.strip_prefix("bearer."))
                .map(str::to_owned),
            "subprotocol",
        ),
    ];
    let mut any = false;
    for (token, via) in offered {
        let Some(token) = token else { continue };
        any = true;
        if let Some(name) = users.find(&token) {
            return Ok(User {
                name: name.clone(),
                via,
            });
        }
    }
    Err(if any {
        Rejection::unauthorized(
            "Bearer realm=\"chat\", error=\"invalid_token\"",
            "unknown token",
        )
    } else {
        Rejection::unauthorized(
            "Bearer realm=\"chat\"",
            "a token is required: `?token=`, the `ws_token` cookie, or a `bearer.` subprotocol",
        )
    })
}

#[web_socket("/chat", protocol = "chat", guard = authenticate)]
async fn chat(
    session: WebSocketSession,
    Principal(user): Principal<User>,
    State(connections): State<Connections<String>>,
) -> Result<()> {
    let me = connections.join(&session, user.name.clone());
    session
        .send(format!(
            "Hello {} (token from the {})! There are {} users here.",
            user.name,
            user.via,
            connections.len()
        ))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        connections.broadcast(format!("[{}]: {text}", *me));
    }
    Ok(())
}

/// `GET /login?token=T`: sets the cookie a browser sends with the handshake, then
/// goes back to the page. (A real login checks a password first.)
async fn login(req: HttpRequest) -> HttpResponse {
    let token = req.uri.query().and_then(token_param).filter(|t| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    let Some(token) = token else {
        return HttpResponse::status(
            ws::http::StatusCode::BAD_REQUEST,
            "login needs ?token= (letters, digits, - _ .)",
        );
    };
    let cookie = format!("ws_token={token}; HttpOnly; SameSite=Strict; Path=/");
    HttpResponse::new(
        ws::http::StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        "",
    )
    .header(
        ws::http::header::SET_COOKIE,
        cookie.parse().expect("checked characters"),
    )
    .header(
        ws::http::header::LOCATION,
        ws::http::HeaderValue::from_static("/?via=cookie"),
    )
}

/// The `token` query parameter (no percent-decoding needed: tokens are checked to be
/// plain characters).
fn token_param(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(str::to_owned)
}

/// 16 random bytes as hex, from the operating system.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom is readable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `--users ada=t1,bob=t2`, or ada and bob with random tokens.
fn users() -> Users {
    let spec: Option<String> = common::option("users");
    let pairs: Vec<(String, String)> = match spec {
        Some(spec) => spec
            .split(',')
            .map(|pair| {
                let (name, token) = pair.split_once('=').unwrap_or_else(|| {
                    eprintln!("--users takes name=token pairs, e.g. ada=t1,bob=t2");
                    std::process::exit(2);
                });
                (name.trim().to_string(), token.trim().to_string())
            })
            .collect(),
        None => ["ada", "bob"]
            .into_iter()
            .map(|name| (name.to_string(), random_token()))
            .collect(),
    };
    for (name, token) in &pairs {
        println!("Token for {name}: {token}");
    }
    Users(
        pairs
            .into_iter()
            .map(|(name, token)| (token, name))
            .collect(),
    )
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    let users = users();
    embedded_server!(port = common::port(), host = "0.0.0.0", |app| {
        install!(app, WebSockets {
            ping_period = 15s,
            max_frame_size = 64KiB,
            //+deflate: extensions { Deflate },
        });
        app.state(users);
        app.state(Connections::<String>::new());
        app.get("/", |_| async { HttpResponse::html(PAGE) });
        app.get("/login", login);
        //+metrics: app.prometheus_route("/metrics");
        routing!(app, chat);
    })
    .start()
    .await
}

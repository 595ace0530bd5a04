//! Who gets a session: the origin check (safe by default), guards and principals before
//! the upgrade, addresses behind a trusted proxy (forwarding headers, the PROXY
//! protocol), and what refusals look like. Clients: tokio-tungstenite, and raw requests
//! where a header must be exactly what the test says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use ws::prelude::*;
use ws::{EmbeddedServer, RunningServer};

use crate::raw::{RawClient, upgrade_request};
use crate::support::{connect, next_text, serve};

// ----- the origin check -----

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// An upgrade request with this `Host` and extra header lines.
fn request_to(host: &str, path: &str, extra: &str) -> String {
    upgrade_request(path, extra).replacen("Host: 127.0.0.1\r\n", &format!("Host: {host}\r\n"), 1)
}

async fn status_of(addr: SocketAddr, request: &str) -> u16 {
    RawClient::handshake(addr, request.as_bytes())
        .await
        .reply
        .status
}

#[tokio::test]
async fn by_default_only_pages_of_the_same_host_open_sessions() {
    let server = serve(|app| routing!(app, echo)).await;
    let addr = server.local_addr();
    let host = addr.to_string();
    let origin = |o: &str| format!("Origin: {o}\r\n");

    // A page served by this host (scheme and case do not matter, the port does).
    for same in [
        format!("http://{addr}"),
        format!("https://{addr}"),
        format!("HTTP://{addr}"),
    ] {
        assert_eq!(
            status_of(addr, &request_to(&host, "/echo", &origin(&same))).await,
            101,
            "{same}"
        );
    }
    // No Origin: not a browser.
    assert_eq!(status_of(addr, &request_to(&host, "/echo", "")).await, 101);

    // Another site, another port of this host, `null`, two Origins, a userinfo trick.
    let other_port = format!("http://127.0.0.1:{}", addr.port().wrapping_add(1));
    for foreign in [
        origin("https://evil.example"),
        origin(&other_port),
        origin("http://localhost"),
        origin("null"),
        format!("Origin: http://{addr}\r\nOrigin: https://evil.example\r\n"),
        origin(&format!("http://{addr}@evil.example")),
    ] {
        let refused =
            RawClient::handshake(addr, request_to(&host, "/echo", &foreign).as_bytes()).await;
        assert_eq!(refused.reply.status, 403, "{foreign}");
        assert_eq!(
            refused.reply.header("x-content-type-options"),
            Some("nosniff")
        );
        assert!(
            refused.reply.body.contains("origin"),
            "{:?}",
            refused.reply.body
        );
    }
    // The server serves everyone else meanwhile.
    let mut client = connect(addr, "/echo").await;
    client.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_text(&mut client).await, "still here");
}

#[tokio::test]
async fn listed_origins_are_added_and_any_turns_the_check_off() {
    let listed = serve(|app| {
        install!(app, WebSockets {
            allowed_origins = ["https://app.example", "https://*.cdn.example:8443"],
        });
        routing!(app, echo);
    })
    .await;
    let addr = listed.local_addr();
    let host = addr.to_string();
    for (origin, status) in [
        ("https://app.example", 101),
        ("https://app.example:443", 101),
        ("https://a.cdn.example:8443", 101),
        ("https://a.b.cdn.example:8443", 101),
        (&*format!("http://{addr}"), 101),
        ("http://app.example", 403),
        ("https://cdn.example:8443", 403),
        ("https://a.cdn.example", 403),
        ("https://evilapp.example", 403),
    ] {
        let request = request_to(&host, "/echo", &format!("Origin: {origin}\r\n"));
        assert_eq!(status_of(addr, &request).await, status, "{origin}");
    }

    let open = serve(|app| {
        install!(app, WebSockets { allowed_origins = any });
        routing!(app, echo);
    })
    .await;
    let request = request_to(
        &open.local_addr().to_string(),
        "/echo",
        "Origin: https://evil.example\r\n",
    );
    assert_eq!(status_of(open.local_addr(), &request).await, 101);
}

#[tokio::test]
async fn a_bad_origin_given_to_the_builder_stops_the_server_at_start() {
    let error = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.install(WebSocketOptions::new().allowed_origins(["https://app.example/chat"]));
            routing!(app, echo);
        })
        .bind()
        .await
        .expect_err("an origin with a path is refused");
    assert!(
        matches!(
            error.config_errors(),
            [ws::ConfigError::Options(ws::OptionsError::Origin(_))]
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("has a path"), "{error}");
}

// ----- guards and principals -----

#[derive(Debug)]
struct User {
    name: String,
}

/// Tokens as browsers can send them: `?token=`, a `token` cookie, or a
/// `bearer.<token>` entry in `Sec-WebSocket-Protocol`.
async fn auth(req: &HandshakeRequest<'_>) -> std::result::Result<User, Rejection> {
    let token = req
        .query("token")
        .or_else(|| req.cookie("token").map(str::to_owned))
        .or_else(|| {
            req.protocols()
                .find_map(|p| p.strip_prefix("bearer."))
                .map(str::to_owned)
        });
    match token.as_deref() {
        Some("ada-token") => Ok(User { name: "ada".into() }),
        Some("bob-token") => Ok(User { name: "bob".into() }),
        Some(other) => Err(Rejection::unauthorized(
            "Bearer error=\"invalid_token\"",
            format!("token {other} is not valid"),
        )),
        None => Err(Rejection::unauthorized("Bearer", "a token is required")),
    }
}

/// How many times a guarded handler started.
#[derive(Default)]
struct Started(AtomicUsize);

#[web_socket("/chat", protocol = "chat", guard = auth)]
async fn guarded_chat(
    session: WebSocketSession,
    Principal(user): Principal<User>,
    State(started): State<Started>,
) -> Result<()> {
    started.0.fetch_add(1, Ordering::SeqCst);
    session.send(format!("hello {}", user.name)).await?;
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// The HTTP answer a tokio-tungstenite client got instead of a 101.
async fn refused(request: http::Request<()>) -> http::Response<Option<Vec<u8>>> {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => *response,
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, got a session"),
    }
}

fn chat_request(addr: SocketAddr, query: &str) -> http::Request<()> {
    let mut request = format!("ws://{addr}/chat{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat".parse().unwrap());
    request
}

#[tokio::test]
async fn a_guard_accepts_tokens_from_the_query_a_cookie_or_a_subprotocol() {
    let server = serve(|app| {
        app.state(Started::default());
        routing!(app, guarded_chat);
    })
    .await;
    let addr = server.local_addr();

    let (mut by_query, _) =
        tokio_tungstenite::connect_async(chat_request(addr, "?token=ada-token"))
            .await
            .expect("the query token is accepted");
    assert_eq!(next_text(&mut by_query).await, "hello ada");

    let mut with_cookie = chat_request(addr, "");
    with_cookie
        .headers_mut()
        .insert("cookie", "theme=dark; token=bob-token".parse().unwrap());
    let (mut by_cookie, _) = tokio_tungstenite::connect_async(with_cookie)
        .await
        .expect("the cookie token is accepted");
    assert_eq!(next_text(&mut by_cookie).await, "hello bob");

    let mut with_protocol = chat_request(addr, "");
    with_protocol.headers_mut().insert(
        "sec-websocket-protocol",
        "chat, bearer.ada-token".parse().unwrap(),
    );
    let (mut by_protocol, response) = tokio_tungstenite::connect_async(with_protocol)
        .await
        .expect("the subprotocol token is accepted");
    // The server selects the route's protocol; the token is never echoed.
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat"
    );
    assert_eq!(next_text(&mut by_protocol).await, "hello ada");
    by_protocol.send(Message::text("echo")).await.unwrap();
    assert_eq!(next_text(&mut by_protocol).await, "echo");
}

#[tokio::test]
async fn a_refusing_guard_answers_with_its_status_and_headers_and_never_starts_the_handler() {
    let started = Arc::new(Started::default());
    let server = serve(|app| {
        app.state_arc(started.clone());
        routing!(app, guarded_chat);
    })
    .await;
    let addr = server.local_addr();

    let missing = refused(chat_request(addr, "")).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    let body = String::from_utf8(missing.body().clone().unwrap_or_default()).unwrap();
    assert_eq!(body, "a token is required\n");

    // A reason that quotes the request is sent escaped: never markup.
    let forged = refused(chat_request(
        addr,
        "?token=%3Cscript%3Ealert(1)%3C/script%3E",
    ))
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        forged.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let body = String::from_utf8(forged.body().clone().unwrap_or_default()).unwrap();
    assert!(!body.contains('<') && !body.contains('>'), "{body}");
    assert!(body.contains("\\u{3c}script\\u{3e}"), "{body}");

    // Accepted once, refused twice: the handler ran once.
    let (mut ok, _) = tokio_tungstenite::connect_async(chat_request(addr, "?token=ada-token"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ok).await, "hello ada");
    let again = refused(chat_request(addr, "?token=nope")).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    ok.send(Message::text("sync")).await.unwrap();
    assert_eq!(next_text(&mut ok).await, "sync");
    assert_eq!(started.0.load(Ordering::SeqCst), 1);
    assert_eq!(server.handle().sessions(), 1);
}

/// A guard that waits for something else before deciding (a token service, say).
async fn slow_gate(req: &HandshakeRequest<'_>) -> std::result::Result<(), Rejection> {
    let gate = req.state().get::<Notify>().expect("the gate is installed");
    gate.notified().await;
    Ok(())
}

#[web_socket("/gated", guard = slow_gate)]
async fn gated(session: WebSocketSession) -> Result<()> {
    session.send("through the gate").await?;
    Ok(())
}

#[tokio::test]
async fn a_pending_guard_holds_only_its_own_connection() {
    let gate = Arc::new(Notify::new());
    let server = serve(|app| {
        app.state_arc(gate.clone());
        routing!(app, gated, echo);
    })
    .await;
    let addr = server.local_addr();
    let waiting = tokio::spawn(async move { connect(addr, "/gated").await });

    // While that guard waits, other clients are served.
    let mut other = connect(addr, "/echo").await;
    other.send(Message::text("meanwhile")).await.unwrap();
    assert_eq!(next_text(&mut other).await, "meanwhile");
    assert!(!waiting.is_finished());

    // Open the gate: `notify_one` leaves a permit if the guard is not waiting yet.
    gate.notify_one();
    let mut client = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the guarded client gets in once the gate opens")
        .unwrap();
    assert_eq!(next_text(&mut client).await, "through the gate");
    assert_eq!(server.handle().sessions(), 2);
}

// Guards in order: the application's, a block's, the route's own.

#[derive(Default)]
struct Log(std::sync::Mutex<Vec<String>>);

struct Tenant(String);
struct Admin;

async fn tenant(req: &HandshakeRequest<'_>) -> std::result::Result<Tenant, Rejection> {
    let log = req.state().get::<Log>().unwrap();
    log.0.lock().unwrap().push("app".into());
    req.header("x-tenant")
        .map(|t| Tenant(t.to_string()))
        .ok_or_else(|| Rejection::bad_request("which tenant?"))
}

async fn admin_only(req: &HandshakeRequest<'_>) -> std::result::Result<Admin, Rejection> {
    let log = req.state().get::<Log>().unwrap();
    log.0.lock().unwrap().push("block".into());
    match req.principal::<User>() {
        Some(user) if user.name == "ada" => Ok(Admin),
        Some(_) => Err(Rejection::forbidden("admins only")),
        None => Err(Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "auth must run first",
        )),
    }
}

async fn logged_auth(req: &HandshakeRequest<'_>) -> std::result::Result<User, Rejection> {
    req.state()
        .get::<Log>()
        .unwrap()
        .0
        .lock()
        .unwrap()
        .push("auth".into());
    auth(req).await
}

async fn audit(req: &HandshakeRequest<'_>) -> std::result::Result<(), Rejection> {
    req.state()
        .get::<Log>()
        .unwrap()
        .0
        .lock()
        .unwrap()
        .push(format!(
            "route sees tenant {}",
            req.principal::<Tenant>().map_or("-", |t| &t.0)
        ));
    Ok(())
}

#[web_socket("/panel", guard = audit)]
async fn panel(
    session: WebSocketSession,
    Principal(tenant): Principal<Tenant>,
    Principal(user): Principal<User>,
    _admin: Principal<Admin>,
) -> Result<()> {
    session
        .send(format!("{} of {}", user.name, tenant.0))
        .await?;
    Ok(())
}

#[tokio::test]
async fn guards_run_application_first_then_blocks_then_the_route_and_see_earlier_principals() {
    let log = Arc::new(Log::default());
    let taken = || std::mem::take(&mut *log.0.lock().unwrap());
    let server = serve(|app| {
        app.state_arc(log.clone());
        app.guard(tenant);
        routing!(app, authenticate(logged_auth) { authenticate(admin_only) { panel } });
    })
    .await;
    let addr = server.local_addr();
    let request = |token: &str| {
        let mut r = format!("ws://{addr}/panel?token={token}")
            .into_client_request()
            .unwrap();
        r.headers_mut().insert("x-tenant", "acme".parse().unwrap());
        r
    };
    let (mut client, _) = tokio_tungstenite::connect_async(request("ada-token"))
        .await
        .expect("every guard accepts ada");
    assert_eq!(next_text(&mut client).await, "ada of acme");
    assert_eq!(taken(), ["app", "auth", "block", "route sees tenant acme"]);

    // Bob passes `auth` and is refused by the block's guard: the route's never runs.
    let bob = refused(request("bob-token")).await;
    assert_eq!(bob.status(), StatusCode::FORBIDDEN);
    assert_eq!(taken(), ["app", "auth", "block"]);
    // Without a tenant, the application's guard refuses before any other runs.
    let no_tenant = refused(
        format!("ws://{addr}/panel?token=ada-token")
            .into_client_request()
            .unwrap(),
    )
    .await;
    assert_eq!(no_tenant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(taken(), ["app"]);
}

#[web_socket("/needs-user")]
async fn needs_user(session: WebSocketSession, _user: Principal<User>) -> Result<()> {
    drop(session);
    Ok(())
}

#[tokio::test]
async fn a_principal_without_a_guard_that_yields_it_stops_the_server_at_start() {
    let error = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| routing!(app, needs_user))
        .bind()
        .await
        .expect_err("no guard yields User");
    let message = error.to_string();
    assert!(message.contains("needs_user"), "{message}");
    assert!(message.contains("Principal<"), "{message}");
    assert!(message.contains("no guard"), "{message}");

    async fn wrong(_: &HandshakeRequest<'_>) -> std::result::Result<String, Rejection> {
        Ok(String::new())
    }
    let error = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.guard(wrong);
            routing!(app, needs_user);
        })
        .bind()
        .await
        .expect_err("the guard yields String, not User");
    assert!(
        error.to_string().contains("guards yield `String`"),
        "{error}"
    );
}

// ----- behind a proxy -----

/// Reports what the server resolved: the client's address and the scheme.
async fn note_scheme(req: &HandshakeRequest<'_>) -> std::result::Result<&'static str, Rejection> {
    Ok(req.scheme())
}

#[web_socket("/whoami", guard = note_scheme)]
async fn whoami(
    session: WebSocketSession,
    RemoteAddr(addr): RemoteAddr,
    Principal(scheme): Principal<&'static str>,
) -> Result<()> {
    session.send(format!("{addr} {scheme}")).await?;
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

async fn proxied_server(proxies: &[&str], per_ip: usize) -> RunningServer {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .trusted_proxies(proxies)
        .max_connections_per_ip(per_ip)
        .configure(|app| routing!(app, whoami))
        .bind()
        .await
        .expect("server binds")
}

/// Opens `/whoami` with extra headers; the server's first message.
async fn whoami_with(
    addr: SocketAddr,
    headers: &[(&str, &str)],
) -> (crate::support::Client, String) {
    let mut request = format!("ws://{addr}/whoami").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (mut client, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the session opens");
    let first = next_text(&mut client).await;
    (client, first)
}

#[tokio::test]
async fn from_a_trusted_proxy_the_forwarded_client_and_scheme_count() {
    let server = proxied_server(&["127.0.0.0/8"], usize::MAX).await;
    let addr = server.local_addr();
    let (_a, seen) = whoami_with(
        addr,
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(seen, "203.0.113.7:0 https");
    // The client wrote an entry of its own in front: the proxy's entry counts.
    let (_b, seen) = whoami_with(
        addr,
        &[("x-forwarded-for", "1.1.1.1, 198.51.100.4, 127.0.0.9")],
    )
    .await;
    assert_eq!(seen, "198.51.100.4:0 http");
    let (_c, seen) = whoami_with(
        addr,
        &[(
            "forwarded",
            "for=\"[2001:db8::1]:4711\";proto=https;host=chat.example",
        )],
    )
    .await;
    assert_eq!(seen, "[2001:db8::1]:4711 https");
    // No header: the peer itself.
    let (_d, seen) = whoami_with(addr, &[]).await;
    assert!(
        seen.starts_with("127.0.0.1:") && seen.ends_with(" http"),
        "{seen}"
    );
}

#[tokio::test]
async fn from_any_other_peer_forwarding_headers_are_ignored() {
    let server = proxied_server(&["10.0.0.0/8"], usize::MAX).await;
    let (_client, seen) = whoami_with(
        server.local_addr(),
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert!(
        seen.starts_with("127.0.0.1:") && seen.ends_with(" http"),
        "{seen}"
    );
}

#[tokio::test]
async fn the_origin_check_compares_the_host_a_trusted_proxy_forwarded() {
    let via_proxy = proxied_server(&["127.0.0.1"], usize::MAX).await;
    let request = request_to(
        "backend.internal:8080",
        "/whoami",
        "X-Forwarded-Host: chat.example\r\nX-Forwarded-Proto: https\r\nOrigin: https://chat.example\r\n",
    );
    assert_eq!(status_of(via_proxy.local_addr(), &request).await, 101);
    // The same request from a peer that is not a trusted proxy: the Host counts.
    let direct = proxied_server(&["10.0.0.0/8"], usize::MAX).await;
    assert_eq!(status_of(direct.local_addr(), &request).await, 403);
}

#[tokio::test]
async fn per_address_limits_count_the_forwarded_client() {
    let server = proxied_server(&["127.0.0.1"], 1).await;
    let addr = server.local_addr();
    let (first, _) = whoami_with(addr, &[("x-forwarded-for", "203.0.113.7")]).await;
    // One connection from that client is open: a second is refused with 503.
    let mut again = format!("ws://{addr}/whoami").into_client_request().unwrap();
    again
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    let busy = refused(again.clone()).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    // Another client behind the same proxy is not affected.
    let (_other, seen) = whoami_with(addr, &[("x-forwarded-for", "203.0.113.8")]).await;
    assert_eq!(seen, "203.0.113.8:0 http");
    // Once the first session is gone, its client gets in again.
    drop(first);
    let mut tries = 0;
    loop {
        match tokio_tungstenite::connect_async(again.clone()).await {
            Ok(_) => break,
            Err(tungstenite::Error::Http(r)) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                tries += 1;
                assert!(
                    tries < 200,
                    "the closed session's place was never given back"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A server whose main port expects a PROXY protocol header.
async fn proxy_protocol_server(per_ip: usize) -> RunningServer {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .proxy_protocol(true)
        .max_connections_per_ip(per_ip)
        .configure(|app| routing!(app, whoami, echo))
        .bind()
        .await
        .expect("server binds")
}

/// Writes `header`, then opens `/whoami` with tokio-tungstenite over the same socket.
async fn whoami_behind(
    addr: SocketAddr,
    header: &[u8],
) -> tungstenite::Result<(crate::support::Client, String)> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(header).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut client, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/whoami"), stream).await?;
    let first = next_text(&mut client).await;
    Ok((client, first))
}

fn proxy_v2(source: SocketAddr) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let SocketAddr::V4(v4) = source else {
        unreachable!()
    };
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&v4.ip().octets());
    header.extend_from_slice(&[10, 0, 0, 1]);
    header.extend_from_slice(&v4.port().to_be_bytes());
    header.extend_from_slice(&443u16.to_be_bytes());
    header
}

#[tokio::test]
async fn the_proxy_protocol_gives_the_client_address_in_both_versions() {
    let server = proxy_protocol_server(usize::MAX).await;
    let addr = server.local_addr();
    let (_v1, seen) = whoami_behind(addr, b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\n")
        .await
        .unwrap();
    assert_eq!(seen, "203.0.113.7:51000 http");
    let (_v6, seen) = whoami_behind(addr, b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n")
        .await
        .unwrap();
    assert_eq!(seen, "[2001:db8::7]:4711 http");
    let (mut v2, seen) = whoami_behind(addr, &proxy_v2("198.51.100.9:40000".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(seen, "198.51.100.9:40000 http");
    v2.send(Message::text("after the header")).await.unwrap();
    assert_eq!(next_text(&mut v2).await, "after the header");
    // A health check (`PROXY UNKNOWN`) keeps the peer's address.
    let (_check, seen) = whoami_behind(addr, b"PROXY UNKNOWN\r\n").await.unwrap();
    assert!(seen.starts_with("127.0.0.1:"), "{seen}");
}

#[tokio::test]
async fn a_connection_without_a_proxy_header_is_closed_and_the_listener_serves_on() {
    let server = proxy_protocol_server(1).await;
    let addr = server.local_addr();
    // A plain HTTP request where the header should be: closed without an answer.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(upgrade_request("/echo", "").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed within 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Per-address limits use the header's address: a second connection from the same
    // client is refused with 503, another client gets in.
    let (_first, _) = whoami_behind(addr, b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\n")
        .await
        .unwrap();
    match whoami_behind(addr, b"PROXY TCP4 203.0.113.7 10.0.0.1 51001 443\r\n").await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE),
        Err(other) => panic!("expected 503, got {other}"),
        Ok(_) => panic!("expected 503, got a session"),
    }
    let (_other, seen) = whoami_behind(addr, b"PROXY TCP4 203.0.113.8 10.0.0.1 51002 443\r\n")
        .await
        .unwrap();
    assert_eq!(seen, "203.0.113.8:51002 http");
}

#[tokio::test]
async fn a_proxy_protocol_listener_refuses_peers_that_are_not_trusted_proxies() {
    let server = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .proxy_protocol(true)
        .trusted_proxies(["10.0.0.0/8"])
        .configure(|app| routing!(app, whoami))
        .bind()
        .await
        .unwrap();
    let attempt = whoami_behind(
        server.local_addr(),
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\n",
    )
    .await;
    assert!(
        attempt.is_err(),
        "an untrusted peer may not claim an address"
    );
}

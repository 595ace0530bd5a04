//! Section 11, the opening handshake (RFC 6455 §4.2, §4.4): accepted requests get a
//! correct `Sec-WebSocket-Accept`, broken ones a defined HTTP error, and requests that
//! never finish are cut off.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::case::{Case, Env, Outcome, Verdict};
use crate::client::{Conn, Delivery, Frame, TEXT, new_key, upgrade_request};

/// Builds a request's lines from a key.
type Lines = fn(&str) -> Vec<String>;

/// A request made of these lines (without the blank line that ends it).
fn raw_request(lines: &[String]) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n\r\n");
    s.into_bytes()
}

fn standard_lines(method: &str, path: &str, key: &str) -> Vec<String> {
    vec![
        format!("{method} {path} HTTP/1.1"),
        "Host: 127.0.0.1".into(),
        "Upgrade: websocket".into(),
        "Connection: Upgrade".into(),
        format!("Sec-WebSocket-Key: {key}"),
        "Sec-WebSocket-Version: 13".into(),
    ]
}

/// Replaces (or with `None` removes) every line whose header name is `name`.
fn edit(mut lines: Vec<String>, name: &str, value: Option<&str>) -> Vec<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let at = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().starts_with(&prefix));
    lines.retain(|l| !l.to_ascii_lowercase().starts_with(&prefix));
    if let Some(v) = value {
        lines.insert(at.unwrap_or(lines.len()), format!("{name}: {v}"));
    }
    lines
}

/// An accepted handshake must also carry a working session.
async fn accepted(
    addr: SocketAddr,
    request: Vec<u8>,
    key: &str,
    delivery: Delivery,
) -> Result<Conn, String> {
    let mut conn = Conn::open(addr, &request, delivery).await?;
    conn.check_101(key)?;
    conn.send_frame(Frame::text(b"after the handshake".to_vec()))
        .await?;
    conn.expect_msg(TEXT, b"after the handshake").await?;
    Ok(conn)
}

fn accept_case(id: &str, desc: &str, rfc: &'static str, lines: Lines) -> Case {
    Case::new(id, desc, rfc, move |env: Env| async move {
        let key = new_key();
        let mut conn = accepted(env.echo, raw_request(&lines(&key)), &key, Delivery::Whole).await?;
        conn.close_normally().await?;
        Ok(Verdict::Pass)
    })
}

/// The server must refuse with one of `statuses`, and never upgrade.
fn refuse_case(
    id: &str,
    desc: String,
    rfc: &'static str,
    statuses: &'static [u16],
    lines: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
) -> Case {
    let lines = std::sync::Arc::new(lines);
    Case::new(id, desc, rfc, move |env: Env| {
        let lines = lines.clone();
        async move {
            let key = new_key();
            let conn = Conn::open(env.echo, &raw_request(&lines(&key)), Delivery::Whole).await?;
            let r = &conn.response;
            if !statuses.contains(&r.status) {
                return Err(format!("answered {}, expected {statuses:?}", r.status));
            }
            if r.status == 426 && r.header("sec-websocket-version").map(str::trim) != Some("13") {
                return Err("426 without `Sec-WebSocket-Version: 13` (RFC 6455 §4.4)".into());
            }
            let lists = |name: &str, token: &str| {
                r.all(name)
                    .iter()
                    .flat_map(|v| v.split(','))
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
            };
            if r.status == 426 && !lists("upgrade", "websocket") {
                return Err("426 without `Upgrade: websocket` (RFC 9110 §15.5.22)".into());
            }
            if r.status == 405 && !lists("allow", "GET") {
                return Err("405 without an `Allow` header naming GET (RFC 9110 §15.5.6)".into());
            }
            Ok(Verdict::Pass)
        }
    })
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let std_lines = |key: &str| standard_lines("GET", "/echo", key);

    // 11.1: requests that must be accepted.
    out.push(accept_case(
        "11.1.1",
        "standard upgrade request: 101, correct accept, working session",
        "RFC 6455 §4.2.2",
        std_lines,
    ));
    out.push(Case::new(
        "11.1.2",
        "20 handshakes with different keys: every Sec-WebSocket-Accept correct",
        "RFC 6455 §4.2.2 step 5.4",
        |env: Env| async move {
            for _ in 0..20 {
                let mut conn = Conn::connect(env.echo, "/echo").await?;
                conn.close_normally().await?;
            }
            Ok(Verdict::Pass)
        },
    ));
    out.push(accept_case(
        "11.1.3",
        "header names in lower case accepted",
        "RFC 6455 §4.2.1; RFC 9110 §5.1",
        |key| {
            standard_lines("GET", "/echo", key)
                .into_iter()
                .map(|l| match l.split_once(':') {
                    Some((n, v)) => format!("{}:{v}", n.to_ascii_lowercase()),
                    None => l,
                })
                .collect()
        },
    ));
    out.push(accept_case(
        "11.1.4",
        "`Connection: keep-alive, Upgrade` accepted",
        "RFC 6455 §4.2.1 item 4",
        |key| {
            edit(
                standard_lines("GET", "/echo", key),
                "Connection",
                Some("keep-alive, Upgrade"),
            )
        },
    ));
    out.push(accept_case(
        "11.1.5",
        "`Upgrade: WebSocket` (other case) accepted",
        "RFC 6455 §4.2.1 item 3",
        |key| {
            edit(
                standard_lines("GET", "/echo", key),
                "Upgrade",
                Some("WebSocket"),
            )
        },
    ));
    out.push(accept_case(
        "11.1.6",
        "request with an Origin header accepted (no origin policy configured)",
        "RFC 6455 §4.2.1 item 7",
        |key| {
            let mut l = standard_lines("GET", "/echo", key);
            l.push("Origin: http://127.0.0.1".into());
            l
        },
    ));
    out.push(accept_case(
        "11.1.7",
        "request with a query string accepted",
        "RFC 6455 §4.2.1 item 1",
        |key| standard_lines("GET", "/echo?x=1&y=two", key),
    ));
    out.push(accept_case(
        "11.1.8",
        "version and key with surrounding whitespace accepted",
        "RFC 9110 §5.5",
        |key| {
            let l = edit(
                standard_lines("GET", "/echo", key),
                "Sec-WebSocket-Version",
                Some("  13  "),
            );
            edit(l, "Sec-WebSocket-Key", Some(&format!("  {key}  ")))
        },
    ));
    out.push(accept_case(
        "11.1.14",
        "request target in absolute form accepted",
        "RFC 6455 §4.2.1 item 1; RFC 9112 §3.2.2",
        |key| standard_lines("GET", "http://127.0.0.1/echo", key),
    ));
    out.push(accept_case(
        "11.1.15",
        "`Connection` split over two header lines (keep-alive, then Upgrade) accepted",
        "RFC 6455 §4.2.1 item 4; RFC 9110 §5.3",
        |key| {
            let mut l = edit(
                standard_lines("GET", "/echo", key),
                "Connection",
                Some("keep-alive"),
            );
            l.push("Connection: Upgrade".into());
            l
        },
    ));
    out.push(Case::new(
        "11.1.9",
        "complete request dribbled one byte per write (well inside the handshake timeout): accepted",
        "RFC 6455 §4.2.1",
        |env: Env| async move {
            let key = new_key();
            let req = upgrade_request("/echo", &key, &[]);
            let mut conn = accepted(env.echo, req, &key, Delivery::Dribble).await?;
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "11.1.10",
        "request and the first frame in the same write: 101, then the frame echoed",
        "RFC 6455 §4.1, §4.2.2",
        |env: Env| async move {
            let key = new_key();
            let mut bytes = upgrade_request("/echo", &key, &[]);
            bytes.extend(Frame::text(b"early".to_vec()).encode());
            let mut conn = Conn::open(env.echo, &bytes, Delivery::Whole).await?;
            conn.check_101(&key)?;
            conn.expect_msg(TEXT, b"early").await?;
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "11.1.11",
        "subprotocols offered to a server that has none: none selected",
        "RFC 6455 §4.2.2 item 5.4, §11.3.4",
        |env: Env| async move {
            let extra = vec!["Sec-WebSocket-Protocol: chat, superchat".to_string()];
            let mut conn = Conn::upgrade(env.echo, "/echo", &extra, Delivery::Whole).await?;
            if let Some(p) = conn.response.header("sec-websocket-protocol") {
                return Err(format!(
                    "server selected subprotocol {p:?} it does not serve"
                ));
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    for (i, offer) in [
        "permessage-deflate; client_max_window_bits",
        "x-unknown-extension; p=1",
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Case::new(
            format!("11.1.{}", 12 + i),
            format!("extension `{offer}` offered to the plain server: none in the response"),
            "RFC 6455 §4.2.2 item 5.4, §9.1",
            move |env: Env| async move {
                let extra = vec![format!("Sec-WebSocket-Extensions: {offer}")];
                let mut conn = Conn::upgrade(env.echo, "/echo", &extra, Delivery::Whole).await?;
                if let Some(e) = conn.response.header("sec-websocket-extensions") {
                    return Err(format!(
                        "server accepted {e:?} though it serves no extension"
                    ));
                }
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        ));
    }

    // 11.2: keys.
    let keys: [(&str, Option<&str>); 6] = [
        ("missing Sec-WebSocket-Key", None),
        ("key of 15 bytes", Some("AAAAAAAAAAAAAAAAAAAA")),
        ("key of 17 bytes", Some("AAAAAAAAAAAAAAAAAAAAAAA=")),
        ("key that is not base64", Some("not base64 at all!!!!!==")),
        ("empty key", Some("")),
        (
            "key with non-zero padding bits",
            Some("dGhlIHNhbXBsZSBub25jZR=="),
        ),
    ];
    for (i, (desc, key)) in keys.into_iter().enumerate() {
        out.push(refuse_case(
            &format!("11.2.{}", i + 1),
            format!("{desc}: 400"),
            "RFC 6455 §4.2.1 item 5",
            &[400],
            move |k| edit(standard_lines("GET", "/echo", k), "Sec-WebSocket-Key", key),
        ));
    }
    out.push(refuse_case(
        "11.2.8",
        "missing Host header: 400".into(),
        "RFC 6455 §4.2.1 item 2; RFC 9112 §3.2",
        &[400],
        |k| edit(standard_lines("GET", "/echo", k), "Host", None),
    ));
    out.push(refuse_case(
        "11.2.9",
        "two Host headers: 400".into(),
        "RFC 6455 §4.2.1 item 2; RFC 9112 §3.2",
        &[400],
        |k| {
            let mut l = standard_lines("GET", "/echo", k);
            l.push("Host: example.invalid".into());
            l
        },
    ));
    out.push(refuse_case(
        "11.2.7",
        "two Sec-WebSocket-Key headers: 400".into(),
        "RFC 6455 §4.2.1 item 5, §11.3.1",
        &[400],
        |k| {
            let mut l = standard_lines("GET", "/echo", k);
            l.push("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==".into());
            l
        },
    ));

    for (i, (desc, body_headers, body)) in [
        (
            "Content-Length: 6",
            "Content-Length: 6",
            b"\x81\x80abcd".to_vec(),
        ),
        (
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked",
            b"6\r\n\x81\x80abcd\r\n0\r\n\r\n".to_vec(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Case::new(
            format!("11.2.{}", 10 + i),
            format!(
                "upgrade request with a body ({desc}) that looks like a frame: 400, or the body is not read as frames"
            ),
            "RFC 6455 §4.1, §4.2.1; RFC 9112 §6",
            move |env: Env| {
                let body = body.clone();
                async move {
                    let key = new_key();
                    let mut lines = standard_lines("GET", "/echo", &key);
                    lines.push(body_headers.to_string());
                    let mut bytes = raw_request(&lines);
                    bytes.extend_from_slice(&body);
                    let mut conn = Conn::open(env.echo, &bytes, Delivery::Whole).await?;
                    match conn.response.status {
                        400 => Ok(Verdict::Pass),
                        101 => {
                            conn.check_101(&key)?;
                            // The body was a masked empty text frame; if the server
                            // took it as one, its echo comes before this one.
                            conn.send_frame(Frame::text(b"first frame".to_vec())).await?;
                            conn.expect_msg(TEXT, b"first frame").await.map_err(|e| {
                                format!("after a 101, the request body was read as WebSocket data: {e}")
                            })?;
                            conn.close_normally().await?;
                            Ok(Verdict::Pass)
                        }
                        other => Err(format!("answered {other}")),
                    }
                }
            },
        ));
    }

    // 11.3: versions.
    let versions: [(&str, Option<&str>, &'static [u16]); 6] = [
        ("version 8", Some("8"), &[426]),
        ("version 12", Some("12"), &[426]),
        ("version 14", Some("14"), &[426]),
        ("version \"abc\"", Some("abc"), &[426]),
        ("missing version", None, &[400, 426]),
        ("version list \"13, 8\"", Some("13, 8"), &[400, 426]),
    ];
    for (i, (desc, v, statuses)) in versions.into_iter().enumerate() {
        out.push(refuse_case(
            &format!("11.3.{}", i + 1),
            if statuses.len() == 1 {
                format!("{desc}: 426 with `Sec-WebSocket-Version: 13`")
            } else {
                format!("{desc}: 400, or 426 with `Sec-WebSocket-Version: 13`")
            },
            "RFC 6455 §4.2.2 item 4, §4.4",
            statuses,
            move |k| {
                edit(
                    standard_lines("GET", "/echo", k),
                    "Sec-WebSocket-Version",
                    v,
                )
            },
        ));
    }

    // 11.4: method, upgrade headers, path, HTTP version.
    for (i, method) in ["POST", "PUT", "DELETE", "HEAD"].into_iter().enumerate() {
        out.push(refuse_case(
            &format!("11.4.{}", i + 1),
            format!("{method} with upgrade headers: 405"),
            "RFC 6455 §4.2.1 item 1; RFC 9110 §15.5.6",
            &[405],
            move |k| standard_lines(method, "/echo", k),
        ));
    }
    let shapes: [(&str, Lines, &'static [u16]); 6] = [
        (
            "missing Upgrade header",
            |k| edit(standard_lines("GET", "/echo", k), "Upgrade", None),
            &[400, 426],
        ),
        (
            "`Upgrade: h2c` instead of websocket",
            |k| edit(standard_lines("GET", "/echo", k), "Upgrade", Some("h2c")),
            &[400, 426],
        ),
        (
            "missing `Connection: Upgrade`",
            |k| edit(standard_lines("GET", "/echo", k), "Connection", None),
            &[400, 426],
        ),
        (
            "`Connection: keep-alive` only",
            |k| {
                edit(
                    standard_lines("GET", "/echo", k),
                    "Connection",
                    Some("keep-alive"),
                )
            },
            &[400, 426],
        ),
        (
            "plain GET without any upgrade header",
            |_| vec!["GET /echo HTTP/1.1".into(), "Host: 127.0.0.1".into()],
            &[400, 426],
        ),
        (
            "unknown path",
            |k| standard_lines("GET", "/no-such-route", k),
            &[404],
        ),
    ];
    for (i, (desc, lines, statuses)) in shapes.into_iter().enumerate() {
        out.push(refuse_case(
            &format!("11.4.{}", i + 5),
            format!(
                "{desc}: {}",
                statuses
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            "RFC 6455 §4.2.1, §4.2.2",
            statuses,
            lines,
        ));
    }
    out.push(Case::new(
        "11.4.11",
        "HTTP/1.0 upgrade request: refused, no 101",
        "RFC 6455 §4.2.1 item 1",
        |env: Env| async move {
            let key = new_key();
            let mut lines = standard_lines("GET", "/echo", &key);
            lines[0] = "GET /echo HTTP/1.0".into();
            let conn = Conn::open(env.echo, &raw_request(&lines), Delivery::Whole).await;
            match conn {
                Ok(c) if c.response.status == 101 => Err("HTTP/1.0 request upgraded".into()),
                Ok(c) if (400..600).contains(&c.response.status) => Ok(Verdict::Pass),
                Ok(c) => Err(format!("answered {}", c.response.status)),
                // Closing without an answer refuses too.
                Err(_) => Ok(Verdict::Pass),
            }
        },
    ));

    // 11.4.12–15: request targets with characters RFC 3986 does not allow (§3.3, §3.4),
    // raw or as a broken escape: refused before routing.
    let targets: [(&str, &'static str); 4] = [
        ("a raw non-ASCII byte in the path", "/echo\u{e9}"),
        ("a raw non-ASCII byte in the query", "/echo?q=\u{e9}"),
        ("`{` and `}` in the path", "/echo{x}"),
        (
            "a percent-escape without two hex digits in the query",
            "/echo?q=%+0",
        ),
    ];
    for (i, (desc, target)) in targets.into_iter().enumerate() {
        out.push(refuse_case(
            &format!("11.4.{}", i + 12),
            format!("request target with {desc}: 400"),
            "RFC 6455 §4.2.1 item 1; RFC 3986 §3.3, §3.4; RFC 9112 §3.2",
            &[400],
            move |k| standard_lines("GET", target, k),
        ));
    }

    // 11.5: oversized and endless requests.
    out.push(refused_or_closed(
        "11.5.1",
        "a 256 KiB header value: 431 or the connection closed, never 101",
        |key| {
            let mut l = standard_lines("GET", "/echo", key);
            l.push(format!("X-Big: {}", "a".repeat(256 * 1024)));
            l
        },
    ));
    out.push(refused_or_closed(
        "11.5.2",
        "300 header fields: 431 or the connection closed, never 101",
        |key| {
            let mut l = standard_lines("GET", "/echo", key);
            l.extend((0..300).map(|i| format!("X-Field-{i}: {i}")));
            l
        },
    ));
    out.push(Case::new(
        "11.5.3",
        "headers dribbled slowly past a 300 ms handshake timeout: cut off (in-process server)",
        "RFC 6455 §10.4 (resource limits); the handshake_timeout option",
        |env: Env| async move { slowloris(env.short_handshake, true).await },
    ));
    out.push(Case::new(
        "11.5.4",
        "connection that sends nothing: cut off by the 300 ms handshake timeout (in-process server)",
        "RFC 6455 §10.4 (resource limits)",
        |env: Env| async move { slowloris(env.short_handshake, false).await },
    ));
    out
}

fn refused_or_closed(id: &str, desc: &str, lines: Lines) -> Case {
    Case::new(
        id,
        desc,
        "RFC 6455 §10.4; RFC 6585 §5",
        move |env: Env| async move {
            let key = new_key();
            match Conn::open(env.echo, &raw_request(&lines(&key)), Delivery::Whole).await {
                Ok(c) if c.response.status == 101 => Err("oversized request upgraded".into()),
                Ok(c) if c.response.status == 431 => Ok(Verdict::Pass),
                Ok(c) if (400..500).contains(&c.response.status) => Ok(Verdict::NonStrict(
                    format!("refused with {} rather than 431", c.response.status),
                )),
                Ok(c) => Err(format!("answered {}", c.response.status)),
                Err(e) if e.contains("closed") || e.contains("write") => Ok(Verdict::Pass),
                Err(e) => Err(e),
            }
        },
    )
}

/// Sends the start of a request and then one byte every 50 ms (or nothing); the
/// server must close the connection (or answer 408) within 2 s and never upgrade.
async fn slowloris(addr: SocketAddr, dribble: bool) -> Outcome {
    let key = new_key();
    let request = upgrade_request("/echo", &key, &[]);
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    let mut buf = vec![0u8; 4096];
    let mut answer = Vec::new();
    loop {
        if start.elapsed() > Duration::from_secs(2) {
            return Err(format!(
                "still open after 2 s with {sent} of {} request bytes sent",
                request.len()
            ));
        }
        if dribble && sent < request.len() - 1 {
            // Never the last byte: the request stays incomplete.
            if stream.write_all(&request[sent..sent + 1]).await.is_err() {
                return Ok(Verdict::Pass);
            }
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => {
                if answer.starts_with(b"HTTP/1.1 101") {
                    return Err("upgraded an incomplete request".into());
                }
                return Ok(Verdict::Pass);
            }
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.starts_with(b"HTTP/1.1 101") {
                    return Err("upgraded an incomplete request".into());
                }
            }
        }
    }
}

//! Arbitrary bytes as a client connection's input to a server
//! (`ws_runtime::fuzz::handshake`: an in-memory duplex on a paused clock; routes
//! `/echo`, `/rooms/{room}` with the subprotocol `chat.v1`, and a plain HTTP
//! `/health`; permessage-deflate offered; `allowed_origins = ["https://app.example"]`).
//!
//! Input layout: the request bytes as they are (the seeds are readable HTTP).
//!
//! Checks, beyond "no panic":
//! - the server's output is nothing or a sequence of well-formed HTTP/1.1 (or 1.0) responses
//!   ([`parse_responses`]: status line, header fields, a body delimited by
//!   `Content-Length` or chunked, or running to the end), ending either there or with a
//!   `101`, after which only well-formed server frames follow (unmasked, known opcodes,
//!   control frames whole and short, RSV1 only on a compressed session's data);
//! - every response with a body carries `X-Content-Type-Options: nosniff`, and no body
//!   holds `<` (reasons quoting the request are escaped);
//! - a `101` answers a request that [`judge`], a strict reading of RFC 6455 §4.2.1 and
//!   of RFC 9112's request syntax, accepts for one of the app's WebSocket routes; the
//!   `101` itself is right for that request: `Sec-WebSocket-Accept` from its key,
//!   `Upgrade`/`Connection`, the subprotocol only where the route has one and the
//!   client offered it, `permessage-deflate` only in answer to a valid offer and as
//!   RFC 7692 §7 allows for that offer; the room route's first message, when it is an
//!   uncompressed text frame, is the percent-decoded room.
//!
//! With pipelined requests the `n`-th final response answers the `n`-th request; the
//! oracle judges a `101` only when it could delimit every request before it (else it
//! says `Unknown` and the input is not judged).
//!
//! `WS_FUZZ_SHOW=1` prints each input, the server's answer and the oracle's verdict.

#![no_main]

use libfuzzer_sys::fuzz_target;

static SHOW: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("WS_FUZZ_SHOW").is_some());

// ----- the server's answer -----

/// One HTTP response from the server.
#[derive(Debug)]
struct Response<'a> {
    status: u16,
    headers: Vec<(&'a str, &'a [u8])>,
    body: Vec<u8>,
}

impl Response<'_> {
    fn all(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn one(&self, name: &str) -> Option<&[u8]> {
        let mut values = self.all(name);
        let first = values.next()?;
        assert!(
            values.next().is_none(),
            "the response has `{name}` more than once: {self:?}"
        );
        Some(first)
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A field value's bytes: VCHAR, SP, HTAB, obs-text.
fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Splits off one CRLF-terminated line (responses are written by the server: CRLF only).
fn crlf_line<'a>(out: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let Some(end) = out.windows(2).position(|w| w == b"\r\n") else {
        return Err(format!(
            "a response line without CRLF: {:?}",
            String::from_utf8_lossy(out)
        ));
    };
    let line = &out[..end];
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(format!(
            "a bare CR or LF in {:?}",
            String::from_utf8_lossy(line)
        ));
    }
    *out = &out[end + 2..];
    Ok(line)
}

/// Parses the server's output: responses until the end or a `101`, whose following
/// bytes (the session's frames) are returned beside them. `heads[n]`: whether the
/// request the `n`-th final response answers is a `HEAD` (whose response has no body
/// whatever its `Content-Length` says, RFC 9110 §9.3.2); past the requests the oracle
/// could delimit, either is allowed.
fn parse_responses<'a>(
    mut out: &'a [u8],
    heads: &[bool],
) -> Result<(Vec<Response<'a>>, Option<&'a [u8]>), String> {
    let mut responses = Vec::new();
    let mut finals = 0;
    while !out.is_empty() {
        let line = crlf_line(&mut out)?;
        let line = std::str::from_utf8(line).map_err(|_| "a status line that is not ASCII")?;
        // (hyper answers an HTTP/1.0 request in HTTP/1.0.)
        let rest = line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| line.strip_prefix("HTTP/1.0 "))
            .ok_or_else(|| format!("not an HTTP/1.x status line: {line:?}"))?;
        let (code, reason) = rest.split_at_checked(3).ok_or("a short status line")?;
        if !code.bytes().all(|b| b.is_ascii_digit())
            || !(reason.is_empty() || reason.starts_with(' '))
        {
            return Err(format!("a malformed status line: {line:?}"));
        }
        let status: u16 = code.parse().map_err(|_| "a status code")?;
        if !(100..=599).contains(&status) || !is_field_value(reason.as_bytes()) {
            return Err(format!("a malformed status line: {line:?}"));
        }
        let mut headers = Vec::new();
        loop {
            let line = crlf_line(&mut out)?;
            if line.is_empty() {
                break;
            }
            let colon = line.iter().position(|&b| b == b':').ok_or_else(|| {
                format!(
                    "a header line without `:`: {:?}",
                    String::from_utf8_lossy(line)
                )
            })?;
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if !is_token(name) || !is_field_value(value) {
                return Err(format!(
                    "a malformed header line: {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
            let name = std::str::from_utf8(name).expect("a token is ASCII");
            headers.push((name, value.trim_ascii()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 101 {
            responses.push(response);
            return Ok((responses, Some(out)));
        }
        let head = heads.get(finals).copied();
        if status >= 200 {
            finals += 1;
        }
        let bodiless = status < 200 || status == 204 || status == 304;
        let lengths: Vec<&[u8]> = response.all("content-length").collect();
        let chunked = response
            .all("transfer-encoding")
            .any(|v| v.eq_ignore_ascii_case(b"chunked"));
        if bodiless {
            if !lengths.is_empty() && status < 200 || chunked {
                return Err(format!("a {status} with a body header"));
            }
        } else if chunked {
            if !lengths.is_empty() {
                return Err("both Content-Length and chunked".into());
            }
            loop {
                let size = crlf_line(&mut out)?;
                let size = std::str::from_utf8(size).map_err(|_| "a chunk size")?;
                let size = usize::from_str_radix(size.split(';').next().unwrap_or(""), 16)
                    .map_err(|_| format!("a chunk size {size:?}"))?;
                if size == 0 {
                    while !crlf_line(&mut out)?.is_empty() {}
                    break;
                }
                let chunk = out.get(..size).ok_or("a chunk cut off")?;
                response.body.extend_from_slice(chunk);
                out = &out[size..];
                if !crlf_line(&mut out)?.is_empty() {
                    return Err("a chunk not followed by CRLF".into());
                }
            }
        } else if let [length] = lengths[..] {
            let length = std::str::from_utf8(length)
                .ok()
                .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|l| l.parse::<usize>().ok())
                .ok_or("a malformed Content-Length")?;
            // A HEAD's response: the length of the body a GET would have had, no body.
            let head = head.unwrap_or(out.len() < length || out.starts_with(b"HTTP/1."));
            if head {
                responses.push(response);
                continue;
            }
            let body = out.get(..length).ok_or_else(|| {
                format!(
                    "a body cut off: {length} bytes announced, {} sent",
                    out.len()
                )
            })?;
            response.body = body.to_vec();
            out = &out[length..];
        } else if lengths.is_empty() {
            // Delimited by the end of the connection: the last response.
            response.body = out.to_vec();
            out = &[];
        } else {
            return Err("Content-Length more than once".into());
        }
        responses.push(response);
    }
    Ok((responses, None))
}

/// Checks the frames a session sent after its `101`; returns the first data frame's
/// opcode, RSV1 and payload, if any.
fn check_frames(mut frames: &[u8], compressed: bool) -> Option<(u8, bool, Vec<u8>)> {
    let mut first = None;
    let mut in_message = false;
    while !frames.is_empty() {
        let [b0, b1, ..] = *frames else {
            panic!("a frame header cut off: {frames:?}");
        };
        assert!(b1 & 0x80 == 0, "a masked frame from the server");
        assert!(b0 & 0x30 == 0, "RSV2 or RSV3 set by the server");
        let opcode = b0 & 0x0f;
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let (len, header) = match b1 & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes(
                    frames
                        .get(2..4)
                        .expect("a 16-bit length")
                        .try_into()
                        .unwrap(),
                )),
                4,
            ),
            127 => {
                let len = u64::from_be_bytes(
                    frames
                        .get(2..10)
                        .expect("a 64-bit length")
                        .try_into()
                        .unwrap(),
                );
                assert!(len >> 63 == 0, "a length with its top bit set");
                (usize::try_from(len).expect("a length that fits"), 10)
            }
            n => (usize::from(n), 2),
        };
        let payload = frames
            .get(header..header + len)
            .unwrap_or_else(|| panic!("a frame cut off: {len} bytes announced"));
        frames = &frames[header + len..];
        match opcode {
            0x8..=0xa => {
                assert!(fin && len <= 125, "a fragmented or long control frame");
                assert!(!rsv1, "RSV1 on a control frame");
                if opcode == 0x8 {
                    assert!(len != 1, "a close payload of one byte");
                    assert!(
                        frames.is_empty(),
                        "frames after the server's close: {frames:?}"
                    );
                }
            }
            0x1 | 0x2 => {
                assert!(!in_message, "a new message inside a fragmented one");
                assert!(!rsv1 || compressed, "RSV1 without permessage-deflate");
                if first.is_none() {
                    first = Some((opcode, rsv1, payload.to_vec()));
                }
                in_message = !fin;
            }
            0x0 => {
                assert!(in_message, "a continuation outside a message");
                assert!(!rsv1, "RSV1 on a continuation frame");
                in_message = !fin;
            }
            other => panic!("opcode {other:#x} from the server"),
        }
    }
    first
}

// ----- the oracle: a strict reading of the request -----

/// A request head as the oracle read it.
struct Request<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
}

impl Request<'_> {
    fn all(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
    }

    /// The elements of a comma-separated list header, all its lines together.
    fn list(&self, name: &str) -> Vec<&[u8]> {
        self.all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|e| !e.is_empty())
            .collect()
    }
}

/// Why a request is not delimited or not well-formed.
type Problem = String;

/// Reads one request from `input`: the head (lines ending in CRLF, or LF alone as RFC
/// 9112 §2.2 allows; empty lines before the request line skipped, §2.2), then its body
/// (`Content-Length`). `Err(Some)`: not a well-formed request; `Err(None)`: one this
/// oracle cannot delimit (`Transfer-Encoding`).
fn read_request<'a>(input: &mut &'a [u8]) -> Result<Request<'a>, Option<Problem>> {
    let mut lines = Vec::new();
    loop {
        let end = input
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Some("the head does not end".to_owned()))?;
        let mut line = &input[..end];
        *input = &input[end + 1..];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.contains(&b'\r') {
            return Err(Some("a bare CR".into()));
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let (first, fields) = lines.split_first().expect("a request line");
    let parts: Vec<&[u8]> = first.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(Some(
            "a request line that is not `method SP target SP version`".into(),
        ));
    };
    // A fragment never reaches the server (see `judge_upgrade`): the `http` crate's URI
    // parser cuts the target at `#` without looking at what follows, which `httparse`
    // lets be any visible ASCII or obs-text byte (0x80–0xFF). Only the part before `#`
    // is judged as RFC 9112 §3.2 says.
    let (before, fragment) = match target.iter().position(|&b| b == b'#') {
        Some(i) => target.split_at(i),
        None => (target, &[][..]),
    };
    if !is_token(method)
        || before.is_empty()
        || !before.iter().all(u8::is_ascii_graphic)
        || !fragment.iter().all(|&b| b.is_ascii_graphic() || b >= 0x80)
    {
        return Err(Some("a malformed method or request target".into()));
    }
    if !(version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit())
    {
        return Err(Some("a malformed HTTP version".into()));
    }
    let mut headers = Vec::new();
    for field in fields {
        if field[0] == b' ' || field[0] == b'\t' {
            return Err(Some("an obs-fold (RFC 9112 §5.2)".into()));
        }
        let colon = field
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| Some("a field line without `:`".to_owned()))?;
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        if !is_token(name) {
            return Err(Some(
                "a field name that is not a token (or space before `:`)".into(),
            ));
        }
        if !is_field_value(value) {
            return Err(Some("a field value with NUL or control characters".into()));
        }
        headers.push((name, value.trim_ascii()));
    }
    let request = Request {
        method,
        target,
        version,
        headers,
    };
    if request.all("transfer-encoding").next().is_some() {
        return Err(None);
    }
    let lengths: Vec<&[u8]> = request
        .all("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    if let Some(&length) = lengths.first() {
        if lengths.iter().any(|l| *l != length)
            || length.is_empty()
            || !length.iter().all(u8::is_ascii_digit)
        {
            return Err(Some("an invalid or contradictory Content-Length".into()));
        }
        let length: usize = std::str::from_utf8(length)
            .ok()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| Some("a huge Content-Length".to_owned()))?;
        if input.len() < length {
            return Err(Some("the body does not end".into()));
        }
        *input = &input[length..];
    }
    Ok(request)
}

/// Whether each request the oracle can delimit, from the first, is a `HEAD`.
fn request_heads(mut input: &[u8]) -> Vec<bool> {
    let mut heads = Vec::new();
    while let Ok(request) = read_request(&mut input) {
        heads.push(request.method == b"HEAD");
    }
    heads
}

/// The WebSocket routes of the app `ws_runtime::fuzz::handshake` serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Echo,
    /// `/rooms/{room}`: the room, percent-decoded; the subprotocol `chat.v1` required.
    Room(String),
}

/// What the oracle makes of the request a `101` answered.
#[derive(Debug)]
enum Verdict {
    Accept(Upgrade),
    Reject(Problem),
    /// The oracle cannot tell (a request before it it could not delimit).
    Unknown(&'static str),
}

/// A valid upgrade, with what the `101` must agree with.
#[derive(Debug)]
struct Upgrade {
    route: Route,
    key: Vec<u8>,
    protocols: Vec<Vec<u8>>,
    /// The permessage-deflate offers, each `Some(params)` if valid (RFC 7692 §7.1),
    /// `None` if the server must decline it; `Err` if the header does not parse.
    deflate_offers: Result<Vec<Option<Params>>, Problem>,
}

/// An extension's parameters: each name, and its value if it has one.
type Params = Vec<(String, Option<String>)>;

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Whether `s` is made of RFC 3986 characters `allowed` or `pct-encoded` triples.
fn is_uri_part(s: &[u8], allowed: &dyn Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if !s.get(i + 1).copied().is_some_and(is_hex)
                || !s.get(i + 2).copied().is_some_and(is_hex)
            {
                return false;
            }
            i += 3;
        } else if allowed(s[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}
fn sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}
fn pchar(b: u8) -> bool {
    unreserved(b) || sub_delim(b) || b == b':' || b == b'@'
}

/// `uri-host [":" port]` with a non-empty host (RFC 9112 §3.2, RFC 3986 §3.2.2); the
/// host lowercased and the port.
fn authority(s: &[u8]) -> Option<(String, Option<u16>)> {
    let (host, port) = if s.first() == Some(&b'[') {
        let end = s.iter().position(|&b| b == b']')?;
        let inside = &s[1..end];
        if inside.is_empty() || !inside.iter().all(|&b| is_hex(b) || b == b':' || b == b'.') {
            return None;
        }
        (&s[..=end], &s[end + 1..])
    } else {
        match s.iter().position(|&b| b == b':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, &s[s.len()..]),
        }
    };
    if host.is_empty()
        || (host[0] != b'[' && !is_uri_part(host, &|b| unreserved(b) || sub_delim(b)))
    {
        return None;
    }
    let port = match port {
        [] => None,
        [b':', digits @ ..] if digits.iter().all(u8::is_ascii_digit) => {
            if digits.is_empty() {
                None
            } else {
                Some(std::str::from_utf8(digits).ok()?.parse().ok()?)
            }
        }
        _ => return None,
    };
    Some((String::from_utf8_lossy(host).to_ascii_lowercase(), port))
}

/// Percent-decodes a path segment to UTF-8.
fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = std::str::from_utf8(s.get(i + 1..i + 3)?)
                .ok()
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Whether an `Origin` value may open a session: `https://app.example` (the allowed
/// list), or the origin of the host the request was sent to (`scheme://host[:port]`,
/// the ports equal, written or implied; a `Host` without a port stands for the
/// scheme's default port).
fn origin_allowed(origin: &[u8], host: &(String, Option<u16>)) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return false;
    }
    let Some((origin_host, origin_port)) = authority(rest.as_bytes()) else {
        return false;
    };
    let origin_port = origin_port.or_else(|| default_port(&scheme));
    if scheme == "https" && origin_host == "app.example" && origin_port == Some(443) {
        return true;
    }
    let (host, port) = host;
    origin_host == *host
        && origin_port.is_some()
        && origin_port == port.or_else(|| default_port(&scheme))
}

/// `Sec-WebSocket-Key`: the base64 of 16 bytes, canonical (RFC 4648: the 22nd
/// character carries 2 bits, the rest zero).
fn valid_key(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    key.len() == 24
        && key[22..] == *b"=="
        && key[..22].iter().all(|b| ALPHABET.contains(b))
        && b"AQgw".contains(&key[21])
}

/// Parses `Sec-WebSocket-Extensions` lines strictly (RFC 6455 §9.1: `1#extension`,
/// `extension-token *( ";" extension-param )`, `token [ "=" (token | quoted-string) ]`).
fn parse_extensions(lines: &[&[u8]]) -> Result<Vec<(String, Params)>, Problem> {
    let mut out = Vec::new();
    for line in lines {
        let s = *line;
        let mut i = 0;
        let ows = |i: &mut usize| {
            while s.get(*i).is_some_and(|&b| b == b' ' || b == b'\t') {
                *i += 1;
            }
        };
        let token = |i: &mut usize| {
            let start = *i;
            while s.get(*i).copied().is_some_and(is_tchar) {
                *i += 1;
            }
            (*i > start).then(|| String::from_utf8_lossy(&s[start..*i]).into_owned())
        };
        loop {
            ows(&mut i);
            if s.get(i) == Some(&b',') {
                i += 1; // an empty list element
                continue;
            }
            if i == s.len() {
                break;
            }
            let name = token(&mut i).ok_or("an extension name that is not a token")?;
            let mut params = Vec::new();
            loop {
                ows(&mut i);
                if s.get(i) != Some(&b';') {
                    break;
                }
                i += 1;
                ows(&mut i);
                let param = token(&mut i).ok_or("a parameter name that is not a token")?;
                ows(&mut i);
                let mut value = None;
                if s.get(i) == Some(&b'=') {
                    i += 1;
                    ows(&mut i);
                    if s.get(i) == Some(&b'"') {
                        i += 1;
                        let mut v = Vec::new();
                        loop {
                            match s.get(i) {
                                None => return Err("an unterminated quoted-string".into()),
                                Some(b'"') => {
                                    i += 1;
                                    break;
                                }
                                Some(b'\\') => {
                                    v.push(*s.get(i + 1).ok_or("an escape at the end")?);
                                    i += 2;
                                }
                                Some(&b) => {
                                    v.push(b);
                                    i += 1;
                                }
                            }
                        }
                        // RFC 6455 §9.1: a quoted value, unescaped, is a token too.
                        if !is_token(&v) {
                            return Err("a quoted parameter value that is not a token".into());
                        }
                        value = Some(String::from_utf8_lossy(&v).into_owned());
                    } else {
                        value = Some(token(&mut i).ok_or("a parameter value that is not a token")?);
                    }
                }
                params.push((param, value));
            }
            out.push((name, params));
            ows(&mut i);
            match s.get(i) {
                None => break,
                Some(b',') => i += 1,
                Some(_) => return Err("junk after an extension".into()),
            }
        }
    }
    Ok(out)
}

/// A list header's elements: split at commas outside double quotes.
fn split_outside_quotes(line: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in line.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// `8`..`15`, no sign, no leading zero (RFC 7692 §7.1.2: `1*DIGIT` in 8..15).
fn window_bits(v: &str) -> bool {
    matches!(v, "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15")
}

/// Whether the params of a permessage-deflate offer may be accepted (RFC 7692 §5, §7.1):
/// known names only, each once, values as defined.
fn valid_offer(params: &[(String, Option<String>)]) -> bool {
    let mut seen = Vec::new();
    for (name, value) in params {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return false;
        }
        let ok = match name.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
            "server_max_window_bits" => value.as_deref().is_some_and(window_bits),
            "client_max_window_bits" => value.as_deref().is_none_or(window_bits),
            _ => false,
        };
        if !ok {
            return false;
        }
        seen.push(name);
    }
    true
}

/// Whether a response's permessage-deflate params are right for an offer (RFC 7692
/// §7.1: a valid response, `server_no_context_takeover` and `server_max_window_bits`
/// acknowledged when offered, `client_max_window_bits` only when offered).
fn valid_answer(
    offer: &[(String, Option<String>)],
    answer: &[(String, Option<String>)],
) -> Result<(), String> {
    let get = |params: &[(String, Option<String>)], name: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut seen = Vec::new();
    for (name, value) in answer {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(format!("`{name}` twice"));
        }
        let ok = match name.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
            "server_max_window_bits" | "client_max_window_bits" => {
                value.as_deref().is_some_and(window_bits)
            }
            _ => false,
        };
        if !ok {
            return Err(format!("`{name}` with {value:?}"));
        }
        seen.push(name);
    }
    if get(offer, "server_no_context_takeover").is_some()
        && get(answer, "server_no_context_takeover").is_none()
    {
        return Err("`server_no_context_takeover` offered, not acknowledged".into());
    }
    if let Some(Some(offered)) = get(offer, "server_max_window_bits") {
        match get(answer, "server_max_window_bits") {
            Some(Some(answered)) if answered.parse::<u8>().ok() <= offered.parse::<u8>().ok() => {}
            other => {
                return Err(format!(
                    "`server_max_window_bits={offered}` offered, answered {other:?}"
                ));
            }
        }
    }
    if get(offer, "client_max_window_bits").is_none()
        && get(answer, "client_max_window_bits").is_some()
    {
        return Err("`client_max_window_bits` answered, not offered".into());
    }
    if let (Some(Some(offered)), Some(Some(answered))) = (
        get(offer, "client_max_window_bits"),
        get(answer, "client_max_window_bits"),
    ) && answered.parse::<u8>().ok() > offered.parse::<u8>().ok()
    {
        return Err(format!(
            "`client_max_window_bits={answered}` over the offered {offered}"
        ));
    }
    Ok(())
}

/// Judges one request as an upgrade to one of the app's routes.
fn judge_upgrade(request: &Request<'_>) -> Result<Upgrade, Problem> {
    // RFC 6455 §4.2.1 item 1: an HTTP/1.1 or higher GET.
    if request.method != b"GET" {
        return Err("not GET".into());
    }
    if request.version != b"HTTP/1.1" {
        return Err("not HTTP/1.1".into());
    }
    // RFC 9112 §3.2: exactly one Host, a valid `uri-host [":" port]` (§4.2.1 item 2: the
    // server's authority, so not empty).
    let hosts: Vec<&[u8]> = request.all("host").collect();
    let [host] = hosts[..] else {
        return Err(format!("{} Host fields", hosts.len()));
    };
    let mut host = authority(host).ok_or("an invalid Host")?;
    // The request target: origin-form, or absolute-form (whose authority is the host,
    // RFC 9112 §3.2.2). No fragment.
    let target = request.target;
    let path_and_query = if target.starts_with(b"/") {
        target
    } else {
        let colon = target
            .iter()
            .position(|&b| b == b':')
            .ok_or("a target in no form")?;
        let scheme = &target[..colon];
        if scheme.is_empty()
            || !scheme[0].is_ascii_alphabetic()
            || !scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err("an absolute-form target with a bad scheme".into());
        }
        let rest = target[colon + 1..]
            .strip_prefix(b"//")
            .ok_or("an absolute-form target without an authority")?;
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let auth = &rest[..end];
        if auth.contains(&b'@') {
            return Err("userinfo in the target".into());
        }
        host = authority(auth).ok_or("an invalid authority in the target")?;
        let rest = &rest[end..];
        if !rest.starts_with(b"/") {
            return Err("an absolute-form target without a path".into());
        }
        rest
    };
    // A fragment (RFC 6455 §3 forbids it) never reaches the server: the `http` crate's
    // URI parser drops it. Judged without it.
    let path_and_query = match path_and_query.iter().position(|&b| b == b'#') {
        Some(i) => &path_and_query[..i],
        None => path_and_query,
    };
    let (path, query) = match path_and_query.iter().position(|&b| b == b'?') {
        Some(i) => (&path_and_query[..i], Some(&path_and_query[i + 1..])),
        None => (path_and_query, None),
    };
    if !is_uri_part(path, &|b| pchar(b) || b == b'/')
        || query.is_some_and(|q| !is_uri_part(q, &|b| pchar(b) || b == b'/' || b == b'?'))
    {
        return Err(
            "a request target with characters RFC 3986 does not allow (or a fragment)".into(),
        );
    }
    let route = if path == b"/echo" {
        Route::Echo
    } else if let Some(room) = path.strip_prefix(b"/rooms/")
        && !room.is_empty()
        && !room.contains(&b'/')
    {
        Route::Room(percent_decode(room).ok_or("a room that does not decode to UTF-8")?)
    } else {
        return Err("no WebSocket route at this path".into());
    };
    // Items 3 and 4.
    if !request
        .list("upgrade")
        .iter()
        .any(|t| t.eq_ignore_ascii_case(b"websocket"))
    {
        return Err("no `Upgrade: websocket`".into());
    }
    if !request
        .list("connection")
        .iter()
        .any(|t| t.eq_ignore_ascii_case(b"upgrade"))
    {
        return Err("no `Connection: Upgrade`".into());
    }
    // Item 5, and §11.3.1: once.
    let keys: Vec<&[u8]> = request.all("sec-websocket-key").collect();
    let [key] = keys[..] else {
        return Err(format!("{} Sec-WebSocket-Key fields", keys.len()));
    };
    if !valid_key(key) {
        return Err("a key that is not the base64 of 16 bytes".into());
    }
    // Item 6, and §11.3.5: once.
    let versions: Vec<&[u8]> = request.all("sec-websocket-version").collect();
    if versions[..] != [b"13"] {
        return Err("not exactly one `Sec-WebSocket-Version: 13`".into());
    }
    // Item 7 and §10.2: the app's origin policy.
    let origins: Vec<&[u8]> = request.all("origin").collect();
    match origins[..] {
        [] => {}
        [origin] if origin_allowed(origin, &host) => {}
        _ => return Err("an Origin the app does not allow (or more than one)".into()),
    }
    // The handshake has no body (frames follow it directly).
    if request
        .all("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|v| v.trim_ascii() != b"0")
    {
        return Err("a body".into());
    }
    // Item 8: the room route requires `chat.v1`.
    let protocols: Vec<Vec<u8>> = request
        .list("sec-websocket-protocol")
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    if matches!(route, Route::Room(_)) && !protocols.iter().any(|p| p == b"chat.v1") {
        return Err("the room route without `chat.v1` offered".into());
    }
    let lines: Vec<&[u8]> = request.all("sec-websocket-extensions").collect();
    // The server skips an element of the list that does not parse (its documented
    // policy) and negotiates with the rest: so does the oracle, element by element.
    let deflate_offers = Ok(lines
        .iter()
        .flat_map(|line| split_outside_quotes(line))
        .filter_map(|element| parse_extensions(&[element]).ok())
        .flatten()
        .filter(|(name, _)| name.eq_ignore_ascii_case("permessage-deflate"))
        .map(|(_, params)| valid_offer(&params).then_some(params))
        .collect());
    Ok(Upgrade {
        route,
        key: key.to_vec(),
        protocols,
        deflate_offers,
    })
}

/// The oracle's verdict on the request that the `index`-th final response answered.
fn judge(mut input: &[u8], index: usize) -> Verdict {
    for _ in 0..index {
        match read_request(&mut input) {
            Ok(_) => {}
            Err(_) => return Verdict::Unknown("a request before the upgrade not delimited"),
        }
    }
    match read_request(&mut input) {
        Ok(request) => match judge_upgrade(&request) {
            Ok(upgrade) => Verdict::Accept(upgrade),
            Err(problem) => Verdict::Reject(problem),
        },
        Err(Some(problem)) => Verdict::Reject(problem),
        Err(None) => Verdict::Reject("Transfer-Encoding on an upgrade".into()),
    }
}

/// Checks a `101` against the request the oracle accepted.
fn check_switch(response: &Response<'_>, upgrade: &Upgrade, frames: &[u8]) {
    let upgrade_header = response.one("upgrade").expect("a 101 without Upgrade");
    assert!(
        upgrade_header.eq_ignore_ascii_case(b"websocket"),
        "Upgrade: {upgrade_header:?}"
    );
    // RFC 6455 §4.1's client check: a token `Upgrade` in the list (hyper adds `close`
    // to it when the request also said `Connection: close`).
    let connection = response
        .one("connection")
        .expect("a 101 without Connection");
    assert!(
        connection
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade")),
        "Connection: {:?}",
        String::from_utf8_lossy(connection)
    );
    let accept = response
        .one("sec-websocket-accept")
        .expect("a 101 without Sec-WebSocket-Accept");
    assert_eq!(
        accept,
        tungstenite::handshake::derive_accept_key(&upgrade.key).as_bytes(),
        "Sec-WebSocket-Accept is not derived from the key"
    );
    let protocol = response.one("sec-websocket-protocol");
    match &upgrade.route {
        Route::Echo => assert!(protocol.is_none(), "a subprotocol on /echo: {protocol:?}"),
        Route::Room(_) => assert_eq!(
            protocol,
            Some(&b"chat.v1"[..]),
            "the room route's subprotocol"
        ),
    }
    let offered = || upgrade.protocols.iter().any(|p| Some(&p[..]) == protocol);
    assert!(
        protocol.is_none() || offered(),
        "a subprotocol the client did not offer"
    );

    let answer = response.one("sec-websocket-extensions");
    let compressed = answer.is_some();
    if let Some(answer) = answer {
        let answered = parse_extensions(&[answer])
            .unwrap_or_else(|e| panic!("the Sec-WebSocket-Extensions answer does not parse: {e}"));
        let [(name, params)] = &answered[..] else {
            panic!("not one extension in the answer: {answered:?}");
        };
        assert_eq!(
            name, "permessage-deflate",
            "an extension never offered by the app"
        );
        let offers = match &upgrade.deflate_offers {
            Ok(offers) => offers,
            Err(problem) => panic!(
                "permessage-deflate accepted from a Sec-WebSocket-Extensions header that does not parse ({problem})"
            ),
        };
        let fits: Vec<Result<(), String>> = offers
            .iter()
            .map(|offer| match offer {
                Some(offer) => valid_answer(offer, params),
                None => Err("an offer the server must decline (RFC 7692 §5)".into()),
            })
            .collect();
        assert!(
            fits.iter().any(Result::is_ok),
            "the answer `{}` fits no offer: {fits:?}",
            String::from_utf8_lossy(answer)
        );
    }

    let first = check_frames(frames, compressed);
    if let Route::Room(room) = &upgrade.route
        && let Some((0x1, false, payload)) = first
    {
        assert_eq!(
            payload,
            room.as_bytes(),
            "the room route sent another room's name"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let out = ws_runtime::fuzz::handshake(data);
    if *SHOW {
        eprintln!(
            "request: {:?}\nanswer: {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&out)
        );
    }
    let heads = request_heads(data);
    let (responses, frames) = match parse_responses(&out, &heads) {
        Ok(parsed) => parsed,
        Err(e) => panic!(
            "the answer is not well-formed HTTP/1.1: {e}\nanswer: {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    for response in &responses {
        if response.status == 101 {
            continue;
        }
        // (hyper answers a request it cannot parse itself, with an empty 400: no body,
        // nothing to sniff.)
        assert!(
            response.body.is_empty()
                || response
                    .all("x-content-type-options")
                    .any(|v| v.eq_ignore_ascii_case(b"nosniff")),
            "a {} without `X-Content-Type-Options: nosniff`: {response:?}",
            response.status
        );
        assert!(
            !response.body.contains(&b'<'),
            "a {} whose body holds `<`: {:?}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
    if let Some(frames) = frames {
        // Interim responses (1xx but 101) do not answer a request of their own.
        let index = responses.iter().filter(|r| r.status >= 200).count();
        let verdict = judge(data, index);
        let switch = responses.last().expect("the 101");
        match verdict {
            Verdict::Accept(upgrade) => {
                if *SHOW {
                    eprintln!("accepted as request {index}: {upgrade:?}");
                }
                check_switch(switch, &upgrade, frames)
            }
            Verdict::Reject(problem) => panic!(
                "101 for a request a strict RFC 6455 §4.2.1 parser refuses: {problem}\nrequest: {:?}",
                String::from_utf8_lossy(data)
            ),
            Verdict::Unknown(why) => {
                if *SHOW {
                    eprintln!("not judged: {why}");
                }
            }
        }
    }
});

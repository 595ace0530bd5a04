//! Behind a proxy: whose address a request is, and how it reached the proxy.
//!
//! - [`TrustedProxies`]: addresses and CIDR blocks of the proxies in front of the
//!   server. From one of them, the client's address comes from `Forwarded` (RFC 7239)
//!   or `X-Forwarded-For`, the scheme from `Forwarded: proto=` or `X-Forwarded-Proto`,
//!   the host from `Forwarded: host=` or `X-Forwarded-Host`. From any other peer those
//!   headers are ignored: a client cannot choose its address by sending them.
//! - The chain is read from the right (the hop nearest to the server) and the first
//!   address that is not a trusted proxy is the client's, so a client that writes its
//!   own `X-Forwarded-For` entry in front gains nothing.
//! - The PROXY protocol (HAProxy's, versions 1 and 2) on a listener: the proxy writes
//!   the client's address ahead of the connection's bytes, and the server reads exactly
//!   that header before TLS and HTTP ([`EmbeddedServer::proxy_protocol`](crate::EmbeddedServer::proxy_protocol)).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::{HeaderMap, header::HeaderName};
use tokio::io::{AsyncRead, AsyncReadExt};

use ws_dsl::net::IpNet;

use ws_dsl::net::canonical;

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// What a request says about its client once the proxies are taken into account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The client's address (port 0 when the proxy forwarded none).
    pub(crate) addr: SocketAddr,
    /// `Some(true)` for https, `Some(false)` for http, as a trusted proxy said.
    pub(crate) secure: Option<bool>,
    /// The host the client asked for, as a trusted proxy said.
    pub(crate) host: Option<String>,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl TrustedProxies {
    /// Parses addresses and CIDR blocks; the error names the first bad entry.
    pub(crate) fn parse<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = entries
            .into_iter()
            .map(|e| e.as_ref().parse::<IpNet>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nets })
    }

    /// Whether no proxy is trusted.
    pub(crate) fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client behind `peer`, from the request's forwarding headers if `peer` is a
    /// trusted proxy.
    pub(crate) fn resolve(&self, peer: SocketAddr, headers: &HeaderMap) -> Resolved {
        let mut resolved = Resolved {
            addr: peer,
            secure: None,
            host: None,
        };
        if !self.contains(peer.ip()) {
            return resolved;
        }
        let forwarded: Vec<&str> = headers
            .get_all(http::header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        if !forwarded.is_empty() {
            // Elements from the client's side to ours; the client is the first `for=`
            // from the right that is not a trusted proxy.
            for element in forwarded.iter().rev() {
                let mut hop = None;
                let (mut proto, mut host) = (None, None);
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else {
                        continue;
                    };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => hop = Some(node(value)),
                        "proto" => proto = Some(value.eq_ignore_ascii_case("https")),
                        "host" => host = Some(value.to_string()),
                        _ => {}
                    }
                }
                if proto.is_some() {
                    resolved.secure = proto;
                }
                if host.is_some() {
                    resolved.host = host;
                }
                match hop {
                    Some(Some(addr)) => {
                        resolved.addr = addr;
                        if !self.contains(addr.ip()) {
                            break;
                        }
                    }
                    // `unknown` or an obfuscated name: nothing further can be believed.
                    Some(None) => break,
                    None => {}
                }
            }
            return resolved;
        }
        let hops: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match node(hop) {
                Some(addr) => {
                    resolved.addr = addr;
                    if !self.contains(addr.ip()) {
                        break;
                    }
                }
                None => break,
            }
        }
        if let Some(proto) = first_value(headers, &X_FORWARDED_PROTO) {
            resolved.secure = Some(proto.eq_ignore_ascii_case("https"));
        }
        if let Some(host) = first_value(headers, &X_FORWARDED_HOST) {
            resolved.host = Some(host.to_string());
        }
        resolved
    }
}

/// The first entry of a comma-separated header (the one the client-facing proxy set).
fn first_value<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// A forwarded node: `192.0.2.60`, `192.0.2.60:47011`, `[2001:db8::1]:4711`,
/// `2001:db8::1`; `None` for `unknown`, obfuscated names and anything else.
fn node(value: &str) -> Option<SocketAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(SocketAddr::new(canonical(addr.ip()), addr.port()));
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(SocketAddr::new(canonical(ip), 0));
    }
    // `192.0.2.60:_hidden`: the address counts, the port is obfuscated.
    let (host, _) = value.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(host);
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(canonical(ip), 0))
}

/// The PROXY protocol version 2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line (the specification's bound).
const V1_MAX: usize = 107;

/// Reads a PROXY protocol header (version 1 or 2) from the start of a connection and
/// returns the client's address: `None` for a proxy's own connection (`LOCAL`,
/// `UNKNOWN`: a health check), which keeps the peer's address. Reads exactly the
/// header, so what follows (TLS, HTTP) is untouched. An error for anything else.
pub(crate) async fn read_proxy_header<R: AsyncRead + Unpin>(
    io: &mut R,
) -> io::Result<Option<SocketAddr>> {
    // 15 bytes: the shortest version 1 line (`PROXY UNKNOWN\r\n`), shorter than a
    // version 2 header (16), so neither is over-read.
    let mut head = [0u8; 15];
    io.read_exact(&mut head).await?;
    if head[..12] == V2_SIGNATURE {
        let mut rest = [0u8; 1];
        io.read_exact(&mut rest).await?;
        let (version_command, family) = (head[12], head[13]);
        let len = usize::from(u16::from_be_bytes([head[14], rest[0]]));
        let mut body = vec![0u8; len];
        io.read_exact(&mut body).await?;
        if version_command >> 4 != 2 {
            return Err(bad("PROXY protocol version 2 header with another version"));
        }
        return match version_command & 0x0f {
            0 => Ok(None),
            1 => match family >> 4 {
                1 if body.len() >= 12 => Ok(Some(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(body[0], body[1], body[2], body[3])),
                    u16::from_be_bytes([body[8], body[9]]),
                ))),
                2 if body.len() >= 36 => {
                    let mut ip = [0u8; 16];
                    ip.copy_from_slice(&body[..16]);
                    Ok(Some(SocketAddr::new(
                        canonical(IpAddr::V6(Ipv6Addr::from(ip))),
                        u16::from_be_bytes([body[32], body[33]]),
                    )))
                }
                // AF_UNSPEC or AF_UNIX: no address to take.
                0 | 3 => Ok(None),
                _ => Err(bad(
                    "PROXY protocol version 2 header too short for its family",
                )),
            },
            _ => Err(bad(
                "PROXY protocol version 2 header with an unknown command",
            )),
        };
    }
    if !head.starts_with(b"PROXY ") {
        return Err(bad(
            "the connection does not start with a PROXY protocol header",
        ));
    }
    let mut line = head.to_vec();
    // The rest of the line, a byte at a time: nothing past its `\r\n` may be consumed.
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(bad("PROXY protocol version 1 line longer than 107 bytes"));
        }
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        line.push(byte[0]);
    }
    let line = std::str::from_utf8(&line[..line.len() - 2])
        .map_err(|_| bad("PROXY protocol version 1 line is not text"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", family @ ("TCP4" | "TCP6"), source, _, port, _] => {
            let ip: IpAddr = source
                .parse()
                .map_err(|_| bad("PROXY protocol version 1 line with a bad source address"))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(bad("PROXY protocol version 1 address of the wrong family"));
            }
            let port: u16 = port
                .parse()
                .map_err(|_| bad("PROXY protocol version 1 line with a bad source port"))?;
            Ok(Some(SocketAddr::new(canonical(ip), port)))
        }
        _ => Err(bad("malformed PROXY protocol version 1 line")),
    }
}

fn bad(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let from_proxy = proxies.resolve("10.0.0.2:5000".parse().unwrap(), &h);
        assert_eq!(from_proxy.addr, "203.0.113.7:0".parse().unwrap());
        assert_eq!(from_proxy.secure, Some(true));
        let direct = proxies.resolve("198.51.100.1:5000".parse().unwrap(), &h);
        assert_eq!(direct.addr, "198.51.100.1:5000".parse().unwrap());
        assert_eq!(direct.secure, None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let peer = "10.0.0.2:5000".parse().unwrap();
        // The client wrote `1.1.1.1` itself; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(
            proxies.resolve(peer, &h).addr,
            "203.0.113.7:0".parse().unwrap()
        );
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::1]:4711\";proto=https;host=chat.example",
        )]);
        let r = proxies.resolve(peer, &h);
        assert_eq!(r.addr, "[2001:db8::1]:4711".parse().unwrap());
        assert_eq!(r.secure, Some(true));
        assert_eq!(r.host.as_deref(), Some("chat.example"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(proxies.resolve(peer, &h).addr, peer);
    }

    #[tokio::test]
    async fn proxy_protocol_headers() {
        let mut v1: &[u8] = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET";
        assert_eq!(
            read_proxy_header(&mut v1).await.unwrap(),
            Some("203.0.113.7:51000".parse().unwrap())
        );
        assert_eq!(v1, b"GET");
        let mut unknown: &[u8] = b"PROXY UNKNOWN\r\nGET";
        assert_eq!(read_proxy_header(&mut unknown).await.unwrap(), None);
        assert_eq!(unknown, b"GET");
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12, 203, 0, 113, 7, 10, 0, 0, 1]);
        v2.extend_from_slice(&51000u16.to_be_bytes());
        v2.extend_from_slice(&443u16.to_be_bytes());
        v2.extend_from_slice(b"GET");
        let mut v2 = v2.as_slice();
        assert_eq!(
            read_proxy_header(&mut v2).await.unwrap(),
            Some("203.0.113.7:51000".parse().unwrap())
        );
        assert_eq!(v2, b"GET");
        let mut plain: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(read_proxy_header(&mut plain).await.is_err());
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        assert!(read_proxy_header(&mut long.as_slice()).await.is_err());
    }
}

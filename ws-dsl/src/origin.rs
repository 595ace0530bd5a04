//! Browser origins (RFC 6454): the `allowed_origins` grammar that `install!` checks at
//! compile time and the runtime checks at start-up, and the comparison the server makes
//! on every upgrade request that carries an `Origin` header.
//!
//! An allowed origin is `scheme://host[:port]` as a browser sends it, or
//! `scheme://*.domain[:port]` for every subdomain of `domain` (not `domain` itself).
//! Ports default by scheme (80 for `http`/`ws`, 443 for `https`/`wss`).
//!
//! The default check (gorilla/websocket's rule) is [`same_host`]: the `Origin`'s host
//! and port are the request's `Host`.

/// An entry of `allowed_origins`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Lowercase; for `*.example.com`, `example.com` with `subdomains` set.
    host: String,
    subdomains: bool,
    port: Option<u16>,
}

/// An `Origin` header value, parsed (`scheme://host[:port]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The scheme as sent (compared case-insensitively).
    pub scheme: &'a str,
    /// The host as sent, IPv6 addresses with their brackets.
    pub host: &'a str,
    /// The port, written or the scheme's default.
    pub port: Option<u16>,
}

/// The port a scheme implies when none is written.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6). `None` when the port is not a number
/// (digits only: `parse` alone would also take `+80`).
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port = |digits: &str| {
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &authority[..end + 2];
        return match &rest[end + 1..] {
            "" => Some((host, None)),
            digits => Some((host, Some(port(digits.strip_prefix(':')?)?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, digits)) => Some((host, Some(port(digits)?))),
        None => Some((authority, None)),
    }
}

/// An RFC 3986 scheme: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

impl<'a> Origin<'a> {
    /// Parses an `Origin` header value; `None` for `null` or anything that is not
    /// `scheme://host[:port]`.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (scheme, authority) = value.trim().split_once("://")?;
        if !is_scheme(scheme) || authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return None;
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            host,
            port: port.or_else(|| default_port(scheme)),
        })
    }
}

/// Whether a browser's `Origin` names the host (and port) the request was sent to:
/// `host` is the request's `Host` header (or the host a trusted proxy forwarded).
///
/// A `Host` without a port matches an origin on its scheme's default port (browsers
/// leave the port out of `Host` exactly then); with a port, the origin's port, written
/// or implied, must be that port. Schemes are not compared: a page on `http://a`
/// talking to `wss://a` is the same host.
pub fn same_host(origin: &str, host: &str) -> bool {
    let Some(origin) = Origin::parse(origin) else {
        return false;
    };
    let Some((host, port)) = split_host_port(host.trim()) else {
        return false;
    };
    if !origin.host.eq_ignore_ascii_case(host) {
        return false;
    }
    match port {
        Some(port) => origin.port == Some(port),
        None => origin.port.is_some() && origin.port == default_port(origin.scheme),
    }
}

impl OriginPattern {
    /// Parses an `allowed_origins` entry; the error says what is wrong in words a user
    /// of `install!` understands.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern == "*" {
            return Err(
                "`*` is not an origin: write `allowed_origins = any` to accept every origin".into(),
            );
        }
        if pattern == "null" {
            return Err(
                "`null` is the origin of sandboxed and `file:` pages, which any page can create: it cannot be allowed"
                    .into(),
            );
        }
        let Some((scheme, rest)) = pattern.split_once("://") else {
            return Err(format!(
                "`{pattern}` is not an origin: expected `scheme://host[:port]`, e.g. `https://app.example`"
            ));
        };
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(format!(
                "`{pattern}` has no valid scheme: expected `scheme://host[:port]`, e.g. `https://app.example`"
            ));
        }
        if rest.is_empty() {
            return Err(format!(
                "`{pattern}` has no host: expected `scheme://host[:port]`"
            ));
        }
        if rest.contains('/') {
            return Err(format!(
                "`{pattern}` has a path: an origin is `scheme://host[:port]` without a path or trailing `/` (browsers send `{scheme}://{}`)",
                rest.split('/').next().unwrap_or_default()
            ));
        }
        let Some((host, port)) = split_host_port(rest) else {
            return Err(format!(
                "`{pattern}` has a port that is not a number: expected `scheme://host[:port]`"
            ));
        };
        let (host, subdomains) = match host.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (host, false),
        };
        if host.is_empty() || host.contains(['*', '@', '?', '#']) {
            return Err(format!(
                "`{pattern}` has no valid host: `*` may only start it, as in `https://*.app.example`"
            ));
        }
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            subdomains,
            port: port.or_else(|| default_port(scheme)),
        })
    }

    /// Whether a browser's `Origin` header value is this pattern's origin.
    pub fn matches(&self, origin: &str) -> bool {
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        if !origin.scheme.eq_ignore_ascii_case(&self.scheme) || origin.port != self.port {
            return false;
        }
        if !self.subdomains {
            return origin.host.eq_ignore_ascii_case(&self.host);
        }
        let host = origin.host.as_bytes();
        let domain = self.host.as_bytes();
        host.len() > domain.len() + 1
            && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
            && host[host.len() - domain.len() - 1] == b'.'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_with_clear_errors() {
        assert!(OriginPattern::parse("https://app.example").is_ok());
        assert!(OriginPattern::parse("http://localhost:8080").is_ok());
        assert!(OriginPattern::parse("https://*.app.example").is_ok());
        assert!(OriginPattern::parse("http://[::1]:8080").is_ok());
        let path = OriginPattern::parse("https://app.example/").unwrap_err();
        assert!(path.contains("has a path"), "{path}");
        assert!(OriginPattern::parse("app.example").is_err());
        assert!(OriginPattern::parse("*").unwrap_err().contains("any"));
        assert!(OriginPattern::parse("null").is_err());
        assert!(OriginPattern::parse("https://a.*.example").is_err());
        assert!(OriginPattern::parse("https://app.example:http").is_err());
    }

    #[test]
    fn patterns_match_origins() {
        let p = OriginPattern::parse("https://app.example").unwrap();
        assert!(p.matches("https://app.example"));
        assert!(p.matches("HTTPS://APP.example:443"));
        assert!(!p.matches("http://app.example"));
        assert!(!p.matches("https://app.example:8443"));
        assert!(!p.matches("https://app.example.evil"));
        assert!(!p.matches("null"));
        let wild = OriginPattern::parse("https://*.app.example").unwrap();
        assert!(wild.matches("https://a.app.example"));
        assert!(wild.matches("https://a.b.app.example"));
        assert!(!wild.matches("https://app.example"));
        assert!(!wild.matches("https://evilapp.example"));
    }

    #[test]
    fn origins_with_a_bad_scheme_or_a_signed_port_match_nothing() {
        // Fuzz finding `handshake/origin-bad-scheme`: any scheme was taken.
        assert!(!same_host("HEA$p://127.0.0.1:40000", "127.0.0.1:40000"));
        assert!(!same_host("1http://127.0.0.1:40000", "127.0.0.1:40000"));
        assert!(!same_host("http://127.0.0.1:+40000", "127.0.0.1:40000"));
        assert!(!same_host("http://[::1]:+9000", "[::1]:9000"));
        assert!(same_host(
            "chrome-extension+x.1://127.0.0.1:40000",
            "127.0.0.1:40000"
        ));
    }

    #[test]
    fn same_host_compares_host_and_port() {
        assert!(same_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_host("https://Chat.Example", "chat.example"));
        assert!(same_host("https://chat.example", "chat.example:443"));
        assert!(same_host("http://chat.example", "chat.example"));
        assert!(same_host("http://[::1]:9000", "[::1]:9000"));
        assert!(!same_host("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_host("http://evil.example", "127.0.0.1:8080"));
        assert!(!same_host("https://chat.example:8443", "chat.example"));
        assert!(!same_host("null", "chat.example"));
        assert!(!same_host("http://chat.example@evil", "chat.example"));
        assert!(!same_host("chat.example", "chat.example"));
    }
}

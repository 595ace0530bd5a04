//! What the server checks before a session starts, beyond the protocol: which browser
//! origins may open sessions (the `allowed_origins` option, [`AllowedOrigins`]). Authentication is a route's or the
//! application's [`Guard`](crate::Guard); addresses behind a proxy are resolved
//! by `trusted_proxies` ([`EmbeddedServer::trusted_proxies`](crate::EmbeddedServer::trusted_proxies)).
//!
//! # The origin check
//!
//! A browser sends `Origin` with every WebSocket handshake, and sends the site's
//! cookies with it whichever page opened the socket: without a check, any page a
//! logged-in user visits can open a session in their name (cross-site WebSocket
//! hijacking). So by default a request whose `Origin` names another host than the one
//! it was sent to (its `Host`, or the host a trusted proxy forwarded) is refused with
//! `403 Forbidden` before the upgrade, as gorilla/websocket does. Requests without
//! `Origin` come from programs, not browsers, and pass.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, header};
use ws_dsl::origin::{OriginPattern, same_host};

use crate::extract::Rejection;
use crate::options::AllowedOrigins;

/// The origin check a running server applies (the patterns parsed once, at start-up).
#[derive(Clone)]
pub(crate) enum OriginCheck {
    SameHost(Arc<[OriginPattern]>),
    Any,
}

impl fmt::Debug for OriginCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginCheck::SameHost(list) => write!(f, "SameHost(+{})", list.len()),
            OriginCheck::Any => f.write_str("Any"),
        }
    }
}

impl OriginCheck {
    /// Builds the check; entries were validated with the options.
    pub(crate) fn new(allowed: &AllowedOrigins) -> Self {
        match allowed {
            AllowedOrigins::Any => OriginCheck::Any,
            AllowedOrigins::SameHost => OriginCheck::SameHost(Arc::from([])),
            AllowedOrigins::List(list) => OriginCheck::SameHost(
                list.iter()
                    .filter_map(|o| OriginPattern::parse(o).ok())
                    .collect(),
            ),
        }
    }

    /// Checks a request's `Origin` against `host` (the `Host` it was sent to, or the
    /// one a trusted proxy forwarded).
    pub(crate) fn check(&self, headers: &HeaderMap, host: Option<&str>) -> Result<(), Rejection> {
        let OriginCheck::SameHost(extra) = self else {
            return Ok(());
        };
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let Some(origin) = origins.next() else {
            return Ok(());
        };
        let refused = || {
            Rejection::new(
                StatusCode::FORBIDDEN,
                "this origin may not open WebSocket sessions here",
            )
        };
        if origins.next().is_some() {
            return Err(refused());
        }
        let Ok(origin) = origin.to_str() else {
            return Err(refused());
        };
        if host.is_some_and(|host| same_host(origin, host))
            || extra.iter().any(|p| p.matches(origin))
        {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

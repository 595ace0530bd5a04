//! The running application's routes and how a request finds one: WebSocket routes by
//! path (most static segments win; among routes of one path the handshake picks by
//! subprotocol), plain HTTP routes by path and method, and the duplicate check run at
//! start-up.

use std::sync::Arc;

use http::Method;

use crate::extract::StateMap;
use crate::http_route::HttpRoute;
use crate::options::WebSocketOptions;
use crate::path::PathParams;
use crate::proxy::TrustedProxies;
use crate::routing::Route;
use crate::security::OriginCheck;
use crate::session::Limits;
use crate::startup::ConfigError;

/// The application as the running server uses it.
pub(crate) struct AppInner {
    pub(crate) options: WebSocketOptions,
    pub(crate) routes: Vec<Arc<Route>>,
    pub(crate) http_routes: Vec<Arc<HttpRoute>>,
    pub(crate) state: Arc<StateMap>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) origins: OriginCheck,
    pub(crate) proxies: Option<Arc<TrustedProxies>>,
}

impl AppInner {
    /// The WebSocket routes matching `path` best (most static segments), with params.
    pub(crate) fn match_ws(&self, path: &str) -> Vec<(&Arc<Route>, PathParams)> {
        let mut best = Vec::new();
        let mut best_statics = 0;
        for route in &self.routes {
            if let Some((params, statics)) = route.pattern.matches(path) {
                if best.is_empty() || statics > best_statics {
                    best.clear();
                    best_statics = statics;
                    best.push((route, params));
                } else if statics == best_statics {
                    best.push((route, params));
                }
            }
        }
        best
    }

    pub(crate) fn has_http_route(&self, method: &Method, path: &str) -> bool {
        self.http_routes
            .iter()
            .any(|r| r.method == method && r.pattern.matches(path).is_some())
    }

    pub(crate) fn match_http(&self, method: &Method, path: &str) -> HttpMatch {
        let mut allowed = Vec::new();
        let mut best: Option<(&Arc<HttpRoute>, PathParams, usize)> = None;
        for route in &self.http_routes {
            if let Some((params, statics)) = route.pattern.matches(path) {
                if route.method == method {
                    if best.as_ref().is_none_or(|(_, _, s)| statics > *s) {
                        best = Some((route, params, statics));
                    }
                } else {
                    allowed.push(route.method.as_str());
                }
            }
        }
        match best {
            Some((route, params, _)) => HttpMatch::Found(route.clone(), params),
            None if !allowed.is_empty() => HttpMatch::MethodNotAllowed(allowed.join(", ")),
            None => HttpMatch::NotFound,
        }
    }
}

/// The outcome of matching a plain HTTP request.
pub(crate) enum HttpMatch {
    Found(Arc<HttpRoute>, PathParams),
    MethodNotAllowed(String),
    NotFound,
}

/// Two WebSocket routes that match the same paths with the same subprotocol, each pair
/// once.
pub(crate) fn duplicate_routes(routes: &[Route]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        if route.path_error.is_some() {
            continue;
        }
        let at = format!("`{}` ({})", route.name, route.location);
        for earlier in &routes[..i] {
            if earlier.path_error.is_none()
                && earlier.pattern.same_shape(&route.pattern)
                && earlier.protocol == route.protocol
            {
                errors.push(ConfigError::DuplicateRoute {
                    path: route.pattern.as_str().to_string(),
                    protocol: route.protocol.as_ref().map(|p| p.to_string()),
                    first: format!("`{}` ({})", earlier.name, earlier.location),
                    second: at.clone(),
                });
            }
        }
    }
    errors
}

/// Two HTTP routes that answer the same method on the same paths, each pair once.
pub(crate) fn duplicate_http_routes(routes: &[HttpRoute]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        if route.path_error.is_some() {
            continue;
        }
        for earlier in &routes[..i] {
            if earlier.path_error.is_none()
                && earlier.method == route.method
                && earlier.pattern.same_shape(&route.pattern)
            {
                errors.push(ConfigError::DuplicateHttpRoute {
                    method: route.method.to_string(),
                    path: route.pattern.as_str().to_string(),
                    first: format!("`{}` ({})", earlier.name, earlier.location),
                    second: format!("`{}` ({})", route.name, route.location),
                });
            }
        }
    }
    errors
}

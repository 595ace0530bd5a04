//! Plain HTTP routes served beside the WebSocket routes (a chat page, a health check).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;

use crate::path::PathPattern;

/// The head of an HTTP request handed to a plain HTTP handler.
pub type HttpRequest = http::request::Parts;

/// A complete HTTP response.
#[derive(Debug)]
pub struct HttpResponse(pub(crate) http::Response<Full<Bytes>>);

impl HttpResponse {
    /// A response with a status, a content type and a body.
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let mut response = http::Response::new(Full::new(body.into()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Browsers must take the body for what `Content-Type` says, never sniff it.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        HttpResponse(response)
    }

    /// `200 OK` with an HTML body.
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    /// `200 OK` with a plain text body.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK, "text/plain; charset=utf-8", body)
    }

    /// A status with a plain text reason as body.
    pub fn status(status: StatusCode, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        reason.push('\n');
        Self::new(status, "text/plain; charset=utf-8", reason)
    }

    /// Adds a header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers_mut().append(name, value);
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    pub(crate) fn into_inner(self) -> http::Response<Full<Bytes>> {
        self.0
    }
}

/// A boxed HTTP handler future.
pub(crate) type HttpFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send + 'static>>;

/// A plain HTTP endpoint.
#[derive(Clone)]
pub(crate) struct HttpRoute {
    pub(crate) method: Method,
    pub(crate) pattern: PathPattern,
    pub(crate) handler: Arc<dyn Fn(HttpRequest) -> HttpFuture + Send + Sync>,
}

impl HttpRoute {
    pub(crate) fn new<F, Fut>(method: Method, pattern: PathPattern, handler: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        Self {
            method,
            pattern,
            handler: Arc::new(move |req| Box::pin(handler(req)) as HttpFuture),
        }
    }
}

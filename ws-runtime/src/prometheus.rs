//! The metrics in Prometheus' text format (feature `prometheus`):
//! `app.prometheus_route("/metrics")`.
//!
//! The recorder is metrics-exporter-prometheus' (its text renderer, no HTTP listener of
//! its own): installed as the process's `metrics` recorder the first time a route asks
//! for it, it records the server's metrics and every other metric the program records
//! through the facade, and the route renders them all.

use std::sync::OnceLock;

use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::http_route::HttpResponse;
use crate::server::Application;
use crate::startup::ConfigError;

/// The process's Prometheus recorder, installed once; the error says why it could not
/// be (another recorder was installed first).
fn handle() -> &'static Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| e.to_string())
    })
}

impl Application {
    /// Serves the process's metrics in Prometheus' text format (version 0.0.4) at
    /// `path`, a plain `GET` route: the server's own (see the table in the README's
    /// Observability section: sessions, frames, bytes, refusals, ...) and every other
    /// metric the program records through the `metrics` facade.
    ///
    /// The first call installs metrics-exporter-prometheus' recorder as the process's
    /// `metrics` recorder; a program that installed another recorder before gets a
    /// start-up error instead (render that recorder in a route of its own).
    ///
    /// ```
    /// # let mut app = ws_runtime::Application::new();
    /// app.prometheus_route("/metrics");
    /// ```
    #[track_caller]
    pub fn prometheus_route(&mut self, path: &str) -> &mut Self {
        let handle = match handle() {
            Ok(handle) => handle.clone(),
            Err(e) => {
                self.config_error(ConfigError::Server(format!(
                    "`prometheus_route(\"{path}\")`: the Prometheus recorder cannot be installed ({e}): another `metrics` recorder was installed first"
                )));
                return self;
            }
        };
        // Descriptions (`# HELP`) for a recorder installed after the server started.
        crate::telemetry::describe();
        self.get(path, move |_| {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                HttpResponse::new(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    handle.render(),
                )
                .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
            }
        })
    }
}

//! Start-up errors: duplicate routes, options that cannot work, conflicting extensions.

use super::*;

#[tokio::test]
async fn duplicate_routes_are_a_startup_error_naming_both() {
    let err = ws::EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.route(echo_route("/same/{a}"));
            app.route(echo_route("/same/{b}"));
        })
        .bind()
        .await
        .expect_err("duplicate routes refused");
    let message = err.to_string();
    assert!(
        matches!(
            err.config_errors(),
            [ws::ConfigError::DuplicateRoute { path, .. }] if path == "/same/{b}"
        ),
        "{err:?}"
    );
    assert!(
        message.contains("two WebSocket routes for `/same/{b}`"),
        "{message}"
    );
    assert_eq!(message.matches("runtime/mod.rs:").count(), 2, "{message}");
}

#[tokio::test]
async fn masking_on_a_server_is_refused_at_startup() {
    let err = ws::EmbeddedServer::new()
        .port(0)
        .configure(|app| {
            app.install(WebSocketOptions::new().masking(true));
        })
        .bind()
        .await
        .expect_err("masking refused");
    assert!(err.to_string().contains("RFC 6455 §5.1"), "{err}");
}

/// An extension that claims RSV1, like permessage-deflate.
struct ClaimsRsv1;

impl ws::extension::ExtensionFactory for ClaimsRsv1 {
    fn name(&self) -> &str {
        "x-claims-rsv1"
    }
    fn rsv(&self) -> ws::Rsv {
        ws::Rsv::RSV1
    }
    fn negotiate(&self, _: &[ws::extension::ExtensionParams]) -> Option<ws::extension::Negotiated> {
        None
    }
}

#[tokio::test]
async fn two_extensions_claiming_one_rsv_bit_are_refused_at_startup() {
    let err = ws::EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.install(
                WebSocketOptions::new()
                    .extension(ws::extension::Deflate::new())
                    .extension(ClaimsRsv1),
            );
            app.route(echo_route("/echo"));
        })
        .bind()
        .await
        .expect_err("conflicting extensions refused");
    assert!(
        matches!(
            err.config_errors(),
            [ws::ConfigError::Options(
                ws::OptionsError::RsvConflict { .. }
            )]
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("extensions `permessage-deflate` and `x-claims-rsv1` both claim RSV1"),
        "{err}"
    );
}

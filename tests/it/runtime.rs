use ws::{Frame, Route, WebSocketSession};

use crate::support::*;

#[tokio::test]
async fn closure_route_echoes() {
    let server = serve(|app| {
        app.route(Route::new("/echo", |session: WebSocketSession| async move {
            while let Some(frame) = session.incoming.recv().await {
                if let Frame::Text(text) = frame {
                    session.send(format!("Hi, {text}!")).await?;
                }
            }
            Ok::<(), ws::Error>(())
        }));
    })
    .await;
    let mut client = connect(server.local_addr(), "/echo").await;
    send_text(&mut client, "Ann").await;
    assert_eq!(next_text(&mut client).await, "Hi, Ann!");
}

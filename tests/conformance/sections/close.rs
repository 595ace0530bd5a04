//! Section 7, the closing handshake (RFC 6455 §5.5.1, §7).

use std::time::Duration;

use crate::case::{Case, End, Env, Expect, Script, Verdict, scripted, text_of};
use crate::client::{Conn, Delivery, Frame, Msg};

/// Why a server may answer a close without echoing the message before it.
const REPLY_AT_ONCE: &str = "RFC 6455 §5.5.1 wants the close reply \"as soon as practical\" and no data \
     frame after it; the echo of the text read in the same batch as the close would come later";

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let hello = b"Hello".to_vec();

    // 7.1: the handshake itself, and what comes after it.
    let basic: Vec<(&str, Vec<Frame>, Vec<Expect>, Delivery)> = vec![
        (
            "text echoed, then close 1000 echoed",
            vec![Frame::text(hello.clone()), Frame::close(1000, "")],
            vec![Expect::text(hello.clone())],
            Delivery::Whole,
        ),
        (
            "two close frames in one write: one reply, the second ignored",
            vec![Frame::close(1000, ""), Frame::close(1000, "again")],
            vec![],
            Delivery::Whole,
        ),
        (
            "close then ping in one write: close reply, no pong",
            vec![Frame::close(1000, ""), Frame::ping(b"late".to_vec())],
            vec![],
            Delivery::Whole,
        ),
        (
            "close then text in one write: close reply, text not echoed",
            vec![Frame::close(1000, ""), Frame::text(hello.clone())],
            vec![],
            Delivery::Whole,
        ),
        (
            "close then 10 texts and a 64 KiB binary: all ignored",
            {
                let mut f = vec![Frame::close(1000, "")];
                f.extend((0..10).map(|i| Frame::text(format!("after close {i}").into_bytes())));
                f.push(Frame::binary(vec![7; 65536]));
                f
            },
            vec![],
            Delivery::Whole,
        ),
        (
            "text start (FIN clear), close, final continuation: close reply only",
            vec![
                Frame::text(hello.clone()).fin(false),
                Frame::close(1000, ""),
                Frame::cont(b"world".to_vec()),
            ],
            vec![],
            Delivery::Whole,
        ),
        (
            "close dribbled one byte per write, echoed",
            vec![Frame::close(1000, "bye")],
            vec![],
            Delivery::Dribble,
        ),
    ];
    for (i, (desc, frames, expect, delivery)) in basic.into_iter().enumerate() {
        out.push(scripted(
            format!("7.1.{}", i + 1),
            format!("{desc}; the server then closes TCP"),
            "RFC 6455 §5.5.1, §7.1.1",
            Script::new(frames)
                .delivery(delivery)
                .expect(expect)
                .ends(End::Close(vec![1000]))
                .replies_optional(REPLY_AT_ONCE),
        ));
    }
    out.push(Case::new(
        "7.1.8",
        "close, wait for the reply, then send a text: ignored, and the server closes TCP",
        "RFC 6455 §5.5.1, §7.1.1",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            conn.send_frame(Frame::close(1000, "")).await?;
            match conn.next_msg(crate::client::READ_WAIT).await? {
                Msg::Close(Some(1000), _) => {}
                other => return Err(format!("expected close 1000, got {}", other.describe())),
            }
            let _ = conn
                .send(&Frame::text(b"late".to_vec()).encode(), Delivery::Whole)
                .await;
            conn.expect_eof(crate::client::EOF_WAIT).await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "7.1.9",
        "close, then the client half-closes TCP: close reply, then the server closes TCP",
        "RFC 6455 §7.1.1",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            conn.send_frame(Frame::close(1000, "")).await?;
            conn.shutdown_write().await;
            conn.expect_close(&[1000]).await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "7.1.10",
        "client closes TCP without a close frame: the server just lets it go (no hang)",
        "RFC 6455 §7.1.5",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            conn.send_frame(Frame::text(b"x".to_vec())).await?;
            conn.expect_msg(crate::client::TEXT, b"x").await?;
            conn.shutdown_write().await;
            match conn.next_msg(crate::client::EOF_WAIT).await? {
                Msg::Eof | Msg::Close(_, _) => Ok(Verdict::Pass),
                other => Err(format!("expected the end, got {}", other.describe())),
            }
        },
    ));

    out.push(Case::new(
        "7.1.11",
        "client half-closes TCP in the middle of a frame: the server closes TCP too",
        "RFC 6455 §7.1.5, §7.1.7",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            let bytes = Frame::text(b"never finished".to_vec()).encode();
            conn.send(&bytes[..8], Delivery::Whole).await?;
            conn.shutdown_write().await;
            match conn.next_msg(crate::client::EOF_WAIT).await? {
                Msg::Eof => Ok(Verdict::Pass),
                // A close frame is fine too, with a code that may be sent.
                Msg::Close(_, _) => conn
                    .expect_eof(crate::client::EOF_WAIT)
                    .await
                    .map(|()| Verdict::Pass),
                other => Err(format!("expected the end, got {}", other.describe())),
            }
        },
    ));

    // 7.3: close bodies.
    let reason123 = text_of(123, 5);
    let euro41 = "€".repeat(41).into_bytes();
    let bodies: Vec<(String, Frame, Vec<u16>)> = vec![
        (
            "empty close answered by an empty close or 1000".into(),
            Frame::close_empty(),
            vec![1005, 1000],
        ),
        (
            "close with a 1-byte body: fail with 1002".into(),
            crate::client::Frame::new(crate::client::CLOSE, vec![0x03]),
            vec![1002],
        ),
        (
            "close 1000 without reason echoed".into(),
            Frame::close(1000, ""),
            vec![1000],
        ),
        (
            "close 1000 with reason \"Hello World!\" echoed".into(),
            Frame::close(1000, "Hello World!"),
            vec![1000],
        ),
        (
            "close 1000 with a 123-byte reason (body 125 bytes) echoed".into(),
            Frame::close(1000, &reason123),
            vec![1000],
        ),
        (
            "close 1000 with a 123-byte reason of 41 × '€' echoed".into(),
            Frame::close(1000, &euro41),
            vec![1000],
        ),
        (
            "close 1000 with a 124-byte reason (body 126 bytes): fail with 1002".into(),
            Frame::close(1000, text_of(124, 6)),
            vec![1002],
        ),
    ];
    for (i, (desc, frame, codes)) in bodies.into_iter().enumerate() {
        out.push(scripted(
            format!("7.3.{}", i + 1),
            desc,
            "RFC 6455 §5.5, §5.5.1",
            Script::new(vec![frame]).ends(End::Close(codes)),
        ));
    }

    // 7.5: close reasons must be UTF-8.
    let bad_reasons: Vec<(&str, Vec<u8>)> = vec![
        ("a surrogate (κόσμε ED A0 80 edited)", {
            let mut r = "κόσμε".as_bytes().to_vec();
            r.extend_from_slice(&[0xed, 0xa0, 0x80]);
            r.extend_from_slice(b"edited");
            r
        }),
        (
            "a truncated sequence at its end (CE)",
            b"truncated \xce".to_vec(),
        ),
        ("an overlong '/' (C0 AF)", b"overlong \xc0\xaf".to_vec()),
        ("a lone 0xFF", b"\xff".to_vec()),
    ];
    for (i, (desc, reason)) in bad_reasons.into_iter().enumerate() {
        out.push(scripted(
            format!("7.5.{}", i + 1),
            format!("close 1000 whose reason holds {desc}: fail with 1007"),
            "RFC 6455 §5.5.1, §8.1",
            Script::new(vec![Frame::close(1000, reason)]).ends(End::Close(vec![1007])),
        ));
    }

    // 7.7: every code an endpoint may send is echoed.
    let valid = [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ];
    for (i, code) in valid.into_iter().enumerate() {
        out.push(Case::new(
            format!("7.7.{}", i + 1),
            format!("close with valid code {code} echoed with {code}"),
            "RFC 6455 §5.5.1, §7.4",
            move |env: Env| async move {
                let mut conn = Conn::connect(env.echo, "/echo").await?;
                conn.send_frame(Frame::close(code, "reason")).await?;
                match conn.next_msg(crate::client::READ_WAIT).await? {
                    Msg::Close(Some(got), _) if got == code => {
                        conn.expect_eof(crate::client::EOF_WAIT).await?;
                        Ok(Verdict::Pass)
                    }
                    Msg::Close(Some(1000), _) => {
                        conn.expect_eof(crate::client::EOF_WAIT).await?;
                        // RFC 6455 §5.5.1: the reply "typically echos" the code: 1000 is
                        // allowed, echoing is the strict reading.
                        Ok(Verdict::NonStrict(format!(
                            "replied 1000 instead of echoing {code}"
                        )))
                    }
                    other => Err(format!("expected close {code}, got {}", other.describe())),
                }
            },
        ));
    }

    // 7.9: codes that must not appear on the wire.
    let invalid = [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ];
    for (i, code) in invalid.into_iter().enumerate() {
        out.push(scripted(
            format!("7.9.{}", i + 1),
            format!("close with invalid code {code}: fail with 1002"),
            "RFC 6455 §7.4.1, §7.4.2",
            Script::new(vec![Frame::close(code, "")]).ends(End::Close(vec![1002])),
        ));
    }

    // 7.13: the server closes TCP once the handshake is done even if the client keeps
    // its side open (checked in every case above); here with a slow client.
    out.push(Case::new(
        "7.13.1",
        "close reply read 500 ms late: TCP closed by the server all the same",
        "RFC 6455 §7.1.1",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            conn.send_frame(Frame::close(1000, "")).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            conn.expect_close(&[1000]).await?;
            Ok(Verdict::Pass)
        },
    ));
    out
}

//! Section 5, fragmentation (RFC 6455 §5.4).

use std::time::Duration;

use crate::case::{
    Case, End, Env, Expect, FAIL_AT_ONCE, Script, Verdict, fragments, noise, scripted, text_of,
};
use crate::client::{BINARY, CONT, Conn, Delivery, Frame, PING, PONG, TEXT};

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // 5.1: control frames cannot be fragmented.
    for (i, op) in [PING, PONG].into_iter().enumerate() {
        let name = if op == PING { "ping" } else { "pong" };
        out.push(scripted(
            format!("5.1.{}", i + 1),
            format!("{name} fragmented into 2 frames: fail with 1002"),
            "RFC 6455 §5.4, §5.5",
            Script::new(vec![
                Frame::new(op, b"frag".to_vec()).fin(false),
                Frame::new(CONT, b"ment".to_vec()),
            ])
            .fails(1002),
        ));
    }

    // 5.2: data messages in 2..N fragments.
    let counts = [2usize, 3, 10, 100, 1000];
    for (group, opcode, kind) in [(2, TEXT, "text"), (3, BINARY, "binary")] {
        for (i, n) in counts.into_iter().enumerate() {
            let p = if opcode == TEXT {
                text_of(n * 3, n as u64)
            } else {
                noise(n * 3, n as u64)
            };
            out.push(scripted(
                format!("5.{group}.{}", i + 1),
                format!("{kind} message in {n} fragments of 3 bytes, echoed whole"),
                "RFC 6455 §5.4",
                Script::new(fragments(opcode, &p, 3)).expect(vec![Expect::Msg(opcode, p)]),
            ));
        }
    }

    // 5.4: empty fragments.
    let empties: Vec<(&str, Vec<Frame>, Vec<u8>)> = vec![
        (
            "text of two empty fragments echoed as an empty text",
            vec![Frame::text(Vec::new()).fin(false), Frame::cont(Vec::new())],
            Vec::new(),
        ),
        (
            "empty first fragment, data, empty last fragment",
            vec![
                Frame::text(Vec::new()).fin(false),
                Frame::cont(b"middle".to_vec()).fin(false),
                Frame::cont(Vec::new()),
            ],
            b"middle".to_vec(),
        ),
        (
            "empty start, three empty continuations, data in the final fragment",
            vec![
                Frame::text(Vec::new()).fin(false),
                Frame::cont(Vec::new()).fin(false),
                Frame::cont(Vec::new()).fin(false),
                Frame::cont(Vec::new()).fin(false),
                Frame::cont(b"end".to_vec()),
            ],
            b"end".to_vec(),
        ),
    ];
    for (i, (desc, frames, whole)) in empties.into_iter().enumerate() {
        out.push(scripted(
            format!("5.4.{}", i + 1),
            desc,
            "RFC 6455 §5.4",
            Script::new(frames).expect(vec![Expect::text(whole)]),
        ));
    }

    // 5.5: continuation with nothing to continue.
    let hello = b"Hello".to_vec();
    let orphans: Vec<(&str, Vec<Frame>, Vec<Expect>)> = vec![
        (
            "continuation with FIN set and nothing to continue",
            vec![Frame::cont(b"orphan".to_vec())],
            vec![],
        ),
        (
            "continuation with FIN clear and nothing to continue",
            vec![Frame::cont(b"orphan".to_vec()).fin(false)],
            vec![],
        ),
        (
            "continuation (FIN clear), then a text message",
            vec![
                Frame::cont(b"orphan".to_vec()).fin(false),
                Frame::text(hello.clone()),
            ],
            vec![],
        ),
        (
            "complete text, then a continuation with nothing to continue",
            vec![Frame::text(hello.clone()), Frame::cont(b"orphan".to_vec())],
            vec![Expect::text(hello.clone())],
        ),
        (
            "continuation dribbled one byte per write, nothing to continue",
            vec![Frame::cont(b"orphan".to_vec())],
            vec![],
        ),
    ];
    for (i, (desc, frames, expect)) in orphans.into_iter().enumerate() {
        let delivery = if i == 4 {
            Delivery::Dribble
        } else {
            Delivery::Whole
        };
        out.push(scripted(
            format!("5.5.{}", i + 1),
            format!("{desc}: fail with 1002"),
            "RFC 6455 §5.4",
            Script::new(frames)
                .delivery(delivery)
                .expect(expect)
                .fails(1002)
                .replies_optional(FAIL_AT_ONCE),
        ));
    }

    // 5.6: a new message inside a fragmented one.
    let nested: Vec<(&str, u8, u8, bool)> = vec![
        ("text start, then a whole text", TEXT, TEXT, true),
        ("text start, then another text start", TEXT, TEXT, false),
        ("text start, then a whole binary", TEXT, BINARY, true),
        ("binary start, then a whole text", BINARY, TEXT, true),
        (
            "binary start, then another binary start",
            BINARY,
            BINARY,
            false,
        ),
    ];
    for (i, (desc, first, second, fin)) in nested.into_iter().enumerate() {
        out.push(scripted(
            format!("5.6.{}", i + 1),
            format!("{desc}: fail with 1002"),
            "RFC 6455 §5.4",
            Script::new(vec![
                Frame::new(first, b"start".to_vec()).fin(false),
                Frame::new(second, b"intruder".to_vec()).fin(fin),
                Frame::cont(b"end".to_vec()),
            ])
            .fails(1002),
        ));
    }

    // 5.7: control frames between fragments.
    let whole = b"fragmented message".to_vec();
    out.push(scripted(
        "5.7.1",
        "ping between two text fragments: pong first, then the echo",
        "RFC 6455 §5.4, §5.5.2",
        Script::new(vec![
            Frame::text(whole[..10].to_vec()).fin(false),
            Frame::ping(b"in between".to_vec()),
            Frame::cont(whole[10..].to_vec()),
        ])
        .expect(vec![
            Expect::pong(b"in between".to_vec()),
            Expect::text(whole.clone()),
        ]),
    ));
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    for (i, chunk) in whole.chunks(2).enumerate() {
        let op = if i == 0 { TEXT } else { CONT };
        frames.push(Frame::new(op, chunk.to_vec()).fin((i + 1) * 2 >= whole.len()));
        if (i + 1) * 2 < whole.len() {
            frames.push(Frame::ping(vec![i as u8]));
            expect.push(Expect::pong(vec![i as u8]));
        }
    }
    expect.push(Expect::text(whole.clone()));
    out.push(scripted(
        "5.7.2",
        "a ping after every one of 9 text fragments: 8 pongs in order, then the echo",
        "RFC 6455 §5.4, §5.5.2",
        Script::new(frames.clone()).expect(expect.clone()),
    ));
    out.push(scripted(
        "5.7.3",
        "the same, dribbled one byte per write",
        "RFC 6455 §5.4, §5.5.2",
        Script::new(frames)
            .delivery(Delivery::Dribble)
            .expect(expect),
    ));
    out.push(scripted(
        "5.7.4",
        "unsolicited pong between fragments ignored, message echoed",
        "RFC 6455 §5.4, §5.5.3",
        Script::new(vec![
            Frame::text(whole[..4].to_vec()).fin(false),
            Frame::pong(b"unsolicited".to_vec()),
            Frame::cont(whole[4..].to_vec()),
        ])
        .expect(vec![Expect::text(whole.clone())]),
    ));
    out.push(scripted(
        "5.7.5",
        "close between two fragments: close handshake, no echo",
        "RFC 6455 §5.4, §5.5.1",
        Script::new(vec![
            Frame::text(whole[..4].to_vec()).fin(false),
            Frame::close(1000, ""),
            Frame::cont(whole[4..].to_vec()),
        ])
        .ends(End::Close(vec![1000])),
    ));

    // 5.8: fragments spread over time and writes.
    let w = whole.clone();
    out.push(Case::new(
        "5.8.1",
        "text fragments each in its own write, 20 ms apart, with a ping in between: pong at once, then the echo",
        "RFC 6455 §5.4",
        move |env: Env| {
            let w = w.clone();
            async move {
                let mut conn = Conn::connect(env.echo, "/echo").await?;
                conn.send_frame(Frame::text(w[..5].to_vec()).fin(false)).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                conn.send_frame(Frame::ping(b"now".to_vec())).await?;
                conn.expect_pong(b"now").await?;
                conn.send_frame(Frame::cont(w[5..10].to_vec()).fin(false)).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                conn.send_frame(Frame::cont(w[10..].to_vec())).await?;
                conn.expect_msg(TEXT, &w).await?;
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            }
        },
    ));
    let p = text_of(300, 77);
    out.push(scripted(
        "5.8.2",
        "text in 5 fragments dribbled one byte per write, echoed",
        "RFC 6455 §5.4",
        Script::new(fragments(TEXT, &p[..60], 12))
            .delivery(Delivery::Dribble)
            .expect(vec![Expect::text(p[..60].to_vec())]),
    ));
    out.push(scripted(
        "5.8.3",
        "binary in 3 fragments sent in 5-byte writes, echoed",
        "RFC 6455 §5.4",
        Script::new(fragments(BINARY, &noise(300, 5), 100))
            .delivery(Delivery::Chunks(5))
            .expect(vec![Expect::binary(noise(300, 5))]),
    ));

    // 5.9: text and binary mixed.
    let t1 = text_of(1000, 1);
    let b1 = noise(1000, 2);
    let t2 = text_of(20, 3);
    let mut frames = fragments(TEXT, &t1, 300);
    frames.extend(fragments(BINARY, &b1, 250));
    frames.push(Frame::text(t2.clone()));
    out.push(scripted(
        "5.9.1",
        "fragmented text, fragmented binary, whole text in one write: three echoes in order",
        "RFC 6455 §5.4, §5.6",
        Script::new(frames).expect(vec![
            Expect::text(t1.clone()),
            Expect::binary(b1.clone()),
            Expect::text(t2.clone()),
        ]),
    ));
    let mut frames = fragments(BINARY, &b1, 400);
    frames.insert(1, Frame::ping(b"mid".to_vec()));
    frames.extend(fragments(TEXT, &t1, 999));
    out.push(scripted(
        "5.9.2",
        "fragmented binary with a ping inside, then fragmented text: pong, echoes in order",
        "RFC 6455 §5.4",
        Script::new(frames).expect(vec![
            Expect::pong(b"mid".to_vec()),
            Expect::binary(b1),
            Expect::text(t1),
        ]),
    ));
    out
}

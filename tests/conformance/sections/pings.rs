//! Section 2, pings and pongs (RFC 6455 §5.5.2, §5.5.3).

use crate::case::{Case, Env, Expect, Script, Verdict, noise, scripted};
use crate::client::{CONT, Conn, Delivery, Frame, PING, PONG};

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let hello = b"Hello, pong me back! ".repeat(6)[..125].to_vec();
    let bytes: Vec<u8> = (0..125u8).map(|b| b.wrapping_mul(37) ^ 0xa5).collect();
    let simple: Vec<(&str, Vec<u8>)> = vec![
        ("ping without payload answered by an empty pong", Vec::new()),
        (
            "ping with 125 bytes of text answered with the same payload",
            hello.clone(),
        ),
        (
            "ping with 125 binary bytes (not UTF-8) answered with the same payload",
            bytes.clone(),
        ),
        ("ping with 1 byte answered", vec![0xff]),
    ];
    for (i, (desc, p)) in simple.into_iter().enumerate() {
        out.push(scripted(
            format!("2.1.{}", i + 1),
            desc,
            "RFC 6455 §5.5.2, §5.5.3",
            Script::new(vec![Frame::ping(p.clone())]).expect(vec![Expect::pong(p)]),
        ));
    }

    let too_long: Vec<(&str, Frame)> = vec![
        (
            "ping with 126 bytes (16-bit length) fails with 1002",
            Frame::ping(noise(126, 1)),
        ),
        (
            "ping with 65535 bytes fails with 1002",
            Frame::ping(noise(65535, 2)),
        ),
        (
            "ping with 65536 bytes (64-bit length) fails with 1002",
            Frame::ping(noise(65536, 3)),
        ),
        (
            "fragmented ping (FIN clear, then continuation) fails with 1002",
            Frame::ping(b"ab".to_vec()).fin(false),
        ),
        (
            "pong with 126 bytes fails with 1002",
            Frame::pong(noise(126, 4)),
        ),
    ];
    for (i, (desc, f)) in too_long.into_iter().enumerate() {
        let mut frames = vec![f];
        if i == 3 {
            frames.push(Frame::cont(b"cd".to_vec()));
        }
        out.push(scripted(
            format!("2.2.{}", i + 1),
            desc,
            "RFC 6455 §5.5",
            Script::new(frames).fails(1002),
        ));
    }

    let t = b"after the pong".to_vec();
    out.push(scripted(
        "2.3.1",
        "unsolicited empty pong ignored: only the following text is echoed",
        "RFC 6455 §5.5.3",
        Script::new(vec![Frame::pong(Vec::new()), Frame::text(t.clone())])
            .expect(vec![Expect::text(t.clone())]),
    ));
    out.push(scripted(
        "2.3.2",
        "unsolicited pong with 125-byte payload ignored",
        "RFC 6455 §5.5.3",
        Script::new(vec![Frame::pong(hello.clone()), Frame::text(t.clone())])
            .expect(vec![Expect::text(t.clone())]),
    ));
    out.push(scripted(
        "2.3.3",
        "unsolicited pong, then ping: only the ping is answered",
        "RFC 6455 §5.5.3",
        Script::new(vec![
            Frame::pong(b"unsolicited".to_vec()),
            Frame::ping(b"solicited".to_vec()),
        ])
        .expect(vec![Expect::pong(b"solicited".to_vec())]),
    ));

    out.push(Case::new(
        "2.4.1",
        "10 pings in a row, each sent after the previous pong, all answered",
        "RFC 6455 §5.5.2",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            for i in 0..10u8 {
                let p = vec![i; i as usize * 12];
                conn.send_frame(Frame::ping(p.clone())).await?;
                conn.expect_pong(&p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    let pings: Vec<Vec<u8>> = (0..10u8)
        .map(|i| format!("ping {i}").into_bytes())
        .collect();
    out.push(scripted(
        "2.4.2",
        "10 pings in one write, answered by 10 pongs in order",
        "RFC 6455 §5.5.2",
        Script::new(pings.iter().map(|p| Frame::ping(p.clone())).collect())
            .expect(pings.iter().map(|p| Expect::pong(p.clone())).collect()),
    ));
    out.push(scripted(
        "2.4.3",
        "ping with 125 bytes dribbled one byte per write, answered",
        "RFC 6455 §5.5.2",
        Script::new(vec![Frame::ping(bytes.clone())])
            .delivery(Delivery::Dribble)
            .expect(vec![Expect::pong(bytes.clone())]),
    ));
    out.push(scripted(
        "2.4.4",
        "text then ping in one write: echo and pong, in either order",
        "RFC 6455 §5.5.2",
        Script::new(vec![Frame::text(t.clone()), Frame::ping(b"p".to_vec())])
            .expect(vec![Expect::text(t), Expect::pong(b"p".to_vec())])
            .unordered(),
    ));
    out.push(scripted(
        "2.4.5",
        "pong frame with FIN clear fails with 1002",
        "RFC 6455 §5.5",
        Script::new(vec![
            Frame::new(PONG, b"x".to_vec()).fin(false),
            Frame::new(CONT, Vec::new()),
        ])
        .fails(1002),
    ));
    out.push(scripted(
        "2.4.6",
        "ping frame with FIN clear and no continuation fails with 1002",
        "RFC 6455 §5.5",
        Script::new(vec![Frame::new(PING, Vec::new()).fin(false)]).fails(1002),
    ));
    out
}

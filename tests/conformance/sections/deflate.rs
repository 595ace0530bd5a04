//! Sections 12 and 13, permessage-deflate (RFC 7692) against the `deflate` server:
//! compressed messages of every size echoed (the replies inflated with the agreed
//! window and context takeover, so a server that breaks either fails here),
//! fragmented and mixed messages, the frames the extension forbids, an inflation bomb,
//! and negotiation variants whose responses must be legal.

use std::time::Duration;

use crate::case::{Case, End, Env, Outcome, Script, Verdict, fragments, noise, text_of};
use crate::client::{BINARY, CLOSE, CONT, Conn, Frame, Len, PING, PONG, RSV1, RSV2, RSV3, TEXT};
use crate::deflate::{Agreed, zero_bomb};

const KIB: usize = 1024;

/// Connects with `offer` and requires deflate to be accepted.
async fn open(env: &Env, offer: &str) -> Result<Conn, String> {
    let conn = Conn::upgrade_deflate(env.deflate, offer).await?;
    if conn.deflate.is_none() {
        return Err(format!("deflate server declined {offer:?}"));
    }
    Ok(conn)
}

/// A message compressed with the connection's deflate state, cut into fragments of
/// `frag` compressed bytes (0: one frame); RSV1 on the first frame only.
fn compressed(conn: &mut Conn, opcode: u8, payload: &[u8], frag: usize) -> Vec<Frame> {
    let data = conn.deflate.as_mut().expect("negotiated").compress(payload);
    let size = if frag == 0 { data.len().max(1) } else { frag };
    let mut frames = fragments(opcode, &data, size);
    frames[0].rsv = RSV1;
    frames
}

/// Sends `count` compressed messages in one write, expects each echoed, closes.
async fn echo_many(env: Env, offer: &str, opcode: u8, size: usize, count: usize) -> Outcome {
    let mut conn = open(&env, offer).await?;
    let mut frames = Vec::new();
    let mut sent = Vec::new();
    for i in 0..count {
        let p = if opcode == TEXT {
            text_of(size, (size + i) as u64)
        } else {
            noise(size, (size + i) as u64)
        };
        frames.extend(compressed(&mut conn, opcode, &p, 0));
        sent.push(p);
    }
    conn.send_frames(&frames, crate::client::Delivery::Whole)
        .await?;
    for p in &sent {
        conn.expect_msg_within(opcode, p, Duration::from_secs(20))
            .await?;
    }
    conn.close_normally().await?;
    Ok(Verdict::Pass)
}

fn size_name(n: usize) -> String {
    if n >= KIB {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

pub fn message_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let sizes = [16, 64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB];
    let groups: [(u8, &str, &'static str, &str); 5] = [
        (TEXT, "text", "permessage-deflate", "default parameters"),
        (
            BINARY,
            "incompressible binary",
            "permessage-deflate",
            "default parameters",
        ),
        (
            TEXT,
            "text",
            "permessage-deflate; server_no_context_takeover",
            "server_no_context_takeover",
        ),
        (
            TEXT,
            "text",
            "permessage-deflate; client_no_context_takeover",
            "client_no_context_takeover",
        ),
        (
            BINARY,
            "binary",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
            "no context takeover, 9-bit windows",
        ),
    ];
    for (g, (opcode, kind, offer, params)) in groups.into_iter().enumerate() {
        for (i, size) in sizes.into_iter().enumerate() {
            let count = if size >= 64 * KIB { 4 } else { 10 };
            let case = Case::new(
                format!("12.{}.{}", g + 1, i + 1),
                format!(
                    "{count} compressed {kind} messages of {} ({params}), echoed",
                    size_name(size)
                ),
                "RFC 7692 §6, §7.2",
                move |env: Env| echo_many(env, offer, opcode, size, count),
            );
            out.push(if size >= 64 * KIB { case.heavy() } else { case });
        }
    }

    // 12.6: fragmented compressed messages.
    for (i, frag) in [1usize, 7, 64, 1000].into_iter().enumerate() {
        out.push(Case::new(
            format!("12.6.{}", i + 1),
            format!("64 KiB text compressed, sent in fragments of {frag} compressed bytes, echoed"),
            "RFC 7692 §6.1, §7.2.1",
            move |env: Env| async move {
                let mut conn = open(&env, "permessage-deflate").await?;
                let p = text_of(64 * KIB, 6);
                let frames = compressed(&mut conn, TEXT, &p, frag);
                conn.send_frames(&frames, crate::client::Delivery::Whole)
                    .await?;
                conn.expect_msg(TEXT, &p).await?;
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        ));
    }
    out.push(Case::new(
        "12.6.5",
        "compressed message whose first fragment (RSV1) is empty and the data follows in continuations",
        "RFC 7692 §6.1",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let p = text_of(3000, 8);
            let data = conn.deflate.as_mut().expect("negotiated").compress(&p);
            let mut frames = vec![Frame::text(Vec::new()).rsv(RSV1).fin(false)];
            frames.extend(fragments(CONT, &data, 100).into_iter().map(|mut f| {
                f.opcode = CONT;
                f
            }));
            conn.send_frames(&frames, crate::client::Delivery::Whole).await?;
            conn.expect_msg(TEXT, &p).await?;
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "12.6.6",
        "uncompressed fragmented text and binary on a deflate session, echoed",
        "RFC 7692 §6",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let t = text_of(5000, 1);
            let b = noise(5000, 2);
            let mut frames = fragments(TEXT, &t, 999);
            frames.extend(fragments(BINARY, &b, 1234));
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            conn.expect_msg(TEXT, &t).await?;
            conn.expect_msg(BINARY, &b).await?;
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "12.6.7",
        "compressed fragments with pings between them: pongs, then the echo",
        "RFC 7692 §6.1; RFC 6455 §5.4",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let p = text_of(20 * KIB, 3);
            let mut frames = Vec::new();
            for (i, f) in compressed(&mut conn, TEXT, &p, 200).into_iter().enumerate() {
                frames.push(f);
                frames.push(Frame::ping(vec![i as u8]));
            }
            let pongs = frames.len() / 2;
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            // Every ping but the last precedes the final fragment: its pong comes first.
            for i in 0..pongs - 1 {
                conn.expect_pong(&[i as u8]).await?;
            }
            // The last pong and the echo may come in either order.
            let (mut echoed, mut ponged) = (false, false);
            while !(echoed && ponged) {
                match conn.next_msg(crate::client::READ_WAIT).await? {
                    crate::client::Msg::Pong(q) if !ponged && q == [(pongs - 1) as u8] => {
                        ponged = true
                    }
                    crate::client::Msg::Text(t) if !echoed && t == p => echoed = true,
                    other => return Err(format!("unexpected {}", other.describe())),
                }
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));

    // 12.7: compressed and uncompressed messages mixed on one context.
    out.push(Case::new(
        "12.7.1",
        "compressed, plain, compressed, plain, compressed texts (context kept across plain ones)",
        "RFC 7692 §6, §7.2.3.2",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let mut frames = Vec::new();
            let mut sent = Vec::new();
            for i in 0..5 {
                let p = text_of(2000, 40); // the same text: later copies refer to earlier
                if i % 2 == 0 {
                    frames.extend(compressed(&mut conn, TEXT, &p, 0));
                } else {
                    frames.push(Frame::text(p.clone()));
                }
                sent.push(p);
            }
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            for p in &sent {
                conn.expect_msg(TEXT, p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "12.7.2",
        "text and binary, compressed and plain, alternating over 20 messages",
        "RFC 7692 §6",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let mut frames = Vec::new();
            let mut sent = Vec::new();
            for i in 0..20u64 {
                let opcode = if i % 3 == 0 { BINARY } else { TEXT };
                let p = if opcode == TEXT {
                    text_of(300 + i as usize * 50, i)
                } else {
                    noise(300, i)
                };
                if i % 2 == 0 {
                    frames.extend(compressed(&mut conn, opcode, &p, 0));
                } else {
                    frames.push(Frame::new(opcode, p.clone()));
                }
                sent.push((opcode, p));
            }
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            for (op, p) in &sent {
                conn.expect_msg(*op, p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    out.push(Case::new(
        "12.7.3",
        "five messages each a complete deflate stream ending in a BFINAL block, echoed",
        "RFC 7692 §7.2.3.4",
        |env: Env| async move {
            let mut conn = open(&env, "permessage-deflate").await?;
            let mut frames = Vec::new();
            let mut sent = Vec::new();
            for i in 0..5 {
                let p = text_of(1500, 60 + i);
                let data = conn
                    .deflate
                    .as_mut()
                    .expect("negotiated")
                    .compress_final(&p);
                frames.push(Frame::text(data).rsv(RSV1));
                sent.push(p);
            }
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            for p in &sent {
                conn.expect_msg(TEXT, p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    for (i, (desc, payload)) in [
        ("00 (an empty stored block, tail removed)", vec![0x00]),
        ("02 00 (an empty fixed-Huffman block)", vec![0x02, 0x00]),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Case::new(
            format!("12.7.{}", i + 4),
            format!("empty text sent compressed as {desc}, echoed as an empty text"),
            "RFC 7692 §7.2.3.6",
            move |env: Env| {
                let payload = payload.clone();
                async move {
                    let mut conn = open(&env, "permessage-deflate").await?;
                    conn.send_frame(Frame::text(payload).rsv(RSV1)).await?;
                    conn.expect_msg(TEXT, b"").await?;
                    // The context must still work afterwards.
                    let p = text_of(500, 1);
                    let frames = compressed(&mut conn, TEXT, &p, 0);
                    conn.send_frames(&frames, crate::client::Delivery::Whole)
                        .await?;
                    conn.expect_msg(TEXT, &p).await?;
                    conn.close_normally().await?;
                    Ok(Verdict::Pass)
                }
            },
        ));
    }

    out.extend(error_cases());
    out.extend(layer_cases());
    out
}

/// 12.9: the bytes of compressed messages cut every way on the TCP level, and the
/// first frame in the handshake's own write, so the extension layer must parse
/// partial headers and the bytes hyper read past the request.
fn layer_cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.push(Case::new(
        "12.9.1",
        "handshake and a compressed text in the same write: 101, then the echo",
        "RFC 6455 §4.1; RFC 7692 §7.2",
        |env: Env| async move {
            // Compressed before the response is seen: with the default parameters a
            // plain offer is accepted with (15-bit windows, context takeover).
            let agreed = Agreed {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                server_bits_named: false,
                client_bits_named: false,
            };
            let mut early = crate::deflate::DeflateClient::new(agreed);
            let p = text_of(3000, 12);
            let key = crate::client::new_key();
            let mut bytes = crate::client::upgrade_request(
                "/echo",
                &key,
                &["Sec-WebSocket-Extensions: permessage-deflate".to_string()],
            );
            bytes.extend(Frame::text(early.compress(&p)).rsv(RSV1).encode());
            let mut conn = Conn::open(env.deflate, &bytes, crate::client::Delivery::Whole).await?;
            conn.check_101(&key)?;
            let Some(agreed) =
                crate::deflate::check_response("permessage-deflate", &conn.response)?
            else {
                return Err("deflate declined".into());
            };
            // `client_no_context_takeover` in the answer (the server asks for it by
            // default) changes nothing for a first message: there is no context yet.
            if agreed.client_max_window_bits < 15 {
                return Err(format!(
                    "unexpected parameters for a plain offer: {agreed:?}"
                ));
            }
            conn.deflate = Some(crate::deflate::DeflateClient::new(agreed));
            conn.expect_msg(TEXT, &p).await?;
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));
    let chops: [(crate::client::Delivery, &str); 4] = [
        (crate::client::Delivery::Dribble, "one byte per write"),
        (crate::client::Delivery::Chunks(3), "3-byte writes"),
        (crate::client::Delivery::Chunks(1000), "1000-byte writes"),
        (
            crate::client::Delivery::DribbleFirst(30),
            "the first 30 bytes one per write",
        ),
    ];
    for (i, (delivery, how)) in chops.into_iter().enumerate() {
        out.push(Case::new(
            format!("12.9.{}", i + 2),
            format!("compressed texts of 100 B, 200 B (fragmented) and 70 KiB in {how}, echoed"),
            "RFC 6455 §5.2; RFC 7692 §6",
            move |env: Env| async move {
                let mut conn = open(&env, "permessage-deflate").await?;
                let a = text_of(100, 1);
                let b = text_of(200, 2);
                let c = noise(70 * KIB, 3);
                let mut frames = compressed(&mut conn, TEXT, &a, 0);
                frames.extend(compressed(&mut conn, TEXT, &b, 40));
                frames.extend(compressed(&mut conn, BINARY, &c, 0));
                if delivery == crate::client::Delivery::Dribble {
                    frames.pop(); // 70 KiB one byte at a time would take minutes
                }
                let bytes = crate::client::concat(&frames);
                conn.send(&bytes, delivery).await?;
                conn.expect_msg(TEXT, &a).await?;
                conn.expect_msg(TEXT, &b).await?;
                if delivery != crate::client::Delivery::Dribble {
                    conn.expect_msg(BINARY, &c).await?;
                }
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        ));
    }
    out.push(
        Case::new(
            "12.9.6",
            "65 MiB uncompressed binary in 65 fragments of 1 MiB on a deflate session: fail with 1009",
            "RFC 6455 §7.4.1 (1009)",
            |env: Env| async move {
                let mut conn = open(&env, "permessage-deflate").await?;
                let chunk = noise(1 << 20, 3);
                for i in 0..65 {
                    let op = if i == 0 { BINARY } else { CONT };
                    let frame = Frame::new(op, chunk.clone()).fin(i == 64).mask([0; 4]);
                    if conn.send(&frame.encode(), crate::client::Delivery::Whole).await.is_err() {
                        break;
                    }
                }
                conn.expect_close_within(&[1009], Duration::from_secs(30)).await?;
                Ok(Verdict::Pass)
            },
        )
        .heavy(),
    );
    out
}

/// A case on a deflate session: frames built after the handshake, then the script.
fn deflate_script(
    id: String,
    desc: String,
    rfc: &'static str,
    build: fn(&mut Conn) -> Script,
) -> Case {
    Case::new(id, desc, rfc, move |env: Env| async move {
        let mut conn = open(&env, "permessage-deflate").await?;
        build(&mut conn).run_on(&mut conn).await
    })
}

/// 12.8: what a deflate session must refuse.
fn error_cases() -> Vec<Case> {
    type Build = fn(&mut Conn) -> Script;
    let list: Vec<(&str, &'static str, Build)> = vec![
        (
            "RSV1 on a continuation frame: fail with 1002",
            "RFC 7692 §6.1",
            |c| {
                let mut frames = compressed(c, TEXT, &text_of(2000, 1), 100);
                frames[1].rsv = RSV1;
                Script::new(frames).fails(1002)
            },
        ),
        (
            "RSV1 on a continuation of an uncompressed message: fail with 1002",
            "RFC 7692 §6.1",
            |_| {
                Script::new(vec![
                    Frame::text(b"plain".to_vec()).fin(false),
                    Frame::cont(b"x".to_vec()).rsv(RSV1),
                ])
                .fails(1002)
            },
        ),
        (
            "RSV1 on a ping: fail with 1002",
            "RFC 7692 §6.1; RFC 6455 §5.2",
            |_| Script::new(vec![Frame::new(PING, b"p".to_vec()).rsv(RSV1)]).fails(1002),
        ),
        (
            "RSV1 on a pong: fail with 1002",
            "RFC 7692 §6.1; RFC 6455 §5.2",
            |_| Script::new(vec![Frame::new(PONG, b"p".to_vec()).rsv(RSV1)]).fails(1002),
        ),
        (
            "RSV1 on a close frame: fail with 1002",
            "RFC 7692 §6.1; RFC 6455 §5.2",
            |_| Script::new(vec![Frame::close(1000, "").rsv(RSV1)]).fails(1002),
        ),
        (
            "RSV2 (not negotiated) on a text: fail with 1002",
            "RFC 6455 §5.2",
            |_| Script::new(vec![Frame::text(b"x".to_vec()).rsv(RSV2)]).fails(1002),
        ),
        (
            "RSV1+RSV3 on a compressed text: fail with 1002",
            "RFC 6455 §5.2",
            |c| {
                let mut frames = compressed(c, TEXT, b"hello", 0);
                frames[0].rsv = RSV1 | RSV3;
                Script::new(frames).fails(1002)
            },
        ),
        (
            "corrupt deflate data (FF FF FF) with RSV1: fail (1007, or 1002)",
            "RFC 7692 §8.1 (Fail the connection)",
            |_| {
                Script::new(vec![Frame::text(vec![0xff, 0xff, 0xff]).rsv(RSV1)])
                    .ends(End::Close(vec![1007, 1002]))
            },
        ),
        (
            "compressed text that inflates to invalid UTF-8: fail with 1007",
            "RFC 6455 §8.1; RFC 7692 §6",
            |c| {
                let mut bad = text_of(1000, 3);
                bad.extend_from_slice(&[0xed, 0xa0, 0x80]);
                Script::new(compressed(c, TEXT, &bad, 0)).fails(1007)
            },
        ),
        (
            "compressed fragmented text, invalid UTF-8 in the middle fragment: fail with 1007",
            "RFC 6455 §8.1",
            |c| {
                let mut bad = text_of(3000, 4);
                bad[1500] = 0xff;
                Script::new(compressed(c, TEXT, &bad, 300)).fails(1007)
            },
        ),
        (
            "plain invalid UTF-8 text on a deflate session: fail with 1007",
            "RFC 6455 §8.1",
            |_| Script::new(vec![Frame::text(vec![b'a', 0xc0, 0xaf])]).fails(1007),
        ),
        (
            "new compressed text inside a fragmented compressed text: fail with 1002",
            "RFC 6455 §5.4",
            |c| {
                let first = compressed(c, TEXT, &text_of(3000, 5), 500);
                let second = compressed(c, TEXT, b"intruder", 0);
                let mut frames = vec![first[0].clone()];
                frames.extend(second);
                frames.extend(first[1..].iter().cloned());
                Script::new(frames).fails(1002)
            },
        ),
        (
            "new plain text inside a fragmented compressed text: fail with 1002",
            "RFC 6455 §5.4",
            |c| {
                let first = compressed(c, TEXT, &text_of(3000, 5), 500);
                let mut frames = vec![first[0].clone(), Frame::text(b"intruder".to_vec())];
                frames.extend(first[1..].iter().cloned());
                Script::new(frames).fails(1002)
            },
        ),
        (
            "continuation with nothing to continue on a deflate session: fail with 1002",
            "RFC 6455 §5.4",
            |_| Script::new(vec![Frame::cont(b"orphan".to_vec())]).fails(1002),
        ),
        (
            "unmasked compressed text: fail with 1002",
            "RFC 6455 §5.1",
            |c| {
                let frames = compressed(c, TEXT, b"hello hello", 0);
                Script::new(frames.into_iter().map(Frame::unmasked).collect()).fails(1002)
            },
        ),
        (
            "reserved opcode 3 with RSV1 on a deflate session: fail with 1002",
            "RFC 6455 §5.2",
            |_| Script::new(vec![Frame::new(3, b"x".to_vec()).rsv(RSV1)]).fails(1002),
        ),
        (
            "ping of 126 bytes on a deflate session: fail with 1002",
            "RFC 6455 §5.5",
            |_| Script::new(vec![Frame::ping(vec![1; 126])]).fails(1002),
        ),
        (
            "close with a 1-byte body on a deflate session: fail with 1002",
            "RFC 6455 §5.5.1",
            |_| Script::new(vec![Frame::new(CLOSE, vec![3])]).fails(1002),
        ),
        (
            "frame header announcing 64 MiB + 1 with RSV1: fail with 1009",
            "RFC 6455 §7.4.1 (1009)",
            |_| {
                Script::new(vec![
                    Frame::text(Vec::new())
                        .rsv(RSV1)
                        .len(Len::Declared((64 << 20) + 1)),
                ])
                .fails(1009)
            },
        ),
    ];
    let mut out: Vec<Case> = list
        .into_iter()
        .enumerate()
        .map(|(i, (desc, rfc, build))| {
            deflate_script(format!("12.8.{}", i + 1), desc.to_string(), rfc, build)
        })
        .collect();
    let n = out.len();
    for (j, fragments_count) in [1usize, 10].into_iter().enumerate() {
        out.push(
            Case::new(
                format!("12.8.{}", n + j + 1),
                format!(
                    "inflation bomb: 100 MiB of zeros deflated to ~100 KB, in {fragments_count} fragment(s): fail with 1009, memory bounded"
                ),
                "RFC 7692 §8.1; RFC 6455 §10.4",
                move |env: Env| async move {
                    let mut conn = open(&env, "permessage-deflate").await?;
                    let bomb = zero_bomb(100);
                    let size = bomb.len().div_ceil(fragments_count);
                    let mut frames = fragments(BINARY, &bomb, size);
                    frames[0].rsv = RSV1;
                    let _ = conn.send_frames(&frames, crate::client::Delivery::Whole).await;
                    conn.expect_close_within(&[1009], Duration::from_secs(30)).await?;
                    Ok(Verdict::Pass)
                },
            )
            .heavy(),
        );
    }
    out.push(Case::new(
        format!("12.8.{}", n + 3),
        "RSV1 text on a session where deflate was not offered: fail with 1002",
        "RFC 6455 §5.2; RFC 7692 §6",
        |env: Env| async move {
            let mut conn = Conn::connect(env.deflate, "/echo").await?;
            if conn.response.header("sec-websocket-extensions").is_some() {
                return Err("server answered an extension nobody offered".into());
            }
            Script::new(vec![
                Frame::text(vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).rsv(RSV1),
            ])
            .fails(1002)
            .run_on(&mut conn)
            .await
        },
    ));
    out
}

/// What a negotiation case expects.
#[derive(Clone, Copy)]
enum Want {
    Declined,
    Accepted(fn(&Agreed) -> Result<(), String>),
}

fn any(_: &Agreed) -> Result<(), String> {
    Ok(())
}

/// After negotiating: three compressed texts and one binary round trip with the
/// agreed parameters; or, when declined, a plain echo and an RSV1 frame refused.
async fn negotiate(env: Env, offer: &'static str, want: Want) -> Outcome {
    let mut conn = Conn::upgrade_deflate(env.deflate, offer).await?;
    match (want, conn.agreed().cloned()) {
        (Want::Declined, Some(a)) => Err(format!("accepted an offer it should decline: {a:?}")),
        (Want::Accepted(_), None) => Err("declined an acceptable offer".into()),
        (Want::Declined, None) => {
            conn.send_frame(Frame::text(b"plain".to_vec())).await?;
            conn.expect_msg(TEXT, b"plain").await?;
            Script::new(vec![
                Frame::text(vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).rsv(RSV1),
            ])
            .fails(1002)
            .run_on(&mut conn)
            .await
        }
        (Want::Accepted(check), Some(agreed)) => {
            check(&agreed)?;
            let mut frames = Vec::new();
            let mut sent = Vec::new();
            for i in 0..3 {
                let p = text_of(KIB + i * 100, 70);
                frames.extend(compressed(&mut conn, TEXT, &p, 0));
                sent.push((TEXT, p));
            }
            let b = noise(10 * KIB, 71);
            frames.extend(compressed(&mut conn, BINARY, &b, 0));
            sent.push((BINARY, b));
            conn.send_frames(&frames, crate::client::Delivery::Whole)
                .await?;
            for (op, p) in &sent {
                conn.expect_msg(*op, p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        }
    }
}

pub fn negotiation_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let list: Vec<(&'static str, Want, &str)> = vec![
        (
            "permessage-deflate",
            Want::Accepted(any),
            "plain offer accepted",
        ),
        (
            "permessage-deflate; client_max_window_bits",
            Want::Accepted(any),
            "client_max_window_bits without value accepted",
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            Want::Accepted(any),
            "client_max_window_bits=9 accepted",
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            Want::Accepted(any),
            "client_max_window_bits=12 accepted",
        ),
        (
            "permessage-deflate; client_max_window_bits=15",
            Want::Accepted(any),
            "client_max_window_bits=15 accepted",
        ),
        (
            "permessage-deflate; client_max_window_bits=8",
            Want::Accepted(any),
            "client_max_window_bits=8 accepted (the client's problem)",
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            Want::Accepted(|a| le(a, 9)),
            "server_max_window_bits=9 accepted, window ≤ 9",
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            Want::Accepted(|a| le(a, 10)),
            "server_max_window_bits=10 accepted, window ≤ 10",
        ),
        (
            "permessage-deflate; server_max_window_bits=11",
            Want::Accepted(|a| le(a, 11)),
            "server_max_window_bits=11 accepted, window ≤ 11",
        ),
        (
            "permessage-deflate; server_max_window_bits=12",
            Want::Accepted(|a| le(a, 12)),
            "server_max_window_bits=12 accepted, window ≤ 12",
        ),
        (
            "permessage-deflate; server_max_window_bits=13",
            Want::Accepted(|a| le(a, 13)),
            "server_max_window_bits=13 accepted, window ≤ 13",
        ),
        (
            "permessage-deflate; server_max_window_bits=14",
            Want::Accepted(|a| le(a, 14)),
            "server_max_window_bits=14 accepted, window ≤ 14",
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            Want::Accepted(|a| le(a, 15)),
            "server_max_window_bits=15 accepted",
        ),
        (
            "permessage-deflate; server_max_window_bits=\"10\"",
            Want::Accepted(|a| le(a, 10)),
            "quoted server_max_window_bits=\"10\" accepted, window ≤ 10",
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            Want::Accepted(|a| nct(a.server_no_context_takeover, "server")),
            "server_no_context_takeover accepted and honoured",
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Want::Accepted(any),
            "client_no_context_takeover accepted",
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Want::Accepted(|a| nct(a.server_no_context_takeover, "server")),
            "both no_context_takeover accepted",
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10",
            Want::Accepted(|a| le(a, 10)),
            "all four parameters accepted",
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            Want::Declined,
            "server_max_window_bits=8 declined (zlib cannot deflate with 256 bytes)",
        ),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate",
            Want::Accepted(|a| {
                if a.server_bits_named && a.server_max_window_bits == 8 {
                    Err("took the 8-bit offer".into())
                } else {
                    Ok(())
                }
            }),
            "8-bit offer declined, the next one taken",
        ),
        (
            "permessage-deflate; unknown_param",
            Want::Declined,
            "unknown parameter: offer declined",
        ),
        (
            "permessage-deflate; unknown_param, permessage-deflate; client_no_context_takeover",
            Want::Accepted(any),
            "first offer has an unknown parameter: second taken",
        ),
        (
            "permessage-deflate; server_max_window_bits",
            Want::Declined,
            "server_max_window_bits without value declined",
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            Want::Declined,
            "server_max_window_bits=16 declined",
        ),
        (
            "permessage-deflate; server_max_window_bits=08",
            Want::Declined,
            "server_max_window_bits=08 (leading zero) declined",
        ),
        (
            "permessage-deflate; client_max_window_bits=7",
            Want::Declined,
            "client_max_window_bits=7 declined",
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            Want::Declined,
            "server_no_context_takeover with a value declined",
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            Want::Declined,
            "repeated parameter declined",
        ),
        (
            "permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=12",
            Want::Accepted(|a| le(a, 10)),
            "two acceptable offers: the first taken",
        ),
        (
            "permessage-deflate; server_max_window_bits=11\npermessage-deflate",
            Want::Accepted(|a| le(a, 11)),
            "offers on two header lines: the first taken",
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate",
            Want::Accepted(any),
            "unknown extension listed first: only permessage-deflate accepted",
        ),
        (
            "x-unknown-extension; a=1",
            Want::Declined,
            "only an unknown extension offered: nothing accepted",
        ),
    ];
    for (i, (offer, want, desc)) in list.into_iter().enumerate() {
        out.push(Case::new(
            format!("13.1.{}", i + 1),
            format!("{desc}; response legal, messages round-trip"),
            "RFC 7692 §5, §7.1",
            move |env: Env| negotiate(env, offer, want),
        ));
    }

    // 13.2: windows really kept. Repeats at a distance just beyond 2^bits would be
    // referenced by a compressor with a bigger window; the inflater here has only
    // 2^bits, so a server that ignores the limit fails.
    for bits in 9..=15u8 {
        out.push(Case::new(
            format!("13.2.{}", bits - 8),
            format!("server_max_window_bits={bits}: replies inflate with a {bits}-bit window"),
            "RFC 7692 §7.1.2.1",
            move |env: Env| async move {
                let offer = format!("permessage-deflate; server_max_window_bits={bits}");
                let mut conn = open(&env, &offer).await?;
                le(conn.agreed().expect("open checks"), bits)?;
                let block = noise((1 << bits) + 100, bits as u64);
                let p: Vec<u8> = block.iter().chain(&block).chain(&block).copied().collect();
                conn.send_frame(Frame::binary(p.clone())).await?;
                conn.expect_msg_within(BINARY, &p, Duration::from_secs(20))
                    .await?;
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        ));
    }
    for bits in 9..=15u8 {
        out.push(Case::new(
            format!("13.3.{}", bits - 8),
            format!("client_max_window_bits={bits}: the server inflates what we deflate with a {bits}-bit window"),
            "RFC 7692 §7.1.2.2",
            move |env: Env| async move {
                let offer = format!("permessage-deflate; client_max_window_bits={bits}");
                let mut conn = open(&env, &offer).await?;
                let block = text_of((1 << bits) - 300, bits as u64);
                let p: Vec<u8> = block.iter().chain(&block).chain(&block).copied().collect();
                let frames = compressed(&mut conn, TEXT, &p, 0);
                conn.send_frames(&frames, crate::client::Delivery::Whole).await?;
                conn.expect_msg_within(TEXT, &p, Duration::from_secs(20)).await?;
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        ));
    }
    out
}

fn le(a: &Agreed, limit: u8) -> Result<(), String> {
    if a.server_bits_named && a.server_max_window_bits <= limit {
        Ok(())
    } else {
        Err(format!(
            "response does not limit server_max_window_bits to {limit} (got {:?})",
            a.server_bits_named.then_some(a.server_max_window_bits)
        ))
    }
}

fn nct(on: bool, side: &str) -> Result<(), String> {
    if on {
        Ok(())
    } else {
        Err(format!(
            "{side}_no_context_takeover missing from the response"
        ))
    }
}

//! Section 9, large messages, many fragments, many messages, and the size limit
//! (the servers under test use the default `max_message_size`, 64 MiB).

use crate::case::{Case, Env, Expect, Script, Verdict, fragments, noise, scripted, text_of};
use crate::client::{BINARY, Conn, Delivery, Frame, Len, TEXT};

const KIB: usize = 1024;
const MIB: usize = 1 << 20;
const LIMIT: usize = 64 * MIB;

fn payload(opcode: u8, len: usize, seed: u64) -> Vec<u8> {
    if opcode == TEXT {
        text_of(len, seed)
    } else {
        noise(len, seed)
    }
}

fn size_name(len: usize) -> String {
    if len >= MIB && len.is_multiple_of(MIB) {
        format!("{} MiB", len / MIB)
    } else if len >= KIB && len.is_multiple_of(KIB) {
        format!("{} KiB", len / KIB)
    } else {
        format!("{len} bytes")
    }
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (g, opcode, kind) in [(1, TEXT, "text"), (2, BINARY, "binary")] {
        for (i, len) in [64 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB]
            .into_iter()
            .enumerate()
        {
            let p = payload(opcode, len, i as u64 + 90);
            let case = scripted(
                format!("9.{g}.{}", i + 1),
                format!("{kind} message of {} in one frame, echoed", size_name(len)),
                "RFC 6455 §5.2",
                Script::new(vec![Frame::new(opcode, p.clone())])
                    .expect(vec![Expect::Msg(opcode, p)]),
            );
            out.push(if len > MIB { case.heavy() } else { case });
        }
    }
    for (g, opcode, kind) in [(3, TEXT, "text"), (4, BINARY, "binary")] {
        let p = payload(opcode, MIB, g);
        for (i, size) in [KIB, 2 * KIB, 4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB]
            .into_iter()
            .enumerate()
        {
            out.push(
                scripted(
                    format!("9.{g}.{}", i + 1),
                    format!(
                        "1 MiB {kind} message in {} fragments of {}, echoed",
                        MIB / size,
                        size_name(size)
                    ),
                    "RFC 6455 §5.4",
                    Script::new(fragments(opcode, &p, size))
                        .expect(vec![Expect::Msg(opcode, p.clone())]),
                )
                .heavy(),
            );
        }
    }
    for (g, opcode, kind) in [(5, TEXT, "text"), (6, BINARY, "binary")] {
        let p = payload(opcode, MIB, g + 10);
        for (i, chop) in [64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB]
            .into_iter()
            .enumerate()
        {
            out.push(
                scripted(
                    format!("9.{g}.{}", i + 1),
                    format!(
                        "1 MiB {kind} frame written in chops of {}, echoed",
                        size_name(chop)
                    ),
                    "RFC 6455 §5.2",
                    Script::new(vec![Frame::new(opcode, p.clone())])
                        .delivery(Delivery::Chunks(chop))
                        .expect(vec![Expect::Msg(opcode, p.clone())]),
                )
                .heavy(),
            );
        }
    }

    // 9.7: many messages.
    let small: Vec<Vec<u8>> = (0..1000).map(|i| text_of(16, i)).collect();
    out.push(scripted(
        "9.7.1",
        "1000 text messages of 16 bytes in one write, all echoed in order",
        "RFC 6455 §6.2",
        Script::new(small.iter().map(|p| Frame::text(p.clone())).collect())
            .expect(small.iter().map(|p| Expect::text(p.clone())).collect()),
    ));
    let kib: Vec<Vec<u8>> = (0..1000).map(|i| noise(KIB, i)).collect();
    out.push(
        scripted(
            "9.7.2",
            "1000 binary messages of 1 KiB in one write, all echoed in order",
            "RFC 6455 §6.2",
            Script::new(kib.iter().map(|p| Frame::binary(p.clone())).collect())
                .expect(kib.iter().map(|p| Expect::binary(p.clone())).collect()),
        )
        .heavy(),
    );
    out.push(Case::new(
        "9.7.3",
        "200 round trips of a 64-byte text, each sent after the previous echo",
        "RFC 6455 §6.2",
        |env: Env| async move {
            let mut conn = Conn::connect(env.echo, "/echo").await?;
            for i in 0..200 {
                let p = text_of(64, i);
                conn.send_frame(Frame::text(p.clone())).await?;
                conn.expect_msg(TEXT, &p).await?;
            }
            conn.close_normally().await?;
            Ok(Verdict::Pass)
        },
    ));

    // 9.9: the size limit.
    out.push(scripted(
        "9.9.1",
        "frame header announcing 64 MiB + 1 (no payload sent): fail with 1009 at once",
        "RFC 6455 §7.4.1 (1009)",
        Script::new(vec![
            Frame::binary(Vec::new()).len(Len::Declared(LIMIT as u64 + 1)),
        ])
        .fails(1009),
    ));
    out.push(scripted(
        "9.9.2",
        "frame header announcing 2^62 bytes: fail with 1009 at once",
        "RFC 6455 §7.4.1 (1009)",
        Script::new(vec![Frame::binary(Vec::new()).len(Len::Declared(1 << 62))]).fails(1009),
    ));
    out.push(scripted(
        "9.9.3",
        "64-bit length with its most significant bit set: fail (1002, or 1009 as too big)",
        "RFC 6455 §5.2",
        Script::new(vec![
            Frame::text(Vec::new()).len(Len::Declared((1 << 63) + 5)),
        ])
        .ends(crate::case::End::Close(vec![1002, 1009])),
    ));
    out.push(scripted(
        "9.9.4",
        "text fragment announcing 64 MiB + 1 after a 10-byte first fragment: fail with 1009",
        "RFC 6455 §7.4.1 (1009)",
        Script::new(vec![
            Frame::text(b"0123456789".to_vec()).fin(false),
            Frame::cont(Vec::new()).len(Len::Declared(LIMIT as u64 + 1)),
        ])
        .fails(1009),
    ));
    out.push(
        Case::new(
            "9.9.5",
            "65 MiB binary message in 65 fragments of 1 MiB: fail with 1009",
            "RFC 6455 §7.4.1 (1009)",
            |env: Env| async move {
                let mut conn = Conn::connect(env.echo, "/echo").await?;
                let chunk = noise(MIB, 3);
                for i in 0..65 {
                    let op = if i == 0 { BINARY } else { crate::client::CONT };
                    // A zero mask keeps this cheap in debug builds; it is legal.
                    let frame = Frame::new(op, chunk.clone()).fin(i == 64).mask([0; 4]);
                    if conn.send(&frame.encode(), Delivery::Whole).await.is_err() {
                        break;
                    }
                }
                conn.expect_close_within(&[1009], std::time::Duration::from_secs(30))
                    .await?;
                Ok(Verdict::Pass)
            },
        )
        .heavy(),
    );
    out.push(
        Case::new(
            "9.9.6",
            "exactly 64 MiB (the limit) in 64 fragments of 1 MiB: accepted and echoed",
            "RFC 6455 §5.4; the max_message_size option",
            |env: Env| async move {
                let mut conn = Conn::connect(env.echo, "/echo").await?;
                let chunk = noise(MIB, 4);
                for i in 0..64 {
                    let op = if i == 0 { BINARY } else { crate::client::CONT };
                    let frame = Frame::new(op, chunk.clone()).fin(i == 63).mask([0; 4]);
                    conn.send(&frame.encode(), Delivery::Whole).await?;
                }
                let echo = conn.next_reply(std::time::Duration::from_secs(40)).await?;
                match &echo {
                    crate::client::Msg::Binary(data) if data.len() == LIMIT => {
                        if data.chunks(MIB).any(|c| c != chunk.as_slice()) {
                            return Err("the 64 MiB echo differs".into());
                        }
                    }
                    other => {
                        return Err(format!(
                            "expected the 64 MiB echo, got {}",
                            other.describe()
                        ));
                    }
                }
                conn.close_normally().await?;
                Ok(Verdict::Pass)
            },
        )
        .heavy(),
    );
    out
}

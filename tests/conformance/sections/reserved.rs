//! Sections 3 and 4: reserved bits and reserved opcodes, which a server without a
//! negotiated extension must refuse by failing the connection with 1002.

use crate::case::{Case, Expect, FAIL_AT_ONCE, Script, scripted};
use crate::client::{BINARY, CONT, Frame, PING, PONG, TEXT};

fn rsv_name(rsv: u8) -> String {
    let names: Vec<&str> = [(4, "RSV1"), (2, "RSV2"), (1, "RSV3")]
        .into_iter()
        .filter(|(bit, _)| rsv & bit != 0)
        .map(|(_, n)| n)
        .collect();
    names.join("+")
}

/// Section 3: every combination of RSV bits on every kind of frame.
pub fn rsv_cases() -> Vec<Case> {
    let mut out = Vec::new();
    type Variant = (&'static str, fn(u8) -> (Vec<Frame>, Vec<Expect>));
    let variants: [Variant; 7] = [
        ("text frame", |rsv| {
            (vec![Frame::text(b"Hello".to_vec()).rsv(rsv)], vec![])
        }),
        ("binary frame", |rsv| {
            (vec![Frame::binary(vec![0, 1, 2, 0xff]).rsv(rsv)], vec![])
        }),
        ("ping frame", |rsv| {
            (vec![Frame::ping(b"ping".to_vec()).rsv(rsv)], vec![])
        }),
        ("pong frame", |rsv| {
            (vec![Frame::pong(b"pong".to_vec()).rsv(rsv)], vec![])
        }),
        ("close frame", |rsv| {
            (vec![Frame::close(1000, "").rsv(rsv)], vec![])
        }),
        (
            "text frame after a valid one in the same write (then a ping that must stay unanswered)",
            |rsv| {
                let hello = b"Hello, world".to_vec();
                (
                    vec![
                        Frame::text(hello.clone()),
                        Frame::text(b"again".to_vec()).rsv(rsv),
                        Frame::ping(b"too late".to_vec()),
                    ],
                    vec![Expect::text(hello)],
                )
            },
        ),
        ("continuation frame of a fragmented text", |rsv| {
            (
                vec![
                    Frame::text(b"frag".to_vec()).fin(false),
                    Frame::cont(b"ment".to_vec()).rsv(rsv),
                ],
                vec![],
            )
        }),
    ];
    for (v, (what, build)) in variants.into_iter().enumerate() {
        for rsv in 1..=7u8 {
            let (frames, expect) = build(rsv);
            out.push(scripted(
                format!("3.{}.{rsv}", v + 1),
                format!("{} set on a {what}: fail with 1002", rsv_name(rsv)),
                "RFC 6455 §5.2",
                Script::new(frames)
                    .expect(expect)
                    .fails(1002)
                    .replies_optional(FAIL_AT_ONCE),
            ));
        }
    }
    out
}

/// Section 4: reserved data opcodes 3–7 and control opcodes 11–15.
pub fn opcode_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let opcodes: Vec<u8> = (3..=7).chain(11..=15).collect();
    let kind = |op: u8| if op < 8 { "data" } else { "control" };
    for (i, &op) in opcodes.iter().enumerate() {
        out.push(scripted(
            format!("4.1.{}", i + 1),
            format!(
                "reserved {} opcode {op} without payload: fail with 1002",
                kind(op)
            ),
            "RFC 6455 §5.2",
            Script::new(vec![Frame::new(op, Vec::new())]).fails(1002),
        ));
        out.push(scripted(
            format!("4.2.{}", i + 1),
            format!(
                "reserved {} opcode {op} with a payload: fail with 1002",
                kind(op)
            ),
            "RFC 6455 §5.2",
            Script::new(vec![Frame::new(op, b"reserved opcode".to_vec())]).fails(1002),
        ));
        let hello = b"Hello".to_vec();
        out.push(scripted(
            format!("4.3.{}", i + 1),
            format!(
                "valid text, reserved opcode {op}, ping in one write: echo, then 1002, no pong"
            ),
            "RFC 6455 §5.2",
            Script::new(vec![
                Frame::text(hello.clone()),
                Frame::new(op, b"x".to_vec()),
                Frame::new(PING, b"too late".to_vec()),
            ])
            .expect(vec![Expect::text(hello)])
            .fails(1002)
            .replies_optional(FAIL_AT_ONCE),
        ));
        out.push(scripted(
            format!("4.4.{}", i + 1),
            format!("reserved opcode {op} between two fragments of a text: fail with 1002"),
            "RFC 6455 §5.2, §5.4",
            Script::new(vec![
                Frame::new(TEXT, b"frag".to_vec()).fin(false),
                Frame::new(op, Vec::new()),
                Frame::new(CONT, b"ment".to_vec()),
            ])
            .fails(1002),
        ));
    }
    // Opcodes that are valid in one place only.
    out.push(scripted(
        "4.5.1",
        "pong between two fragments of a binary message ignored, the message echoed",
        "RFC 6455 §5.4, §5.5.3",
        Script::new(vec![
            Frame::new(BINARY, vec![1, 2]).fin(false),
            Frame::new(PONG, Vec::new()),
            Frame::new(CONT, vec![3]),
        ])
        .expect(vec![Expect::binary(vec![1, 2, 3])]),
    ));
    out
}

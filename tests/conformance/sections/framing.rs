//! Section 1, framing: payload lengths at every length-form boundary, echoed exactly,
//! however the bytes are cut on the TCP level; several frames per write; masks.

use crate::case::{Case, Expect, Script, noise, scripted, text_of};
use crate::client::{BINARY, Delivery, Frame, TEXT};

const SIZES: [usize; 8] = [0, 125, 126, 127, 128, 65535, 65536, 1 << 20];

fn frame(opcode: u8, payload: Vec<u8>) -> Frame {
    Frame::new(opcode, payload)
}

fn payload(opcode: u8, len: usize, seed: u64) -> Vec<u8> {
    if opcode == TEXT {
        text_of(len, seed)
    } else {
        noise(len, seed)
    }
}

fn form(len: usize) -> &'static str {
    match len {
        0..=125 => "7-bit length",
        126..=65535 => "16-bit length",
        _ => "64-bit length",
    }
}

fn echo(opcode: u8, len: usize, delivery: Delivery) -> Script {
    let p = payload(opcode, len, len as u64 + 1);
    Script::new(vec![frame(opcode, p.clone())])
        .delivery(delivery)
        .expect(vec![Expect::Msg(opcode, p)])
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (group, opcode, kind) in [(1, TEXT, "text"), (2, BINARY, "binary")] {
        for (i, len) in SIZES.into_iter().enumerate() {
            let case = scripted(
                format!("1.{group}.{}", i + 1),
                format!("{kind} message of {len} bytes ({}) echoed", form(len)),
                "RFC 6455 §5.2, §5.6",
                echo(opcode, len, Delivery::Whole),
            );
            out.push(if len >= 1 << 20 { case.heavy() } else { case });
        }
    }

    // 1.3: the same bytes cut differently on the TCP level.
    let chopped: Vec<(u8, usize, Delivery, String)> = vec![
        (TEXT, 125, Delivery::Dribble, "one byte per write".into()),
        (TEXT, 126, Delivery::Dribble, "one byte per write".into()),
        (BINARY, 127, Delivery::Dribble, "one byte per write".into()),
        (
            BINARY,
            65535,
            Delivery::DribbleFirst(8),
            "its header one byte per write, then the rest".into(),
        ),
        (
            BINARY,
            65536,
            Delivery::DribbleFirst(14),
            "its header one byte per write, then the rest".into(),
        ),
        (BINARY, 8192, Delivery::Chunks(2), "2-byte writes".into()),
        (TEXT, 65536, Delivery::Chunks(7), "7-byte writes".into()),
        (BINARY, 65536, Delivery::Chunks(64), "64-byte writes".into()),
        (TEXT, 65535, Delivery::Chunks(997), "997-byte writes".into()),
        (
            BINARY,
            65536,
            Delivery::Chunks(4093),
            "4093-byte writes".into(),
        ),
        (
            BINARY,
            1 << 20,
            Delivery::DribbleFirst(14),
            "its header one byte per write, then the rest".into(),
        ),
        (
            TEXT,
            1 << 20,
            Delivery::Chunks(1000),
            "1000-byte writes".into(),
        ),
        (
            BINARY,
            1 << 20,
            Delivery::Chunks(65536),
            "64 KiB writes".into(),
        ),
        (
            BINARY,
            1 << 20,
            Delivery::Chunks(131_071),
            "131071-byte writes".into(),
        ),
    ];
    for (i, (opcode, len, delivery, how)) in chopped.into_iter().enumerate() {
        let kind = if opcode == TEXT { "text" } else { "binary" };
        let case = scripted(
            format!("1.3.{}", i + 1),
            format!("{kind} message of {len} bytes sent with {how}, echoed"),
            "RFC 6455 §5.2",
            echo(opcode, len, delivery),
        );
        out.push(if len >= 1 << 20 { case.heavy() } else { case });
    }

    // 1.4: several frames in one write.
    let ten: Vec<Vec<u8>> = (0..10).map(|i| text_of(10 + i * 13, i as u64)).collect();
    out.push(scripted(
        "1.4.1",
        "10 text messages in one write, all echoed in order",
        "RFC 6455 §5.2, §6.2",
        Script::new(ten.iter().map(|p| Frame::text(p.clone())).collect())
            .expect(ten.iter().map(|p| Expect::text(p.clone())).collect()),
    ));
    let hundred: Vec<Vec<u8>> = (0..100).map(|i| noise(i * 7 % 130, i as u64)).collect();
    out.push(scripted(
        "1.4.2",
        "100 binary messages of 0..129 bytes in one write, all echoed in order",
        "RFC 6455 §5.2, §6.2",
        Script::new(hundred.iter().map(|p| Frame::binary(p.clone())).collect())
            .expect(hundred.iter().map(|p| Expect::binary(p.clone())).collect()),
    ));
    let mixed = [
        (TEXT, text_of(125, 1)),
        (BINARY, noise(126, 2)),
        (TEXT, text_of(65536, 3)),
        (BINARY, noise(0, 4)),
    ];
    out.push(scripted(
        "1.4.3",
        "text 125, binary 126, text 65536, binary 0 in one write, echoed in order",
        "RFC 6455 §5.2",
        Script::new(mixed.iter().map(|(o, p)| frame(*o, p.clone())).collect()).expect(
            mixed
                .iter()
                .map(|(o, p)| Expect::Msg(*o, p.clone()))
                .collect(),
        ),
    ));
    out.push(scripted(
        "1.4.4",
        "text 125 and binary 126 back to back, dribbled one byte per write, echoed in order",
        "RFC 6455 §5.2",
        Script::new(
            mixed[..2]
                .iter()
                .map(|(o, p)| frame(*o, p.clone()))
                .collect(),
        )
        .delivery(Delivery::Dribble)
        .expect(
            mixed[..2]
                .iter()
                .map(|(o, p)| Expect::Msg(*o, p.clone()))
                .collect(),
        ),
    ));

    // 1.5: masking keys are the client's choice (RFC 6455 §5.3).
    let masks: [([u8; 4], &str); 4] = [
        ([0, 0, 0, 0], "an all-zero mask"),
        ([0xff, 0xff, 0xff, 0xff], "an all-ones mask"),
        ([0x80, 0x00, 0x00, 0x01], "mask 80 00 00 01"),
        (
            [0x12, 0x34, 0x56, 0x78],
            "mask 12 34 56 78 on a 1001-byte payload",
        ),
    ];
    for (i, (key, what)) in masks.into_iter().enumerate() {
        let p = noise(if i == 3 { 1001 } else { 300 }, 50 + i as u64);
        out.push(scripted(
            format!("1.5.{}", i + 1),
            format!("binary message with {what}, echoed"),
            "RFC 6455 §5.3",
            Script::new(vec![Frame::binary(p.clone()).mask(key)]).expect(vec![Expect::binary(p)]),
        ));
    }
    let p = text_of(4000, 9);
    let frames: Vec<Frame> = p
        .chunks(1000)
        .enumerate()
        .map(|(i, c)| {
            let op = if i == 0 { TEXT } else { crate::client::CONT };
            Frame::new(op, c.to_vec())
                .fin(i == 3)
                .mask([i as u8 * 40 + 1, 7, 0x99, 0xfe])
        })
        .collect();
    out.push(scripted(
        "1.5.5",
        "fragmented text with a different mask on every fragment, echoed",
        "RFC 6455 §5.3",
        Script::new(frames).expect(vec![Expect::text(p)]),
    ));
    out
}

//! Section 6, UTF-8 in text messages (RFC 6455 §5.6, §8.1; RFC 3629): valid text
//! however fragmented is echoed; invalid text fails the connection with 1007, as soon
//! as the invalid byte arrives ("fail fast", RFC 6455 §8.1 says the endpoint MUST
//! fail the connection *when* it finds invalid data). A server that finds it only
//! once the frame or message is complete still closes with 1007 and is graded
//! NON-STRICT, as Autobahn grades it.

use std::time::Duration;

use crate::case::{Case, Env, Expect, Outcome, Script, Verdict, scripted, split_at};
use crate::client::{Conn, Delivery, Frame, Msg, TEXT};

/// Valid sequences: (description, bytes).
fn valid() -> Vec<(&'static str, Vec<u8>)> {
    let v = |s: &str| s.as_bytes().to_vec();
    vec![
        ("empty text", Vec::new()),
        ("ASCII", v("Hello, world")),
        ("Greek κόσμε", v("κόσμε")),
        ("mixed 1-, 2-byte sequences", v("Hello-µ@ßöäüàá-UTF-8!!")),
        ("3-byte sequences (CJK)", v("日本語のテキスト")),
        ("4-byte sequences (emoji, G clef)", v("😀𝄞🚀")),
        ("U+0000 NUL", vec![0]),
        ("U+007F, last 1-byte", vec![0x7f]),
        ("U+0080, first 2-byte", vec![0xc2, 0x80]),
        ("U+07FF, last 2-byte", vec![0xdf, 0xbf]),
        ("U+0800, first 3-byte", vec![0xe0, 0xa0, 0x80]),
        ("U+D7FF, last before the surrogates", vec![0xed, 0x9f, 0xbf]),
        ("U+E000, first after the surrogates", vec![0xee, 0x80, 0x80]),
        ("U+FFFD replacement character", vec![0xef, 0xbf, 0xbd]),
        (
            "U+FFFE, U+FFFF noncharacters (valid UTF-8)",
            vec![0xef, 0xbf, 0xbe, 0xef, 0xbf, 0xbf],
        ),
        ("U+10000, first 4-byte", vec![0xf0, 0x90, 0x80, 0x80]),
        ("U+10FFFF, last code point", vec![0xf4, 0x8f, 0xbf, 0xbf]),
        (
            "U+1FFFE, U+10FFFE noncharacters",
            vec![0xf0, 0x9f, 0xbf, 0xbe, 0xf4, 0x8f, 0xbf, 0xbe],
        ),
    ]
}

/// Invalid sequences: (description, bytes). Each is wrapped in valid text.
fn invalid() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("lone continuation byte 0x80", vec![0x80]),
        ("lone continuation byte 0xBF", vec![0xbf]),
        ("two continuation bytes", vec![0x80, 0xbf]),
        ("2-byte start 0xC2 followed by a space", vec![0xc2, 0x20]),
        ("3-byte start 0xE0 followed by a space", vec![0xe0, 0x20]),
        ("4-byte start 0xF0 followed by a space", vec![0xf0, 0x20]),
        ("impossible byte 0xFE", vec![0xfe]),
        ("impossible byte 0xFF", vec![0xff]),
        ("0xFE 0xFE 0xFF 0xFF", vec![0xfe, 0xfe, 0xff, 0xff]),
        ("overlong '/' in 2 bytes (C0 AF)", vec![0xc0, 0xaf]),
        ("overlong '/' in 3 bytes (E0 80 AF)", vec![0xe0, 0x80, 0xaf]),
        (
            "overlong '/' in 4 bytes (F0 80 80 AF)",
            vec![0xf0, 0x80, 0x80, 0xaf],
        ),
        (
            "overlong '/' in 5 bytes (F8 80 80 80 AF)",
            vec![0xf8, 0x80, 0x80, 0x80, 0xaf],
        ),
        (
            "overlong '/' in 6 bytes (FC 80 80 80 80 AF)",
            vec![0xfc, 0x80, 0x80, 0x80, 0x80, 0xaf],
        ),
        ("maximum overlong 2-byte (C1 BF)", vec![0xc1, 0xbf]),
        ("maximum overlong 3-byte (E0 9F BF)", vec![0xe0, 0x9f, 0xbf]),
        (
            "maximum overlong 4-byte (F0 8F BF BF)",
            vec![0xf0, 0x8f, 0xbf, 0xbf],
        ),
        ("overlong NUL (C0 80)", vec![0xc0, 0x80]),
        ("overlong NUL in 3 bytes (E0 80 80)", vec![0xe0, 0x80, 0x80]),
        ("high surrogate U+D800 (ED A0 80)", vec![0xed, 0xa0, 0x80]),
        ("high surrogate U+DBFF (ED AF BF)", vec![0xed, 0xaf, 0xbf]),
        ("low surrogate U+DC00 (ED B0 80)", vec![0xed, 0xb0, 0x80]),
        ("low surrogate U+DFFF (ED BF BF)", vec![0xed, 0xbf, 0xbf]),
        (
            "surrogate pair U+D800 U+DC00",
            vec![0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
        ),
        (
            "surrogate pair U+DBFF U+DFFF",
            vec![0xed, 0xaf, 0xbf, 0xed, 0xbf, 0xbf],
        ),
        (
            "U+110000 (F4 90 80 80), above the last code point",
            vec![0xf4, 0x90, 0x80, 0x80],
        ),
        (
            "F5 80 80 80 (start byte never valid)",
            vec![0xf5, 0x80, 0x80, 0x80],
        ),
        ("F7 BF BF BF (U+1FFFFF)", vec![0xf7, 0xbf, 0xbf, 0xbf]),
        (
            "5-byte sequence F8 88 80 80 80",
            vec![0xf8, 0x88, 0x80, 0x80, 0x80],
        ),
        (
            "6-byte sequence FC 84 80 80 80 80",
            vec![0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
        ),
        ("2-byte sequence cut short by the end", vec![0xc2]),
        ("3-byte sequence cut short by the end", vec![0xe0, 0xa0]),
        (
            "4-byte sequence cut short by the end",
            vec![0xf0, 0x90, 0x80],
        ),
        (
            "4-byte sequence missing its last byte, then ASCII",
            vec![0xf0, 0x90, 0x80, b'x'],
        ),
    ]
}

/// Fragments of `payload` at every byte: one frame per byte.
fn per_byte(payload: &[u8]) -> Vec<Frame> {
    let cuts: Vec<usize> = (1..payload.len()).collect();
    split_at(TEXT, payload, &cuts)
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // 6.1: valid text, one frame and one byte per fragment.
    for (i, (desc, bytes)) in valid().into_iter().enumerate() {
        out.push(scripted(
            format!("6.1.{}", i + 1),
            format!("valid UTF-8 ({desc}) in one frame, echoed"),
            "RFC 6455 §5.6; RFC 3629",
            Script::new(vec![Frame::text(bytes.clone())]).expect(vec![Expect::text(bytes.clone())]),
        ));
        if bytes.len() > 1 {
            out.push(scripted(
                format!("6.2.{}", i + 1),
                format!("valid UTF-8 ({desc}) one byte per fragment, echoed"),
                "RFC 6455 §5.4, §5.6",
                Script::new(per_byte(&bytes)).expect(vec![Expect::text(bytes)]),
            ));
        }
    }

    // 6.3: a valid text split into two fragments at every position, code points split.
    let sample = "κόσμε-𝄞-€".as_bytes().to_vec();
    for cut in 1..sample.len() {
        out.push(scripted(
            format!("6.3.{cut}"),
            format!("valid \"κόσμε-𝄞-€\" split into 2 fragments at byte {cut}, echoed"),
            "RFC 6455 §5.4, §5.6",
            Script::new(split_at(TEXT, &sample, &[cut])).expect(vec![Expect::text(sample.clone())]),
        ));
    }

    // 6.4: fail fast.
    out.extend(fail_fast());

    // 6.5 / 6.6: invalid sequences inside valid text, in one frame and per byte.
    for (i, (desc, bad)) in invalid().into_iter().enumerate() {
        let mut payload = "κόσμε ".as_bytes().to_vec();
        payload.extend_from_slice(&bad);
        let ends_short = desc.contains("cut short");
        if !ends_short {
            payload.extend_from_slice(b" edited");
        }
        out.push(scripted(
            format!("6.5.{}", i + 1),
            format!("invalid UTF-8 ({desc}) in one text frame: fail with 1007"),
            "RFC 6455 §8.1",
            Script::new(vec![Frame::text(payload.clone())]).fails(1007),
        ));
        out.push(scripted(
            format!("6.6.{}", i + 1),
            format!("invalid UTF-8 ({desc}), one byte per fragment: fail with 1007"),
            "RFC 6455 §5.4, §8.1",
            Script::new(per_byte(&payload)).fails(1007),
        ));
    }

    // 6.7: every prefix of a multi-byte text sent as a complete message: a prefix that
    // ends inside a code point is invalid.
    let kosme = "κόσμε".as_bytes().to_vec();
    for len in 1..=kosme.len() {
        let prefix = kosme[..len].to_vec();
        let ok = std::str::from_utf8(&prefix).is_ok();
        let script = Script::new(vec![Frame::text(prefix.clone())]);
        let (script, what) = if ok {
            (script.expect(vec![Expect::text(prefix)]), "echoed")
        } else {
            (
                script.fails(1007),
                "ends inside a code point: fail with 1007",
            )
        };
        out.push(scripted(
            format!("6.7.{len}"),
            format!("the first {len} bytes of \"κόσμε\" as a message: {what}"),
            "RFC 6455 §8.1",
            script,
        ));
    }

    // 6.8: a message valid in each fragment but whose code point spans a boundary
    // and is broken there.
    let broken: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "E2 82 | 41: 3-byte sequence broken by the next fragment",
            vec![vec![0xe2, 0x82], vec![0x41]],
        ),
        (
            "F0 9D | 84 41: 4-byte sequence broken after 3 bytes",
            vec![vec![0xf0, 0x9d], vec![0x84, 0x41]],
        ),
        (
            "ED | A0 80: surrogate across fragments",
            vec![vec![0xed], vec![0xa0, 0x80]],
        ),
        (
            "F4 | 90 80 80: above U+10FFFF across fragments",
            vec![vec![0xf4], vec![0x90, 0x80, 0x80]],
        ),
        (
            "C0 | AF: overlong across fragments",
            vec![vec![0xc0], vec![0xaf]],
        ),
        (
            "CE | (end): message ends inside a code point",
            vec![b"ok".to_vec(), vec![0xce]],
        ),
    ];
    for (i, (desc, parts)) in broken.into_iter().enumerate() {
        let last = parts.len() - 1;
        let frames = parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| {
                let op = if j == 0 { TEXT } else { crate::client::CONT };
                Frame::new(op, p).fin(j == last)
            })
            .collect();
        out.push(scripted(
            format!("6.8.{}", i + 1),
            format!("{desc}: fail with 1007"),
            "RFC 6455 §5.4, §8.1",
            Script::new(frames).fails(1007),
        ));
    }
    out
}

/// How the invalid text of a fail-fast case is cut.
#[derive(Clone, Copy)]
enum Cut {
    /// Three frames: valid, invalid, rest.
    Frames,
    /// One frame in three TCP writes: header and valid part, invalid part, rest.
    Writes,
}

/// 6.4: the server must fail at the invalid part, before the rest is sent.
fn fail_fast() -> Vec<Case> {
    let mut out = Vec::new();
    let part1 = "κόσμε".as_bytes().to_vec();
    let variants: Vec<(Cut, Vec<u8>, Vec<u8>, &str)> = vec![
        (
            Cut::Frames,
            vec![0xf4, 0x90, 0x80, 0x80],
            b"edited".to_vec(),
            "3 frames, the 2nd holding U+110000 (F4 90 80 80)",
        ),
        (
            Cut::Frames,
            vec![0xf4, 0x90],
            vec![0x80, 0x80, b'e'],
            "3 frames, the 2nd holding F4 90 (already impossible)",
        ),
        (
            Cut::Writes,
            vec![0xf4, 0x90, 0x80, 0x80],
            b"edited".to_vec(),
            "one frame in 3 writes, the 2nd holding F4 90 80 80",
        ),
        (
            Cut::Writes,
            vec![0xf4, 0x90],
            vec![0x80, 0x80, b'e'],
            "one frame in 3 writes, the 2nd holding F4 90",
        ),
    ];
    for (i, (cut, part2, part3, desc)) in variants.into_iter().enumerate() {
        let part1 = part1.clone();
        out.push(Case::new(
            format!("6.4.{}", i + 1),
            format!("fail fast: text in {desc}: 1007 before the rest is sent"),
            "RFC 6455 §8.1",
            move |env: Env| {
                let (p1, p2, p3) = (part1.clone(), part2.clone(), part3.clone());
                async move { run_fail_fast(env, cut, p1, p2, p3).await }
            },
        ));
    }
    out
}

async fn run_fail_fast(env: Env, cut: Cut, p1: Vec<u8>, p2: Vec<u8>, p3: Vec<u8>) -> Outcome {
    let mut conn = Conn::connect(env.echo, "/echo").await?;
    let writes: Vec<Vec<u8>> = match cut {
        Cut::Frames => vec![
            Frame::text(p1).fin(false).encode(),
            Frame::cont(p2).fin(false).encode(),
            Frame::cont(p3).encode(),
        ],
        Cut::Writes => {
            let mut all = p1.clone();
            all.extend_from_slice(&p2);
            all.extend_from_slice(&p3);
            let bytes = Frame::text(all).encode();
            let header = bytes.len() - p1.len() - p2.len() - p3.len();
            let a = header + p1.len();
            let b = a + p2.len();
            vec![
                bytes[..a].to_vec(),
                bytes[a..b].to_vec(),
                bytes[b..].to_vec(),
            ]
        }
    };
    conn.send(&writes[0], Delivery::Whole).await?;
    if let Some(m) = conn.poll_msg(Duration::from_millis(150)).await? {
        return Err(format!("valid first part answered with {}", m.describe()));
    }
    conn.send(&writes[1], Delivery::Whole).await?;
    match conn.poll_msg(Duration::from_millis(700)).await? {
        Some(Msg::Close(Some(1007), _)) => {
            // Closed at the invalid part: strict. Finish the handshake.
            conn.sent_close = true;
            let _ = conn
                .send(&Frame::close(1000, "").encode(), Delivery::Whole)
                .await;
            conn.expect_eof(crate::client::EOF_WAIT).await?;
            return Ok(Verdict::Pass);
        }
        Some(other) => return Err(format!("after the invalid part: {}", other.describe())),
        None => {}
    }
    // Not yet: send the rest; the server must fail now.
    let _ = conn.send(&writes[2], Delivery::Whole).await;
    conn.expect_close(&[1007]).await?;
    Ok(Verdict::NonStrict(
        "closed with 1007 only after the rest of the frame arrived, not at the invalid bytes"
            .into(),
    ))
}

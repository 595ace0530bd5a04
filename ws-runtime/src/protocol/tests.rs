//! The protocol core on its own: byte streams in, events out, cut into pieces every
//! way, compared with what the stream means.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use super::frame::{
    self as wire, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT,
};
use super::mask;
use super::stage::Stage;
use super::{Decoder, Event, Flow, ProtocolError, Role};
use crate::extension::{ExtensionFactory, ExtensionParams, SessionExtension};
use crate::frame::{CloseCode, CloseReason, Fragment, Frame, FrameType, Rsv};

/// A masked client frame.
pub(crate) fn client_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut header = [0; MAX_HEADER];
    let n = wire::encode(
        &mut header,
        wire::first_byte(fin, rsv, opcode),
        payload.len(),
        Some(key),
    );
    let mut out = header[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    mask::apply(&mut out[start..], key, 0);
    out
}

/// Decodes `bytes` in pieces of `step`: the events, and the error if it failed.
fn decode_in_steps(
    decoder: &mut Decoder,
    mut stage: Option<&mut Stage>,
    bytes: &[u8],
    step: usize,
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut events = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        let mut piece = piece.to_vec();
        let mut sink = |event| {
            events.push(event);
            Flow::Continue
        };
        match decoder.decode(&mut piece, stage.as_deref_mut(), &mut sink) {
            Ok(decoded) => assert_eq!(decoded.consumed, piece.len()),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn server(limit: usize) -> Decoder {
    Decoder::new(Role::Server, false, limit, Rsv::NONE)
}

fn every_split(bytes: &[u8]) -> impl Iterator<Item = usize> {
    let len = bytes.len();
    [1, 2, 3, 5, 7, 13, 64, 1000, len.max(1)].into_iter()
}

#[test]
fn messages_fragments_and_controls_whatever_the_pieces() {
    let mut stream = Vec::new();
    stream.extend(client_frame(true, 0, OP_TEXT, b"hello"));
    stream.extend(client_frame(false, 0, OP_BINARY, &[1, 2, 3]));
    stream.extend(client_frame(true, 0, OP_PING, b"p"));
    stream.extend(client_frame(false, 0, OP_CONTINUATION, &[4; 300]));
    stream.extend(client_frame(true, 0, OP_CONTINUATION, &[5; 70_000]));
    stream.extend(client_frame(true, 0, OP_TEXT, "é€𝄞".as_bytes()));
    stream.extend(client_frame(true, 0, OP_CLOSE, &[0x03, 0xe8, b'o', b'k']));
    let mut binary = vec![1, 2, 3];
    binary.extend([4; 300]);
    binary.extend([5; 70_000]);
    let expected = vec![
        Event::Data(Frame::text("hello")),
        Event::Ping(Bytes::from_static(b"p")),
        Event::Data(Frame::binary(binary)),
        Event::Data(Frame::text("é€𝄞")),
        Event::Close(Some(CloseReason::new(CloseCode::NORMAL, "ok"))),
    ];
    for step in every_split(&stream) {
        let (events, error) = decode_in_steps(&mut server(1 << 20), None, &stream, step);
        assert_eq!(error, None, "step {step}");
        assert_eq!(events, expected, "step {step}");
    }
}

#[test]
fn raw_decoders_deliver_each_frame_of_a_fragmented_message() {
    let mut stream = Vec::new();
    stream.extend(client_frame(false, 0, OP_TEXT, b"h\xc3"));
    stream.extend(client_frame(true, 0, OP_PING, b"p"));
    stream.extend(client_frame(true, 0, OP_CONTINUATION, b"\xa9!"));
    stream.extend(client_frame(true, 0, OP_BINARY, b"whole"));
    let expected = vec![
        Event::Data(Frame::Fragment(Fragment {
            frame_type: FrameType::Text,
            first: true,
            fin: false,
            rsv: Rsv::NONE,
            payload: Bytes::from_static(b"h\xc3"),
        })),
        Event::Ping(Bytes::from_static(b"p")),
        Event::Data(Frame::Fragment(Fragment {
            frame_type: FrameType::Text,
            first: false,
            fin: true,
            rsv: Rsv::NONE,
            payload: Bytes::from_static(b"\xa9!"),
        })),
        Event::Data(Frame::binary(&b"whole"[..])),
    ];
    for step in every_split(&stream) {
        let mut decoder = Decoder::new(Role::Server, true, 1 << 20, Rsv::NONE);
        let (events, error) = decode_in_steps(&mut decoder, None, &stream, step);
        assert_eq!(error, None, "step {step}");
        assert_eq!(events, expected, "step {step}");
    }
}

#[test]
fn invalid_utf8_fails_at_the_bad_byte_inside_one_frame() {
    // A text frame whose payload is sent in three parts; the second holds the bad byte.
    let mut payload = b"valid start ".to_vec();
    payload.extend_from_slice(b"\xf4\x90\x80\x80");
    payload.extend_from_slice(b" never read");
    let frame = client_frame(true, 0, OP_TEXT, &payload);
    let header = frame.len() - payload.len();
    let mut decoder = server(1 << 20);
    let mut sink = |_| Flow::Continue;
    let mut first = frame[..header + 12].to_vec();
    decoder.decode(&mut first, None, &mut sink).unwrap();
    let mut second = frame[header + 12..header + 14].to_vec();
    let error = decoder.decode(&mut second, None, &mut sink).unwrap_err();
    assert_eq!(error.code, CloseCode::NOT_CONSISTENT);
}

#[test]
fn an_announced_length_allocates_nothing() {
    // 2^62 bytes announced, both limits at their largest: only what arrives is kept.
    let mut bytes = vec![0x82, 0xff];
    bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    bytes.extend_from_slice(&[0; 100]);
    let mut decoder = server(usize::MAX);
    let (events, error) = decode_in_steps(&mut decoder, None, &bytes, bytes.len());
    assert!(events.is_empty() && error.is_none());
    assert!(decoder.direct_buf(0).capacity() < 4096);
    // With a limit, the header alone is refused with 1009.
    let (_, error) = decode_in_steps(&mut server(1 << 20), None, &bytes, bytes.len());
    assert_eq!(error.unwrap().code, CloseCode::TOO_BIG);
}

#[test]
fn protocol_errors_get_their_codes() {
    let cases: Vec<(Vec<u8>, CloseCode)> = vec![
        (
            client_frame(true, 4, OP_TEXT, b"x"),
            CloseCode::PROTOCOL_ERROR,
        ),
        (client_frame(true, 0, 0x3, b""), CloseCode::PROTOCOL_ERROR),
        (
            client_frame(false, 0, OP_PING, b""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0, OP_PING, &[0; 126]),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0, OP_CONTINUATION, b"x"),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            [
                client_frame(false, 0, OP_TEXT, b"a"),
                client_frame(true, 0, OP_TEXT, b"b"),
            ]
            .concat(),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0, OP_CLOSE, &[3]),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0, OP_CLOSE, &[0x03, 0xed]),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0, OP_CLOSE, &[0x03, 0xe8, 0xff]),
            CloseCode::NOT_CONSISTENT,
        ),
        (
            client_frame(true, 0, OP_TEXT, b"\xff"),
            CloseCode::NOT_CONSISTENT,
        ),
        (vec![0x81, 0x01, b'x'], CloseCode::PROTOCOL_ERROR),
        (
            client_frame(true, 0, OP_BINARY, &[0; 2000]),
            CloseCode::TOO_BIG,
        ),
    ];
    for (bytes, code) in cases {
        for step in every_split(&bytes) {
            let (_, error) = decode_in_steps(&mut server(1000), None, &bytes, step);
            assert_eq!(error.map(|e| e.code), Some(code), "{bytes:x?} step {step}");
        }
    }
    // A client refuses masked frames and takes unmasked ones.
    let mut client = Decoder::new(Role::Client, false, 1000, Rsv::NONE);
    let (events, _) = decode_in_steps(&mut client, None, &[0x81, 0x01, b'x'], 1);
    assert_eq!(events, vec![Event::Data(Frame::text("x"))]);
    let mut client = Decoder::new(Role::Client, false, 1000, Rsv::NONE);
    let (_, error) = decode_in_steps(&mut client, None, &client_frame(true, 0, OP_TEXT, b"x"), 1);
    assert_eq!(error.unwrap().code, CloseCode::PROTOCOL_ERROR);
}

fn deflate_stage() -> Box<Stage> {
    let deflate = crate::extension::Deflate::new();
    let negotiated = deflate
        .negotiate(&[ExtensionParams::new("permessage-deflate")])
        .expect("negotiates");
    let SessionExtension::Deflate(session) = negotiated.extension else {
        panic!("the built-in deflate");
    };
    Stage::new(vec![SessionExtension::Deflate(session)]).expect("a stage")
}

fn compress(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut compressor = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut out = Vec::with_capacity(data.len() + 64);
    compressor.compress_vec(data, &mut out, flush).unwrap();
    out
}

#[test]
fn compressed_messages_inflate_as_they_arrive() {
    let text = "compress me, compress me, compress me please ".repeat(40);
    let mut sync = compress(text.as_bytes(), FlushCompress::Sync);
    assert!(sync.ends_with(&[0, 0, 0xff, 0xff]));
    sync.truncate(sync.len() - 4);
    let final_ = compress(text.as_bytes(), FlushCompress::Finish);
    let mut stream = Vec::new();
    // A whole message, a message whose stream ends with BFINAL (several of them), and
    // one compressed message in three fragments.
    stream.extend(client_frame(true, 4, OP_TEXT, &sync));
    for _ in 0..3 {
        stream.extend(client_frame(true, 4, OP_TEXT, &final_));
    }
    let third = sync.len() / 3;
    stream.extend(client_frame(false, 4, OP_TEXT, &sync[..third]));
    stream.extend(client_frame(
        false,
        0,
        OP_CONTINUATION,
        &sync[third..2 * third],
    ));
    stream.extend(client_frame(true, 0, OP_CONTINUATION, &sync[2 * third..]));
    for step in every_split(&stream) {
        let mut stage = deflate_stage();
        let mut decoder = Decoder::new(Role::Server, false, 1 << 20, stage.claimed());
        let (events, error) = decode_in_steps(&mut decoder, Some(&mut stage), &stream, step);
        assert_eq!(error, None, "step {step}");
        assert_eq!(events.len(), 5, "step {step}");
        for event in events {
            assert_eq!(
                event,
                Event::Data(Frame::text(text.as_str())),
                "step {step}"
            );
        }
    }
}

#[test]
fn an_inflation_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 10 << 20];
    let mut bomb = compress(&zeros, FlushCompress::Sync);
    bomb.truncate(bomb.len() - 4);
    let frame = client_frame(true, 4, OP_BINARY, &bomb);
    let mut stage = deflate_stage();
    let mut decoder = Decoder::new(Role::Server, false, 1 << 20, stage.claimed());
    let (_, error) = decode_in_steps(&mut decoder, Some(&mut stage), &frame, 4096);
    assert_eq!(error.unwrap().code, CloseCode::TOO_BIG);
}

//! Section 10, masking: every client frame must be masked (RFC 6455 §5.1, §5.3).

use crate::case::{Case, Expect, FAIL_AT_ONCE, Script, scripted};
use crate::client::Frame;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let unmasked: Vec<(&str, Vec<Frame>, Vec<Expect>)> = vec![
        (
            "unmasked text frame",
            vec![Frame::text(b"Hello".to_vec()).unmasked()],
            vec![],
        ),
        (
            "unmasked empty text frame",
            vec![Frame::text(Vec::new()).unmasked()],
            vec![],
        ),
        (
            "unmasked binary frame",
            vec![Frame::binary(vec![1, 2, 3]).unmasked()],
            vec![],
        ),
        (
            "unmasked 70000-byte binary frame",
            vec![Frame::binary(vec![9; 70000]).unmasked()],
            vec![],
        ),
        (
            "unmasked ping",
            vec![Frame::ping(b"p".to_vec()).unmasked()],
            vec![],
        ),
        (
            "unmasked pong",
            vec![Frame::pong(b"p".to_vec()).unmasked()],
            vec![],
        ),
        (
            "unmasked close",
            vec![Frame::close(1000, "").unmasked()],
            vec![],
        ),
        (
            "masked first fragment, unmasked continuation",
            vec![
                Frame::text(b"frag".to_vec()).fin(false),
                Frame::cont(b"ment".to_vec()).unmasked(),
            ],
            vec![],
        ),
        (
            "valid masked text, then an unmasked one in the same write",
            vec![
                Frame::text(b"masked".to_vec()),
                Frame::text(b"unmasked".to_vec()).unmasked(),
            ],
            vec![Expect::text(b"masked".to_vec())],
        ),
    ];
    for (i, (desc, frames, expect)) in unmasked.into_iter().enumerate() {
        let script = Script::new(frames)
            .expect(expect)
            .fails(1002)
            .replies_optional(FAIL_AT_ONCE);
        out.push(scripted(
            format!("10.1.{}", i + 1),
            format!("{desc}: fail with 1002"),
            "RFC 6455 §5.1",
            script,
        ));
    }
    out
}

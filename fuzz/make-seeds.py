#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/<target>/ (run from anywhere:
`python3 fuzz/make-seeds.py`). Each seed is named for what it holds; the layouts are
the ones the targets' headers describe. Rerunning it rewrites the same files."""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def masked(payload, key):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload, key=None, fin=True, rsv1=False):
    """One frame, length in the shortest form, masked if `key`."""
    out = bytearray([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    mask_bit = 0x80 if key else 0
    n = len(payload)
    if n < 126:
        out.append(mask_bit | n)
    elif n <= 0xFFFF:
        out.append(mask_bit | 126)
        out += struct.pack(">H", n)
    else:
        out.append(mask_bit | 127)
        out += struct.pack(">Q", n)
    if key:
        out += key
        out += masked(payload, key)
    else:
        out += payload
    return bytes(out)


def deflate(data):
    """permessage-deflate's payload: a raw deflate stream, sync-flushed, without its
    final 00 00 ff ff (RFC 7692 §7.2.1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


K = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's key
K2 = b"\x01\x02\x03\x04"

# ----- protocol_decode: [mode, limit0, limit1, limit2, ncuts, cuts.., input..] -----

SERVER, CLIENT, RAW, DEFLATE, NO_TAKEOVER = 0, 1, 2, 4, 8
LIMIT_1M = bytes([0xFF, 0xFF, 0x0F])  # 2^20 - 1
LIMIT_MAX = bytes([0x00, 0x00, 0xF0])  # usize::MAX
LIMIT_SMALL = bytes([0x10, 0x00, 0x80])  # 16


def decode_seed(mode, limit, cuts, data):
    return bytes([mode]) + limit + bytes([len(cuts)]) + bytes(cuts) + data


hello = b"Hello"
decode_seeds = {
    "masked-text": decode_seed(SERVER, LIMIT_1M, [], frame(0x1, hello, K)),
    "unmasked-text-client": decode_seed(CLIENT, LIMIT_1M, [], frame(0x1, hello)),
    "fragmented-ping-between": decode_seed(
        SERVER,
        LIMIT_1M,
        [0, 2],
        frame(0x1, b"Hel", K, fin=False)
        + frame(0x9, b"ping!", K2)
        + frame(0x0, b"lo", K),
    ),
    "fragmented-ping-between-raw": decode_seed(
        SERVER | RAW,
        LIMIT_1M,
        [],
        frame(0x2, b"\x00\x01\x02", K, fin=False)
        + frame(0x9, b"", K2)
        + frame(0x0, b"\x03\x04", K),
    ),
    "deflate-text": decode_seed(
        SERVER | DEFLATE, LIMIT_1M, [], frame(0x1, deflate(hello), K, rsv1=True)
    ),
    "deflate-fragmented-client": decode_seed(
        CLIENT | DEFLATE | NO_TAKEOVER,
        LIMIT_1M,
        [3],
        (lambda z: frame(0x2, z[:4], fin=False, rsv1=True) + frame(0x0, z[4:]))(
            deflate(b"abcabcabcabcabcabcabc" * 20)
        ),
    ),
    "deflate-bomb-small-limit": decode_seed(
        SERVER | DEFLATE,
        LIMIT_SMALL,
        [],
        frame(0x2, deflate(b"\x00" * 4096), K, rsv1=True),
    ),
    "length-2-62": decode_seed(
        SERVER,
        LIMIT_MAX,
        [],
        b"\x82\xff" + struct.pack(">Q", 1 << 62) + K + masked(b"a few bytes", K),
    ),
    "length-2-62-raw-cut": decode_seed(
        CLIENT | RAW,
        LIMIT_MAX,
        [1, 7],
        b"\x02\x7f" + struct.pack(">Q", 1 << 62) + b"part of it",
    ),
    "too-big-small-limit": decode_seed(
        SERVER, LIMIT_SMALL, [], frame(0x2, b"x" * 17, K)
    ),
    "close-with-reason": decode_seed(
        SERVER,
        LIMIT_1M,
        [],
        frame(0xA, b"pong", K) + frame(0x8, struct.pack(">H", 1000) + b"bye", K2),
    ),
}

# ----- protocol_differential: [ncuts, cuts.., operations..] -----
# The layout is in fuzz_targets/protocol_differential.rs: an operation byte 0xe0 set =
# a close (bit 0: with a code and reason: u16 code selector, reason length byte,
# reason, key); 0xc0 under 0xe0 = control frames alone; else bit 0 text, bits 1-3
# fragments - 1, 0x7 in the high nibble = repeated past 64 KiB; then u16 length (LE),
# the slice, the repeat byte (if repeated), a u16 per cut point, and per frame its key
# then up to two control bytes (bit 0: one follows, bit 1: pong, >> 2: length % 126;
# its payload and key).


def op_data(text, fragments, payload, cuts, keys, controls=None, long_repeat=None):
    op = (1 if text else 0) | ((fragments - 1) << 1)
    if long_repeat is not None:
        op |= 0x70
        op &= 0x7F
    out = bytearray([op]) + struct.pack("<H", len(payload)) + payload
    if long_repeat is not None:
        out.append(long_repeat)
    for c in cuts:
        out += struct.pack("<H", c)
    for i in range(fragments):
        out += keys[i % len(keys)]
        frame_controls = (controls or {}).get(i, [])
        assert len(frame_controls) <= 2
        for c in frame_controls:
            out += c
        if len(frame_controls) < 2:
            out.append(0)  # no (more) control frames
    return bytes(out)


def control(pong, payload, key):
    assert len(payload) < 64
    return bytes([1 | (2 if pong else 0) | (len(payload) << 2)]) + payload + key


def op_close(code_selector, reason, key):
    return bytes([0xE1]) + struct.pack("<H", code_selector) + bytes([len(reason)]) + reason + key


differential_seeds = {
    "text": b"\x00" + op_data(True, 1, b"Hello", [], [K]),
    "fragmented-ping-between": b"\x02\x00\x05"
    + op_data(
        True,
        3,
        "héllo wörld".encode(),
        [0x3000, 0x8000],
        [K, K2],
        controls={0: [control(False, b"hi", K2)], 1: [control(True, b"", K)]},
    )
    + op_close(0, b"bye", K),
    "binary-64k": b"\x00"
    + op_data(False, 1, bytes(range(200)), [], [K], long_repeat=1),
    "ping-first": b"\x00"
    + bytes([0xC0])
    + control(False, b"first", K)
    + control(True, b"", K2)
    + op_data(False, 1, b"\x00\xff", [], [K]),
    "invalid-utf8-lossy-then-close": b"\x01\x10"
    + op_data(True, 2, b"ok \xff\xfe \xe2\x82", [0x8000], [K])
    + op_data(False, 1, b"", [], [K2])
    + bytes([0xE0])
    + K,
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("protocol_decode", decode_seeds)
write("protocol_differential", differential_seeds)

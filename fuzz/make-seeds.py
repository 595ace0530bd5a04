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


# ----- handshake: the request bytes as they are -----

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's key


def upgrade(path="/echo", extra=(), host="127.0.0.1:40000", eol="\r\n", key=KEY,
            version="13", method="GET", http="HTTP/1.1", after=b""):
    lines = [f"{method} {path} {http}", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             f"Sec-WebSocket-Version: {version}", *extra]
    return (eol.join(lines) + eol + eol).encode() + after


def plain(path="/health", extra=(), method="GET"):
    return ("\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:40000", *extra])
            + "\r\n\r\n").encode()


DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"
handshake_seeds = {
    "valid-echo": upgrade(),
    "valid-echo-deflate": upgrade(extra=[DEFLATE_OFFER]),
    "valid-echo-deflate-params": upgrade(extra=[
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12, "
        "permessage-deflate",
    ]),
    "deflate-quoted-and-bad-offers": upgrade(extra=[
        'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="9"',
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16, x-webkit-deflate-frame",
    ]),
    "deflate-duplicate-param": upgrade(extra=[
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    ]),
    "valid-room-protocol": upgrade(path="/rooms/lobby%20one", extra=[
        "Sec-WebSocket-Protocol: chat.v2, chat.v1",
    ]),
    "valid-room-protocol-deflate": upgrade(path="/rooms/x", extra=[
        "Sec-WebSocket-Protocol: chat.v1", DEFLATE_OFFER,
    ]),
    "room-without-protocol": upgrade(path="/rooms/lobby"),
    "room-bad-utf8": upgrade(path="/rooms/%ff", extra=["Sec-WebSocket-Protocol: chat.v1"]),
    "origin-same-host": upgrade(extra=["Origin: http://127.0.0.1:40000"]),
    "origin-allowed": upgrade(extra=["Origin: https://app.example"]),
    "origin-foreign": upgrade(extra=["Origin: https://evil.example"]),
    "origin-two": upgrade(extra=["Origin: https://app.example", "Origin: https://evil.example"]),
    "origin-null": upgrade(extra=["Origin: null"]),
    "echo-then-frames": upgrade(after=frame(0x1, b"Hello", K) + frame(0x9, b"p", K2)
                                + frame(0x8, struct.pack(">H", 1000), K)),
    "echo-deflate-then-frame": upgrade(extra=[DEFLATE_OFFER],
                                       after=frame(0x1, deflate(b"Hello"), K, rsv1=True)),
    "pipelined-health-then-upgrade": plain() + upgrade(),
    "pipelined-post-body-then-upgrade": plain(method="POST", extra=["Content-Length: 5"])
    + b"hello" + upgrade(),
    "lf-only": upgrade(eol="\n"),
    "leading-empty-line": b"\r\n" + upgrade(),
    "absolute-form": upgrade(path="http://127.0.0.1:40000/echo"),
    "query": upgrade(path="/echo?a=1&b=%20"),
    "trailing-slash": upgrade(path="/echo/"),
    "bad-key": upgrade(key="dGhlIHNhbXBsZSBub25jZR=="),
    "short-key": upgrade(key="c2hvcnQ="),
    "two-keys": upgrade(extra=[f"Sec-WebSocket-Key: {KEY}"]),
    "version-8": upgrade(version="8"),
    "two-versions": upgrade(extra=["Sec-WebSocket-Version: 13"]),
    "post-echo": upgrade(method="POST"),
    "http-1-0": upgrade(http="HTTP/1.0"),
    "no-host": b"GET /echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    + f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
    "two-hosts": upgrade(extra=["Host: other"]),
    "empty-host": upgrade(host=""),
    "chunked-body": upgrade(extra=["Transfer-Encoding: chunked"], after=b"5\r\nhello\r\n0\r\n\r\n"),
    "content-length-body": upgrade(extra=["Content-Length: 3"], after=b"abc"),
    "content-length-zero": upgrade(extra=["Content-Length: 0"]),
    "obs-fold": upgrade(extra=["X-Folded: a", " b"]),
    "connection-list": upgrade(extra=["Connection: keep-alive"]).replace(
        b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
    "upgrade-case": upgrade().replace(b"Upgrade: websocket", b"upgrade: WebSocket"),
    "not-found": upgrade(path="/nowhere"),
    "health": plain(),
    "health-head": plain(method="HEAD"),
    "health-post": plain(method="POST"),
    "plain-get-echo": plain(path="/echo"),
    "markup-in-path": plain(path="/<script>alert(1)</script>"),
    "incomplete": b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
    "space-before-colon": upgrade(extra=["Sec-WebSocket-Protocol : chat.v1"]),
    "nul-in-value": upgrade(extra=["X-A: a\x00b"]),
    "garbage": bytes(range(256)),
}

# ----- macros: [selector, text..] (w r i o e; NUL between an attribute's arguments and
# its item), from every invocation in the examples and the UI tests -----

ROOT = os.path.dirname(HERE)


def skip_literal(src, i):
    """Returns the index after a string, raw string, char literal or comment starting at
    `i`, or None if none starts there."""
    c = src[i]
    if src.startswith("//", i):
        j = src.find("\n", i)
        return len(src) if j < 0 else j
    if src.startswith("/*", i):
        depth, j = 0, i
        while j < len(src):
            if src.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif src.startswith("*/", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    return j
            else:
                j += 1
        return len(src)
    if c in "rb" and (src.startswith('r"', i) or src.startswith("r#", i) or src.startswith('br"', i)
                      or src.startswith("br#", i)):
        j = i + (2 if src[i] == "b" else 1)
        hashes = 0
        while j < len(src) and src[j] == "#":
            hashes, j = hashes + 1, j + 1
        if j < len(src) and src[j] == '"':
            end = src.find('"' + "#" * hashes, j + 1)
            return len(src) if end < 0 else end + 1 + hashes
        return None
    if c == '"':
        j = i + 1
        while j < len(src) and src[j] != '"':
            j += 2 if src[j] == "\\" else 1
        return j + 1
    if c == "'":
        # A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
        if src.startswith("'\\", i):
            end = src.find("'", i + 2)
            return None if end < 0 else end + 1
        if i + 2 < len(src) and src[i + 2] == "'":
            return i + 3
    return None


def balanced(src, i):
    """`src[i]` opens a bracket: returns the index of its match."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    j = i
    while j < len(src):
        end = skip_literal(src, j)
        if end is not None:
            j = end
            continue
        c = src[j]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return None
            if not stack:
                return j
        j += 1
    return None


def invocations(src):
    """Yields (selector, text) for every macro invocation in a Rust source file."""
    i = 0
    while i < len(src):
        end = skip_literal(src, i)
        if end is not None:
            i = end
            continue
        for name, sel in (("#[web_socket_raw(", "r"), ("#[web_socket(", "w")):
            if src.startswith(name, i):
                open_ = i + len(name) - 1
                close = balanced(src, open_)
                if close is None or src[close + 1:close + 2] != "]":
                    break
                args = src[open_ + 1:close]
                # The item: up to the end of the function's body (or the first `;`
                # of a bodiless item).
                j, start = close + 2, close + 2
                while j < len(src) and src[j] not in "{;":
                    if src[j] in "([":
                        j = (balanced(src, j) or j) + 1
                        continue
                    e = skip_literal(src, j)
                    j = e if e is not None else j + 1
                if j < len(src) and src[j] == "{":
                    j = balanced(src, j) or j
                yield sel, args + "\0" + src[start:j + 1].strip()
                i = close
                break
        else:
            for name, sel in (("install!(", "i"), ("routing!(", "o"), ("embedded_server!(", "e")):
                if src.startswith(name, i) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
                    close = balanced(src, i + len(name) - 1)
                    if close is not None:
                        yield sel, src[i + len(name):close]
                    break
        i += 1


def rust_files():
    for top in ("examples", "tests/ui"):
        for dirpath, _, files in sorted(os.walk(os.path.join(ROOT, top))):
            for f in sorted(files):
                if f.endswith(".rs"):
                    yield os.path.join(dirpath, f)


macro_seeds = {}
seen = set()
for path in rust_files():
    with open(path, encoding="utf-8") as f:
        src = f.read()
    rel = os.path.relpath(path, ROOT).replace(os.sep, "-")[:-3]
    for n, (sel, text) in enumerate(invocations(src)):
        data = sel.encode() + text.encode()
        if data in seen:
            continue
        seen.add(data)
        macro_seeds[f"{rel}-{n}"] = data
# Hand-made ones: the expansion printer on (selector bit 7), and a few edge cases.
macro_seeds.update({
    "debug-install": bytes([0x80 | ord("i")]) + b"app, WebSockets { ping_period = 15s, extensions { Deflate { compression_level = 6 } } }",
    "debug-web-socket": bytes([0x80 | ord("w")]) + b'"/rooms/{room}", protocol = "chat.v1"\0/// Docs.\nasync fn room(session: WebSocketSession, Path(room): Path<String>) -> Result<()> { for frame in session.incoming { session.send(frame).await?; } Ok(()) }',
    "debug-embedded-server": bytes([0x80 | ord("e")]) + b'port = 8080, host = "0.0.0.0", grace_period = 2s, |app| { install!(app, WebSockets {}); routing!(app, echo); }',
    "debug-routing": bytes([0x80 | ord("o")]) + b"app, authenticate(auth) { chat, authenticate(admin) { panel } }, echo",
    "crate-renamed": b'icrate = "my_ws::inner", app, WebSockets { timeout = 1.5s, }',
    "web-socket-not-a-fn": b'w"/a"\0struct S;',
    "empty": b"o",
})
write("protocol_decode", decode_seeds)
write("protocol_differential", differential_seeds)
write("handshake", handshake_seeds)
write("macros", macro_seeds)
print(f"handshake: {len(handshake_seeds)} seeds, macros: {len(macro_seeds)} seeds")

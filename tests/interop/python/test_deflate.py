"""permessage-deflate (RFC 7692) against the `deflate` example's echo, with Python
`websockets` as the client: negotiation, every kind of message 0 B to 1 MiB whole and
fragmented, many in a row (context takeover both ways), and proof from the frames on
the wire that both sides really compressed.

The server is at WS_DEFLATE_ADDR (path WS_DEFLATE_PATH, default /echo).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any, AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Frame, Opcode

from common import (
    SIZES,
    all_kinds,
    close_received,
    compressible_bytes,
    compressible_text,
    describe,
    fragments,
    recv,
    run,
    url,
)

MAX_SIZE = 4 << 20
DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


def server_url() -> str:
    return url("WS_DEFLATE_ADDR", os.environ.get("WS_DEFLATE_PATH", "/echo"))


class RecordingDeflate(PerMessageDeflate):
    """websockets' own permessage-deflate, noting each data frame's wire size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One entry per message: [rsv1 of its first frame, wire bytes, frames, plain bytes]
        self.messages_in: list[list[Any]] = []
        self.messages_out: list[list[Any]] = []

    @staticmethod
    def _note(log: list[list[Any]], wire: Frame, plain: Frame) -> None:
        if wire.opcode not in DATA:
            return
        if wire.opcode is not Opcode.CONT:
            log.append([wire.rsv1, 0, 0, 0])
        entry = log[-1]
        entry[1] += len(wire.data)
        entry[2] += 1
        entry[3] += len(plain.data)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        plain = super().decode(frame, max_size=max_size)
        self._note(self.messages_in, frame, plain)
        return plain

    def encode(self, frame: Frame) -> Frame:
        wire = super().encode(frame)
        self._note(self.messages_out, wire, frame)
        return wire


class RecordingFactory(ClientPerMessageDeflateFactory):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("compress_settings", {"memLevel": 5})
        super().__init__(**kwargs)
        self.response_params: list[tuple[str, str | None]] | None = None

    def process_response_params(self, params: Any, accepted_extensions: Any) -> PerMessageDeflate:
        ext = super().process_response_params(params, accepted_extensions)
        self.response_params = list(params)
        return RecordingDeflate(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            self.compress_settings,
        )


def open_deflate(*factories: ClientPerMessageDeflateFactory) -> Any:
    return connect(
        server_url(),
        compression=None,
        extensions=list(factories) or [RecordingFactory()],
        max_size=MAX_SIZE,
        ping_interval=None,
        open_timeout=10,
        close_timeout=5,
    )


def deflate_of(conn: ClientConnection) -> RecordingDeflate:
    exts = conn.protocol.extensions
    assert [e.name for e in exts] == ["permessage-deflate"], f"negotiated {exts!r}"
    ext = exts[0]
    assert isinstance(ext, RecordingDeflate)
    return ext


def same(got: Any, sent: Any, label: str) -> None:
    assert type(got) is type(sent), f"{label}: sent {describe(sent)}, got {type(got).__name__}"
    if got != sent:
        prefix = 0
        while prefix < min(len(got), len(sent)) and got[prefix] == sent[prefix]:
            prefix += 1
        raise AssertionError(
            f"{label}: sent {describe(sent)}, got {describe(got)}; first difference at {prefix}"
        )


async def echo_pipelined(conn: ClientConnection, batch: list[tuple[str, Any]]) -> None:
    """Sends every message while a second task reads the echoes; checks them in order."""

    async def sender() -> None:
        for _, msg in batch:
            await conn.send(msg)

    send_task = asyncio.create_task(sender())
    try:
        for label, msg in batch:
            same(await recv(conn), msg, label)
    finally:
        await asyncio.wait_for(send_task, 30)


# ----- negotiation -----


def test_negotiates_permessage_deflate_with_the_default_offer() -> None:
    async def body() -> None:
        factory = RecordingFactory()
        async with open_deflate(factory) as conn:
            ext = deflate_of(conn)
            header = conn.response.headers.get("Sec-WebSocket-Extensions", "")
            assert header.startswith("permessage-deflate"), header
            assert factory.response_params is not None
            await conn.send("hello")
            assert await recv(conn) == "hello"
            assert ext.messages_out and ext.messages_in

    run(body())


def test_declined_offer_falls_back_to_the_next_one() -> None:
    """server_max_window_bits=8 cannot be honoured by zlib; the server declines that
    offer and must accept the plain one that follows (RFC 7692 §5)."""

    async def body() -> None:
        first = RecordingFactory(server_max_window_bits=8)
        second = RecordingFactory()
        async with open_deflate(first, second) as conn:
            deflate_of(conn)
            assert first.response_params is None, "the 8-bit offer was accepted"
            assert second.response_params is not None
            msg = compressible_text(5000)
            await conn.send(msg)
            same(await recv(conn), msg, "after fallback")

    run(body())


def test_only_an_unacceptable_offer_means_no_extension() -> None:
    async def body() -> None:
        async with open_deflate(RecordingFactory(server_max_window_bits=8)) as conn:
            assert conn.protocol.extensions == []
            assert "Sec-WebSocket-Extensions" not in conn.response.headers
            msg = compressible_bytes(70_000)
            await conn.send(msg)
            same(await recv(conn), msg, "uncompressed session")

    run(body())


# ----- round trips -----


def test_every_kind_round_trips_whole() -> None:
    async def body() -> None:
        rng = random.Random(1)
        async with open_deflate() as conn:
            deflate_of(conn)
            for label, msg in all_kinds(rng):
                await conn.send(msg)
                same(await recv(conn), msg, label)

    run(body())


PLANS = [
    [0],  # an empty first fragment, then everything
    [1],
    [1, 0, 1, 0],  # empty fragments in the middle
    [100, 1000],
    [16384] * 70,  # 16 KiB fragments, most of a 1 MiB message
]


def test_fragmented_messages_round_trip() -> None:
    """websockets sends an iterable (or async iterable) as one fragmented message,
    each item in its own frame (plus an empty final one), the first frame with RSV1."""

    async def body() -> None:
        rng = random.Random(2)
        sizes = [0, 1, 5, 1024, 70_000, 1 << 20]
        async with open_deflate() as conn:
            ext = deflate_of(conn)
            for i, (label, msg) in enumerate(all_kinds(rng, sizes)):
                plan = PLANS[i % len(PLANS)]
                parts = fragments(msg, plan)
                before = len(ext.messages_out)
                if i % 2:
                    await conn.send(parts)
                else:

                    async def agen(parts: list[Any] = parts) -> AsyncIterator[Any]:
                        for p in parts:
                            await asyncio.sleep(0)
                            yield p

                    await conn.send(agen())
                sent = ext.messages_out[before:]
                assert len(sent) == 1 and sent[0][2] == len(parts) + 1 and sent[0][0], (
                    f"{label}: expected one message in {len(parts) + 1} frames, sent {sent}"
                )
                same(await recv(conn), msg, f"{label} in {len(parts)} fragments")

    run(body())


def test_many_messages_in_a_row_keep_both_contexts() -> None:
    """400 messages pipelined on one connection: with context takeover each side's
    compressor and decompressor carry history across messages, so one desync garbles
    every later message."""

    async def body() -> None:
        rng = random.Random(3)
        pool = all_kinds(rng, [0, 7, 200, 1500, 20_000, 100_000])
        batch = [rng.choice(pool) for _ in range(400)]
        async with open_deflate() as conn:
            ext = deflate_of(conn)
            await echo_pipelined(conn, batch)
            assert len(ext.messages_in) == len(batch)

    run(body(), timeout=180)


def test_server_context_takeover_shows_on_the_wire() -> None:
    """The same 1 KiB of random bytes three times: with takeover (the default when
    the response has no server_no_context_takeover) the 2nd and 3rd copies are
    back-references into the window and cost a few bytes; without it each costs ~1 KiB.
    (1 KiB: within the smallest window a server may compress with unannounced, since it
    may not name server_max_window_bits unless offered; ws's memory = Small uses 2 KiB.)"""

    async def body() -> None:
        blob = random.Random(4).randbytes(1024)
        factory = RecordingFactory()
        async with open_deflate(factory) as conn:
            ext = deflate_of(conn)
            for _ in range(3):
                await conn.send(blob)
                same(await recv(conn), blob, "repeated random 1 KiB")
            sizes = [m[1] for m in ext.messages_in[-3:]]
            assert all(m[0] for m in ext.messages_in[-3:]), f"not all compressed: {ext.messages_in[-3:]}"
            takeover = not ext.remote_no_context_takeover
            if takeover:
                assert sizes[1] < sizes[0] // 4 and sizes[2] < sizes[0] // 4, (
                    f"server claims context takeover but repeated content is not "
                    f"back-referenced: wire sizes {sizes}"
                )
            else:
                assert sizes[1] > sizes[0] * 0.9, f"wire sizes {sizes}"
            # Our own side, for comparison: websockets compresses with takeover unless
            # the server asked for client_no_context_takeover (ws asks by default).
            out = [m[1] for m in ext.messages_out[-3:]]
            if ext.local_no_context_takeover:
                assert out[1] > out[0] * 0.9, f"client wire sizes {out}"
            else:
                assert out[1] < out[0] // 4, f"client wire sizes {out}"

    run(body())


# ----- compression really happened -----


def test_large_compressible_messages_are_compressed_both_ways() -> None:
    async def body() -> None:
        async with open_deflate() as conn:
            ext = deflate_of(conn)
            for msg in (compressible_text(1 << 20), compressible_bytes(1 << 20)):
                await conn.send(msg)
                same(await recv(conn), msg, describe(msg))
                rsv1_in, wire_in, frames_in, plain_in = ext.messages_in[-1]
                rsv1_out, wire_out, _, _ = ext.messages_out[-1]
                assert plain_in == 1 << 20
                assert rsv1_in, "the server's 1 MiB echo came without RSV1: not compressed"
                assert wire_in < (1 << 20) // 20, (
                    f"the server's compressed echo is {wire_in} bytes on the wire for 1 MiB"
                )
                assert rsv1_out and wire_out < (1 << 20) // 20
                print(
                    f"1 MiB {describe(msg).split()[0]}: server sent {wire_in} B in "
                    f"{frames_in} frame(s), client sent {wire_out} B"
                )

    run(body())


def test_random_data_round_trips_compressed_or_not() -> None:
    """Incompressible 1 MiB: the server may send it compressed (slightly bigger) or
    plain (RSV1 clear); either way the bytes must match."""

    async def body() -> None:
        rng = random.Random(5)
        async with open_deflate() as conn:
            ext = deflate_of(conn)
            msg = rng.randbytes(1 << 20)
            await conn.send(msg)
            same(await recv(conn), msg, "random 1 MiB")
            rsv1, wire, _, _ = ext.messages_in[-1]
            # deflate stores incompressible data in blocks of at most its window: 5
            # bytes per block, 2.5 KiB per MiB at a 2 KiB window (ws's memory = Small).
            assert wire <= (1 << 20) + 6 * 1024, f"{wire} bytes on the wire for 1 MiB (rsv1={rsv1})"

    run(body())


# ----- other offers -----


def test_no_context_takeover_both_ways() -> None:
    async def body() -> None:
        rng = random.Random(6)
        factory = RecordingFactory(server_no_context_takeover=True, client_no_context_takeover=True)
        async with open_deflate(factory) as conn:
            ext = deflate_of(conn)
            names = [name for name, _ in factory.response_params or []]
            # RFC 7692 §7.1.1.1: a server accepting this offer must echo it.
            assert "server_no_context_takeover" in names, factory.response_params
            assert ext.remote_no_context_takeover and ext.local_no_context_takeover
            blob = rng.randbytes(16384)
            batch = [(f"{i}", m) for i, m in enumerate([blob, blob, blob])]
            batch += [(label, m) for label, m in all_kinds(rng, [0, 1, 2000, 70_000])]
            batch += [("again", compressible_text(3000))] * 20
            await echo_pipelined(conn, batch)
            sizes = [m[1] for m in ext.messages_in[:3]]
            assert sizes[1] > sizes[0] * 0.9 and sizes[2] > sizes[0] * 0.9, (
                f"server_no_context_takeover negotiated but the repeat was back-referenced: {sizes}"
            )

    run(body(), timeout=180)


def test_small_windows_both_ways() -> None:
    """server_max_window_bits=10 and client_max_window_bits=9: the server must compress
    with at most a 1 KiB window (a back-reference further back breaks our inflater) and
    inflate our 512-byte-window stream."""

    async def body() -> None:
        rng = random.Random(7)
        factory = RecordingFactory(server_max_window_bits=10, client_max_window_bits=9)
        async with open_deflate(factory) as conn:
            ext = deflate_of(conn)
            params = dict(factory.response_params or [])
            assert "server_max_window_bits" in params, factory.response_params
            assert int(params["server_max_window_bits"] or 0) <= 10, params
            assert ext.remote_max_window_bits <= 10 and ext.local_max_window_bits <= 9
            chunk = rng.randbytes(8192)
            doubled = chunk + chunk  # the repeat is 8 KiB back: out of a 1 KiB window
            batch = [("doubled", doubled)] + all_kinds(rng, [0, 3, 1500, 65536, 300_000])
            batch += [("doubled again", doubled)]
            await echo_pipelined(conn, batch)
            wire = ext.messages_in[0][1]
            assert wire > 15000, f"{wire} wire bytes for 16 KiB: window larger than 1 KiB?"

    run(body(), timeout=180)


# ----- bad input -----


def test_a_decompression_bomb_is_closed_with_1009() -> None:
    """100 MiB of zeros, about 100 kB compressed, sent as 1 MiB fragments: over any
    message limit the server has (the deflate example's is 16 MiB, the default 64 MiB);
    it must stop inflating and close with 1009 (RFC 6455 §7.4.1)."""

    async def body() -> None:
        async with open_deflate() as conn:
            deflate_of(conn)
            zeros = bytes(1 << 20)

            async def parts() -> AsyncIterator[bytes]:
                for _ in range(100):
                    yield zeros
                    # websockets compresses in the event loop's thread and its writes
                    # do not block while the server discards: without a yield the
                    # reader would see the server's close frame only after all 100 MiB
                    # were compressed, which on a loaded machine outlasts the server's
                    # linger (a browser reads while it sends).
                    await asyncio.sleep(0)

            sending = asyncio.create_task(conn.send(parts()))
            with pytest.raises(ConnectionClosed):
                await recv(conn, timeout=60)
            got = close_received(conn)
            assert got is not None and got[0] == 1009, f"expected 1009, got {got}"
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)

    run(body())


def _raw_frame(first_byte: int, payload: bytes) -> bytes:
    """A masked client frame (payload under 126 bytes) written by hand, for what
    websockets refuses to send. Mask key 0 leaves the payload as it is."""
    assert len(payload) < 126
    return bytes([first_byte, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


@pytest.mark.parametrize(
    "frames,code",
    [
        # FIN + RSV1 + binary, payload not a deflate stream: invalid data.
        ([_raw_frame(0x80 | 0x40 | 0x2, b"\xff\xff\xff\xff\xff")], 1007),
        # RSV1 on a continuation frame (RFC 7692 §6.1): protocol error.
        ([_raw_frame(0x40 | 0x2, b"\x4a\x04\x00"), _raw_frame(0x80 | 0x40 | 0x0, b"\x00")], 1002),
        # RSV1 on a control frame (RFC 7692 §6.1): protocol error.
        ([_raw_frame(0x80 | 0x40 | 0x9, b"p")], 1002),
    ],
    ids=["corrupt-stream", "rsv1-on-continuation", "rsv1-on-ping"],
)
def test_bad_compressed_frames_are_closed(frames: list[bytes], code: int) -> None:
    async def body() -> None:
        async with open_deflate() as conn:
            deflate_of(conn)
            await conn.send("before")
            assert await recv(conn) == "before"
            for frame in frames:
                conn.transport.write(frame)
            with pytest.raises(ConnectionClosed):
                await recv(conn)
            got = close_received(conn)
            assert got is not None and got[0] == code, f"expected {code}, got {got}"

    run(body())

"""Helpers shared by the Python interop suites.

Server addresses come from the environment, set by scripts/test-interop.sh, which
starts each example with `--port 0`:

    WS_DEFLATE_ADDR      examples/deflate (or conformance --deflate): echo on /echo
    WS_ECHO_ADDR         examples/echo: greeting, "Hi, NAME!", "bye"
    WS_CHAT_ADDR         examples/chat: /chat
    WS_LIFECYCLE_ADDR    examples/lifecycle: text echo on /echo, binary -> close 1003
    WS_CONFORMANCE_ADDR  examples/conformance: plain echo on /echo
    WS_CRC_ADDR          examples/custom_extension: x-crc32 echo
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode

# Every network wait is bounded by this unless a test says otherwise.
STEP_TIMEOUT = 20.0


def addr(var: str) -> str:
    value = os.environ.get(var)
    assert value, f"{var} is not set: run the suites through scripts/test-interop.sh"
    return value


def url(var: str, path: str) -> str:
    return f"ws://{addr(var)}{path}"


def run(coro: Any, timeout: float = 120.0) -> Any:
    """Runs one test's coroutine with an overall deadline."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def recv(conn: ClientConnection, timeout: float = STEP_TIMEOUT) -> Any:
    return await asyncio.wait_for(conn.recv(), timeout)


async def closed(conn: ClientConnection, timeout: float = STEP_TIMEOUT) -> None:
    """Waits until the connection is closed (close handshake done or TCP gone)."""
    await asyncio.wait_for(conn.wait_closed(), timeout)


def close_received(conn: ClientConnection) -> tuple[int, str] | None:
    """The close frame the server sent, as (code, reason), or None."""
    frame = conn.protocol.close_rcvd
    return None if frame is None else (frame.code, frame.reason)


class RecordingConnection(ClientConnection):
    """A websockets connection that records every frame it receives (after
    extensions decoded it) with its arrival time: control frames included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames_in: list[tuple[float, Frame]] = []
        self.frame_event = asyncio.Event()

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame):
            self.frames_in.append((time.monotonic(), event))
            self.frame_event.set()
        super().process_event(event)

    async def wait_frame(self, predicate: Any, timeout: float) -> tuple[float, Frame]:
        """Waits for a received frame satisfying `predicate(frame, arrival_time)`,
        looking at every frame received since the connection opened."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for item in self.frames_in[seen:]:
                if predicate(item[1], item[0]):
                    return item
            seen = len(self.frames_in)
            self.frame_event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout}s")
            try:
                await asyncio.wait_for(self.frame_event.wait(), remaining)
            except asyncio.TimeoutError:
                raise AssertionError(f"no matching frame within {timeout}s") from None

    def pings(self) -> list[tuple[float, Frame]]:
        return [(t, f) for t, f in self.frames_in if f.opcode is Opcode.PING]


# ----- payloads -----

SIZES = [0, 1, 2, 125, 126, 127, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 300_000, 1 << 20]

_TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éüßλжあ😀"


def compressible_bytes(size: int) -> bytes:
    unit = b"The quick brown fox jumps over the lazy dog. 0123456789\n"
    return (unit * (size // len(unit) + 1))[:size]


def random_bytes(size: int, rng: random.Random) -> bytes:
    return rng.randbytes(size)


def compressible_text(size: int) -> str:
    """ASCII text of exactly `size` bytes."""
    return compressible_bytes(size).decode()


def random_text(size: int, rng: random.Random) -> str:
    """Random text, multi-byte characters included, of about `size` UTF-8 bytes
    (exactly `size` for sizes under 4)."""
    if size < 4:
        return "".join(rng.choice("abcxyz") for _ in range(size))
    out: list[str] = []
    n = 0
    while n < size - 4:
        c = rng.choice(_TEXT_ALPHABET)
        out.append(c)
        n += len(c.encode())
    out.append("z" * (size - n))
    return "".join(out)


def message(kind: str, content: str, size: int, rng: random.Random) -> str | bytes:
    """kind: text|binary; content: compressible|random."""
    if kind == "text":
        return compressible_text(size) if content == "compressible" else random_text(size, rng)
    return compressible_bytes(size) if content == "compressible" else random_bytes(size, rng)


def all_kinds(rng: random.Random, sizes: list[int] = SIZES) -> list[tuple[str, str | bytes]]:
    """(label, message) for every size x text/binary x compressible/random."""
    out = []
    for size in sizes:
        for kind in ("text", "binary"):
            for content in ("compressible", "random"):
                out.append((f"{kind}/{content}/{size}B", message(kind, content, size, rng)))
    return out


def fragments(msg: str | bytes, plan: list[int]) -> list[str | bytes]:
    """Splits `msg` at the cumulative sizes in `plan` (0 = an empty fragment); the
    rest is the last fragment."""
    out = []
    pos = 0
    for n in plan:
        out.append(msg[pos : pos + n])
        pos += n
    out.append(msg[pos:])
    return out


def describe(msg: str | bytes) -> str:
    kind = "text" if isinstance(msg, str) else "binary"
    return f"{kind} of {len(msg)} {'chars' if kind == 'text' else 'bytes'}"

"""The examples as a user sees them, driven by Python `websockets`: the echo sample,
the chat, close reasons both ways, pings both ways, and a server shutting down.

Servers (set by scripts/test-interop.sh):
    WS_ECHO_ADDR         examples/echo (/echo)
    WS_CHAT_ADDR         examples/chat (/chat), a fresh instance for this suite
    WS_LIFECYCLE_ADDR    examples/lifecycle (/echo)
    WS_CONFORMANCE_ADDR  examples/conformance (/echo)
    WS_EXAMPLES_DIR      where the example binaries are (the shutdown test starts one)
    WS_PING_ADDR         a server with pings on (path WS_PING_PATH, default /echo),
                         WS_PING_PERIOD_MS / WS_PING_TIMEOUT_MS its settings
"""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.frames import Frame, Opcode

from common import (
    RecordingConnection,
    close_received,
    closed,
    recv,
    run,
    url,
)


def plain(var: str, path: str, **kwargs: object) -> object:
    """A client with no extension and no keepalive pings of its own."""
    options = dict(compression=None, ping_interval=None, open_timeout=10, close_timeout=5)
    options.update(kwargs)
    return connect(url(var, path), **options)


# ----- echo -----


def test_echo_greets_answers_and_closes_on_bye() -> None:
    async def body() -> None:
        async with plain("WS_ECHO_ADDR", "/echo") as conn:
            assert await recv(conn) == "Please enter your name"
            await conn.send("Ann")
            assert await recv(conn) == "Hi, Ann!"
            # Not text: the handler skips it and answers the next text.
            await conn.send(b"\x00\x01\x02")
            await conn.send("Ünïcødé 😀")
            assert await recv(conn) == "Hi, Ünïcødé 😀!"
            await conn.send("ByE")
            with pytest.raises(ConnectionClosedOK):
                await recv(conn)
            assert close_received(conn) == (1000, "Client said BYE")
            assert conn.close_code == 1000 and conn.close_reason == "Client said BYE"

    run(body())


def test_echo_with_permessage_deflate_offered() -> None:
    """The echo example installs no extension: the offer is declined, all else works."""

    async def body() -> None:
        async with connect(url("WS_ECHO_ADDR", "/echo"), ping_interval=None, open_timeout=10) as conn:
            assert conn.protocol.extensions == []
            assert await recv(conn) == "Please enter your name"
            await conn.send("Bob")
            assert await recv(conn) == "Hi, Bob!"
            await conn.send("bye")
            await closed(conn)
            assert close_received(conn) == (1000, "Client said BYE")

    run(body())


# ----- close reasons -----


@pytest.mark.parametrize(
    "var,path",
    [("WS_ECHO_ADDR", "/echo"), ("WS_CONFORMANCE_ADDR", "/echo"), ("WS_LIFECYCLE_ADDR", "/echo")],
)
@pytest.mark.parametrize("code,reason", [(4000, "done"), (1000, ""), (1001, "going away"), (3999, "é" * 61)])
def test_client_close_reason_is_echoed(var: str, path: str, code: int, reason: str) -> None:
    """RFC 6455 §5.5.1: the endpoint answering a close sends the status code back."""

    async def body() -> None:
        async with plain(var, path) as conn:
            if var == "WS_ECHO_ADDR":
                assert await recv(conn) == "Please enter your name"
            await conn.send("ping me back")
            await recv(conn)
            await asyncio.wait_for(conn.close(code, reason), 10)
            got = close_received(conn)
            assert got is not None, "the server did not answer our close frame"
            # RFC 6455 §5.5.1 asks for the code back; the runtime echoes the reason too.
            assert got == (code, reason), f"we closed with {(code, reason)}, the server answered {got}"

    run(body())


def test_client_close_without_a_status_is_answered() -> None:
    async def body() -> None:
        async with plain("WS_CONFORMANCE_ADDR", "/echo") as conn:
            await conn.send("x")
            await recv(conn)
            # A close frame with an empty payload (no status code).
            conn.protocol.send_frame(Frame(Opcode.CLOSE, b""))
            conn.send_data()
            await closed(conn)
            got = close_received(conn)
            assert got is not None, "no close frame came back"
            assert got[0] in (1000, 1005), got

    run(body())


def test_lifecycle_closes_1003_on_binary() -> None:
    async def body() -> None:
        async with plain("WS_LIFECYCLE_ADDR", "/echo") as conn:
            await conn.send("hello")
            assert await recv(conn) == "hello"
            await conn.send(b"\x01\x02\x03")
            with pytest.raises(ConnectionClosed):
                await recv(conn)
            got = close_received(conn)
            assert got is not None and got[0] == 1003, got
            assert got[1].startswith("only text frames are accepted"), got

    run(body())


def test_reserved_bit_without_extension_closes_1002() -> None:
    """RFC 6455 §5.2: RSV2 set while no extension defines it: fail the connection."""

    async def body() -> None:
        async with plain("WS_CONFORMANCE_ADDR", "/echo") as conn:
            await conn.send("before")
            assert await recv(conn) == "before"
            # websockets refuses to serialize reserved bits, so this frame is written
            # by hand: FIN + RSV2 + text, masked, payload "bad".
            mask = b"\x01\x02\x03\x04"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"bad"))
            conn.transport.write(bytes([0x80 | 0x20 | 0x1, 0x80 | 3]) + mask + payload)
            with pytest.raises(ConnectionClosed):
                await recv(conn)
            got = close_received(conn)
            assert got is not None and got[0] == 1002, got

    run(body())


def test_invalid_utf8_text_closes_1007() -> None:
    async def body() -> None:
        async with plain("WS_CONFORMANCE_ADDR", "/echo") as conn:
            conn.protocol.send_frame(Frame(Opcode.TEXT, b"ok \xff\xfe"))
            conn.send_data()
            with pytest.raises(ConnectionClosed):
                await recv(conn)
            got = close_received(conn)
            assert got is not None and got[0] == 1007, got

    run(body())


# ----- chat -----

GREETING = re.compile(r"^You are connected! There are (\d+) users here\.$")
LINE = re.compile(r"^\[(user\d+)\]: (.*)$", re.S)


async def join(chat_url: str) -> tuple[object, int]:
    conn = await connect(chat_url, compression=None, ping_interval=None, open_timeout=10, close_timeout=5)
    greeting = await recv(conn)
    m = GREETING.match(greeting)
    assert m, f"unexpected greeting {greeting!r}"
    return conn, int(m.group(1))


async def said(conn: object, text: str) -> str:
    """The next line `conn` receives must be `text` from someone; returns the name."""
    line = await recv(conn)  # type: ignore[arg-type]
    m = LINE.match(line)
    assert m and m.group(2) == text, f"expected '[userN]: {text}', got {line!r}"
    return m.group(1)


def test_chat_broadcasts_to_everyone_and_survives_leavers() -> None:
    async def body() -> None:
        chat = url("WS_CHAT_ADDR", "/chat")
        a, n = await join(chat)
        b, nb = await join(chat)
        c, nc = await join(chat)
        d = None
        try:
            assert (nb, nc) == (n + 1, n + 2), f"greeting counts {n}, {nb}, {nc}"

            await a.send("hello from A")  # type: ignore[attr-defined]
            names_a = {await said(x, "hello from A") for x in (a, b, c)}
            assert len(names_a) == 1, names_a

            await b.send("hi from B, ünïcødé 😀")  # type: ignore[attr-defined]
            names_b = {await said(x, "hi from B, ünïcødé 😀") for x in (a, b, c)}
            assert len(names_b) == 1 and names_b != names_a, (names_a, names_b)

            # Three in a row from C keep their order for everyone.
            for i in range(3):
                await c.send(f"c{i}")  # type: ignore[attr-defined]
            for x in (a, b, c):
                for i in range(3):
                    await said(x, f"c{i}")

            # C leaves; A and B go on, and the next user sees the count without C.
            await asyncio.wait_for(c.close(), 10)  # type: ignore[attr-defined]
            assert close_received(c) is not None and close_received(c)[0] == 1000  # type: ignore[index,arg-type]
            await a.send("still here")  # type: ignore[attr-defined]
            for x in (a, b):
                await said(x, "still here")
            d, nd = await join(chat)
            assert nd == n + 2, f"after one left and one joined: {nd} users, expected {n + 2}"
            await d.send("D here")  # type: ignore[attr-defined]
            for x in (a, b, d):
                await said(x, "D here")

            # Over the chat's 64 KiB frame limit: D alone is closed with 1009.
            await d.send("x" * (64 * 1024 + 1))  # type: ignore[attr-defined]
            with pytest.raises(ConnectionClosed):
                await recv(d)  # type: ignore[arg-type]
            got = close_received(d)  # type: ignore[arg-type]
            assert got is not None and got[0] == 1009, got
            await b.send("after the big one")  # type: ignore[attr-defined]
            for x in (a, b):
                assert await said(x, "after the big one") in names_b
        finally:
            for x in (a, b, c, d):
                if x is not None:
                    await asyncio.wait_for(x.close(), 10)  # type: ignore[attr-defined]

    run(body())


# ----- pings -----


def test_client_pings_get_pongs() -> None:
    async def body() -> None:
        async with plain("WS_CONFORMANCE_ADDR", "/echo") as conn:
            for payload in (b"", b"x", bytes(range(125)), "ünï"):
                waiter = await conn.ping(payload)
                latency = await asyncio.wait_for(waiter, 10)
                assert latency >= 0
            # Several in flight at once, each answered.
            waiters = [await conn.ping(f"p{i}") for i in range(10)]
            await asyncio.wait_for(asyncio.gather(*waiters), 10)
            await conn.send("still echoing")
            assert await recv(conn) == "still echoing"

    run(body())


def test_ping_between_fragments_of_a_message() -> None:
    """RFC 6455 §5.4: control frames may be injected between fragments; the server
    answers the ping and still reassembles the message."""

    async def body() -> None:
        async with plain("WS_CONFORMANCE_ADDR", "/echo") as conn:
            pongs = []

            async def parts():  # type: ignore[no-untyped-def]
                yield "first "
                pongs.append(await conn.ping(b"mid-message"))
                yield "second "
                pongs.append(await conn.ping(b"again"))
                yield "third"

            await conn.send(parts())
            await asyncio.wait_for(asyncio.gather(*pongs), 10)
            assert await recv(conn) == "first second third"

    run(body())


def test_server_pings_are_answered_and_the_session_stays_open() -> None:
    """The server pings every WS_PING_PERIOD_MS; websockets answers each, so the
    session must outlive the ping timeout and keep working."""

    period = int(os.environ.get("WS_PING_PERIOD_MS", "15000")) / 1000
    timeout = int(os.environ.get("WS_PING_TIMEOUT_MS", "15000")) / 1000

    async def body() -> None:
        path = os.environ.get("WS_PING_PATH", "/echo")
        async with plain("WS_PING_ADDR", path, create_connection=RecordingConnection) as conn:
            def is_ping(f: Frame, _at: float = 0) -> bool:
                return f.opcode is Opcode.PING

            t0, first = await conn.wait_frame(is_ping, period + 10)
            # A later ping sent once the first one's timeout has (about) run out: a
            # server that had not taken our pong would have closed with 1011 instead.
            await conn.wait_frame(
                lambda f, at: is_ping(f) and f is not first and at >= t0 + timeout - period / 2,
                timeout + period + 10,
            )
            assert close_received(conn) is None, f"closed: {close_received(conn)}"
            if os.environ.get("WS_PING_GREETS") == "1":
                assert await recv(conn) == "Please enter your name"
            await conn.send("Cy")
            reply = await recv(conn)
            assert reply in ("Hi, Cy!", "Cy"), reply
            assert len(conn.pings()) >= 2

    run(body(), timeout=3 * (period + timeout) + 30)


# ----- server shutdown -----


def test_server_shutdown_closes_every_session_with_1001() -> None:
    """SIGTERM to a running example (started here, from WS_EXAMPLES_DIR): each open
    session gets close 1001 and the process exits by itself, status 0."""

    async def body() -> None:
        binary = os.path.join(os.environ["WS_EXAMPLES_DIR"], "echo")
        proc = await asyncio.create_subprocess_exec(
            binary, "--port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            m = re.search(r"Listening on http://\S+:(\d+)", line)
            assert m, f"unexpected first line {line!r}"
            target = f"ws://127.0.0.1:{m.group(1)}/echo"
            clients = [
                await connect(target, compression=None, ping_interval=None, open_timeout=10, close_timeout=5)
                for _ in range(3)
            ]
            for c in clients:
                assert await recv(c) == "Please enter your name"
            proc.send_signal(signal.SIGTERM)
            for c in clients:
                with pytest.raises(ConnectionClosed):
                    await recv(c)
                got = close_received(c)
                assert got is not None and got[0] == 1001, f"expected 1001 on shutdown, got {got}"
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    run(body())

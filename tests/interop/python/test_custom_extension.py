"""The `custom_extension` example's `x-crc32` extension (RSV2) against a client-side
implementation for Python `websockets` written from the spec (crc32_extension.py):
negotiation, round trips whole and fragmented both ways, and a bad checksum from the
client closed with 1007.

Server: WS_CRC_ADDR, path WS_CRC_PATH (default /echo).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from common import all_kinds, close_received, describe, fragments, recv, run, url
from crc32_extension import ClientCrc32Factory, Crc32


def open_crc(*factories: Any, **kwargs: Any) -> Any:
    return connect(
        url("WS_CRC_ADDR", os.environ.get("WS_CRC_PATH", "/echo")),
        compression=None,
        extensions=list(factories) or [ClientCrc32Factory()],
        max_size=4 << 20,
        ping_interval=None,
        open_timeout=10,
        close_timeout=5,
        **kwargs,
    )


def crc_of(conn: ClientConnection) -> Crc32:
    exts = conn.protocol.extensions
    assert [e.name for e in exts] == ["x-crc32"], f"negotiated {exts!r}"
    assert isinstance(exts[0], Crc32)
    return exts[0]


def same(got: Any, sent: Any, label: str) -> None:
    assert type(got) is type(sent) and got == sent, f"{label}: sent {describe(sent)}, got {describe(got)}"


def test_negotiates_x_crc32() -> None:
    async def body() -> None:
        factory = ClientCrc32Factory()
        async with open_crc(factory) as conn:
            ext = crc_of(conn)
            assert conn.request.headers["Sec-WebSocket-Extensions"] == "x-crc32"
            assert conn.response.headers["Sec-WebSocket-Extensions"] == "x-crc32"
            assert factory.response_params == []
            await conn.send("checked")
            assert await recv(conn) == "checked"
            # The echo came with RSV2 and a checksum that matched (decode checks it).
            assert ext.messages_in == [[True, 1, len("checked")]]

    run(body())


def test_whole_messages_round_trip_with_checksums_both_ways() -> None:
    async def body() -> None:
        rng = random.Random(11)
        async with open_crc() as conn:
            ext = crc_of(conn)
            kinds = all_kinds(rng, [0, 1, 3, 4, 5, 125, 126, 1024, 65535, 65536, 300_000, 1 << 20])
            for label, msg in kinds:
                await conn.send(msg)
                same(await recv(conn), msg, label)
            assert len(ext.messages_in) == len(kinds)
            assert all(m[0] for m in ext.messages_in), "a server message came without RSV2"

    run(body(), timeout=180)


def test_fragmented_messages_carry_the_checksum_in_the_last_fragment() -> None:
    """websockets ends every fragmented send with an empty final frame, so there the
    last fragment is the checksum alone; the plans also cut 1-3 byte fragments."""

    async def body() -> None:
        rng = random.Random(12)
        plans = [[0], [1], [2, 1], [3, 0, 3], [1000, 5], [16384] * 20]
        async with open_crc() as conn:
            ext = crc_of(conn)
            for i, (label, msg) in enumerate(all_kinds(rng, [0, 2, 7, 4096, 400_000])):
                parts = fragments(msg, plans[i % len(plans)])
                await conn.send(parts)
                assert ext.messages_out[-1][0] == len(parts) + 1
                same(await recv(conn), msg, f"{label} in {len(parts) + 1} frames")
            # Many in a row, pipelined.
            batch = [(f"#{i}", rng.randbytes(rng.randrange(0, 3000))) for i in range(200)]

            async def sender() -> None:
                for _, m in batch:
                    await conn.send([m[:1], m[1:2], m[2:]] if len(m) % 2 else m)

            task = asyncio.create_task(sender())
            for label, m in batch:
                same(await recv(conn), m, label)
            await asyncio.wait_for(task, 30)

    run(body(), timeout=180)


@pytest.mark.parametrize("fragmented", [False, True])
def test_a_wrong_checksum_is_closed_with_1007(fragmented: bool) -> None:
    async def body() -> None:
        async with open_crc() as conn:
            ext = crc_of(conn)
            await conn.send("fine")
            assert await recv(conn) == "fine"
            ext.corrupt_next = True
            if fragmented:
                await conn.send([b"corrupted ", b"in ", b"fragments"])
            else:
                await conn.send("corrupted")
            with pytest.raises(ConnectionClosed):
                await recv(conn)
            got = close_received(conn)
            assert got is not None, "no close frame from the server"
            assert got[0] == 1007, f"expected 1007 for a bad checksum, got {got}"

    run(body())


def test_offer_with_unknown_parameters_is_not_accepted_with_them() -> None:
    """The spec defines no parameters: an offer with one must be declined (RFC 6455
    §9.1 lets the server ignore it) or the handshake fails on our side."""

    async def body() -> None:
        async with open_crc(ClientCrc32Factory([("level", "3")])) as conn:
            assert conn.protocol.extensions == []
            await conn.send("plain")
            assert await recv(conn) == "plain"

    run(body())

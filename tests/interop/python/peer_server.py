"""Python `websockets` servers for the client suite `client-py`: what
tests/it/peer.rs connects `ws::client` to.

    python peer_server.py DIR

starts three servers on free ports of 127.0.0.1 and prints, then `ready`:

    WS_PEER_ADDR=...         websockets' default permessage-deflate (it answers
                             client_max_window_bits=12, server_max_window_bits=12)
    WS_PEER_STRICT_ADDR=...  deflate with client_no_context_takeover,
                             server_no_context_takeover and server_max_window_bits=10:
                             a client that keeps its context fails to inflate (1007)
    WS_PEER_WINDOW_ADDR=...  deflate with client_max_window_bits=9 (context kept): a
                             client that refers further back than 512 bytes, into an
                             earlier message, fails to inflate (1007)
    WS_PEER_TLS_ADDR=...     wss:// with a certificate for localhost from a CA made
                             here (DIR/ca.pem), requiring a client certificate from
                             that CA (DIR/client.pem, DIR/client-key.pem)
    WS_PEER_TLS_DIR=DIR

Paths (every server):

    /echo?id=ID        echoes every message; the close the client sends is
                       recorded under ID
    /last-close?id=ID  sends "CODE REASON" of the close recorded under ID (waits
                       up to 10 s for it)
    /headers           sends JSON: X-Token, the subprotocol chosen (chat.v1 when
                       offered), the response's Sec-WebSocket-Extensions
    /close/CODE        after one message, closes with CODE "bye from python"
    /ping              pings, and sends "pong received" once the pong comes
    /silent            reads nothing (no pongs) for 10 s
    /whoami            the client certificate's common name (TLS server)
    /bad/KIND?id=ID    writes a bad frame behind websockets' back (masked, utf8,
                       rsv2, bomb) and records the client's close under ID
    /reject            403 with a body and an X-Reason header
    /bad-accept        a 101 with a wrong Sec-WebSocket-Accept
    /extra-extension   a 101 that accepts an extension nobody offered
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import sys
import zlib
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

closes: dict[str, tuple[int | None, str]] = {}
closed_event = asyncio.Event()


def query(ws: ServerConnection) -> dict[str, str]:
    parts = urlsplit(ws.request.path)
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def record_close(ws: ServerConnection) -> None:
    ident = query(ws).get("id")
    if ident is None:
        return
    frame = ws.protocol.close_rcvd
    closes[ident] = (frame.code, frame.reason) if frame else (None, "")
    closed_event.set()


def frame(first: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """A server frame written by hand (masked if `mask`)."""
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([first, mask_bit | n])
    elif n < 1 << 16:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + payload
    return head + payload


def bomb() -> bytes:
    """100 MiB of zeros, deflated (about 100 KiB), sync-flush tail removed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = b"".join(compressor.compress(chunk) for _ in range(100))
    out += compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


BAD = {
    "masked": lambda: frame(0x81, b"masked by the server", b"\x01\x02\x03\x04"),
    "utf8": lambda: frame(0x81, b"caf\xc3"),
    "rsv2": lambda: frame(0x80 | 0x20 | 0x1, b"rsv2"),
    "bomb": lambda: frame(0x80 | 0x40 | 0x2, bomb()),
}


async def handler(ws: ServerConnection) -> None:
    path = urlsplit(ws.request.path).path
    if path == "/echo":
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            record_close(ws)
    elif path == "/last-close":
        ident = query(ws).get("id", "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while ident not in closes and loop.time() < deadline:
            closed_event.clear()
            try:
                await asyncio.wait_for(closed_event.wait(), deadline - loop.time())
            except TimeoutError:
                break
        code, reason = closes.get(ident, (None, "not recorded"))
        await ws.send(f"{code} {reason}")
    elif path == "/headers":
        await ws.send(
            json.dumps(
                {
                    "x-token": ws.request.headers.get("X-Token"),
                    "protocol": ws.subprotocol,
                    "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
                }
            )
        )
        await ws.wait_closed()
    elif path.startswith("/close/"):
        await ws.recv()
        await ws.close(int(path.removeprefix("/close/")), "bye from python")
    elif path == "/ping":
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.send("pong received")
        await ws.wait_closed()
    elif path == "/silent":
        ws.transport.pause_reading()
        await asyncio.sleep(10)
    elif path == "/whoami":
        cert = ws.transport.get_extra_info("peercert") or {}
        names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        await ws.send(names[0] if names else "anonymous")
        await ws.wait_closed()
    elif path.startswith("/bad/"):
        ws.transport.write(BAD[path.removeprefix("/bad/")]())
        try:
            async for _ in ws:
                pass
        finally:
            record_close(ws)
    else:
        await ws.close(4404, f"no such path {path}")


def process_request(connection, request):  # type: ignore[no-untyped-def]
    if urlsplit(request.path).path == "/reject":
        response = connection.respond(HTTPStatus.FORBIDDEN, "go away\n")
        response.headers["X-Reason"] = "no token"
        return response
    return None


def process_response(connection, request, response):  # type: ignore[no-untyped-def]
    path = urlsplit(request.path).path
    if path == "/bad-accept":
        del response.headers["Sec-WebSocket-Accept"]
        response.headers["Sec-WebSocket-Accept"] = "c29tZXRoaW5nIGVsc2UgZW50aXJlbHk="
    elif path == "/extra-extension":
        response.headers["Sec-WebSocket-Extensions"] = "x-nobody-offered"
    return None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for localhost and 127.0.0.1, and a client
    certificate, all PEM files in `directory`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("ws client-suite CA"))
        .issuer_name(_name("ws client-suite CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, san: list[x509.GeneralName] | None, usage: x509.ObjectIdentifier):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    from cryptography.x509.oid import ExtendedKeyUsageOID

    server = leaf(
        "localhost",
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client = leaf("ws-client-suite", None, ExtendedKeyUsageOID.CLIENT_AUTH)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(server[0])
    (directory / "server-key.pem").write_bytes(server[1])
    (directory / "client.pem").write_bytes(client[0])
    (directory / "client-key.pem").write_bytes(client[1])


async def main() -> None:
    directory = Path(sys.argv[1])
    make_certificates(directory)
    common = dict(
        subprotocols=["chat.v1"],
        process_request=process_request,
        process_response=process_response,
        max_size=16 << 20,
        ping_interval=None,
    )

    def select(connection, subprotocols):  # type: ignore[no-untyped-def]
        return "chat.v1" if "chat.v1" in subprotocols else None

    common["select_subprotocol"] = select
    del common["subprotocols"]
    strict = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=10,
    )
    window = ServerPerMessageDeflateFactory(client_max_window_bits=9)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server-key.pem")
    context.load_verify_locations(directory / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    async with (
        serve(handler, "127.0.0.1", 0, **common) as plain,
        serve(handler, "127.0.0.1", 0, compression=None, extensions=[strict], **common) as strict_server,
        serve(handler, "127.0.0.1", 0, compression=None, extensions=[window], **common) as window_server,
        serve(handler, "127.0.0.1", 0, ssl=context, **common) as tls,
    ):
        servers = [
            ("ADDR", plain),
            ("STRICT_ADDR", strict_server),
            ("WINDOW_ADDR", window_server),
            ("TLS_ADDR", tls),
        ]
        for name, server in servers:
            host, port = next(iter(server.sockets)).getsockname()[:2]
            print(f"WS_PEER_{name}={host}:{port}")
        print(f"WS_PEER_TLS_DIR={directory}")
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())

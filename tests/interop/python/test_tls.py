"""The tls example (the chat over https/wss with permessage-deflate) driven by Python
`websockets` over TLS, trusting only a CA made at test time.

Set by scripts/test-interop.sh, which starts `tls --port 0 --test-ca DIR` for this
suite alone (the reload test replaces its certificate):
    WS_TLS_ADDR   the server's address (127.0.0.1:PORT); the clients connect to
                  wss://localhost:PORT/chat, so the hostname check is on `localhost`
    WS_TLS_DIR    DIR: ca.pem (the test CA), cert.pem and key.pem (the server's)
    WS_TLS_PID    the server's pid, for SIGHUP

The reload test writes a certificate signed by a new CA (made here with
`cryptography`) over cert.pem/key.pem; the tests after it trust the new CA.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

from common import STEP_TIMEOUT, addr, compressible_text, recv, run

GREETING = re.compile(r"^You are connected! There are (\d+) users here\.$")

# How long a SIGHUP may take to show in new handshakes.
RELOAD_BOUND = 10.0


def port() -> str:
    return addr("WS_TLS_ADDR").rsplit(":", 1)[1]


def tls_dir() -> Path:
    return Path(addr("WS_TLS_DIR"))


def chat_url(scheme: str = "wss", host: str = "localhost") -> str:
    return f"{scheme}://{host}:{port()}/chat"


# The CA the server's current certificate chains to (the reload test moves it on).
_trusted = {"ca": None}


def trusted_ca() -> Path:
    return _trusted["ca"] or tls_dir() / "ca.pem"


def trusting(ca: Path | None = None) -> ssl.SSLContext:
    """A context that trusts `ca` and nothing else (cafile given: no system CAs),
    with certificate verification and the hostname check on (the defaults)."""
    context = ssl.create_default_context(cafile=str(ca or trusted_ca()))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1, context.get_ca_certs()
    return context


class CountingConnection(ClientConnection):
    """Counts the bytes of WebSocket frames received (decrypted, still compressed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes_in = 0

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        super().data_received(data)


def client(context: ssl.SSLContext | None = None, url: str | None = None, **kwargs: Any) -> Any:
    options: dict[str, Any] = dict(ssl=context or trusting(), ping_interval=None, open_timeout=10, close_timeout=5)
    options.update(kwargs)
    return connect(url or chat_url(), **options)


async def greeted(conn: ClientConnection) -> int:
    """Reads the greeting; returns the user count in it."""
    line = await recv(conn)
    m = GREETING.match(line)
    assert m, f"expected the greeting, got {line!r}"
    return int(m.group(1))


async def line_from(conn: ClientConnection, text: str) -> str:
    """Reads until the broadcast of `text` ("[userK]: text"); returns userK."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no broadcast of {text[:60]!r} within {STEP_TIMEOUT} s"
        line = await recv(conn, left)
        m = re.match(r"^\[(user\d+)\]: (.*)$", line, re.S)
        assert m, f"expected a chat line, got {line[:120]!r}"
        if m.group(2) == text:
            return m.group(1)


def peer_der(conn: ClientConnection) -> bytes:
    ssl_object = conn.transport.get_extra_info("ssl_object")
    assert ssl_object is not None, "not a TLS connection"
    return ssl_object.getpeercert(binary_form=True)


def pem_der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


def server_alive() -> None:
    pid = int(addr("WS_TLS_PID"))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pytest.fail(f"the tls server (pid {pid}) is gone")


async def still_serves() -> None:
    """A trusting client connects and is greeted."""
    server_alive()
    async with client() as conn:
        await greeted(conn)


# ----- chat over TLS -----


def test_two_clients_chat_over_wss() -> None:
    async def body() -> None:
        async with client() as ann, client() as bob:
            n_ann = await greeted(ann)
            n_bob = await greeted(bob)
            assert n_bob >= 2 and n_bob >= n_ann, (n_ann, n_bob)
            ssl_object = ann.transport.get_extra_info("ssl_object")
            print(f"# {ssl_object.version()} {ssl_object.cipher()[0]}, ALPN {ssl_object.selected_alpn_protocol()}")
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            # The certificate served is the one in cert.pem, issued by ca.pem's CA.
            assert peer_der(ann) == pem_der(tls_dir() / "cert.pem")
            issuer = x509.load_der_x509_certificate(peer_der(ann)).issuer
            assert issuer == x509.load_pem_x509_certificate(trusted_ca().read_bytes()).subject

            await ann.send("hello from ann over TLS")
            who = await line_from(ann, "hello from ann over TLS")
            assert await line_from(bob, "hello from ann over TLS") == who
            await bob.send("ünïcødé from bob 😀")
            who_bob = await line_from(bob, "ünïcødé from bob 😀")
            assert await line_from(ann, "ünïcødé from bob 😀") == who_bob
            assert who != who_bob

    run(body())


def test_ip_address_in_the_certificate_and_hostname_checked() -> None:
    """wss://127.0.0.1 matches the certificate's IP entry; a name it does not have
    fails the hostname check."""

    async def body() -> None:
        async with client(url=chat_url(host="127.0.0.1")) as conn:
            await greeted(conn)
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            async with client(server_hostname="not-localhost.example"):
                pass
        assert "hostname" in str(info.value).lower(), info.value
        await still_serves()

    run(body())


def test_permessage_deflate_over_tls() -> None:
    async def body() -> None:
        async with client(compression="deflate", create_connection=CountingConnection) as big, client() as other:
            header = big.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in header, f"Sec-WebSocket-Extensions: {header!r}"
            assert [type(e).__name__ for e in big.protocol.extensions] == ["PerMessageDeflate"]
            await greeted(big)
            await greeted(other)
            # Under the example's 64 KiB frame limit, broadcast prefix included.
            text = compressible_text(60_000)
            before = big.bytes_in
            await big.send(text)
            assert await line_from(big, text)
            received = big.bytes_in - before
            print(f"# a {len(text)}-byte compressible broadcast took {received} bytes of frames")
            assert received < len(text) // 10, f"{received} bytes of frames for {len(text)} bytes of text"
            assert await line_from(other, text)

    run(body())


# ----- clients the server must survive -----


def test_client_not_trusting_the_ca_fails_verification() -> None:
    async def body() -> None:
        default = ssl.create_default_context()  # the system's CAs, not the test CA
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            async with client(default):
                pass
        print(f"# {info.value}")
        assert info.value.verify_code in (
            20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            21,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        ), info.value
        await still_serves()

    run(body())


def test_plaintext_client_on_the_tls_port_fails_cleanly() -> None:
    async def body() -> None:
        t0 = time.monotonic()
        with pytest.raises(Exception) as info:
            async with asyncio.timeout(15):
                async with connect(chat_url("ws"), ping_interval=None, open_timeout=10):
                    pass
        elapsed = time.monotonic() - t0
        print(f"# ws:// on the TLS port: {type(info.value).__name__}: {info.value} after {elapsed:.2f} s")
        assert not isinstance(info.value, TimeoutError), f"timed out: {info.value!r}"
        assert isinstance(info.value, (InvalidHandshake, InvalidMessage, OSError, EOFError)), repr(info.value)
        assert elapsed < 5, f"the failure took {elapsed:.1f} s"
        await still_serves()

    run(body())


# ----- reload -----


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_leaf() -> tuple[bytes, bytes, bytes]:
    """A new CA and a certificate for localhost and 127.0.0.1 it signed: (CA PEM,
    leaf PEM, leaf key PEM in PKCS#8)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ws interop reload CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("ws interop reloaded"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(serialization.Encoding.PEM), leaf.public_bytes(serialization.Encoding.PEM), key_pem


def _replace(path: Path, data: bytes) -> None:
    """Writes `path` whole or not at all (a reload never sees half a file)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_certificate_reload_on_sighup_keeps_open_sessions(tmp_path: Path) -> None:
    async def body() -> None:
        old_ca = trusted_ca()
        old_der = pem_der(tls_dir() / "cert.pem")
        async with client(trusting(old_ca)) as before:
            await greeted(before)
            assert peer_der(before) == old_der

            ca_pem, leaf_pem, key_pem = make_ca_and_leaf()
            new_ca = tmp_path / "new-ca.pem"
            new_ca.write_bytes(ca_pem)
            new_der = x509.load_pem_x509_certificate(leaf_pem).public_bytes(serialization.Encoding.DER)
            # The new CA really is new: it does not verify the old certificate's chain.
            with pytest.raises(ssl.SSLCertVerificationError):
                async with client(trusting(new_ca)):
                    pass

            _replace(tls_dir() / "key.pem", key_pem)
            _replace(tls_dir() / "cert.pem", leaf_pem)
            os.kill(int(addr("WS_TLS_PID")), signal.SIGHUP)

            # Poll until a new handshake succeeds with the new CA.
            deadline = time.monotonic() + RELOAD_BOUND
            attempts = 0
            last: BaseException | None = None
            after = None
            while after is None:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"no handshake trusting the new CA within {RELOAD_BOUND} s of SIGHUP "
                        f"({attempts} attempts; last error: {last!r}); see the server log"
                    )
                attempts += 1
                try:
                    after = await client(trusting(new_ca))
                except ssl.SSLCertVerificationError as e:
                    last = e
                    server_alive()
                    await asyncio.sleep(0.05)
            _trusted["ca"] = new_ca
            print(f"# reload seen after {attempts} handshake(s)")
            async with after:
                assert peer_der(after) == new_der
                await greeted(after)
                # New handshakes no longer get the old certificate.
                with pytest.raises(ssl.SSLCertVerificationError):
                    async with client(trusting(old_ca)):
                        pass
                # The session from before the reload keeps its certificate and its
                # place in the chat, both ways.
                assert peer_der(before) == old_der
                await after.send("sent after the reload")
                who = await line_from(after, "sent after the reload")
                assert await line_from(before, "sent after the reload") == who
                await before.send("from the session opened before the reload")
                who_before = await line_from(before, "from the session opened before the reload")
                assert await line_from(after, "from the session opened before the reload") == who_before
        await still_serves()

    run(body())

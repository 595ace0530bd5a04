"""The `client` example (a websocat-like command line on ws::client) against the
Python websockets peer servers of python/peer_server.py, as a person would use it:
lines on its standard input, messages on its standard output, the close on standard
error. Run by scripts/test-interop.sh in the `client-py` suite, which sets
WS_CLIENT_EXAMPLE (the binary) and the WS_PEER_* addresses.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from common import addr

TIMEOUT = 30


def run_client(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("WS_CLIENT_EXAMPLE")
    assert binary, "WS_CLIENT_EXAMPLE is not set: run through scripts/test-interop.sh"
    return subprocess.run(
        [binary, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def interactive(*args: str) -> subprocess.Popen[str]:
    binary = os.environ.get("WS_CLIENT_EXAMPLE")
    assert binary, "WS_CLIENT_EXAMPLE is not set: run through scripts/test-interop.sh"
    return subprocess.Popen(
        [binary, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def test_lines_go_out_and_messages_come_back() -> None:
    # Each line is typed once the previous answer is on the screen, as a person
    # would; then Ctrl-D (end of input).
    client = interactive(f"ws://{addr('WS_PEER_ADDR')}/echo")
    try:
        assert client.stdin and client.stdout
        for line in ["hello", "héllo wörld", "", "bye"]:
            client.stdin.write(line + "\n")
            client.stdin.flush()
            assert client.stdout.readline() == line + "\n"
        client.stdin.close()
        assert client.wait(TIMEOUT) == 0
        assert client.stderr
        stderr = client.stderr.read()
    finally:
        client.kill()
    assert "extensions: permessage-deflate" in stderr, stderr
    # End of input closed the session normally.
    assert "closed: 1000" in stderr, stderr


def test_binary_lines_and_the_servers_close_reason() -> None:
    client = interactive("--binary", f"ws://{addr('WS_PEER_ADDR')}/echo")
    try:
        assert client.stdin and client.stdout
        client.stdin.write("1234567\n")
        client.stdin.flush()
        assert client.stdout.readline() == "[binary 7 bytes]\n"
        client.stdin.close()
        assert client.wait(TIMEOUT) == 0
    finally:
        client.kill()
    # The server closes after one message, input still open.
    client = interactive(f"ws://{addr('WS_PEER_ADDR')}/close/4001")
    try:
        assert client.stdin and client.stderr
        client.stdin.write("close please\n")
        client.stdin.flush()
        assert client.wait(TIMEOUT) == 1
        stderr = client.stderr.read()
    finally:
        client.kill()
    assert "closed: 4001 bye from python" in stderr, stderr


def test_protocol_and_header_options() -> None:
    done = run_client(
        "--protocol",
        "chat.v1",
        "--header",
        "X-Token: from-the-command-line",
        "--no-deflate",
        f"ws://{addr('WS_PEER_ADDR')}/headers",
    )
    assert '"x-token": "from-the-command-line"' in done.stdout, done
    assert '"protocol": "chat.v1"' in done.stdout, done
    assert "subprotocol: chat.v1, extensions: none" in done.stderr, done.stderr


def test_a_refused_handshake_says_why() -> None:
    done = run_client(f"ws://{addr('WS_PEER_ADDR')}/reject")
    assert done.returncode == 1
    assert "403 Forbidden" in done.stderr and "go away" in done.stderr, done.stderr


def test_wss_with_the_suites_ca_and_a_client_certificate() -> None:
    directory = Path(addr("WS_PEER_TLS_DIR"))
    port = addr("WS_PEER_TLS_ADDR").rsplit(":", 1)[1]
    done = run_client(
        "--ca",
        str(directory / "ca.pem"),
        "--cert",
        str(directory / "client.pem"),
        "--key",
        str(directory / "client-key.pem"),
        f"wss://localhost:{port}/whoami",
    )
    assert done.stdout.splitlines() == ["ws-client-suite"], done
    # Without the CA: a certificate error, said plainly.
    done = run_client(f"wss://localhost:{port}/whoami")
    assert done.returncode == 1
    assert "certificate" in done.stderr, done.stderr

"""Slow and stalled clients are cut off without holding resources: a
gateway started with a short --idle-timeout, driven over raw sockets."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from conftest import start_gateway, stop_gateway
from e2e_util import sign

IDLE = 1  # seconds


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    if os.environ.get("BLOBGATE_TEST_ENDPOINT"):
        pytest.skip("needs a gateway started by the suite with a short --idle-timeout")
    gw = start_gateway(tmp_path_factory.mktemp("quick"), ["--idle-timeout", str(IDLE)])
    try:
        yield gw
    finally:
        stop_gateway(gw)


def _connect(gw) -> socket.socket:
    s = socket.create_connection((gw.host, gw.port), timeout=10)
    return s


def _read_until_closed(s: socket.socket, limit: float) -> tuple[bytes, float]:
    """Read everything until the server closes; return the bytes and the time it took."""
    start = time.monotonic()
    data = b""
    s.settimeout(limit)
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def _tmp_files(gw) -> list[str]:
    if gw.data_dir is None:
        return []
    return os.listdir(gw.data_dir / ".blobgate" / "tmp")


def _create_bucket(gw, name):
    h = sign(gw, "PUT", f"/{name}", {"Content-Length": "0"})
    s = _connect(gw)
    s.sendall(f"PUT /{name} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n")
    data, _ = _read_until_response(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data


def _read_until_response(s):
    s.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data, None


def test_stalled_upload_is_cut_off_and_leaves_nothing(quick):
    _create_bucket(quick, "stall")
    put = lambda body: requests.put(  # noqa: E731
        f"{quick.endpoint}/stall/k", data=body, timeout=10,
        headers=sign(quick, "PUT", "/stall/k", {"Content-Length": str(len(body)), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, payload_hash="UNSIGNED-PAYLOAD"),
    )  # fmt: skip
    assert put(b"previous").status_code == 200
    h = sign(quick, "PUT", "/stall/k", {"Content-Length": "1000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, payload_hash="UNSIGNED-PAYLOAD")
    s = _connect(quick)
    s.sendall(b"PUT /stall/k HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n" + b"x" * 100)
    data, took = _read_until_closed(s, limit=IDLE + 10)
    s.close()
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"<Code>RequestTimeout</Code>" in data
    assert took < IDLE + 5
    got = requests.get(f"{quick.endpoint}/stall/k", headers=sign(quick, "GET", "/stall/k"), timeout=10)
    assert got.content == b"previous"
    assert _tmp_files(quick) == []


def test_slow_headers_are_cut_off(quick):
    s = _connect(quick)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the header block
    data, took = _read_until_closed(s, limit=IDLE + 35)
    s.close()
    assert took < IDLE + 5, f"connection held for {took:.1f}s"
    assert not data.startswith(b"HTTP/1.1 200")


def test_idle_keep_alive_connection_is_closed(quick):
    s = _connect(quick)
    s.sendall(b"GET /-/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    data, took = _read_until_closed(s, limit=IDLE + 35)
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert took < IDLE + 5, f"idle connection held for {took:.1f}s"


def test_reader_that_stops_reading_is_cut_off(quick):
    _create_bucket(quick, "slowread")
    body = os.urandom(1 << 20) * 32  # 32 MiB: far more than socket buffers hold
    r = requests.put(
        f"{quick.endpoint}/slowread/big", data=body, timeout=30,
        headers=sign(quick, "PUT", "/slowread/big", {"Content-Length": str(len(body)), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, payload_hash="UNSIGNED-PAYLOAD"),
    )  # fmt: skip
    assert r.status_code == 200
    h = sign(quick, "GET", "/slowread/big")
    s = _connect(quick)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /slowread/big HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n")
    time.sleep(IDLE + 3)  # read nothing
    data, _ = _read_until_closed(s, limit=10)
    s.close()
    assert len(data) < len(body), "the gateway kept a stalled response open"
    # The gateway still serves others.
    assert requests.get(f"{quick.endpoint}/-/health/live", timeout=5).status_code == 200

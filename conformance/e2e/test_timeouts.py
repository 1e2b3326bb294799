"""Slow and stalled clients are cut off without holding resources: a
gateway started with a short --idle-timeout, driven over raw sockets."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from conftest import start_gateway, stop_gateway
from e2e_util import read_response_head, read_until_closed, request_head, sign

IDLE = 1  # seconds
UNSIGNED = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}


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
    return socket.create_connection((gw.host, gw.port), timeout=10)


def _tmp_files(gw) -> list[str]:
    return os.listdir(gw.data_dir / ".blobgate" / "tmp") if gw.data_dir else []


def _put(gw, path: str, body: bytes) -> requests.Response:
    headers = sign(gw, "PUT", path, {"Content-Length": str(len(body)), **UNSIGNED}, payload_hash="UNSIGNED-PAYLOAD")
    return requests.put(f"{gw.endpoint}{path}", data=body, headers=headers, timeout=30)


def _create_bucket(gw, name: str) -> None:
    with _connect(gw) as s:
        s.sendall(request_head("PUT", f"/{name}", sign(gw, "PUT", f"/{name}", {"Content-Length": "0"})))
        status, _, _ = read_response_head(s)
    assert status == 200


def test_stalled_upload_is_cut_off_and_leaves_nothing(quick):
    _create_bucket(quick, "stall")
    assert _put(quick, "/stall/k", b"previous").status_code == 200
    headers = sign(quick, "PUT", "/stall/k", {"Content-Length": "1000", **UNSIGNED}, payload_hash="UNSIGNED-PAYLOAD")
    with _connect(quick) as s:
        s.sendall(request_head("PUT", "/stall/k", headers) + b"x" * 100)  # 900 bytes never come
        data, took = read_until_closed(s, limit=IDLE + 10)
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"<Code>RequestTimeout</Code>" in data
    assert took < IDLE + 5
    got = requests.get(f"{quick.endpoint}/stall/k", headers=sign(quick, "GET", "/stall/k"), timeout=10)
    assert got.content == b"previous"
    assert _tmp_files(quick) == []


def test_slow_headers_are_cut_off(quick):
    with _connect(quick) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the header block
        data, took = read_until_closed(s, limit=IDLE + 35)
    assert took < IDLE + 5, f"connection held for {took:.1f}s"
    assert not data.startswith(b"HTTP/1.1 200")


def test_idle_keep_alive_connection_is_closed(quick):
    with _connect(quick) as s:
        s.sendall(b"GET /-/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        data, took = read_until_closed(s, limit=IDLE + 35)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert took < IDLE + 5, f"idle connection held for {took:.1f}s"


def test_reader_that_stops_reading_is_cut_off(quick):
    _create_bucket(quick, "slowread")
    body = os.urandom(1 << 20) * 32  # 32 MiB: far more than socket buffers hold
    assert _put(quick, "/slowread/big", body).status_code == 200
    with _connect(quick) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(request_head("GET", "/slowread/big", sign(quick, "GET", "/slowread/big")))
        time.sleep(IDLE + 3)  # read nothing
        data, _ = read_until_closed(s, limit=10)
    assert len(data) < len(body), "the gateway kept a stalled response open"
    # The gateway still serves others.
    assert requests.get(f"{quick.endpoint}/-/health/live", timeout=5).status_code == 200

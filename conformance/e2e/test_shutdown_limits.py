"""Graceful shutdown and limits: SIGTERM lets an upload in progress finish
while new connections are refused; readiness flips first; beyond the
request and connection limits clients get 503 SlowDown, not a reset."""

import hashlib
import os
import signal
import socket
import time

import pytest

from conftest import backend_config, make_s3_client, start_gateway, stop_gateway, suite_backend
from e2e_util import random_credentials, read_response_head, request_head, send_raw, sign, unique_bucket_name

MiB = 1024 * 1024


def slow_put(gw, bucket, key, total):
    target = f"/{bucket}/{key}"
    headers = sign(gw, "PUT", target, {"Content-Length": str(total)}, payload_hash="UNSIGNED-PAYLOAD")
    sock = socket.create_connection((gw.host, gw.port), timeout=30)
    sock.sendall(request_head("PUT", target, headers))
    return sock


def refused(gw) -> bool:
    try:
        socket.create_connection((gw.host, gw.port), timeout=2).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the connection reached the backlog of a listener that closed.
        return True


@pytest.fixture
def own(tmp_path):
    creds = random_credentials()
    cfg = backend_config(suite_backend(), tmp_path)
    started = []

    def start(*args):
        gw = start_gateway(tmp_path, list(args), cfg=cfg, credentials=creds)
        started.append(gw)
        return gw, make_s3_client(gw)

    yield start
    # Every one, exited or not: a gateway that exited on purpose must not be
    # reported as dead by a later test.
    for gw in started:
        stop_gateway(gw)


def test_sigterm_lets_an_upload_finish(own):
    gw, s3 = own("--shutdown-grace-secs", "60")
    bucket = unique_bucket_name("term")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(24 * MiB)
    sock = slow_put(gw, bucket, "big", len(data))
    sock.sendall(data[: 4 * MiB])
    time.sleep(0.3)
    gw.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while not refused(gw):
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)
    for at in range(4 * MiB, len(data), MiB):  # the rest, slowly
        sock.sendall(data[at : at + MiB])
        time.sleep(0.02)
    status, _, _ = read_response_head(sock, timeout=30)
    sock.close()
    assert status == 200
    assert gw.proc.wait(timeout=30) == 0
    _, s3 = own()
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_readiness_flips_before_connections_are_refused(own):
    gw, _ = own("--shutdown-delay-secs", "3")
    assert send_raw(gw, "GET", "/-/health/ready", {"Host": gw.netloc}).status == 200
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    ready = send_raw(gw, "GET", "/-/health/ready", {"Host": gw.netloc})
    assert (ready.status, ready.body) == (503, b"shutting down\n")
    assert send_raw(gw, "GET", "/-/health/live", {"Host": gw.netloc}).status == 200
    assert gw.proc.wait(timeout=30) == 0
    assert refused(gw)


def test_request_limit_answers_slow_down(own):
    gw, s3 = own("--max-requests", "1")
    bucket = unique_bucket_name("reqlim")
    s3.create_bucket(Bucket=bucket)
    sock = slow_put(gw, bucket, "held", 2 * MiB)  # holds the only request slot
    sock.sendall(b"x" * MiB)
    time.sleep(0.3)
    r = send_raw(gw, "GET", f"/{bucket}/other", sign(gw, "GET", f"/{bucket}/other"))
    assert (r.status, r.code) == (503, "SlowDown")
    # Health is never limited.
    assert send_raw(gw, "GET", "/-/health/live", {"Host": gw.netloc}).status == 200
    sock.sendall(b"x" * MiB)
    status, _, _ = read_response_head(sock)
    sock.close()
    assert status == 200
    assert s3.head_object(Bucket=bucket, Key="held")["ContentLength"] == 2 * MiB


def test_request_limit_counts_a_response_until_it_is_sent(own):
    """A download whose client reads slowly holds its request slot until
    its last byte, so the limit bounds the streams in flight too."""
    gw, s3 = own("--max-requests", "1")
    bucket = unique_bucket_name("reqlim")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(32 * MiB)  # more than the socket buffers hold
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    sock = socket.create_connection((gw.host, gw.port), timeout=30)
    sock.sendall(request_head("GET", f"/{bucket}/big", sign(gw, "GET", f"/{bucket}/big")))
    status, _, first = read_response_head(sock)
    assert status == 200
    time.sleep(0.3)
    r = send_raw(gw, "GET", f"/{bucket}/big", sign(gw, "GET", f"/{bucket}/big"))
    assert (r.status, r.code) == (503, "SlowDown")
    got = bytearray(first)
    while len(got) < len(data):
        chunk = sock.recv(MiB)
        assert chunk, f"closed after {len(got)} bytes"
        got += chunk
    sock.close()
    assert bytes(got) == data
    deadline = time.monotonic() + 5
    while (r := send_raw(gw, "GET", "/", sign(gw, "GET", "/"))).status == 503:
        assert time.monotonic() < deadline, "the slot was not released after the body was sent"
        time.sleep(0.05)
    assert r.status == 200


def test_connection_limit_answers_slow_down(own):
    gw, s3 = own("--max-connections", "1")
    idle = socket.create_connection((gw.host, gw.port), timeout=10)  # takes the only slot
    time.sleep(0.2)
    r = send_raw(gw, "GET", "/", sign(gw, "GET", "/"))
    assert (r.status, r.code) == (503, "SlowDown")
    assert r.header("Connection") == "close"
    idle.close()
    time.sleep(0.2)
    assert send_raw(gw, "GET", "/", sign(gw, "GET", "/")).status == 200


def test_oversized_header_is_refused_not_reset(own):
    gw, _ = own("--max-header-kib", "16")
    r = send_raw(gw, "GET", "/", {"Host": gw.netloc, "X-Filler": "a" * (32 * 1024)})
    assert r.status == 431

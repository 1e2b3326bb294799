"""Operations: Prometheus metrics at /-/metrics (scraped and parsed with the
Prometheus text parser, counters moving as requests are made), the health
endpoints without authentication, JSON request logs (their fields, and no
secret or signature in them), and HTTPS with a generated certificate that
is replaced while the gateway runs."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from conftest import (
    _free_port,
    _stop,
    azure_config,
    backend_config,
    blobgate_binary,
    delete_bucket_fully,
    make_s3_client,
    start_gateway,
    stop_gateway,
    suite_backend,
)
from e2e_util import Gateway, random_credentials, run_select, unique_bucket_name
from tls_util import make_ca, make_leaf, write_pair

# The gateway checks its certificate files this often (main.rs TLS_FILES_POLL).
TLS_POLL_SECONDS = 2
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


# --------------------------------------------------------------------------
# scraping


def scrape(gw: Gateway, **kwargs) -> dict[tuple[str, tuple], float]:
    """Every sample of /-/metrics as {(name, sorted labels): value}."""
    r = requests.get(f"{gw.endpoint}/-/metrics", timeout=10, **kwargs)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith(METRICS_CONTENT_TYPE)
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    """One sample's value (0 when absent: a labelled counter not yet used)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str, **labels) -> float:
    """The sum of `name` over every label set that includes `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def eventually(check, timeout=5.0):
    """Retry `check` (which asserts) until it passes or `timeout` runs out:
    a request is counted when its last byte has been handed to the socket,
    which may be a moment after the client has read it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --------------------------------------------------------------------------
# health and metrics


def test_operator_endpoints_answer_without_authentication(gateway):
    for path, body in [("/-/health/live", "live"), ("/-/health/ready", "ready")]:
        r = requests.get(gateway.endpoint + path, timeout=10)
        assert (r.status_code, r.text.strip()) == (200, body)
    r = requests.get(gateway.endpoint + "/-/metrics", timeout=10)
    assert r.status_code == 200
    assert "# TYPE blobgate_requests_total counter" in r.text
    # Not S3: no signature is asked for, and an unknown path is a plain 404.
    assert requests.get(gateway.endpoint + "/-/nope", timeout=10).status_code == 404
    assert requests.post(gateway.endpoint + "/-/metrics", timeout=10).status_code == 405


def test_every_documented_metric_is_exported(gateway):
    samples = scrape(gateway)
    names = {n for n, _ in samples}
    for name in [
        "blobgate_requests_total",
        "blobgate_request_duration_seconds_bucket",
        "blobgate_received_bytes_total",
        "blobgate_sent_bytes_total",
        "blobgate_requests_in_flight",
        "blobgate_backend_calls_total",
        "blobgate_backend_call_duration_seconds_bucket",
        "blobgate_backend_retries_total",
        "blobgate_multipart_uploads_in_progress",
        "blobgate_select_queries_total",
        "blobgate_select_bytes_scanned_total",
        "blobgate_cache_hits_total",
        "blobgate_cache_misses_total",
        "blobgate_cache_evictions_total",
        "blobgate_cache_bytes",
    ]:
        assert name in names, name
    # The scrape itself is the one request in flight.
    assert value(samples, "blobgate_requests_in_flight") >= 1


def test_request_counters_move(gateway, s3, bucket):
    body = os.urandom(100_000)
    before = scrape(gateway)
    s3.put_object(Bucket=bucket, Key="m/obj.bin", Body=body)
    assert s3.get_object(Bucket=bucket, Key="m/obj.bin")["Body"].read() == body
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="m/missing")

    def check():
        after = scrape(gateway)

        def delta(name, **labels):
            return total(after, name, **labels) - total(before, name, **labels)

        req = "blobgate_requests_total"
        assert delta(req, operation="PutObject", status_class="2xx") == 1
        assert delta(req, operation="GetObject", status_class="2xx") == 1
        assert delta(req, operation="GetObject", status_class="4xx") == 1
        assert delta("blobgate_request_duration_seconds_count", operation="GetObject") == 2
        assert delta("blobgate_received_bytes_total") >= len(body)
        assert delta("blobgate_sent_bytes_total") >= len(body)
        backend = suite_backend()
        assert delta("blobgate_backend_calls_total", backend=backend, operation="put_object") == 1
        assert delta("blobgate_backend_call_duration_seconds_count", backend=backend, operation="put_object") == 1
        assert delta("blobgate_backend_errors_total", backend=backend, kind="NoSuchKey") >= 1

    eventually(check)


def test_refused_requests_are_counted_by_class(gateway, s3, bucket):
    """A request refused for a bad signature is a 4xx of its operation."""
    before = scrape(gateway)
    bad = make_s3_client(gateway, secret_key="not-the-secret")
    with pytest.raises(Exception):
        bad.head_object(Bucket=bucket, Key="x")

    def check():
        after = scrape(gateway)
        key = ("blobgate_requests_total", (("operation", "HeadObject"), ("status_class", "4xx")))
        assert after.get(key, 0) - before.get(key, 0) == 1

    eventually(check)


def test_multipart_uploads_in_progress(gateway, s3, bucket):
    g = "blobgate_multipart_uploads_in_progress"
    start = value(scrape(gateway), g)
    try:
        up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NotImplemented":
            pytest.skip("this backend has no multipart uploads yet")
        raise
    assert value(scrape(gateway), g) == start + 1
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
    assert value(scrape(gateway), g) == start


def test_select_queries_and_bytes_scanned(gateway, s3, bucket):
    data = b"name,age\nAlice,34\nbob,27\n"
    s3.put_object(Bucket=bucket, Key="p.csv", Body=data)
    before = scrape(gateway)
    records, stats, _ = run_select(
        s3, bucket, "p.csv", "SELECT s.name FROM S3Object s", {"CSV": {"FileHeaderInfo": "USE"}}, None
    )
    assert records == b"Alice\nbob\n"

    def check():
        after = scrape(gateway)
        assert value(after, "blobgate_select_queries_total") - value(before, "blobgate_select_queries_total") == 1
        scanned = value(after, "blobgate_select_bytes_scanned_total") - value(
            before, "blobgate_select_bytes_scanned_total"
        )
        assert scanned == stats["BytesScanned"] == len(data)

    eventually(check)


def test_azure_retries_and_errors_are_counted(tmp_path):
    """A gateway on an Azure account that does not answer (nothing listens
    on its port): each call is retried, then fails as 503; the retries, the
    backend errors by kind and the 5xx are counted, and the account key
    never reaches the log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account = "devstoreaccount1"  # Azurite's well-known development account
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    cfg = azure_config({"AZURE_STORAGE_ACCOUNT": account, "AZURE_STORAGE_KEY": key}, f"http://127.0.0.1:{port}/{account}")
    gw = start_gateway(tmp_path, cfg=cfg)
    try:
        before = scrape(gw)
        with pytest.raises(ClientError) as e:
            make_s3_client(gw).get_object(Bucket="away", Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        after = scrape(gw)
        retries = ("blobgate_backend_retries_total", (("backend", "azure"),))
        assert after[retries] > before.get(retries, 0)
        kinds = {
            dict(labels)["kind"]
            for (name, labels), v in after.items()
            if name == "blobgate_backend_errors_total" and v > 0
        }
        assert kinds & {"SlowDown", "ServiceUnavailable"}, kinds
        assert total(after, "blobgate_requests_total", operation="GetObject", status_class="5xx") == 1
        requests.get(f"{gw.endpoint}/-/health/ready", timeout=15)
        assert key not in gw.log_path.read_text(errors="replace")
    finally:
        stop_gateway(gw)


# --------------------------------------------------------------------------
# logs


def json_lines(gw: Gateway) -> list[dict]:
    lines = []
    for line in gw.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))  # every JSON line must parse
    return lines


def test_json_request_logs_have_the_fields_and_no_secrets(tmp_path):
    gw = start_gateway(tmp_path, ["--log-format", "json"])
    bkt = unique_bucket_name("logs")
    try:
        s3 = make_s3_client(gw)
        signatures = []

        def capture(request, **_):
            auth = request.headers.get("Authorization", b"")
            auth = auth.decode() if isinstance(auth, bytes) else auth
            if "Signature=" in auth:
                signatures.append(auth.split("Signature=")[1])

        s3.meta.events.register("before-send.s3", capture)
        s3.create_bucket(Bucket=bkt)
        put = s3.put_object(Bucket=bkt, Key="dir/a b.txt", Body=b"hello world")
        put_id = put["ResponseMetadata"]["RequestId"]
        s3.get_object(Bucket=bkt, Key="dir/a b.txt")["Body"].read()
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": "dir/a b.txt"})
        presigned_sig = url.split("X-Amz-Signature=")[1].split("&")[0]
        assert requests.get(url, timeout=10).content == b"hello world"
        # A presigned URL with a wrong signature is refused (and logged).
        wrong = url.replace(presigned_sig, "0" * len(presigned_sig))
        assert requests.get(wrong, timeout=10).status_code == 403
        requests.get(f"{gw.endpoint}/-/health/live", timeout=10)
        bad = make_s3_client(gw, secret_key="wrong-secret-for-the-log-test")
        with pytest.raises(Exception):
            bad.get_object(Bucket=bkt, Key="dir/a b.txt")
        assert signatures

        def done_lines():
            done = [line for line in json_lines(gw) if line.get("message") == "done"]
            assert len(done) >= 6
            return done

        done = eventually(done_lines)
        by_id = {line["span"]["id"]: line for line in done}
        line = by_id[put_id]
        span = line["span"]
        assert line["level"] == "INFO"
        assert span["op"] == "PutObject"
        assert span["bucket"] == bkt
        assert span["key"] == "dir/a b.txt"
        assert span["status"] == 200
        assert span["bytes_in"] >= len(b"hello world")
        assert span["bytes_out"] == 0
        assert span["duration_ms"] >= 0
        assert span["method"] == "PUT"
        gets = [d["span"] for d in done if d["span"].get("op") == "GetObject" and d["span"]["status"] == 200]
        assert gets and all(g["bytes_out"] == len(b"hello world") for g in gets)
        # Every response was sent whole.
        assert all(d["complete"] is True for d in done), [d for d in done if not d["complete"]]
        # The presigned request's query is logged with its secrets masked.
        presigned = [g for g in gets if "query" in g]
        assert presigned and "X-Amz-Signature=REDACTED" in presigned[0]["query"]
        assert "X-Amz-Credential=REDACTED" in presigned[0]["query"]
        statuses = sorted(d["span"]["status"] for d in done if d["span"].get("op") == "GetObject")
        assert 403 in statuses
        # Health probes log at debug, below the default level.
        assert not [d for d in done if d["span"].get("op") == "HealthCheck"]

        text = gw.log_path.read_text(errors="replace")
        assert gw.secret_key not in text
        assert presigned_sig not in text
        for sig in signatures:
            assert sig not in text
        assert "Authorization" not in text
    finally:
        delete_bucket_fully(make_s3_client(gw), bkt)
        stop_gateway(gw)


def test_text_logs_name_the_operation(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="text-log", Body=b"x")

    def check():
        text = gateway.log_path.read_text(errors="replace")
        lines = [line for line in text.splitlines() if f'bucket="{bucket}"' in line and "done" in line]
        assert any('op="PutObject"' in line and "status=200" in line for line in lines), lines[-3:]
        assert gateway.secret_key not in text

    eventually(check)


# --------------------------------------------------------------------------
# TLS


def served_certificate(port: int) -> x509.Certificate:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def start_tls_gateway(workdir: Path, cert: Path, key: Path, ca_file: Path, extra_args=()) -> Gateway:
    cfg = backend_config(suite_backend(), workdir)
    access, secret = random_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    env.update(cfg.env)
    env.update(BLOBGATE_ACCESS_KEY=access, BLOBGATE_SECRET_KEY=secret, RUST_LOG="info")
    port = _free_port()
    log_path = workdir / "blobgate.log"
    cmd = [
        str(blobgate_binary()), "serve", "--listen", f"127.0.0.1:{port}",
        *cfg.args, "--tls-cert", str(cert), "--tls-key", str(key), *extra_args,
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=workdir)
    gw = Gateway(
        endpoint=f"https://127.0.0.1:{port}", host="127.0.0.1", port=port, access_key=access,
        secret_key=secret, region="us-east-1", domain=None, data_dir=cfg.data_dir, jail=None,
        proc=proc, log_path=log_path,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"TLS gateway exited: {gw.log_tail()}", pytrace=False)
        try:
            if requests.get(f"{gw.endpoint}/-/health/live", verify=str(ca_file), timeout=1).ok:
                return gw
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"TLS gateway not live: {gw.log_tail()}", pytrace=False)
        time.sleep(0.1)


def test_secure_transport_condition_over_https(tmp_path):
    """`aws:SecureTransport` is true over the TLS listener and false over
    plain HTTP: a key allowed to read only over TLS reads there and not
    elsewhere."""
    ca_key, ca_cert = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    write_pair(cert_file, key_file, *make_leaf(ca_key, ca_cert, "secure"))
    bkt = unique_bucket_name("tlsonly")
    secret = random_credentials()[1]
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"access_key": "tlsonly", "secret_key": secret, "policy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bkt}/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}}]}))  # fmt: skip
    gw = start_tls_gateway(tmp_path, cert_file, key_file, ca_file, ["--users", str(users)])
    try:
        root = make_s3_client(gw, verify=str(ca_file))
        root.create_bucket(Bucket=bkt)
        root.put_object(Bucket=bkt, Key="k", Body=b"secret data")
        user = make_s3_client(gw, verify=str(ca_file), access_key="tlsonly", secret_key=secret)
        assert user.get_object(Bucket=bkt, Key="k")["Body"].read() == b"secret data"
        root.delete_object(Bucket=bkt, Key="k")
        root.delete_bucket(Bucket=bkt)
    finally:
        _stop(gw.proc)
    (tmp_path / "plain").mkdir()
    plain = start_gateway(tmp_path / "plain", ["--users", str(users)])
    try:
        root = make_s3_client(plain)
        root.create_bucket(Bucket=bkt)
        root.put_object(Bucket=bkt, Key="k", Body=b"secret data")
        user = make_s3_client(plain, access_key="tlsonly", secret_key=secret)
        with pytest.raises(ClientError) as denied:
            user.get_object(Bucket=bkt, Key="k")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        root.delete_object(Bucket=bkt, Key="k")
        root.delete_bucket(Bucket=bkt)
    finally:
        stop_gateway(plain)


def test_https_with_a_rotated_certificate(tmp_path):
    ca_key, ca_cert = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    key1, cert1 = make_leaf(ca_key, ca_cert, "first")
    write_pair(cert_file, key_file, key1, cert1)
    gw = start_tls_gateway(tmp_path, cert_file, key_file, ca_file)
    bkt = unique_bucket_name("tls")
    try:
        s3 = make_s3_client(gw, verify=str(ca_file))
        s3.create_bucket(Bucket=bkt)
        s3.put_object(Bucket=bkt, Key="k", Body=b"over https")
        assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"over https"
        assert served_certificate(gw.port).serial_number == cert1.serial_number
        # Metrics and health are served over HTTPS too.
        assert scrape(gw, verify=str(ca_file))
        # Plain HTTP on the TLS port gets no S3 answer.
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{gw.port}/-/health/live", timeout=3)

        # Files that do not load (key of another certificate): the old one stays.
        other_key, _ = make_leaf(ca_key, ca_cert, "other")
        _, cert_bad = make_leaf(ca_key, ca_cert, "bad")
        write_pair(cert_file, key_file, other_key, cert_bad)
        time.sleep(TLS_POLL_SECONDS * 2 + 1)
        assert served_certificate(gw.port).serial_number == cert1.serial_number
        assert "do not load" in gw.log_path.read_text(errors="replace")
        assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"over https"

        # A valid new pair (a renewal by the same CA): new handshakes present it.
        key2, cert2 = make_leaf(ca_key, ca_cert, "second")
        write_pair(cert_file, key_file, key2, cert2)
        deadline = time.monotonic() + TLS_POLL_SECONDS * 3 + 2
        while served_certificate(gw.port).serial_number != cert2.serial_number:
            assert time.monotonic() < deadline, "the new certificate was not picked up"
            time.sleep(0.2)
        fresh = make_s3_client(gw, verify=str(ca_file))
        assert fresh.get_object(Bucket=bkt, Key="k")["Body"].read() == b"over https"
        samples = scrape(gw, verify=str(ca_file))
        assert value(samples, "blobgate_tls_reloads_total", result="ok") >= 1
        assert value(samples, "blobgate_tls_reloads_total", result="error") >= 1
    finally:
        delete_bucket_fully(make_s3_client(gw, verify=str(ca_file)), bkt)
        _stop(gw.proc)


def run_serve(tmp_path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    return subprocess.run(
        [str(blobgate_binary()), "serve", "--listen", f"127.0.0.1:{_free_port()}",
         "--data-dir", str(tmp_path / "d"), *args],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_tls_flags_come_in_pairs_and_must_load(tmp_path):
    r = run_serve(tmp_path, "--tls-cert", str(tmp_path / "c.pem"))
    assert r.returncode != 0 and "--tls-key" in r.stderr
    r = run_serve(tmp_path, "--tls-key", str(tmp_path / "k.pem"))
    assert r.returncode != 0 and "--tls-cert" in r.stderr
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    r = run_serve(tmp_path, "--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem"))
    assert r.returncode != 0 and "c.pem" in r.stderr


def test_log_format_is_checked(tmp_path):
    r = run_serve(tmp_path, "--log-format", "xml")
    assert r.returncode != 0 and "--log-format" in r.stderr

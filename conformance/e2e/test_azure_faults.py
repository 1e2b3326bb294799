"""The azure backend when Azure is away or refuses the gateway: S3 clients get
a retryable 503 quickly, the gateway stays up (live) but not ready, and it
recovers by itself when Azure is back; wrong Azure credentials are a server
error with a clear log line, never a 403 for the client; missing ones stop
the gateway at startup with a clear message.

These tests start their own Azurite (conformance/azurite.sh) and their own
gateways, so stopping that Azurite does not disturb the rest of the suite.
Except the startup test, they run only with BLOBGATE_TEST_BACKEND=azure.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from conftest import (
    REPO_ROOT,
    azure_config,
    azure_service_client,
    blobgate_binary,
    client_config,
    make_s3_client,
    start_gateway,
    stop_gateway,
    suite_backend,
)
from e2e_util import client_error, random_credentials

AZURITE_SH = REPO_ROOT / "conformance" / "azurite.sh"
UNAVAILABLE = ("SlowDown", "ServiceUnavailable")
OUTAGE_ANSWER_WITHIN = 10.0  # seconds for an S3 request while Azure is down
READY_FLIP_WITHIN = 15.0  # seconds for /-/health/ready to follow Azure's state
RECOVERY_WITHIN = 30.0  # seconds from Azure's return to ready
HUNG_ANSWER_WITHIN = 60.0  # seconds for an S3 request while Azure accepts but never answers

azure_only = pytest.mark.skipif(
    suite_backend() != "azure" or bool(os.environ.get("BLOBGATE_TEST_ENDPOINT")),
    reason="azure backend fault tests (BLOBGATE_TEST_BACKEND=azure, gateway binary)",
)


class Azurite:
    """One Azurite started through conformance/azurite.sh, in its own dir."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.dir = workdir
        self.port = port
        self.pid: int | None = None
        self.endpoint = self.account = self.key = ""

    def start(self, keep_data: bool = False) -> None:
        cmd = ["bash", str(AZURITE_SH), "start", str(self.dir)]
        if self.port:
            cmd += ["--port", str(self.port)]
        if keep_data:
            cmd.append("--keep-data")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            pytest.fail(f"azurite.sh start failed ({p.returncode}):\n{p.stderr}", pytrace=False)
        found = dict(re.findall(r"^export (AZURITE_\w+)='?([^'\n]*)'?$", p.stdout, re.M))
        self.pid = int(found["AZURITE_PID"])
        self.port = int(found["AZURITE_PORT"])
        self.endpoint = found["AZURITE_ENDPOINT"]
        self.account = found["AZURITE_ACCOUNT"]
        self.key = found["AZURITE_KEY"]

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Azurite saves its metadata on the way out."""
        subprocess.run(["bash", str(AZURITE_SH), "stop", str(self.dir)], check=True, timeout=60)
        self.pid = None

    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def ensure_running(self) -> None:
        if not self.running():
            self.start(keep_data=True)

    def env(self, key: str | None = None) -> dict[str, str]:
        return {"AZURE_STORAGE_ACCOUNT": self.account, "AZURE_STORAGE_KEY": key or self.key}


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    az = Azurite(tmp_path_factory.mktemp("azurite-faults"))
    az.start()
    try:
        yield az
    finally:
        az.stop()


@pytest.fixture
def own_azurite(azurite):
    """The module's Azurite, running again even if an earlier test left it down."""
    azurite.ensure_running()
    return azurite


def _gateway_on(az: Azurite, workdir: Path, key: str | None = None):
    # Every read revalidated: with the default window an object read in the
    # last 2 s is served from the cache even while Azure is down.
    return start_gateway(workdir, ["--cache-revalidate-secs", "0"], cfg=azure_config(az.env(key), az.endpoint))


def _client(gw):
    # One attempt, and time enough to see how long the gateway takes to answer.
    return make_s3_client(gw, config=client_config())


def _ready(gw) -> int:
    return requests.get(f"{gw.endpoint}/-/health/ready", timeout=15).status_code


def _live(gw) -> int:
    return requests.get(f"{gw.endpoint}/-/health/live", timeout=15).status_code


def _wait_for(predicate, within: float, what: str):
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last is True:
            return
        time.sleep(0.2)
    pytest.fail(f"{what} not within {within:.0f}s (last: {last!r})", pytrace=False)


def _ready_is(gw, status: int):
    def check():
        got = _ready(gw)
        return True if got == status else f"ready {got}"

    return check


def _unavailable(name: str, call) -> str | None:
    """None when `call` failed with a quick 503 SlowDown/ServiceUnavailable, else why not."""
    start = time.monotonic()
    try:
        call()
    except ClientError as e:
        status, code = client_error(e)
        took = time.monotonic() - start
        if status != 503 or (code not in UNAVAILABLE and code != "503"):  # HEAD has no body: code "503"
            return f"{name}: {status} {code} after {took:.1f}s"
        if took > OUTAGE_ANSWER_WITHIN:
            return f"{name}: 503 {code} but only after {took:.1f}s"
        return None
    except Exception as e:  # a timeout or a dropped connection is not an answer
        return f"{name}: {type(e).__name__} after {time.monotonic() - start:.1f}s: {e}"
    return f"{name}: succeeded although Azure is down"


def _outage_failures(s3, bucket: str, only: tuple[str, ...] = ()) -> list[str]:
    calls = {
        "GetObject": lambda: s3.get_object(Bucket=bucket, Key="before")["Body"].read(),
        "HeadObject": lambda: s3.head_object(Bucket=bucket, Key="before"),
        "PutObject": lambda: s3.put_object(Bucket=bucket, Key="during", Body=b"written during the outage"),
        "ListObjectsV2": lambda: s3.list_objects_v2(Bucket=bucket),
        "ListBuckets": lambda: s3.list_buckets(),
        "DeleteObject": lambda: s3.delete_object(Bucket=bucket, Key="before"),
    }
    chosen = [(name, call) for name, call in calls.items() if not only or name in only]
    return [f for f in (_unavailable(name, call) for name, call in chosen) if f]


@azure_only
def test_azure_outage_and_recovery(own_azurite, tmp_path):
    gw = _gateway_on(own_azurite, tmp_path)
    try:
        s3 = _client(gw)
        _wait_for(_ready_is(gw, 200), READY_FLIP_WITHIN, "ready 200 with Azure up")
        s3.create_bucket(Bucket="outage")
        s3.put_object(Bucket="outage", Key="before", Body=b"stored before the outage")
        assert s3.get_object(Bucket="outage", Key="before")["Body"].read() == b"stored before the outage"

        own_azurite.stop()
        failures = _outage_failures(s3, "outage")
        assert not failures, "while Azure is down:\n" + "\n".join(failures)
        assert _live(gw) == 200
        _wait_for(_ready_is(gw, 503), READY_FLIP_WITHIN, "ready 503 while Azure is down")
        assert gw.proc.poll() is None, "the gateway exited when Azure went away"
        # Still down a while later: the same quick answers, no stuck requests.
        time.sleep(2)
        failures = _outage_failures(s3, "outage", only=("GetObject", "PutObject"))
        assert not failures, "Azure down for a while:\n" + "\n".join(failures)

        own_azurite.start(keep_data=True)  # same port, same data
        _wait_for(_ready_is(gw, 200), RECOVERY_WITHIN, "ready 200 after Azure came back")
        assert s3.get_object(Bucket="outage", Key="before")["Body"].read() == b"stored before the outage"
        with pytest.raises(ClientError) as e:  # the refused PUT left nothing behind
            s3.head_object(Bucket="outage", Key="during")
        assert client_error(e.value)[0] == 404
        s3.put_object(Bucket="outage", Key="after", Body=b"after")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="outage")["Contents"]] == ["after", "before"]
        assert gw.proc.poll() is None
    finally:
        stop_gateway(gw)


@azure_only
def test_hung_azure_gets_an_answer(own_azurite, tmp_path):
    """Azure accepting connections but never answering (a stalled host or a
    network that drops packets): clients still get an S3 error, not a hang."""
    gw = _gateway_on(own_azurite, tmp_path)
    try:
        s3 = _client(gw)
        s3.create_bucket(Bucket="hung")
        s3.put_object(Bucket="hung", Key="k", Body=b"v")
        os.kill(own_azurite.pid, signal.SIGSTOP)
        try:
            impatient = make_s3_client(gw, config=client_config().merge(Config(read_timeout=HUNG_ANSWER_WITHIN + 5)))
            start = time.monotonic()
            try:
                impatient.get_object(Bucket="hung", Key="k")
                answer = "200: GET succeeded while Azure is stalled"
            except ClientError as e:
                answer = client_error(e)
            except ReadTimeoutError:
                answer = "no answer"
            took = time.monotonic() - start
            assert answer in [(503, c) for c in UNAVAILABLE], f"{answer} after {took:.1f}s"
            assert took < HUNG_ANSWER_WITHIN, f"a GET waited {took:.1f}s for a stalled Azure"
            assert _live(gw) == 200
            assert gw.proc.poll() is None
        finally:
            os.kill(own_azurite.pid, signal.SIGCONT)
        _wait_for(_ready_is(gw, 200), RECOVERY_WITHIN, "ready 200 after Azure resumed")
        assert s3.get_object(Bucket="hung", Key="k")["Body"].read() == b"v"
    finally:
        stop_gateway(gw)


@azure_only
def test_gateway_started_while_azure_down(tmp_path):
    """A gateway that starts before its storage does (a reboot, a deployment)
    is live, not ready, answers 503, and becomes ready once Azure is there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    az = Azurite(tmp_path / "late-azurite", port=port)
    account = "devstoreaccount1"  # Azurite's well-known development account
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    env = {"AZURE_STORAGE_ACCOUNT": account, "AZURE_STORAGE_KEY": key}
    cfg = azure_config(env, f"http://127.0.0.1:{port}/{account}")
    gw = start_gateway(tmp_path, cfg=cfg)
    try:
        s3 = _client(gw)
        assert _live(gw) == 200
        _wait_for(_ready_is(gw, 503), READY_FLIP_WITHIN, "ready 503 with no Azure")
        failure = _unavailable("ListBuckets", s3.list_buckets)
        assert failure is None, failure
        az.start()
        try:
            _wait_for(_ready_is(gw, 200), RECOVERY_WITHIN, "ready 200 once Azure started")
            s3.create_bucket(Bucket="late")
            s3.put_object(Bucket="late", Key="k", Body=b"v")
            assert s3.get_object(Bucket="late", Key="k")["Body"].read() == b"v"
        finally:
            az.stop()
    finally:
        stop_gateway(gw)


@azure_only
def test_wrong_azure_key_is_a_server_error(own_azurite, tmp_path):
    # A container and blob that exist, so only the credentials can fail.
    sdk = azure_service_client(azure_config(own_azurite.env(), own_azurite.endpoint))
    try:
        if not sdk.get_container_client("wrongkey").exists():
            sdk.create_container("wrongkey")
        sdk.get_blob_client("wrongkey", "k").upload_blob(b"v", overwrite=True)
    finally:
        sdk.close()
    bad_key = base64.b64encode(os.urandom(64)).decode()
    gw = _gateway_on(own_azurite, tmp_path, key=bad_key)
    try:
        s3 = _client(gw)
        calls = {
            "ListBuckets": lambda: s3.list_buckets(),
            "HeadBucket": lambda: s3.head_bucket(Bucket="wrongkey"),
            "GetObject": lambda: s3.get_object(Bucket="wrongkey", Key="k")["Body"].read(),
            "PutObject": lambda: s3.put_object(Bucket="wrongkey", Key="k2", Body=b"x"),
            "ListObjectsV2": lambda: s3.list_objects_v2(Bucket="wrongkey"),
            "CreateBucket": lambda: s3.create_bucket(Bucket="wrongkey-new"),
        }
        failures = []
        for name, call in calls.items():
            try:
                call()
                failures.append(f"{name}: succeeded with a wrong Azure key")
            except ClientError as e:
                status, code = client_error(e)
                if status < 500:  # the client's S3 credentials are fine: not its fault
                    failures.append(f"{name}: {status} {code}")
        assert not failures, "\n".join(failures)
        assert gw.proc.poll() is None
        _wait_for(_ready_is(gw, 503), READY_FLIP_WITHIN, "ready 503 with a wrong Azure key")

        log = [line for line in gw.log_path.read_text(errors="replace").splitlines() if not line.startswith("--- ")]
        told = [
            line for line in log
            if re.search(r"azure", line, re.I) and re.search(r"credential|key|authenticat", line, re.I)
        ]  # fmt: skip
        assert told, "no log line names the Azure credentials:\n" + "\n".join(log[-30:])
        assert bad_key not in "\n".join(log), "the Azure key was written to the log"
    finally:
        stop_gateway(gw)


@pytest.mark.parametrize(
    "azure_env",
    [{}, {"AZURE_STORAGE_ACCOUNT": "devstoreaccount1"}],
    ids=["nothing", "account-without-key"],
)
def test_azure_backend_without_credentials_does_not_start(tmp_path, azure_env):
    if os.environ.get("BLOBGATE_TEST_ENDPOINT"):
        pytest.skip("needs the gateway binary")
    binary = blobgate_binary()
    if not binary.is_file():
        pytest.fail(f"blobgate binary not found at {binary}", pytrace=False)
    access, secret = random_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_"))}
    env.update(azure_env, BLOBGATE_ACCESS_KEY=access, BLOBGATE_SECRET_KEY=secret, RUST_BACKTRACE="1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--backend", "azure",
        "--azure-endpoint", "http://127.0.0.1:9/devstoreaccount1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=tmp_path)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the gateway kept running without Azure credentials\nstderr:\n{err[-2000:]}", pytrace=False)
    assert proc.returncode != 0, f"exit 0\nstdout:\n{out}\nstderr:\n{err}"
    assert "panicked" not in err, err
    assert "AZURE_STORAGE_" in err, f"the error does not say which variables to set:\n{err}"

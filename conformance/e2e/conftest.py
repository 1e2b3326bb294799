"""Fixtures of the end-to-end suite.

By default one real `blobgate serve` is started for the whole session, on a
free loopback port, with a temporary data dir and random root credentials.

Environment:
  BLOBGATE_BIN            gateway binary; default ${CARGO_TARGET_DIR:-target}/debug/blobgate
                          (relative paths are taken from the repository root)
  BLOBGATE_TEST_BACKEND   fs (default) | azure; see backend_config(). azure reads
                          AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with
                          AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, and the blob
                          endpoint BLOBGATE_AZURE_ENDPOINT (conformance/azurite.sh starts
                          a local Azurite; test-all.sh sets all of these)
  BLOBGATE_EXTRA_ARGS     extra `serve` flags (shell-split)
  BLOBGATE_TEST_ENDPOINT  http://HOST:PORT of an already running S3 endpoint to test
                          instead of starting the binary (used to shake out the tests
                          against another implementation); credentials from
                          BLOBGATE_TEST_ACCESS_KEY / BLOBGATE_TEST_SECRET_KEY (default
                          "testing"), region BLOBGATE_TEST_REGION, vhost domain
                          BLOBGATE_TEST_DOMAIN (vhost tests skip without it)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_util import Gateway, random_credentials, unique_bucket_name

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION_DEFAULT = "us-east-1"
VHOST_DOMAIN = "s3.localhost"
STARTUP_TIMEOUT = 30.0

# Never let a client look for credentials or regions on this machine.
for _var in list(os.environ):
    if _var.startswith("AWS_"):
        del os.environ[_var]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


# --------------------------------------------------------------------------
# the gateway process


def blobgate_binary() -> Path:
    env = os.environ.get("BLOBGATE_BIN")
    if env:
        p = Path(env)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or "target")
        p = target / "debug" / "blobgate"
    return p if p.is_absolute() else REPO_ROOT / p


@dataclasses.dataclass
class BackendConfig:
    args: list[str]
    env: dict[str, str]
    data_dir: Path | None  # set when the backend keeps objects in a local directory
    azure_endpoint: str | None = None  # azure: the blob endpoint (None: the account's public one)


def backend_config(backend: str, workdir: Path) -> BackendConfig:
    """The one place that knows how to point `blobgate serve` at a backend.

    Add a backend here: its flags, its environment, and (for a local backend)
    the directory the escape tests may inspect.
    """
    if backend == "fs":
        # Deeply nested so that any '../' escape of up to 7 levels still lands
        # inside `workdir/jail`, which the escape tests watch (see test_keys_escape).
        data_dir = workdir / "jail" / "l1" / "l2" / "l3" / "l4" / "l5" / "l6" / "data"
        data_dir.mkdir(parents=True)
        return BackendConfig(["--backend", "fs", "--data-dir", str(data_dir)], {}, data_dir)
    if backend == "azure":
        env = {k: v for k, v in os.environ.items() if k.startswith("AZURE_STORAGE_")}
        if not env:
            raise pytest.UsageError(
                "BLOBGATE_TEST_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING or "
                "AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY/AZURE_STORAGE_SAS_TOKEN"
            )
        return azure_config(env, os.environ.get("BLOBGATE_AZURE_ENDPOINT"))
    raise pytest.UsageError(f"unknown BLOBGATE_TEST_BACKEND={backend!r} (fs|azure)")


def azure_config(env: dict[str, str], endpoint: str | None) -> BackendConfig:
    """`serve` flags and environment for the azure backend: `env` holds the
    AZURE_STORAGE_* variables, `endpoint` the blob endpoint (None: the
    account's public one)."""
    args = ["--backend", "azure"]
    if endpoint:
        args += ["--azure-endpoint", endpoint]
    return BackendConfig(args, dict(env), None, azure_endpoint=endpoint)


def suite_backend() -> str:
    """The backend the suite runs on: BLOBGATE_TEST_BACKEND (fs by default)."""
    return os.environ.get("BLOBGATE_TEST_BACKEND", "fs")


def azure_service_client(cfg: BackendConfig):
    """An Azure SDK BlobServiceClient for the storage account a gateway with
    this config uses (same account, same credentials)."""
    from azure.storage.blob import BlobServiceClient

    env = cfg.env
    options = {"retry_total": 2, "connection_timeout": 5, "read_timeout": 120}
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        return BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"], **options)
    account = env["AZURE_STORAGE_ACCOUNT"]
    url = cfg.azure_endpoint or f"https://{account}.blob.core.windows.net"
    if env.get("AZURE_STORAGE_KEY"):
        credential = {"account_name": account, "account_key": env["AZURE_STORAGE_KEY"]}
    else:
        credential = env["AZURE_STORAGE_SAS_TOKEN"].lstrip("?")
    return BlobServiceClient(url, credential=credential, **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_live(gw: Gateway, deadline: float) -> None:
    url = f"{gw.endpoint}/-/health/live"
    last = None
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            raise RuntimeError(f"blobgate exited with {gw.proc.returncode} during startup")
        try:
            r = requests.get(url, timeout=1)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.05)
    raise RuntimeError(f"blobgate not live after {STARTUP_TIMEOUT}s: {last}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _external_gateway() -> Gateway:
    ep = os.environ["BLOBGATE_TEST_ENDPOINT"].rstrip("/")
    u = urlsplit(ep)
    return Gateway(
        endpoint=ep,
        host=u.hostname,
        port=u.port or 80,
        access_key=os.environ.get("BLOBGATE_TEST_ACCESS_KEY", "testing"),
        secret_key=os.environ.get("BLOBGATE_TEST_SECRET_KEY", "testing"),
        region=os.environ.get("BLOBGATE_TEST_REGION", REGION_DEFAULT),
        domain=os.environ.get("BLOBGATE_TEST_DOMAIN"),
        data_dir=None,
        jail=None,
    )


_STARTED: list[Gateway] = []


def _start_gateway(binary: Path, cfg: BackendConfig, access: str, secret: str, workdir: Path,
                   log_path: Path, jail: Path | None, extra_args: list[str] = ()) -> Gateway:  # fmt: skip
    # Backend settings come from cfg alone (an azure test may point a gateway at
    # another account or give it wrong credentials).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    env.update(cfg.env)
    env.update(BLOBGATE_ACCESS_KEY=access, BLOBGATE_SECRET_KEY=secret, RUST_BACKTRACE="1")
    env.setdefault("RUST_LOG", "info")
    for attempt in range(3):  # a free port can be taken between probe and bind
        port = _free_port()
        cmd = [
            str(binary), "serve",
            "--listen", f"127.0.0.1:{port}",
            "--region", REGION_DEFAULT,
            "--domain", VHOST_DOMAIN,
            *cfg.args,
            *shlex.split(os.environ.get("BLOBGATE_EXTRA_ARGS", "")),
            *extra_args,
        ]  # fmt: skip
        with open(log_path, "ab") as log:
            log.write(f"--- {shlex.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=workdir
            )
        gw = Gateway(
            endpoint=f"http://127.0.0.1:{port}",
            host="127.0.0.1",
            port=port,
            access_key=access,
            secret_key=secret,
            region=REGION_DEFAULT,
            domain=VHOST_DOMAIN,
            data_dir=cfg.data_dir,
            jail=jail,
            proc=proc,
            log_path=log_path,
        )
        try:
            _wait_live(gw, time.monotonic() + STARTUP_TIMEOUT)
            _STARTED.append(gw)
            return gw
        except RuntimeError as e:
            _stop(proc)
            if attempt == 2 or "in use" not in gw.log_tail(5).lower():
                pytest.fail(f"{e}\n--- gateway log ({log_path}):\n{gw.log_tail()}", pytrace=False)
    raise AssertionError("unreachable")


def start_gateway(workdir: Path, extra_args: list[str] = (), cfg: BackendConfig | None = None,
                  credentials: tuple[str, str] | None = None) -> Gateway:  # fmt: skip
    """A separate gateway with its own flags, on the suite's backend (its own
    data dir for fs; the same account for azure) or on `cfg`, with random root
    credentials unless `credentials` (access, secret) are given. It must get
    live; stop it with stop_gateway()."""
    binary = blobgate_binary()
    if cfg is None:
        cfg = backend_config(suite_backend(), workdir)
    access, secret = credentials or random_credentials()
    jail = (workdir / "jail") if cfg.data_dir else None
    return _start_gateway(binary, cfg, access, secret, workdir, workdir / "blobgate.log", jail, extra_args)


def stop_gateway(gw: Gateway) -> None:
    """Stop a gateway on purpose (it no longer counts as one that must stay up)."""
    if gw in _STARTED:
        _STARTED.remove(gw)
    _stop(gw.proc)


@pytest.fixture(scope="session")
def _backend(tmp_path_factory):
    binary = blobgate_binary()
    if not binary.is_file():
        pytest.fail(
            f"blobgate binary not found at {binary}; build it (cargo build -p blobgate) "
            "or set BLOBGATE_BIN",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("gateway")
    cfg = backend_config(suite_backend(), workdir)
    return binary, cfg, workdir


@pytest.fixture(scope="session")
def gateway(request) -> Gateway:
    if os.environ.get("BLOBGATE_TEST_ENDPOINT"):
        yield _external_gateway()
        return
    binary, cfg, workdir = request.getfixturevalue("_backend")
    access, secret = random_credentials()
    jail = (workdir / "jail") if cfg.data_dir else None
    gw = _start_gateway(binary, cfg, access, secret, workdir, workdir / "blobgate.log", jail)
    try:
        yield gw
    finally:
        _stop(gw.proc)


@pytest.fixture(scope="session")
def replica(request, gateway) -> Gateway:
    """A second gateway process on the same backend storage and credentials (the
    stateless-replicas design: several instances serve one project)."""
    if gateway.proc is None:
        pytest.skip("replica tests need the gateway binary (not an external endpoint)")
    binary, cfg, workdir = request.getfixturevalue("_backend")
    gw = _start_gateway(
        binary, cfg, gateway.access_key, gateway.secret_key, workdir, workdir / "replica.log", gateway.jail
    )
    try:
        yield gw
    finally:
        _stop(gw.proc)


@pytest.fixture(scope="session")
def azure_blob(request):
    """Azure SDK BlobServiceClient on the account the suite's gateway uses
    (azure backend only; skips otherwise)."""
    if suite_backend() != "azure" or os.environ.get("BLOBGATE_TEST_ENDPOINT"):
        pytest.skip("needs the azure backend (BLOBGATE_TEST_BACKEND=azure)")
    _, cfg, _ = request.getfixturevalue("_backend")
    client = azure_service_client(cfg)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _gateway_still_running(request):
    yield
    if "gateway" not in request.fixturenames:
        return
    for gw in _STARTED:
        if gw.proc is not None and gw.proc.poll() is not None:
            pytest.fail(
                f"blobgate died (exit {gw.proc.returncode}) during this test\n{gw.log_tail()}",
                pytrace=False,
            )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for gw in _STARTED:
        if exitstatus != 0:
            terminalreporter.write_line(f"blobgate log: {gw.log_path}")


# --------------------------------------------------------------------------
# clients


def client_config(**s3) -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path", **s3},
        retries={"total_max_attempts": 1},  # see every error, do not hide 5xx
        connect_timeout=5,
        read_timeout=120,
        max_pool_connections=32,
    )


def make_s3_client(gw: Gateway, endpoint: str | None = None, **kwargs):
    kwargs.setdefault("config", client_config())
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or gw.endpoint,
        aws_access_key_id=kwargs.pop("access_key", gw.access_key),
        aws_secret_access_key=kwargs.pop("secret_key", gw.secret_key),
        region_name=gw.region,
        **kwargs,
    )


@pytest.fixture(scope="session")
def s3(gateway):
    """boto3 S3 client: SigV4, path-style addressing, no retries."""
    return make_s3_client(gateway)


@pytest.fixture(scope="session")
def vhost_s3(gateway):
    """boto3 S3 client with virtual-host-style addressing (bucket.s3.localhost:PORT)."""
    if not gateway.domain:
        pytest.skip("no virtual-host domain known for this endpoint (set BLOBGATE_TEST_DOMAIN)")
    domain = gateway.domain
    try:
        native = {a[4][0] for a in socket.getaddrinfo(f"probe.{domain}", gateway.port)}
    except socket.gaierror:
        native = set()
    if not native or not native <= {"127.0.0.1", "::1"}:
        # glibc does not resolve *.localhost; map the names to loopback in-process
        # (botocore -> urllib3 -> socket.getaddrinfo), the Host header stays intact.
        real = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            if isinstance(host, str) and (host == domain or host.endswith("." + domain)):
                host = gateway.host
            return real(host, *args, **kwargs)

        mp = pytest.MonkeyPatch()
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
    else:
        mp = None
    client = make_s3_client(
        gateway,
        endpoint=f"http://{domain}:{gateway.port}",
        config=client_config(addressing_style="virtual"),
    )
    yield client
    if mp:
        mp.undo()


def delete_bucket_fully(s3, name: str) -> None:
    """Best effort: remove every object, then the bucket."""
    try:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys += [o["Key"] for o in page.get("Contents", [])]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.delete_object(Bucket=name, Key=k), keys))
        s3.delete_bucket(Bucket=name)
    except (ClientError, Exception):  # cleanup must never fail a test
        pass


@pytest.fixture
def bucket(s3, request):
    """A fresh, empty bucket for this test."""
    name = unique_bucket_name(request.node.originalname or request.node.name)
    s3.create_bucket(Bucket=name)
    yield name
    delete_bucket_fully(s3, name)


@pytest.fixture(scope="module")
def module_bucket(s3, request):
    """A bucket shared by one test module (for expensive fixtures)."""
    name = unique_bucket_name(request.module.__name__.replace("test_", ""))
    s3.create_bucket(Bucket=name)
    yield name
    # Not emptied: the session's data dir is temporary anyway.


@pytest.fixture(scope="session")
def minio_client(gateway):
    from minio import Minio

    return Minio(
        gateway.netloc,
        access_key=gateway.access_key,
        secret_key=gateway.secret_key,
        secure=False,
        region=gateway.region,
    )


class AwsCli:
    """Runs the venv's `aws` (awscli v1) against the gateway, isolated from $HOME."""

    def __init__(self, gw: Gateway, workdir: Path):
        self.gw = gw
        exe = Path(sys.executable).parent / "aws"
        self.exe = str(exe) if exe.exists() else shutil.which("aws")
        creds = workdir / "credentials"
        creds.write_text("")
        self.configs = {}
        for name, s3_settings in {
            # Single PUT up to 64 MiB, and the CLI's own defaults (multipart
            # from 8 MiB).
            "single": "  multipart_threshold = 64MB\n  multipart_chunksize = 16MB\n",
            "default": "",
        }.items():
            path = workdir / f"config-{name}"
            # signature_version: `aws s3 presign` of CLI v1 signs with SigV2 otherwise
            path.write_text(
                f"[default]\nregion = {gw.region}\ns3 =\n  addressing_style = path\n"
                f"  signature_version = s3v4\n{s3_settings}"
            )
            self.configs[name] = path
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env = {
            **base,
            "AWS_ACCESS_KEY_ID": gw.access_key,
            "AWS_SECRET_ACCESS_KEY": gw.secret_key,
            "AWS_DEFAULT_REGION": gw.region,
            "AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
        }

    def __call__(self, *args: str, check: bool = True, config: str = "single", cwd=None, timeout=180):
        if not self.exe:
            pytest.skip("aws CLI not installed in this environment")
        env = {**self.env, "AWS_CONFIG_FILE": str(self.configs[config])}
        cmd = [self.exe, "--endpoint-url", self.gw.endpoint, *args]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd, timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(
                f"`aws {shlex.join(args)}` exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}",
                pytrace=False,
            )
        return p


@pytest.fixture(scope="session")
def aws(gateway, tmp_path_factory) -> AwsCli:
    return AwsCli(gateway, tmp_path_factory.mktemp("awscli"))

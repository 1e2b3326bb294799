"""The configurations the image and the overlays ship, started with the
real binary, probed as the kubelet and Prometheus would, stopped as
Kubernetes does, and run on the pod's file system."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from manifests import (
    DEPLOY,
    IMAGE_CONFIG,
    ROOT,
    Rendered,
    gateway_binary,
    render,
    run_new_project,
    volume,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """The gateway binary started with a shipped configuration, on loopback."""

    def __init__(self, tmp_path: Path, env: dict[str, str], binary: Path | None = None, wrap=()):
        self.port = free_port()
        self.log = tmp_path / "blobgate.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
        # The configuration's listen address is 0.0.0.0:PORT; tests listen on
        # loopback only, so the flag (which wins over the file) moves it.
        self.proc = subprocess.Popen(
            [*wrap, str(binary or gateway_binary()), "serve", "--listen", f"127.0.0.1:{self.port}"],
            env={**clean, **env}, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log.read_text()}"
            try:
                if self.get("/-/health/live").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


# The root key pair of the blobgate-access Secret, in these tests.
ROOT_ACCESS_KEY, ROOT_SECRET_KEY = "deploy-test", "deploy-test-secret"


def pod_env(r: Rendered, azurite: dict[str, str], config: Path, users: Path, sts_key: Path) -> dict[str, str]:
    """A project's pod environment: its rendered ConfigMap's variables, the
    Secrets filled in as deploy/README.md says (Azurite's account and key
    standing in for the project's), and where its config, users and STS key
    files are."""
    env = dict(r.env_configmap())
    env.update(
        BLOBGATE_CONFIG=str(config),
        BLOBGATE_USERS_FILE=str(users),
        BLOBGATE_STS_KEY_FILE=str(sts_key),
        BLOBGATE_ACCESS_KEY=ROOT_ACCESS_KEY,
        BLOBGATE_SECRET_KEY=ROOT_SECRET_KEY,
        AZURE_STORAGE_ACCOUNT=azurite["AZURITE_ACCOUNT"],
        AZURE_STORAGE_KEY=azurite["AZURITE_KEY"],
        BLOBGATE_AZURE_ENDPOINT=azurite["AZURITE_ENDPOINT"],
    )
    return env


def probe_like_the_kubelet(r: Rendered, gw: Running) -> None:
    """GET each probe's path and the scrape path, as the Deployment names them."""
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = r.container[probe]["httpGet"]["path"]
        resp = gw.get(path)
        assert resp.status_code == 200, (probe, path, resp.status_code, resp.text)
    metrics = gw.get(r.pod["metadata"]["annotations"]["prometheus.io/path"])
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "blobgate_requests_total" in metrics.text


def test_image_default_configuration_serves(tmp_path, all_rendered):
    """The image's own config.toml is accepted by the binary and serves the
    probes (its /data moved to a temporary directory)."""
    data = tmp_path / "data"
    data.mkdir()
    gw = Running(
        tmp_path,
        {
            "BLOBGATE_CONFIG": str(IMAGE_CONFIG),
            "BLOBGATE_DATA_DIR": str(data),
            "BLOBGATE_ACCESS_KEY": ROOT_ACCESS_KEY,
            "BLOBGATE_SECRET_KEY": ROOT_SECRET_KEY,
        },
    )
    try:
        probe_like_the_kubelet(all_rendered["example-project"], gw)
    finally:
        assert gw.stop() == 0, gw.log.read_text()


def test_project_configuration_serves_on_azure(tmp_path, rendered, azurite):
    """A project's rendered ConfigMaps, with its Secrets filled in the way the
    README says (Azurite's account and key standing in for the project's),
    start the gateway: the kubelet's probes pass, Prometheus can scrape, and
    SIGTERM turns readiness to 503 for the configured delay, then the process
    exits within the pod's termination grace."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(rendered.config_text())
    # The blobgate-access Secret as a directory: users.json and the root pair.
    access = tmp_path / "access"
    access.mkdir()
    (access / "alice").write_text("alice-secret-key-0123456789")
    (access / "users.json").write_text(
        json.dumps({"users": [{"access_key": "alice", "secret_key_file": "alice", "policy": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
        }}]})  # fmt: skip
    )
    # The STS key of the Secret, as `openssl rand -out sts.key 48` makes it.
    (access / "sts.key").write_bytes(os.urandom(48))
    # The mounted users and key paths, moved into the temporary directory.
    users_file = access / Path(rendered.config_toml()["users"]).name
    sts_key = access / Path(rendered.config_toml()["sts_key_file"]).name
    gw = Running(tmp_path, pod_env(rendered, azurite, config_file, users_file, sts_key))
    try:
        probe_like_the_kubelet(rendered, gw)
        assert gw.get("/-/health/ready").text.strip() == "ready"
        delay = rendered.config_toml()["shutdown_delay_secs"]
        assert delay > 0
        gw.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # The signal reaches the accept loop asynchronously: readiness turns
        # within a moment (well inside the delay), not necessarily before the
        # next request is answered.
        path = rendered.container["readinessProbe"]["httpGet"]["path"]
        while (resp := gw.get(path)).status_code != 503:
            assert resp.status_code == 200, resp.text
            assert time.monotonic() - started < 1.0, "readiness still 200 a second after SIGTERM"
            time.sleep(0.02)
        assert gw.get("/-/health/live").status_code == 200, "still serving during the delay"
        code = gw.proc.wait(timeout=rendered.pod["spec"]["terminationGracePeriodSeconds"])
        assert code == 0, gw.log.read_text()
        assert time.monotonic() - started >= delay - 0.5
    finally:
        gw.stop()
    # The JSON log format of the configuration: one object per line.
    lines = [line for line in gw.log.read_text().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines), lines[:3]


# The pod's file system, for a process on this machine: the root read-only,
# a fresh tmpfs on /tmp (the pod's emptyDir), and the configuration files
# read-only at /mnt. A mount namespace of its own, so nothing else sees it.
READ_ONLY_ROOT = [
    "unshare", "--mount", "--propagation", "private", "sh", "-ec",
    'mount --bind "$0" /mnt; mount -o remount,bind,ro /mnt; mount --bind / /; '
    'mount -o remount,bind,ro /; mount -t tmpfs tmpfs /tmp; exec "$@"',
]  # fmt: skip


def read_only_root_available() -> bool:
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True, timeout=10,
    )  # fmt: skip
    return probe.returncode == 0 and Path("/mnt").is_dir()


def test_project_configuration_runs_on_a_read_only_root(tmp_path, all_rendered, azurite):
    """With the pod's file system (read-only root, /tmp its only writable
    place), the gateway serves uploads, multipart uploads, downloads and S3
    Select from the example project's configuration: nothing it does writes
    anywhere else."""
    import boto3
    from botocore.config import Config

    if not read_only_root_available():
        pytest.skip("no mount namespaces here (unshare --mount needs CAP_SYS_ADMIN)")
    r = all_rendered["example-project"]
    conf = tmp_path / "conf"
    (conf / "access").mkdir(parents=True)
    (conf / "config.toml").write_text(r.config_text())
    (conf / "access" / "users.json").write_text('{"users": []}')
    (conf / "access" / "sts.key").write_bytes(os.urandom(48))
    # The binary goes where the process can still see it.
    binary = conf / "blobgate"
    try:
        os.link(gateway_binary(), binary)
    except OSError:
        shutil.copy2(gateway_binary(), binary)
    env = pod_env(r, azurite, Path("/mnt/config.toml"), Path("/mnt/access/users.json"), Path("/mnt/access/sts.key"))
    gw = Running(tmp_path, env, binary=Path("/mnt/blobgate"), wrap=[*READ_ONLY_ROOT, str(conf)])
    try:
        probe_like_the_kubelet(r, gw)
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{gw.port}", region_name="us-east-1",
            aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )  # fmt: skip
        bucket = f"ro-root-{os.getpid()}"
        s3.create_bucket(Bucket=bucket)
        big = os.urandom(24 << 20)  # multipart with boto3's defaults
        src = tmp_path / "big.bin"
        src.write_bytes(big)
        s3.upload_file(str(src), bucket, "big.bin")
        assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big
        rows = "".join(f"{i},name{i},{i * 1.5}\n" for i in range(20000))
        s3.put_object(Bucket=bucket, Key="t.csv", Body=("id,name,value\n" + rows).encode())
        out = s3.select_object_content(
            Bucket=bucket, Key="t.csv", ExpressionType="SQL",
            Expression="SELECT count(*), sum(cast(value as float)) FROM S3Object WHERE cast(id as int) >= 100",
            InputSerialization={"CSV": {"FileHeaderInfo": "USE"}}, OutputSerialization={"CSV": {}},
        )  # fmt: skip
        records = b"".join(e["Records"]["Payload"] for e in out["Payload"] if "Records" in e)
        count, total = records.decode().strip().split(",")
        assert (int(count), float(total)) == (19900, sum(i * 1.5 for i in range(100, 20000)))
        for key in ("big.bin", "t.csv"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
    finally:
        assert gw.stop() == 0, gw.log.read_text()
    assert "Read-only file system" not in gw.log.read_text()


def test_identity_overlay_gives_pipeline_pods_credentials(tmp_path, kustomize_copy, azurite):
    """An overlay written with --oidc-issuer (a real issuer on loopback
    standing in for the cluster's), run as the pod would be: the example
    pipeline pod's own command, with its environment and a projected token
    of its service account, lists the buckets with no key; another service
    account's token is refused."""
    import sys

    import yaml

    sys.path.insert(0, str(ROOT / "conformance" / "e2e"))
    from oidc_issuer import OidcIssuer

    issuer = OidcIssuer(path="/cluster").start()
    try:
        out = run_new_project(kustomize_copy, "--oidc-issuer", issuer.issuer,
                              "--pipeline-sa", "kubeflow:pipeline-runner", "idp", "stidp")  # fmt: skip
        assert out.returncode == 0, out.stderr
        r = render(kustomize_copy / "projects" / "idp")
        (tmp_path / "config.toml").write_text(r.config_text())
        (tmp_path / "users.json").write_text(r.configmap(volume(r, "users")["configMap"]["name"])["data"]["users.json"])
        (tmp_path / "sts.key").write_bytes(os.urandom(48))
        env = pod_env(r, azurite, tmp_path / "config.toml", tmp_path / "users.json", tmp_path / "sts.key")
        gw = Running(tmp_path, env)
        try:
            pod = yaml.safe_load((DEPLOY / "examples" / "pipeline-pod.yaml").read_text())
            (step,) = pod["spec"]["containers"]
            (source,) = pod["spec"]["volumes"][0]["projected"]["sources"]
            assert source["serviceAccountToken"]["audience"] == "blobgate"
            endpoint = f"http://127.0.0.1:{gw.port}"
            token_file = tmp_path / source["serviceAccountToken"]["path"]
            step_env = {e["name"]: e["value"] for e in step["env"]}
            assert step_env["AWS_WEB_IDENTITY_TOKEN_FILE"].endswith("/" + token_file.name)
            step_env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ENDPOINT_URL_S3=endpoint,
                            AWS_ENDPOINT_URL_STS=endpoint, AWS_CONFIG_FILE=os.devnull,
                            AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")  # fmt: skip
            clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            command = [sys.executable, *step["command"][1:]]

            def run_step(sub: str) -> subprocess.CompletedProcess:
                sa = f"system:serviceaccount:{pod['metadata']['namespace']}:{sub}"
                token_file.write_text(issuer.token(sub=sa, aud=[source["serviceAccountToken"]["audience"]]))
                return subprocess.run(command, env={**clean, **step_env}, capture_output=True, text=True, timeout=60)

            ok = run_step(pod["spec"]["serviceAccountName"])
            assert ok.returncode == 0, ok.stderr
            assert ok.stdout.startswith("[")
            denied = run_step("default")
            assert denied.returncode != 0 and "AccessDenied" in denied.stderr, denied.stderr
        finally:
            assert gw.stop() == 0, gw.log.read_text()
    finally:
        issuer.stop()

"""Server CPU per STS request, against a SigV4-signed GetObject as the
baseline, measured on one release gateway in the same run.

Starts a real OIDC issuer on loopback (conformance/e2e/oidc_issuer.py) and a
release gateway on a temporary fs directory, with a users file that trusts
the issuer (role `bench`) and a user key, then sends N requests of each kind
one after another on one keep-alive connection and reads the gateway's CPU
time (user + system, /proc/PID/stat) before and after each phase:

- baseline: GetObject of a 1 KiB object through a presigned URL of the
  user's long-term key (SigV4 check, policy check, cached read);
- GetObject through a presigned URL of STS session credentials (the same,
  plus opening the sealed session token);
- AssumeRoleWithWebIdentity with an RS256 token, then with an ES256 token,
  the issuer's keys cached (the warm path: JWT signature check, trust policy,
  sealing a new session);
- AssumeRole signed with the user's key.

    python3 benches/sts_bench.py [N]        (default 3000)

Needs boto3 and cryptography (conformance/.venv) and a release build
(BLOBGATE_BIN overrides the binary). Prints a Markdown table.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "conformance" / "e2e"))
from oidc_issuer import OidcIssuer  # noqa: E402

ACCESS, SECRET = "bench-root", "bench-root-secret-0123456789"
USER, USER_SECRET = "bencher", "bencher-secret-0123456789abcdef"
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> Path:
    if os.environ.get("BLOBGATE_BIN"):
        return Path(os.environ["BLOBGATE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return target / "release" / "blobgate"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    issuer = OidcIssuer().start()
    work = Path(tempfile.mkdtemp(prefix="blobgate-sts-bench-"))
    allow_get = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bench/*"}]}  # fmt: skip
    users = {
        "users": [{"access_key": USER, "secret_key": USER_SECRET, "policy": allow_get}],
        "oidc_providers": [{"issuer": issuer.issuer, "audiences": ["blobgate"]}],
        "roles": [{"name": "bench", "policy": allow_get, "trust": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": issuer.issuer},
             "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {f"{issuer.name}:aud": "blobgate"}}},
            {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"}]}}],
    }  # fmt: skip
    (work / "users.json").write_text(json.dumps(users))
    (work / "sts.key").write_bytes(os.urandom(48))
    (work / "data").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AWS_"))}
    env.update(BLOBGATE_ACCESS_KEY=ACCESS, BLOBGATE_SECRET_KEY=SECRET, RUST_LOG="warn")
    log = (work / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [str(binary()), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data"),
         "--users", str(work / "users.json"), "--sts-key-file", str(work / "sts.key")],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
                time.sleep(0.05)
        cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
        root = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                            aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)  # fmt: skip
        root.create_bucket(Bucket="bench")
        root.put_object(Bucket="bench", Key="k", Body=os.urandom(1024))
        sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                           aws_access_key_id=USER, aws_secret_access_key=USER_SECRET)  # fmt: skip
        rs256 = issuer.token(sub="bench", lifetime=3600)
        es256 = issuer.token(key=issuer.key("ES256"), sub="bench", lifetime=3600)
        creds = sts.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="bench",
                                                  WebIdentityToken=rs256)["Credentials"]  # fmt: skip
        user_s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                               aws_access_key_id=USER, aws_secret_access_key=USER_SECRET)  # fmt: skip
        session_s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                                  aws_access_key_id=creds["AccessKeyId"],
                                  aws_secret_access_key=creds["SecretAccessKey"],
                                  aws_session_token=creds["SessionToken"])  # fmt: skip

        def path_of(url: str) -> str:
            u = urllib.parse.urlsplit(url)
            return f"{u.path}?{u.query}"

        def form(**params) -> bytes:
            return urllib.parse.urlencode({"Version": "2011-06-15", **params}).encode()

        # A signed AssumeRole request, replayed (its signature stays valid
        # for 15 minutes): botocore signs it once.
        signed = {}

        def capture(request, **_):
            signed["headers"] = dict(request.headers)
            signed["body"] = request.body

        sts.meta.events.register("before-send.sts.AssumeRole", capture)
        sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="step")
        form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        phases = [
            ("GetObject, presigned, long-term key (baseline)", "GET",
             path_of(user_s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "k"})), None, {}),
            ("GetObject, presigned, STS session", "GET",
             path_of(session_s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "k"})), None, {}),
            ("AssumeRoleWithWebIdentity, RS256 token", "POST", "/",
             form(Action="AssumeRoleWithWebIdentity", RoleArn=ROLE_ARN, RoleSessionName="bench", WebIdentityToken=rs256),
             form_headers),
            ("AssumeRoleWithWebIdentity, ES256 token", "POST", "/",
             form(Action="AssumeRoleWithWebIdentity", RoleArn=ROLE_ARN, RoleSessionName="bench", WebIdentityToken=es256),
             form_headers),
            ("AssumeRole, SigV4-signed", "POST", "/", signed["body"],
             {k: v for k, v in signed["headers"].items() if k.lower() != "content-length"}),
        ]  # fmt: skip
        rows = []
        for name, method, target, body, headers in phases:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(50):  # warm-up
                conn.request(method, target, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                assert r.status == 200, (name, r.status, data[:300])
            cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
            for _ in range(n):
                conn.request(method, target, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                assert r.status == 200, (name, r.status)
            cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - wall0
            conn.close()
            rows.append((name, cpu / n * 1e6, n / wall))
        base = rows[0][1]
        print(f"N = {n} requests per row, one connection, sequential; gateway CPU from /proc (1/{CLK_TCK} s ticks)\n")
        print("| request | gateway CPU per request | vs baseline | requests/s (one client) |")
        print("| --- | ---: | ---: | ---: |")
        for name, us, rps in rows:
            print(f"| {name} | {us:.0f} µs | {us / base:.2f}x | {rps:.0f} |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        issuer.stop()


if __name__ == "__main__":
    main()

"""AKS workload identity: with no account key or SAS, the gateway trades the
pod's service account token (AZURE_FEDERATED_TOKEN_FILE) for an Entra ID
token and calls Azure with it, as a project's pods do when its storage
account allows no shared keys.

Azurite stands in for the storage account, over HTTPS with its OAuth check
("basic": a bearer token's audience, issuer and lifetime, not the
signature). Entra ID cannot run here, so a small HTTPS token endpoint on
loopback stands in for it: it answers the client-assertion grant that
azure_identity sends (RFC 7523), and only when the assertion is what the
token file holds.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from conftest import BackendConfig, REPO_ROOT, make_s3_client, start_gateway, stop_gateway, suite_backend
from e2e_util import unique_bucket_name
from tls_util import make_ca, make_leaf, write_pair

pytestmark = pytest.mark.skipif(suite_backend() != "azure", reason="runs in the azure backend suite")

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0e3e7b3c-5d1e-4a53-9d0f-6a6c1e2f7a11"
STORAGE_SCOPE = "https://storage.azure.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token(lifetime: int = 3600) -> str:
    """An Entra ID access token as Azurite's basic check reads it (unsigned
    here: Azurite does not verify signatures)."""
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60, "nbf": now - 60, "exp": now + lifetime,
        "appid": CLIENT, "oid": CLIENT, "sub": CLIENT, "tid": TENANT, "ver": "1.0",
    }  # fmt: skip
    header = {"alg": "RS256", "typ": "JWT"}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(b"unsigned")])


class EntraStandIn:
    """The token endpoint of a tenant: POST /{tenant}/oauth2/v2.0/token."""

    def __init__(self, cert: Path, key: Path, token_file: Path):
        self.token_file = token_file
        self.grants: list[dict[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                stand_in.grants.append(form)
                ok = (
                    self.path == f"/{TENANT}/oauth2/v2.0/token"
                    and form.get("grant_type") == "client_credentials"
                    and form.get("client_id") == CLIENT
                    and form.get("scope") == STORAGE_SCOPE
                    and form.get("client_assertion_type") == ASSERTION_TYPE
                    and form.get("client_assertion") == stand_in.token_file.read_text()
                )
                if ok:
                    body = {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                            "access_token": access_token()}  # fmt: skip
                    status = 200
                else:
                    body = {"error": "invalid_client", "error_description": "AADSTS700213: No matching federated identity record found"}  # fmt: skip
                    status = 401
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.authority = f"https://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA, and a loopback server certificate it signed (files)."""
    d = tmp_path_factory.mktemp("wi-tls")
    ca_key, ca_cert = make_ca()
    ca_file = d / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key, cert = make_leaf(ca_key, ca_cert, "localhost")
    write_pair(d / "cert.pem", d / "key.pem", key, cert)
    return {"ca": ca_file, "cert": d / "cert.pem", "key": d / "key.pem"}


@pytest.fixture(scope="module")
def oauth_azurite(tls, tmp_path_factory):
    """An Azurite of its own, HTTPS with bearer tokens accepted."""
    d = tmp_path_factory.mktemp("wi-azurite")
    script = REPO_ROOT / "conformance" / "azurite.sh"
    out = subprocess.run(
        [str(script), "start", str(d), "--https", str(tls["cert"]), str(tls["key"]), "--oauth"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    yield {k: v.strip("'") for k, v in env.items()}
    subprocess.run([str(script), "stop", str(d)], timeout=60)


@pytest.fixture
def workload(tls, oauth_azurite, tmp_path):
    """What the workload identity webhook gives a pod: a projected token
    file and the variables naming it, the client and the tenant."""
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJ.service-account-token.1")  # as the kubelet writes it
    entra = EntraStandIn(tls["cert"], tls["key"], token_file)
    env = {
        "AZURE_STORAGE_ACCOUNT": oauth_azurite["AZURITE_ACCOUNT"],
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_AUTHORITY_HOST": entra.authority,
        # Trust the test CA (both Azurite's and the token endpoint's
        # certificates), as a private cloud's CA bundle would be.
        "SSL_CERT_FILE": str(tls["ca"]),
    }
    cfg = BackendConfig(
        ["--backend", "azure", "--azure-endpoint", oauth_azurite["AZURITE_ENDPOINT"]], env, None,
        azure_endpoint=oauth_azurite["AZURITE_ENDPOINT"],
    )  # fmt: skip
    yield cfg, entra, token_file
    entra.close()


def test_workload_identity_serves_s3_without_an_account_key(workload, tmp_path):
    cfg, entra, _ = workload
    assert not any(k in cfg.env for k in ("AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"))
    gw = start_gateway(tmp_path, cfg=cfg)
    try:
        assert 'auth="workload identity"' in gw.log_tail(20)
        ready = requests.get(f"{gw.endpoint}/-/health/ready", timeout=10)
        assert (ready.status_code, ready.text.strip()) == (200, "ready"), gw.log_tail()
        s3 = make_s3_client(gw)
        bucket = unique_bucket_name("wi")
        s3.create_bucket(Bucket=bucket)
        data = os.urandom(20 << 20)  # staged in blocks, then committed
        s3.put_object(Bucket=bucket, Key="model/weights.bin", Body=data)
        assert s3.get_object(Bucket=bucket, Key="model/weights.bin")["Body"].read() == data
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in listed] == ["model/weights.bin"]
        s3.delete_object(Bucket=bucket, Key="model/weights.bin")
        s3.delete_bucket(Bucket=bucket)
        # Every call went with a token from the one grant (it is cached).
        assert len(entra.grants) == 1, entra.grants
        assert entra.grants[0]["client_assertion"] == "eyJ.service-account-token.1"
    finally:
        stop_gateway(gw)


def test_a_refused_token_makes_the_gateway_unready_not_broken(workload, tmp_path):
    """When Entra ID refuses the service account token (no federated
    credential for it), readiness says so and S3 calls get a retryable 503
    naming no secret; the log says what to check."""
    cfg, entra, token_file = workload
    token_file.write_text("eyJ.token-of-another-service-account")
    entra.token_file = tmp_path / "expected"
    entra.token_file.write_text("eyJ.service-account-token.1")
    gw = start_gateway(tmp_path, cfg=cfg)
    try:
        ready = requests.get(f"{gw.endpoint}/-/health/ready", timeout=10)
        assert ready.status_code == 503, ready.text
        with pytest.raises(ClientError) as err:
            make_s3_client(gw).list_buckets()
        assert err.value.response["Error"]["Code"] == "ServiceUnavailable", err.value.response
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert len(entra.grants) >= 1
        assert "no Entra ID token for the storage account (workload identity)" in gw.log_tail(50)
    finally:
        stop_gateway(gw)

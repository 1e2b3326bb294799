"""Identity federation (STS) seen from real clients: notebooks and pipeline
pods get short-lived, scoped credentials from the identity they have.

A real OIDC issuer on loopback (oidc_issuer.py: discovery and JWKS over
HTTP, RS256 and ES256 keys) stands in for the organisation's directory and
for a Kubernetes cluster's service-account issuer. The module's gateway has
a users file with that provider and four roles, and an STS key file:

- `analyst` (web identity, trust on the `groups` claim): a home prefix per
  person through `${jwt:sub}`, read-only `shared/`;
- `pipeline` (web identity, trust on a Kubernetes service account's `sub`):
  the pipeline bucket;
- `step` (AssumeRole by the users-file key `jobrunner`, 2 h maximum): the
  data bucket, narrowed by the session policy each job passes;
- `bp-reader` (web identity, no policy): only what a bucket policy naming
  its assumed-role sessions grants.

Clients: boto3 with AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE /
AWS_ENDPOINT_URL_STS (what a pod with a projected token has), boto3's STS
client, the aws CLI (`aws sts get-caller-identity`), minio-py's
WebIdentityProvider, and raw form posts for the errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import (
    AwsCli,
    backend_config,
    client_config,
    delete_bucket_fully,
    make_s3_client,
    start_gateway,
    stop_gateway,
    suite_backend,
)
from e2e_util import random_credentials, unique_bucket_name
from oidc_issuer import OidcIssuer

ACCOUNT = "123456789012"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
RELOAD_TIMEOUT = 10.0  # users and STS key files are polled every 2 s
REFETCH_INTERVAL = 5.0  # identity.rs: least time between key fetches for unknown key ids


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def s3arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def users_document(issuer: OidcIssuer, data: str, pipeline: str, jobrunner_secret: str) -> dict:
    federated = {"Federated": issuer.issuer}
    web = "sts:AssumeRoleWithWebIdentity"
    return {
        "users": [{"access_key": "jobrunner", "secret_key": jobrunner_secret, "policy": doc(
            allow("s3:ListBucket", s3arn(data)))}],
        "oidc_providers": [{"issuer": issuer.issuer, "audiences": ["blobgate", "console"]}],
        "roles": [
            {"name": "analyst", "max_session_secs": 7200,
             "trust": doc({"Effect": "Allow", "Principal": federated, "Action": web, "Condition": {
                 "ForAnyValue:StringEquals": {f"{issuer.name}:groups": "statisticians"}}}),
             "policy": doc(
                 allow("s3:ListBucket", s3arn(data),
                       Condition={"StringLike": {"s3:prefix": ["home/${jwt:sub}/*", "shared/*"]}}),
                 allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], s3arn(data, "home/${jwt:sub}/*")),
                 allow("s3:GetObject", s3arn(data, "shared/*")))},
            {"name": "pipeline",
             "trust": doc({"Effect": "Allow", "Principal": federated, "Action": web, "Condition": {
                 "StringEquals": {f"{issuer.name}:sub": "system:serviceaccount:kubeflow:pipeline-runner",
                                  f"{issuer.name}:aud": "blobgate"}}}),
             "policy": doc(allow("s3:*", [s3arn(pipeline), s3arn(pipeline, "*")]))},
            {"name": "step", "max_session_secs": 7200,
             "trust": doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/jobrunner"},
                           "Action": "sts:AssumeRole"}),
             "policy": doc(allow("s3:*", [s3arn(data), s3arn(data, "*")]))},
            {"name": "bp-reader",
             "trust": doc({"Effect": "Allow", "Principal": federated, "Action": web})},
        ],
    }  # fmt: skip


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Sts:
    """The module's issuer, gateway and buckets."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.issuer = OidcIssuer().start()
        self.data = unique_bucket_name("sts-data")
        self.pipeline = unique_bucket_name("sts-pipe")
        self.jobrunner_secret = random_credentials()[1]
        self.users = workdir / "users.json"
        write_atomically(self.users, json.dumps(self.users_doc()))
        self.sts_key = workdir / "sts.key"
        self.sts_key.write_bytes(os.urandom(48))
        self.cfg = backend_config(suite_backend(), workdir)
        self.root_credentials = random_credentials()
        self.gw = self.start()
        self.root = make_s3_client(self.gw)
        for b in (self.data, self.pipeline):
            self.root.create_bucket(Bucket=b)
        for key in ("home/alice/notes.txt", "home/bob/secret.txt", "shared/codes.csv", "raw/2025/part-0.csv"):
            self.root.put_object(Bucket=self.data, Key=key, Body=f"contents of {key}".encode())

    def users_doc(self) -> dict:
        return users_document(self.issuer, self.data, self.pipeline, self.jobrunner_secret)

    def start(self, *, sts_key: bool = True):
        args = ["--users", str(self.users)] + (["--sts-key-file", str(self.sts_key)] if sts_key else [])
        return start_gateway(self.workdir, args, cfg=self.cfg, credentials=self.root_credentials)

    def sts_client(self, gw=None, **creds):
        gw = gw or self.gw
        return boto3.session.Session().client(
            "sts", endpoint_url=gw.endpoint, region_name=gw.region, config=client_config(), **creds
        )

    def web_identity(self, token: str, role: str = "analyst", gw=None, **params) -> dict:
        """Credentials of AssumeRoleWithWebIdentity through boto3 (unsigned)."""
        sts = boto3.session.Session().client(
            "sts", endpoint_url=(gw or self.gw).endpoint, region_name="us-east-1", config=client_config(),
            aws_access_key_id="unused", aws_secret_access_key="unused",
        )  # fmt: skip
        return sts.assume_role_with_web_identity(
            RoleArn=role_arn(role), RoleSessionName=params.pop("RoleSessionName", "notebook"),
            WebIdentityToken=token, **params,
        )  # fmt: skip

    def s3_for(self, creds: dict, gw=None):
        c = creds["Credentials"]
        return make_s3_client(
            gw or self.gw, access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )  # fmt: skip

    def analyst_token(self, sub: str = "alice", **claims) -> str:
        claims.setdefault("groups", ["statisticians", "staff"])
        return self.issuer.token(sub=sub, **claims)

    def form(self, gw=None, **params) -> requests.Response:
        """A raw, unsigned STS form post."""
        return requests.post((gw or self.gw).endpoint + "/", data=params, timeout=30)


@pytest.fixture(scope="module")
def sts(tmp_path_factory):
    s = Sts(tmp_path_factory.mktemp("sts"))
    try:
        yield s
    finally:
        for b in (s.data, s.pipeline):
            try:
                delete_bucket_fully(s.root, b)
            except ClientError:
                pass
        stop_gateway(s.gw)
        s.issuer.stop()


def error_of(call, *args, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def code_of(call, *args, **kwargs) -> str:
    try:
        call(*args, **kwargs)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def form_error(resp: requests.Response) -> tuple[int, str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(resp.content)
    assert root.tag == f"{STS_NS}ErrorResponse", resp.content
    assert root.find(f"{STS_NS}RequestId").text
    return resp.status_code, root.find(f"{STS_NS}Error/{STS_NS}Code").text


# --------------------------------------------------------------------------
# a notebook's web identity


def test_boto3_web_identity_from_the_environment(sts, tmp_path, monkeypatch):
    """A pod with a projected token and AWS_* variables needs no secret: boto3's
    default chain calls AssumeRoleWithWebIdentity and then uses the session."""
    token_file = tmp_path / "token"
    token_file.write_text(sts.analyst_token("alice"))
    monkeypatch.setenv("AWS_ROLE_ARN", role_arn("analyst"))
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "alice-notebook")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.gw.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", sts.gw.region)
    session = boto3.session.Session()
    s3 = session.client("s3", endpoint_url=sts.gw.endpoint, config=client_config())
    assert s3.get_object(Bucket=sts.data, Key="home/alice/notes.txt")["Body"].read() == b"contents of home/alice/notes.txt"
    s3.put_object(Bucket=sts.data, Key="home/alice/result.csv", Body=b"a,b\n1,2\n")
    listed = s3.list_objects_v2(Bucket=sts.data, Prefix="home/alice/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["home/alice/notes.txt", "home/alice/result.csv"]
    assert s3.get_object(Bucket=sts.data, Key="shared/codes.csv")["Body"].read() == b"contents of shared/codes.csv"
    # Not someone else's home, not outside the role's policy, and no writes to shared/.
    assert code_of(s3.get_object, Bucket=sts.data, Key="home/bob/secret.txt") == "AccessDenied"
    assert code_of(s3.list_objects_v2, Bucket=sts.data, Prefix="home/bob/") == "AccessDenied"
    assert code_of(s3.put_object, Bucket=sts.data, Key="shared/codes.csv", Body=b"x") == "AccessDenied"
    assert code_of(s3.list_buckets) == "AccessDenied"
    assert code_of(s3.get_object, Bucket=sts.pipeline, Key="anything") == "AccessDenied"
    # Who am I: the assumed role and its session name.
    me = session.client("sts", endpoint_url=sts.gw.endpoint, config=client_config()).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/analyst/alice-notebook"
    assert me["UserId"] == "analyst:alice-notebook"
    assert me["Account"] == ACCOUNT
    assert root_sees(sts, "home/alice/result.csv") == b"a,b\n1,2\n"


def root_sees(sts, key: str) -> bytes:
    return sts.root.get_object(Bucket=sts.data, Key=key)["Body"].read()


def test_web_identity_response(sts):
    before = time.time()
    out = sts.web_identity(sts.analyst_token("bob", aud=["other", "console"]), RoleSessionName="bob@stats",
                           DurationSeconds=900)  # fmt: skip
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20
    assert len(c["SecretAccessKey"]) >= 40 and c["SessionToken"]
    assert abs(c["Expiration"].timestamp() - (before + 900)) < 30
    assert out["SubjectFromWebIdentityToken"] == "bob"
    assert out["Audience"] == "console"
    assert out["Provider"] == sts.issuer.name
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/analyst/bob@stats"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == "analyst:bob@stats"
    s3 = sts.s3_for(out)
    assert s3.get_object(Bucket=sts.data, Key="home/bob/secret.txt")["Body"].read() == b"contents of home/bob/secret.txt"
    assert code_of(s3.get_object, Bucket=sts.data, Key="home/alice/notes.txt") == "AccessDenied"


def test_audience_is_aud_never_azp_beside_it(sts):
    """Keycloak's access tokens name `account` as audience and the client as
    `azp`: a token meant for another service is refused even though our
    client requested it (give Keycloak an audience mapper for `blobgate`).
    List-valued claims such as Entra ID's `roles` travel with the session."""
    token = sts.issuer.token(sub="kc-user", aud="account", azp="console", groups=["statisticians"])
    assert error_of(sts.web_identity, token)[:2] == (400, "InvalidIdentityToken")
    mapped = sts.issuer.token(sub="kc-user", aud=["account", "console"], azp="console",
                              groups=["statisticians"], roles=["Reader", "Writer"])  # fmt: skip
    assert sts.web_identity(mapped)["Audience"] == "console"


def test_kubernetes_service_account_token(sts):
    """A projected service-account token (ES256 here): sub names the service
    account, `kubernetes.io` is an object claim that policies cannot use."""
    key = sts.issuer.key("ES256")
    token = sts.issuer.token(key=key, sub="system:serviceaccount:kubeflow:pipeline-runner", aud=["blobgate"],
                             **{"kubernetes.io": {"namespace": "kubeflow", "serviceaccount": {"name": "pipeline-runner"}}})  # fmt: skip
    s3 = sts.s3_for(sts.web_identity(token, role="pipeline", RoleSessionName="step-1"))
    s3.put_object(Bucket=sts.pipeline, Key="runs/1/model.bin", Body=b"\0" * 1000)
    assert s3.head_object(Bucket=sts.pipeline, Key="runs/1/model.bin")["ContentLength"] == 1000
    assert code_of(s3.get_object, Bucket=sts.data, Key="shared/codes.csv") == "AccessDenied"
    # Another service account of the same cluster is not trusted.
    other = sts.issuer.token(key=key, sub="system:serviceaccount:default:default", aud=["blobgate"])
    assert error_of(sts.web_identity, other, role="pipeline")[:2] == (403, "AccessDenied")
    # Nor the pipeline's own account with the API server's audience.
    api = sts.issuer.token(key=key, sub="system:serviceaccount:kubeflow:pipeline-runner", aud=["https://kubernetes.default.svc"])
    assert error_of(sts.web_identity, api, role="pipeline")[:2] == (400, "InvalidIdentityToken")


def test_minio_py_web_identity_provider(sts):
    from minio import Minio
    from minio.credentials import WebIdentityProvider

    provider = WebIdentityProvider(
        jwt_provider_func=lambda: {"access_token": sts.analyst_token("alice") + "\n", "expires_in": "0"},
        sts_endpoint=sts.gw.endpoint, role_arn=role_arn("analyst"), role_session_name="alice-minio",
    )  # fmt: skip
    client = Minio(sts.gw.netloc, credentials=provider, secure=False,
                   region=sts.gw.region)  # fmt: skip
    got = client.get_object(sts.data, "home/alice/notes.txt")
    try:
        assert got.read() == b"contents of home/alice/notes.txt"
    finally:
        got.close()
        got.release_conn()


def test_presigned_url_of_a_session(sts):
    s3 = sts.s3_for(sts.web_identity(sts.analyst_token("alice")))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": sts.data, "Key": "home/alice/notes.txt"},
                                    ExpiresIn=300)  # fmt: skip
    assert "X-Amz-Security-Token=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"contents of home/alice/notes.txt"
    denied = s3.generate_presigned_url("get_object", Params={"Bucket": sts.data, "Key": "home/bob/secret.txt"})
    assert requests.get(denied, timeout=30).status_code == 403
    # A session token that was altered is refused.
    tampered = re.sub(r"X-Amz-Security-Token=([^&]{10})", lambda m: "X-Amz-Security-Token=" + m.group(1)[::-1], url)
    r = requests.get(tampered, timeout=30)
    assert r.status_code == 403 and b"<Code>InvalidToken</Code>" in r.content, r.content


def test_session_policy_narrows_web_identity(sts):
    policy = json.dumps(doc(allow("s3:GetObject", s3arn(sts.data, "shared/*"))))
    s3 = sts.s3_for(sts.web_identity(sts.analyst_token("alice"), Policy=policy))
    assert s3.get_object(Bucket=sts.data, Key="shared/codes.csv")["Body"].read()
    # The role allows the home prefix, the session policy does not.
    assert code_of(s3.get_object, Bucket=sts.data, Key="home/alice/notes.txt") == "AccessDenied"
    # A session policy cannot widen the role.
    wide = json.dumps(doc(allow("s3:*", "*")))
    s3 = sts.s3_for(sts.web_identity(sts.analyst_token("alice"), Policy=wide))
    assert code_of(s3.get_object, Bucket=sts.data, Key="home/bob/secret.txt") == "AccessDenied"
    assert code_of(s3.list_buckets) == "AccessDenied"


def test_bucket_policy_names_assumed_role_sessions(sts):
    bucket = unique_bucket_name("sts-bp")
    sts.root.create_bucket(Bucket=bucket)
    try:
        sts.root.put_object(Bucket=bucket, Key="report.pdf", Body=b"%PDF")
        out = sts.web_identity(sts.analyst_token("carol"), role="bp-reader", RoleSessionName="carol")
        s3 = sts.s3_for(out)
        assert code_of(s3.get_object, Bucket=bucket, Key="report.pdf") == "AccessDenied"  # the role has no policy
        sts.root.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc({
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/bp-reader/car*"},
            "Action": "s3:GetObject", "Resource": s3arn(bucket, "*")})))  # fmt: skip
        assert s3.get_object(Bucket=bucket, Key="report.pdf")["Body"].read() == b"%PDF"
        dave = sts.s3_for(sts.web_identity(sts.analyst_token("dave"), role="bp-reader", RoleSessionName="dave"))
        assert code_of(dave.get_object, Bucket=bucket, Key="report.pdf") == "AccessDenied"
    finally:
        delete_bucket_fully(sts.root, bucket)


# --------------------------------------------------------------------------
# AssumeRole and GetCallerIdentity with long-term keys


def test_assume_role_hands_a_step_one_prefix(sts):
    jobrunner = sts.sts_client(aws_access_key_id="jobrunner", aws_secret_access_key=sts.jobrunner_secret)
    policy = json.dumps(doc(
        allow(["s3:GetObject", "s3:PutObject"], s3arn(sts.data, "raw/2025/*")),
        allow("s3:ListBucket", s3arn(sts.data), Condition={"StringLike": {"s3:prefix": "raw/2025/*"}})))  # fmt: skip
    out = jobrunner.assume_role(RoleArn=role_arn("step"), RoleSessionName="etl-2025", Policy=policy,
                                DurationSeconds=7200)  # fmt: skip
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/step/etl-2025"
    assert abs(out["Credentials"]["Expiration"].timestamp() - (time.time() + 7200)) < 30
    s3 = sts.s3_for(out)
    assert s3.get_object(Bucket=sts.data, Key="raw/2025/part-0.csv")["Body"].read()
    s3.put_object(Bucket=sts.data, Key="raw/2025/part-1.csv", Body=b"1")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=sts.data, Prefix="raw/2025/")["Contents"]] == [
        "raw/2025/part-0.csv", "raw/2025/part-1.csv"]  # fmt: skip
    assert code_of(s3.get_object, Bucket=sts.data, Key="shared/codes.csv") == "AccessDenied"
    assert code_of(s3.delete_object, Bucket=sts.data, Key="raw/2025/part-0.csv") == "AccessDenied"
    # Sessions do not assume roles (no chaining), and the step role is not
    # the root's to assume: its trust names jobrunner only.
    chained = sts.sts_client(aws_access_key_id=out["Credentials"]["AccessKeyId"],
                             aws_secret_access_key=out["Credentials"]["SecretAccessKey"],
                             aws_session_token=out["Credentials"]["SessionToken"])  # fmt: skip
    assert error_of(chained.assume_role, RoleArn=role_arn("step"), RoleSessionName="again")[:2] == (403, "AccessDenied")
    root = sts.sts_client(aws_access_key_id=sts.gw.access_key, aws_secret_access_key=sts.gw.secret_key)
    assert error_of(root.assume_role, RoleArn=role_arn("step"), RoleSessionName="xx")[:2] == (403, "AccessDenied")
    assert error_of(jobrunner.assume_role, RoleArn=role_arn("step"), RoleSessionName="long",
                    DurationSeconds=7201)[:2] == (400, "ValidationError")  # fmt: skip
    wrong = sts.sts_client(aws_access_key_id="jobrunner", aws_secret_access_key="not-the-secret")
    assert error_of(wrong.assume_role, RoleArn=role_arn("step"), RoleSessionName="xx")[:2] == (403, "SignatureDoesNotMatch")
    unknown = sts.sts_client(aws_access_key_id="nobody", aws_secret_access_key="whatever")
    assert error_of(unknown.get_caller_identity)[:2] == (403, "InvalidClientTokenId")


def test_aws_cli_get_caller_identity(sts, tmp_path):
    cli = AwsCli(sts.gw, tmp_path)
    out = json.loads(cli("sts", "get-caller-identity", "--output", "json").stdout)
    assert out == {"UserId": sts.gw.access_key, "Account": "000000000000",
                   "Arn": f"arn:aws:iam::000000000000:user/{sts.gw.access_key}"}  # fmt: skip
    creds = sts.web_identity(sts.analyst_token("alice"), RoleSessionName="alice-cli")["Credentials"]
    cli.env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                   AWS_SESSION_TOKEN=creds["SessionToken"])  # fmt: skip
    out = json.loads(cli("sts", "get-caller-identity", "--output", "json").stdout)
    assert out["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/analyst/alice-cli"
    got = cli("s3", "cp", f"s3://{sts.data}/home/alice/notes.txt", "-").stdout
    assert got == "contents of home/alice/notes.txt"
    denied = cli("s3", "cp", f"s3://{sts.data}/home/bob/secret.txt", "-", check=False)
    assert denied.returncode != 0 and "(403)" in denied.stderr, denied.stderr


# --------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("case", [
    "expired", "wrong-audience", "unknown-issuer", "alg-none", "hs256-public-key", "unpublished-key",
    "tampered", "not-a-jwt", "not-yet-valid",
])  # fmt: skip
def test_bad_tokens(sts, case):
    from oidc_issuer import SigningKey, compact

    iss = sts.issuer
    groups = ["statisticians"]
    if case == "expired":
        token, want = iss.token(groups=groups, lifetime=-120), "ExpiredTokenException"
    elif case == "wrong-audience":
        token, want = iss.token(groups=groups, aud="someone-else"), "InvalidIdentityToken"
    elif case == "unknown-issuer":
        claims = iss.claims(groups=groups, iss="https://evil.example/realms/stats")
        k = iss.keys[0]
        token, want = compact({"alg": k.alg, "kid": k.kid}, claims, k.sign), "InvalidIdentityToken"
    elif case == "alg-none":
        token, want = iss.unsigned_token(groups=groups), "InvalidIdentityToken"
    elif case == "hs256-public-key":
        token, want = iss.hs256_with_public_key(groups=groups), "InvalidIdentityToken"
    elif case == "unpublished-key":
        token, want = iss.token(key=SigningKey("RS256", kid=iss.keys[0].kid), groups=groups), "InvalidIdentityToken"
    elif case == "tampered":
        good = iss.token(groups=groups, sub="alice")
        head, payload, sig = good.split(".")
        from oidc_issuer import b64url
        import base64

        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "bob"
        token, want = f"{head}.{b64url(json.dumps(claims).encode())}.{sig}", "InvalidIdentityToken"
    elif case == "not-a-jwt":
        token, want = "this-is-not-a-token", "InvalidIdentityToken"
    else:
        token, want = iss.token(groups=groups, nbf=int(time.time()) + 3600), "InvalidIdentityToken"
    status, code, message = error_of(sts.web_identity, token)
    assert (status, code) == (400, want), message
    assert token not in message


def test_trust_policy_refusals(sts):
    # Not in the group the analyst role trusts.
    token = sts.issuer.token(sub="eve", groups=["visitors"])
    assert error_of(sts.web_identity, token)[:2] == (403, "AccessDenied")
    # A role that does not exist looks like one the caller may not assume.
    assert error_of(sts.web_identity, sts.analyst_token(), role="no-such-role")[:2] == (403, "AccessDenied")


@pytest.mark.parametrize("params,want", [
    ({"DurationSeconds": "899"}, "ValidationError"),
    ({"DurationSeconds": "7201"}, "ValidationError"),
    ({"RoleSessionName": "has space"}, "ValidationError"),
    ({"RoleSessionName": "x"}, "ValidationError"),
    ({"RoleArn": "arn:aws:iam::123456789012:user/analyst"}, "ValidationError"),
    ({"Policy": "{not json"}, "MalformedPolicyDocument"),
    ({"Policy": json.dumps(doc(allow("s3:GetObject", "arn:aws:s3:::b/" + "x" * 2100)))}, "ValidationError"),
    ({"WebIdentityToken": "abc"}, "ValidationError"),
    ({"Version": "2010-01-01"}, "InvalidAction"),
    ({"Action": "AssumeRoleWithSAML"}, "InvalidAction"),
    ({"Action": ""}, "MissingAction"),
    ({"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}, "InvalidParameterValue"),
])  # fmt: skip
def test_parameter_errors(sts, params, want):
    base = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role_arn("analyst"),
            "RoleSessionName": "notebook", "WebIdentityToken": sts.analyst_token()}  # fmt: skip
    base.update(params)
    resp = sts.form(**base)
    assert form_error(resp) == (400, want), resp.content
    assert resp.headers["Content-Type"].startswith("text/xml")


def test_get_with_action_and_unsigned_signed_actions(sts):
    r = requests.get(sts.gw.endpoint + "/?Action=GetCallerIdentity&Version=2011-06-15", timeout=30)
    assert form_error(r) == (403, "MissingAuthenticationToken")
    r = requests.get(sts.gw.endpoint + "/?" + urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role_arn("analyst"),
        "RoleSessionName": "via-get", "WebIdentityToken": sts.analyst_token()}), timeout=30)  # fmt: skip
    assert r.status_code == 200 and b"<AssumeRoleWithWebIdentityResult>" in r.content
    # GET / without an Action is still ListBuckets.
    assert sts.root.list_buckets()["Buckets"]


# --------------------------------------------------------------------------
# keys: the issuer's and the gateway's


def test_issuer_key_rotation_is_followed(sts):
    """A token naming a key id the gateway has not seen makes it fetch the
    issuer's keys again, at most once per REFETCH_INTERVAL."""
    new = sts.issuer.rotate("RS256")
    time.sleep(REFETCH_INTERVAL + 0.5)  # whatever the gateway fetched before, it may fetch now
    before = sts.issuer.jwks_fetches()
    out = sts.web_identity(sts.issuer.token(key=new, sub="rotated", groups=["statisticians"]))
    assert out["SubjectFromWebIdentityToken"] == "rotated"
    assert sts.issuer.jwks_fetches() == before + 1
    # Tokens with made-up key ids right after do not each cause a fetch.
    from oidc_issuer import SigningKey

    for _ in range(5):
        forged = sts.issuer.token(key=SigningKey("RS256"), groups=["statisticians"])
        assert error_of(sts.web_identity, forged)[1] == "InvalidIdentityToken"
    assert sts.issuer.jwks_fetches() == before + 1
    # Keys the issuer stopped publishing stay trusted until the next fetch
    # (KEYS_TTL); the previous key still verifies here.
    assert sts.web_identity(sts.analyst_token("alice"))["SubjectFromWebIdentityToken"] == "alice"


def test_issuer_unreachable(sts, tmp_path):
    """A gateway that never saw the issuer's keys says so (IDPCommunicationError),
    and works once the issuer is back."""
    issuer = OidcIssuer(path="/realms/down").start()
    port = issuer.port
    users = tmp_path / "users.json"
    users_doc = users_document(issuer, sts.data, sts.pipeline, "unused-secret-0123456789")
    users.write_text(json.dumps(users_doc))
    token = issuer.token(groups=["statisticians"])
    issuer.stop()
    gw = start_gateway(tmp_path, ["--users", str(users)], cfg=sts.cfg)
    try:
        status, code, _ = error_of(sts.web_identity, token, gw=gw)
        assert (status, code) == (400, "IDPCommunicationError")
        issuer.port = port
        issuer.start()
        deadline = time.monotonic() + 10
        while True:  # the gateway retries a keyless issuer after a second
            try:
                out = sts.web_identity(token, gw=gw)
                break
            except ClientError as e:
                assert e.response["Error"]["Code"] == "IDPCommunicationError"
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert out["SubjectFromWebIdentityToken"] == "alice"
    finally:
        stop_gateway(gw)
        issuer.stop()


def test_sessions_work_on_every_replica_with_the_shared_key(sts):
    replica = sts.start()
    lonely = sts.start(sts_key=False)
    try:
        out = sts.web_identity(sts.analyst_token("alice"))
        assert sts.s3_for(out, gw=replica).get_object(Bucket=sts.data, Key="home/alice/notes.txt")["Body"].read()
        # A gateway with a key of its own refuses the session.
        status, code, _ = error_of(sts.s3_for(out, gw=lonely).get_object, Bucket=sts.data, Key="home/alice/notes.txt")
        assert (status, code) == (403, "InvalidToken")
    finally:
        stop_gateway(replica)
        stop_gateway(lonely)


def test_sts_key_rotation_keeps_fresh_sessions(sts):
    old = sts.s3_for(sts.web_identity(sts.analyst_token("alice")))
    previous = sts.sts_key.read_bytes()
    write_atomically(sts.sts_key, os.urandom(48).hex())
    try:
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while "STS key file changed" not in sts.gw.log_tail(200):
            assert time.monotonic() < deadline, sts.gw.log_tail()
            time.sleep(0.3)
        # Sessions of the previous key work during the grace period; new ones too.
        assert old.get_object(Bucket=sts.data, Key="home/alice/notes.txt")["Body"].read()
        new = sts.s3_for(sts.web_identity(sts.analyst_token("alice")))
        assert new.get_object(Bucket=sts.data, Key="home/alice/notes.txt")["Body"].read()
    finally:
        sts.sts_key.write_bytes(previous)


def test_role_changes_apply_to_sessions_already_issued(sts):
    s3 = sts.s3_for(sts.web_identity(sts.analyst_token("alice")))
    assert s3.get_object(Bucket=sts.data, Key="shared/codes.csv")["Body"].read()
    users = sts.users_doc()
    users["roles"] = [r for r in users["roles"] if r["name"] != "analyst"]
    write_atomically(sts.users, json.dumps(users))
    try:
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while code_of(s3.get_object, Bucket=sts.data, Key="shared/codes.csv") != "AccessDenied":
            assert time.monotonic() < deadline, "the removed role still grants access"
            time.sleep(0.3)
        assert error_of(sts.web_identity, sts.analyst_token("alice"))[:2] == (403, "AccessDenied")
    finally:
        write_atomically(sts.users, json.dumps(sts.users_doc()))
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while code_of(sts.web_identity, sts.analyst_token("alice")) != "ok":
            assert time.monotonic() < deadline
            time.sleep(0.3)


# --------------------------------------------------------------------------
# what operators see


def test_metrics_and_logs_name_no_secret(sts):
    out = sts.web_identity(sts.analyst_token("alice"), RoleSessionName="audited")
    token = sts.analyst_token("mallory", groups=["visitors"])
    error_of(sts.web_identity, token)
    text = requests.get(sts.gw.endpoint + "/-/metrics", timeout=30).text
    ok = re.search(r'blobgate_sts_requests_total\{action="AssumeRoleWithWebIdentity",result="ok"\} (\d+)', text)
    denied = re.search(r'blobgate_sts_requests_total\{action="AssumeRoleWithWebIdentity",result="AccessDenied"\} (\d+)', text)
    assert ok and int(ok.group(1)) >= 1 and denied and int(denied.group(1)) >= 1, text
    log = sts.gw.log_path.read_text(errors="replace")
    assert "session=audited" in log or '"session":"audited"' in log
    assert out["Credentials"]["AccessKeyId"] in log  # the issued key id is named
    for secret in (out["Credentials"]["SecretAccessKey"], out["Credentials"]["SessionToken"], token,
                   token.split(".")[2], sts.jobrunner_secret):  # fmt: skip
        assert secret not in log
    # No part of any token's signature nor any session token made it to the log.
    assert "BGS1" not in log
    assert not re.search(r"eyJ[A-Za-z0-9_-]{20,}\.eyJ", log)


def test_pyarrow_with_session_credentials(sts):
    """pyarrow's S3 filesystem (the AWS SDK for C++) does not send its
    web-identity call to AWS_ENDPOINT_URL_STS (pyarrow 26 goes to AWS's own
    STS), so the README's way is credentials from boto3 passed explicitly:
    the C++ SDK's signatures with a session token are accepted."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buf)
    sts.root.put_object(Bucket=sts.data, Key="home/alice/t.parquet", Body=buf.getvalue().to_pybytes())
    c = sts.web_identity(sts.analyst_token("alice"), RoleSessionName="alice-arrow")["Credentials"]
    s3 = pafs.S3FileSystem(access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                           session_token=c["SessionToken"], endpoint_override=sts.gw.endpoint,
                           region=sts.gw.region)  # fmt: skip
    assert pq.read_table(f"{sts.data}/home/alice/t.parquet", filesystem=s3).column("x").to_pylist() == [1, 2, 3]
    with pytest.raises(OSError, match="ACCESS_DENIED|AccessDenied"):
        pq.read_table(f"{sts.data}/home/bob/secret.txt", filesystem=s3)

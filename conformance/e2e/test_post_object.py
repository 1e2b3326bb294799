"""Browser-based uploads (PostObject): HTML forms posted to `POST /bucket` as
multipart/form-data, signed with a POST policy.

Forms come from boto3's `generate_presigned_post` (SigV4 with an s3v4
client; SigV2 with a default client in us-east-1, which is what boto3 makes
there) and from policies signed by hand (HMAC-SHA1), and are posted with
`requests`, as a page's JavaScript or a form would post them. What is
checked is what a user sees: the status, the PostResponse document or the
redirect, the object and its headers on HEAD, the S3 error codes, the
previous object when an upload is refused, and the gateway's memory while a
64 MiB file streams through. The judge at the end is a real Chromium: a page
on another loopback origin posts an HTML form with a file chosen in it, and
sends the same form from JavaScript (fetch and FormData, allowed by a CORS
rule).

A module gateway with a users file: the root key; `scoped`, who may put
objects under `uploads/` only; and `jobrunner`, who may assume the role
`uploader` (put under `uploads/`), whose session credentials sign forms with
`x-amz-security-token`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import html
import urllib.parse

import boto3
import pytest
import requests
from botocore.config import Config

import browser
from conftest import delete_bucket_fully, make_s3_client, start_gateway, stop_gateway
from e2e_util import parse_error, random_credentials, signed_request, unique_bucket_name

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MIB = 1024 * 1024
ACCOUNT = "123456789012"
PUT_UPLOADS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::*/uploads/*"}],
}


class Env:
    def __init__(self, gw, root, scoped_secret, jobrunner_secret):
        self.gw = gw
        self.root = root
        self.scoped_secret = scoped_secret
        self.jobrunner_secret = jobrunner_secret

    def session_credentials(self) -> dict:
        """Temporary credentials of the role `uploader` (AssumeRole by jobrunner)."""
        sts = boto3.session.Session().client(
            "sts", endpoint_url=self.gw.endpoint, region_name=self.gw.region,
            aws_access_key_id="jobrunner", aws_secret_access_key=self.jobrunner_secret,
        )  # fmt: skip
        out = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/uploader", RoleSessionName="browser")
        return out["Credentials"]

    def client(self, access=None, secret=None, sigv4=True, token=None):
        access = access or self.gw.access_key
        secret = secret or self.gw.secret_key
        config = Config(
            signature_version="s3v4" if sigv4 else None,
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.gw.endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name=self.gw.region,
            config=config,
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("post")
    scoped_secret, jobrunner_secret = random_credentials()[1], random_credentials()[1]
    users = {
        "users": [
            {"access_key": "scoped", "secret_key": scoped_secret, "policy": PUT_UPLOADS},
            {"access_key": "jobrunner", "secret_key": jobrunner_secret},
        ],
        "roles": [
            {"name": "uploader", "policy": PUT_UPLOADS,
             "trust": {"Version": "2012-10-17", "Statement": [{
                 "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/jobrunner"},
                 "Action": "sts:AssumeRole"}]}},
        ],
    }  # fmt: skip
    users_file = workdir / "users.json"
    users_file.write_text(json.dumps(users))
    gw = start_gateway(workdir, ["--users", str(users_file)])
    try:
        yield Env(gw, make_s3_client(gw), scoped_secret, jobrunner_secret)
    finally:
        stop_gateway(gw)


@pytest.fixture
def bucket(env, request):
    name = unique_bucket_name(request.node.name[:20])
    env.root.create_bucket(Bucket=name)
    yield name
    delete_bucket_fully(env.root, name)


def post(url, fields, content=b"hello", filename="hello.txt", after=(), **kwargs):
    """Post a form with `requests`: `fields` (pairs, in order), then the
    file, then `after`."""
    parts = [(name, (None, value)) for name, value in fields]
    if content is not None:
        parts.append(("file", (filename, content, "application/octet-stream")))
    parts += [(name, (None, value)) for name, value in after]
    return requests.post(url, files=parts, timeout=60, allow_redirects=False, **kwargs)


def presigned(client, bucket, key, fields=None, conditions=None, expires=600):
    p = client.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
    return p["url"], list(p["fields"].items())


def error(resp) -> tuple[int, str, str]:
    e = parse_error(resp.content)
    return resp.status_code, e.get("Code", ""), e.get("Message", "")


def b64_policy(bucket, conditions, expires_in=600) -> str:
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)
    doc = {"expiration": exp.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "conditions": [{"bucket": bucket}, *conditions]}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def sigv2_fields(access, secret, policy) -> list[tuple[str, str]]:
    sig = base64.b64encode(hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    return [("AWSAccessKeyId", access), ("policy", policy), ("signature", sig)]


# --------------------------------------------------------------------------
# uploads that succeed


def test_sigv4_presigned_post_stores_the_file_with_its_headers(env, bucket):
    s3 = env.client()
    fields = {"Content-Type": "text/plain", "x-amz-meta-color": "blue", "Cache-Control": "max-age=60",
              "Content-Disposition": "attachment; filename=\"a.txt\""}  # fmt: skip
    url, form = presigned(s3, bucket, "docs/a.txt", fields, [{k: v} for k, v in fields.items()])
    assert dict(form)["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    body = b"posted from a form\n"
    # A field after the file is ignored, as S3 ignores it (no condition names it).
    r = post(url, form, body, after=[("x-amz-meta-late", "ignored")])
    assert r.status_code == 204, r.content
    assert r.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert r.headers["Location"].endswith(f"/{bucket}/docs/a.txt")
    head = env.root.head_object(Bucket=bucket, Key="docs/a.txt")
    assert head["ContentType"] == "text/plain"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert head["Metadata"] == {"color": "blue"}
    assert head["ETag"] == r.headers["ETag"]
    assert env.root.get_object(Bucket=bucket, Key="docs/a.txt")["Body"].read() == body


def test_tagging_field_tags_the_object(env, bucket):
    s3 = env.client()
    doc = "<Tagging><TagSet><Tag><Key>source</Key><Value>form</Value></Tag></TagSet></Tagging>"
    url, form = presigned(s3, bucket, "tagged.txt", {"tagging": doc}, [{"tagging": doc}])
    r = post(url, form, b"t")
    assert r.status_code == 204, r.content
    assert env.root.get_object_tagging(Bucket=bucket, Key="tagged.txt")["TagSet"] == [{"Key": "source", "Value": "form"}]
    assert env.root.head_object(Bucket=bucket, Key="tagged.txt")["TagCount"] == 1
    bad = "<Tagging><TagSet><Tag><Key>aws:x</Key><Value>1</Value></Tag></TagSet></Tagging>"
    url, form = presigned(s3, bucket, "bad.txt", {"tagging": bad}, [{"tagging": bad}])
    assert error(post(url, form, b"t"))[:2] == (400, "InvalidTag")


def test_default_client_in_us_east_1_makes_a_sigv2_form(env, bucket):
    s3 = env.client(sigv4=False)
    url, form = presigned(s3, bucket, "v2.txt")
    names = {n for n, _ in form}
    assert {"AWSAccessKeyId", "signature", "policy"} <= names, names
    r = post(url, form, b"sigv2 form")
    assert r.status_code == 204, r.content
    assert env.root.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"sigv2 form"
    head = env.root.head_object(Bucket=bucket, Key="v2.txt")
    assert head["ContentType"] == "binary/octet-stream"


def test_hand_signed_sigv2_form_answers_201_with_a_post_response(env, bucket):
    policy = b64_policy(bucket, [["starts-with", "$key", "in/"], {"success_action_status": "201"},
                                 ["content-length-range", 1, 1024]])  # fmt: skip
    form = [("key", "in/x.bin"), *sigv2_fields(env.gw.access_key, env.gw.secret_key, policy),
            ("success_action_status", "201")]  # fmt: skip
    content = b"\x00\x01binary"
    r = post(f"{env.gw.endpoint}/{bucket}", form, content)
    assert r.status_code == 201, r.content
    root = ET.fromstring(r.content)
    assert root.tag.replace(S3_NS, "") == "PostResponse"
    got = {c.tag.replace(S3_NS, ""): c.text for c in root}
    assert got["Bucket"] == bucket
    assert got["Key"] == "in/x.bin"
    assert got["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert got["Location"] == f"{env.gw.endpoint}/{bucket}/in/x.bin"


def test_success_action_redirect_answers_303_with_bucket_key_and_etag(env, bucket):
    target = "http://app.example/uploaded"
    s3 = env.client()
    url, form = presigned(s3, bucket, "r.txt", {"success_action_redirect": target},
                          [{"success_action_redirect": target}])  # fmt: skip
    r = post(url, form, b"redirected")
    assert r.status_code == 303, r.content
    etag = hashlib.md5(b"redirected").hexdigest()
    assert r.headers["Location"] == f"{target}?bucket={bucket}&key=r.txt&etag=%22{etag}%22"


def test_key_from_the_file_name(env, bucket):
    s3 = env.client()
    url, form = presigned(s3, bucket, "uploads/${filename}", conditions=[["starts-with", "$key", "uploads/"]])
    r = post(url, form, b"png bytes", filename="photo.png")
    assert r.status_code == 204, r.content
    assert env.root.get_object(Bucket=bucket, Key="uploads/photo.png")["Body"].read() == b"png bytes"


def test_starts_with_empty_allows_any_value_and_x_ignore_needs_no_condition(env, bucket):
    policy = b64_policy(bucket, [{"key": "k"}, ["starts-with", "$x-amz-meta-note", ""]])
    form = [("key", "k"), ("x-amz-meta-note", "anything at all"), ("x-ignore-trace", "1"),
            *sigv2_fields(env.gw.access_key, env.gw.secret_key, policy)]  # fmt: skip
    r = post(f"{env.gw.endpoint}/{bucket}", form)
    assert r.status_code == 204, r.content
    assert env.root.head_object(Bucket=bucket, Key="k")["Metadata"] == {"note": "anything at all"}


# --------------------------------------------------------------------------
# refused uploads


def test_content_length_range_refuses_and_keeps_the_previous_object(env, bucket):
    env.root.put_object(Bucket=bucket, Key="kept.txt", Body=b"previous")
    s3 = env.client()
    url, form = presigned(s3, bucket, "kept.txt", conditions=[["content-length-range", 10, 1024]])
    status, code, _ = error(post(url, form, os.urandom(4096)))
    assert (status, code) == (400, "EntityTooLarge")
    assert env.root.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"previous"
    status, code, _ = error(post(url, form, b"tiny"))
    assert (status, code) == (400, "EntityTooSmall")
    assert env.root.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"previous"
    r = post(url, form, b"just right")
    assert r.status_code == 204, r.content
    assert env.root.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"just right"


def test_expired_policy(env, bucket):
    policy = b64_policy(bucket, [{"key": "k"}], expires_in=-60)
    form = [("key", "k"), *sigv2_fields(env.gw.access_key, env.gw.secret_key, policy)]
    status, code, message = error(post(f"{env.gw.endpoint}/{bucket}", form))
    assert (status, code) == (403, "AccessDenied")
    assert message == "Invalid according to Policy: Policy expired."
    assert "Contents" not in env.root.list_objects_v2(Bucket=bucket)


def test_conditions_not_met(env, bucket):
    s3 = env.client()
    url, form = presigned(s3, bucket, "${filename}", conditions=[["starts-with", "$key", "uploads/"]])
    status, code, message = error(post(url, form, filename="elsewhere.txt"))
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith("Invalid according to Policy: Policy Condition failed"), message
    # A field no condition names.
    url, form = presigned(s3, bucket, "k")
    status, code, message = error(post(url, [*form, ("x-amz-meta-sneaky", "1")]))
    assert (status, code) == (403, "AccessDenied")
    assert "Extra input fields: x-amz-meta-sneaky" in message
    # Another bucket than the policy's.
    other = unique_bucket_name("post-other")
    env.root.create_bucket(Bucket=other)
    try:
        status, code, message = error(post(f"{env.gw.endpoint}/{other}", form))
        assert (status, code) == (403, "AccessDenied")
        assert "$bucket" in message
    finally:
        delete_bucket_fully(env.root, other)
    assert "Contents" not in env.root.list_objects_v2(Bucket=bucket)


def test_invalid_policy_documents(env, bucket):
    for doc in ({"conditions": []}, {"expiration": "2030-01-01 00:00:00", "conditions": []},
                {"expiration": "2030-01-01T00:00:00Z"},
                {"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5]]}):  # fmt: skip
        policy = base64.b64encode(json.dumps(doc).encode()).decode()
        form = [("key", "k"), *sigv2_fields(env.gw.access_key, env.gw.secret_key, policy)]
        status, code, _ = error(post(f"{env.gw.endpoint}/{bucket}", form))
        assert (status, code) == (400, "InvalidPolicyDocument"), doc


def test_missing_fields(env, bucket):
    s3 = env.client()
    url, form = presigned(s3, bucket, "k")
    without = lambda name: [(n, v) for n, v in form if n != name]  # noqa: E731
    for name in ("x-amz-signature", "x-amz-credential", "x-amz-date", "policy"):
        status, code, message = error(post(url, without(name)))
        assert (status, code) == (400, "InvalidArgument"), name
        assert f"'{name}'" in message, message
    status, code, message = error(post(url, without("key")))
    assert (status, code) == (400, "InvalidArgument")
    assert "'key'" in message
    status, code, _ = error(post(url, form, content=None))
    assert (status, code) == (400, "InvalidArgument")
    # SigV2 without its signature.
    url, form = presigned(env.client(sigv4=False), bucket, "k")
    status, code, message = error(post(url, [(n, v) for n, v in form if n != "signature"]))
    assert (status, code) == (400, "InvalidArgument")
    assert "'signature'" in message


def test_wrong_signatures_and_keys(env, bucket):
    for sigv4 in (True, False):
        url, form = presigned(env.client(sigv4=sigv4), bucket, "k")
        sig_name = "x-amz-signature" if sigv4 else "signature"
        tampered = [(n, ("0" * 64 if sigv4 else "AAAAAAAAAAAAAAAAAAAAAAAAAAA=") if n == sig_name else v)
                    for n, v in form]  # fmt: skip
        assert error(post(url, tampered))[:2] == (403, "SignatureDoesNotMatch")
        # Signed with another secret.
        url, form = presigned(env.client(secret="not-the-secret", sigv4=sigv4), bucket, "k")
        assert error(post(url, form))[:2] == (403, "SignatureDoesNotMatch")
        url, form = presigned(env.client(access="NOSUCHKEY", sigv4=sigv4), bucket, "k")
        assert error(post(url, form))[:2] == (403, "InvalidAccessKeyId")
    assert "Contents" not in env.root.list_objects_v2(Bucket=bucket)


def test_user_policy_decides_like_put_object(env, bucket):
    scoped = env.client(access="scoped", secret=env.scoped_secret)
    url, form = presigned(scoped, bucket, "uploads/mine.txt")
    r = post(url, form, b"allowed")
    assert r.status_code == 204, r.content
    assert env.root.get_object(Bucket=bucket, Key="uploads/mine.txt")["Body"].read() == b"allowed"
    url, form = presigned(scoped, bucket, "private/theirs.txt")
    status, code, message = error(post(url, form))
    assert (status, code, message) == (403, "AccessDenied", "Access Denied")
    assert [o["Key"] for o in env.root.list_objects_v2(Bucket=bucket)["Contents"]] == ["uploads/mine.txt"]


@pytest.mark.parametrize("sigv4", [True, False], ids=["sigv4", "sigv2"])
def test_session_credentials_sign_forms_with_their_token(env, bucket, sigv4):
    c = env.session_credentials()
    s3 = env.client(c["AccessKeyId"], c["SecretAccessKey"], sigv4=sigv4, token=c["SessionToken"])
    url, form = presigned(s3, bucket, "uploads/from-a-session.txt")
    assert dict(form)["x-amz-security-token"] == c["SessionToken"]
    r = post(url, form, b"session upload")
    assert r.status_code == 204, r.content
    assert env.root.get_object(Bucket=bucket, Key="uploads/from-a-session.txt")["Body"].read() == b"session upload"
    # The role's policy applies.
    url, form = presigned(s3, bucket, "elsewhere.txt")
    assert error(post(url, form))[:2] == (403, "AccessDenied")
    # Without its token the key is unknown; with a token altered, refused.
    url, form = presigned(s3, bucket, "uploads/x.txt")
    without = [(n, v) for n, v in form if n != "x-amz-security-token"]
    assert error(post(url, without))[:2] == (403, "InvalidAccessKeyId")
    token = c["SessionToken"]
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    forged = [(n, altered if n == "x-amz-security-token" else v) for n, v in form]
    assert error(post(url, forged))[:2] == (403, "InvalidToken")


def test_anonymous_form_needs_a_bucket_policy(env, bucket):
    url = f"{env.gw.endpoint}/{bucket}"
    form = [("key", "inbox/a.txt"), ("Content-Type", "text/plain")]
    status, code, _ = error(post(url, form))
    assert (status, code) == (403, "AccessDenied")
    env.root.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{bucket}/inbox/*"}],
    }))  # fmt: skip
    r = post(url, form, b"dropped off")
    assert r.status_code == 204, r.content
    head = env.root.head_object(Bucket=bucket, Key="inbox/a.txt")
    assert head["ContentType"] == "text/plain"
    status, code, _ = error(post(url, [("key", "elsewhere.txt")]))
    assert (status, code) == (403, "AccessDenied")


def test_not_a_form_and_malformed_forms(env, bucket):
    url = f"{env.gw.endpoint}/{bucket}"
    r = requests.post(url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=30)
    assert error(r)[:2] == (412, "PreconditionFailed")
    r = requests.post(url, data=b"--b\r\nnot headers at all", headers={"Content-Type": "multipart/form-data; boundary=b"},
                      timeout=30)  # fmt: skip
    assert error(r)[:2] == (400, "MalformedPOSTRequest")
    # More than S3's 20 KB of fields before the file.
    form = [("key", "k"), ("x-ignore-pad", "x" * (21 * 1024))]
    assert error(post(url, form))[:2] == (400, "MaxPostPreDataLengthExceededError")


def test_a_request_signature_on_a_form(env, bucket):
    """A form may instead be sent as a SigV4-signed request (no form
    signature): only with UNSIGNED-PAYLOAD, as a hash of the whole body
    could only be checked after the file was stored."""
    boundary = "xyzzy"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nsigned.txt\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
            f"by the request\r\n--{boundary}--\r\n").encode()  # fmt: skip
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = signed_request(env.gw, "POST", f"/{bucket}", headers, body)
    assert (r.status, r.code) == (400, "InvalidRequest"), r
    r = signed_request(env.gw, "POST", f"/{bucket}", {**headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, body,
                       payload_hash="UNSIGNED-PAYLOAD")  # fmt: skip
    assert r.status == 204, r
    assert env.root.get_object(Bucket=bucket, Key="signed.txt")["Body"].read() == b"by the request"


def test_cors_headers_on_the_answer(env, bucket):
    env.root.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://app.example"], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag"]}]})  # fmt: skip
    url, form = presigned(env.client(), bucket, "c.txt")
    r = post(url, form, headers={"Origin": "http://app.example"})
    assert r.status_code == 204, r.content
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]


# --------------------------------------------------------------------------
# a large file streams through


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@pytest.mark.slow
def test_64mib_file_streams_through_without_growing_memory(env, bucket):
    size = 64 * MIB
    url, form = presigned(env.client(), bucket, "big.bin", conditions=[["content-length-range", 0, size]])
    boundary = "----blobgatepost" + os.urandom(8).hex()
    md5 = hashlib.md5()
    block = os.urandom(MIB)

    def body():
        for name, value in form:
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
        for i in range(size // MIB):
            chunk = i.to_bytes(4, "big") + block[4:]
            md5.update(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    pid = env.gw.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM)
    rss_before = _status_kib(pid, "VmRSS")
    # A generator body goes out chunked: the gateway does not know its length.
    r = requests.post(url, data=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                      timeout=300)  # fmt: skip
    assert r.status_code == 204, r.content
    grown = _status_kib(pid, "VmHWM") - rss_before
    # Held whole, the file alone would take 64 MiB.
    assert grown < 48 * 1024, f"gateway peak RSS rose by {grown // 1024} MiB during a 64 MiB POST"
    assert r.headers["ETag"] == f'"{md5.hexdigest()}"'
    head = env.root.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == size


# --------------------------------------------------------------------------
# a real browser


def form_page(action: str, fields: list[tuple[str, str]]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(n)}" value="{html.escape(v)}">' for n, v in fields
    )
    return (
        "<!doctype html><html lang=en><head><title>upload</title></head><body>"
        f'<form id="f" action="{html.escape(action)}" method="post" enctype="multipart/form-data">'
        f'{inputs}<label>File <input id="file" type="file" name="file"></label>'
        '<button id="send" type="submit">Upload</button></form></body></html>'
    )


FETCH_FORM = """
const [url, fields, done] = arguments;
const data = new FormData();
for (const [n, v] of fields) data.append(n, v);
data.append('file', new Blob(['sent by fetch'], {type: 'text/plain'}), 'fetched.txt');
fetch(url, {method: 'POST', body: data})
  .then(r => done(r.status + ' etag=' + r.headers.get('ETag')))
  .catch(e => done('blocked: ' + e.name));
"""


def test_chromium_posts_a_form_and_follows_the_redirect(env, bucket, tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "done.html").write_text("<!doctype html><title>done</title><p id=done>uploaded</p>")
    chosen = tmp_path / "report.csv"
    chosen.write_bytes(b"a,b\n1,2\n")
    driver = browser.chromium(tmp_path / "downloads")
    try:
        with browser.serve_static(site_dir) as site:
            done = f"{site}/done.html"
            s3 = env.client()
            url, fields = presigned(s3, bucket, "reports/${filename}",
                                    {"success_action_redirect": done, "Content-Type": "text/csv"},
                                    [["starts-with", "$key", "reports/"], {"success_action_redirect": done},
                                     {"Content-Type": "text/csv"}, ["content-length-range", 1, 1024]])  # fmt: skip
            (site_dir / "index.html").write_text(form_page(url, fields))
            driver.get(f"{site}/index.html")
            browser.upload_files(driver, driver.find_element("id", "file"), [chosen])
            driver.find_element("id", "send").click()
            browser_wait(driver, lambda d: d.current_url.startswith(done))
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
            etag = hashlib.md5(chosen.read_bytes()).hexdigest()
            assert query == {"bucket": [bucket], "key": ["reports/report.csv"], "etag": [f'"{etag}"']}
            got = env.root.get_object(Bucket=bucket, Key="reports/report.csv")
            assert got["Body"].read() == chosen.read_bytes()
            assert got["ContentType"] == "text/csv"

            # From JavaScript: a form post needs no preflight, so the browser
            # sends it (the signed policy is what guards the bucket), but it
            # keeps the answer from the page until a CORS rule allows its origin.
            url, fields = presigned(s3, bucket, "reports/fetched.txt")
            driver.get(f"{site}/index.html")
            assert driver.execute_async_script(FETCH_FORM, url, fields) == "blocked: TypeError"
            assert env.root.get_object(Bucket=bucket, Key="reports/fetched.txt")["Body"].read() == b"sent by fetch"
            env.root.delete_object(Bucket=bucket, Key="reports/fetched.txt")
            env.root.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
                {"AllowedOrigins": [site], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag"]}]})  # fmt: skip
            etag = hashlib.md5(b"sent by fetch").hexdigest()
            assert driver.execute_async_script(FETCH_FORM, url, fields) == f'204 etag="{etag}"'
            assert env.root.get_object(Bucket=bucket, Key="reports/fetched.txt")["Body"].read() == b"sent by fetch"
    finally:
        driver.quit()


def browser_wait(driver, condition, timeout: float = 20) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(condition)

"""Shared helpers for the end-to-end suite: raw signed HTTP, aws-chunked
bodies, checksums, S3 error parsing and a reference listing model.

Raw requests go through http.client so that the request line, the headers and
the body are exactly what the test says (no URL normalisation, no automatic
Content-Length), and they are signed with botocore's own SigV4 signer.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import http.client
import re
import secrets
import string
import subprocess
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Iterable
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclasses.dataclass
class Gateway:
    endpoint: str  # http://127.0.0.1:PORT
    host: str
    port: int
    access_key: str
    secret_key: str
    region: str
    domain: str | None  # virtual-host domain (bucket.DOMAIN), None if unknown
    data_dir: Path | None  # fs backend data dir; None for other backends / external
    jail: Path | None  # ancestor dir of data_dir that escape tests may watch
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no gateway log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


# --------------------------------------------------------------------------
# names


def unique_bucket_name(hint: str = "t") -> str:
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-") or "t"
    suffix = secrets.token_hex(4)
    return f"bg-{hint[: 63 - 4 - len(suffix) - 1]}-{suffix}".replace("--", "-")


def random_credentials() -> tuple[str, str]:
    access = "AK" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))
    # Real AWS secrets contain '/' and '+': keep them in.
    alphabet = string.ascii_letters + string.digits + "/+"
    secret = "".join(secrets.choice(alphabet) for _ in range(40))
    return access, secret


# --------------------------------------------------------------------------
# checksums (pure Python, so no awscrt is needed)


def _reflected_table(poly: int, width: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _reflected_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5, 64)


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc64nvme(data: bytes) -> int:
    m = 0xFFFFFFFFFFFFFFFF
    c = m
    t = _CRC64NVME_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ m


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The value S3 puts in x-amz-checksum-<algorithm> for `data`."""
    algorithm = algorithm.upper()
    if algorithm == "CRC32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        raw = crc32c(data).to_bytes(4, "big")
    elif algorithm == "CRC64NVME":
        raw = crc64nvme(data).to_bytes(8, "big")
    elif algorithm == "SHA1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "SHA256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(algorithm)
    return base64.b64encode(raw).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


# --------------------------------------------------------------------------
# raw HTTP


@dataclasses.dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def error(self) -> dict[str, str]:
        return parse_error(self.body)

    @property
    def code(self) -> str | None:
        return self.error.get("Code")

    def __repr__(self) -> str:  # shows up in assertion messages
        return f"<RawResponse {self.status} {self.body[:400]!r}>"


def send_raw(
    gw: Gateway,
    method: str,
    target: str,
    headers: dict[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    timeout: float = 30,
) -> RawResponse:
    """Send exactly this request line, these headers and this body."""
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else headers
        for k, v in items:
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read() if method != "HEAD" else b""
        return RawResponse(resp.status, resp.headers, data)
    finally:
        conn.close()


def request_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    """The request line and header block of an HTTP/1.1 request, as sent."""
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response_head(sock, timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    """Read a response's status and headers from a raw socket; also return the
    body bytes that arrived with them."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0] else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def read_until_closed(sock, limit: float) -> tuple[bytes, float]:
    """Read until the peer closes (or resets); return the bytes and the seconds it took."""
    start = time.monotonic()
    data = b""
    sock.settimeout(limit)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


class _Signer(S3SigV4Auth):
    def __init__(self, creds, region, when=None, payload_hash=None):
        super().__init__(creds, "s3", region)
        self._when = when
        self._payload_hash = payload_hash

    def payload(self, request):
        if self._payload_hash is not None:
            return self._payload_hash
        return super().payload(request)

    def add_auth(self, request):
        if self._when is None:
            return super().add_auth(request)
        with mock.patch("botocore.auth.get_current_datetime", return_value=self._when):
            return super().add_auth(request)


def sign(
    gw: Gateway,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    payload_hash: str | None = None,
    when: dt.datetime | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    host: str | None = None,
) -> dict[str, str]:
    """SigV4-sign a request (botocore's S3 signer) and return all headers to send.

    `target` is the request target exactly as it goes on the wire (already
    percent-encoded path plus optional ?query). `when` is a naive UTC datetime
    used as the signing time. Header names are kept as given.
    """
    headers = dict(headers or {})
    headers.setdefault("Host", host or gw.netloc)
    url = f"http://{headers['Host']}{target}"
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    creds = Credentials(access_key or gw.access_key, secret_key or gw.secret_key)
    _Signer(creds, gw.region, when=when, payload_hash=payload_hash).add_auth(req)
    return dict(req.headers.items())


def signed_request(
    gw: Gateway,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    content_length: bool = True,
    send_body: bytes | None = None,
    timeout: float = 30,
    **sign_kwargs,
) -> RawResponse:
    """Sign and send. `send_body` replaces the body after signing (tampering)."""
    headers = dict(headers or {})
    if content_length and method in ("PUT", "POST"):
        headers.setdefault("Content-Length", str(len(body)))
    signed = sign(gw, method, target, headers, body, **sign_kwargs)
    return send_raw(gw, method, target, signed, body if send_body is None else send_body, timeout)


# --------------------------------------------------------------------------
# aws-chunked bodies


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def chunk_signatures(
    key: bytes, amz_date: str, scope: str, seed: str, chunks: list[bytes]
) -> list[str]:
    """Signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunks (incl. the final empty one)."""
    sigs = []
    prev = seed
    for chunk in chunks:
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                scope,
                prev,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        sigs.append(prev)
    return sigs


def trailer_signature(key: bytes, amz_date: str, scope: str, prev: str, trailer: bytes) -> str:
    """`trailer` is the trailing header lines joined with '\\n' (each line ends in '\\n')."""
    sts = "\n".join(
        ["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev, hashlib.sha256(trailer).hexdigest()]
    )
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def split_chunks(data: bytes, chunk_size: int) -> list[bytes]:
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


def signed_streaming_put(
    gw: Gateway,
    target: str,
    data: bytes,
    *,
    chunk_size: int = 64 * 1024,
    trailer: tuple[str, str] | None = None,
    corrupt_chunk: int | None = None,
    extra_headers: dict[str, str] | None = None,
) -> RawResponse:
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] (what mc / minio-go /
    the Java SDK send over plain HTTP). `corrupt_chunk` flips one signature."""
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        **(extra_headers or {}),
    }
    mode = STREAMING_SIGNED
    if trailer:
        mode = STREAMING_SIGNED_TRAILER
        headers["X-Amz-Trailer"] = trailer[0]
    chunks = split_chunks(data, chunk_size) + [b""]

    def encoded_len() -> int:
        n = 0
        for c in chunks:
            n += len(f"{len(c):x};chunk-signature={'0' * 64}\r\n") + len(c) + 2
        if trailer:
            n -= 2  # final chunk header is followed directly by the trailer
            n += len(f"{trailer[0]}:{trailer[1]}\r\n")
            n += len(f"x-amz-trailer-signature:{'0' * 64}\r\n") + 2
        return n

    headers["Content-Length"] = str(encoded_len())
    signed = sign(gw, "PUT", target, headers, b"", payload_hash=mode)
    amz_date = signed["X-Amz-Date"]
    seed = re.search(r"Signature=([0-9a-f]{64})", signed["Authorization"]).group(1)
    scope = f"{amz_date[:8]}/{gw.region}/s3/aws4_request"
    key = signing_key(gw.secret_key, amz_date[:8], gw.region)
    sigs = chunk_signatures(key, amz_date, scope, seed, chunks)
    if corrupt_chunk is not None:
        s = sigs[corrupt_chunk]
        sigs[corrupt_chunk] = ("0" if s[0] != "0" else "1") + s[1:]
    out = bytearray()
    for c, s in zip(chunks, sigs):
        out += f"{len(c):x};chunk-signature={s}\r\n".encode()
        out += c
        if c or not trailer:
            out += b"\r\n"
    if trailer:
        line = f"{trailer[0]}:{trailer[1]}".encode()
        out += line + b"\r\n"
        tsig = trailer_signature(key, amz_date, scope, sigs[-1], line + b"\n")
        out += f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    assert len(out) == int(headers["Content-Length"]), (len(out), headers["Content-Length"])
    return send_raw(gw, "PUT", target, signed, bytes(out))


def unsigned_trailer_put(
    gw: Gateway,
    target: str,
    data: bytes,
    trailer: tuple[str, str],
    *,
    chunk_size: int = 64 * 1024,
) -> RawResponse:
    """PUT with STREAMING-UNSIGNED-PAYLOAD-TRAILER, byte for byte what botocore
    (boto3, aws CLI) sends over HTTPS with its default CRC32 checksum."""
    out = bytearray()
    for c in split_chunks(data, chunk_size):
        out += f"{len(c):x}\r\n".encode() + c + b"\r\n"
    out += f"0\r\n{trailer[0]}:{trailer[1]}\r\n\r\n".encode()
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": trailer[0],
        "Content-Length": str(len(out)),
    }
    signed = sign(gw, "PUT", target, headers, b"", payload_hash=STREAMING_UNSIGNED_TRAILER)
    return send_raw(gw, "PUT", target, signed, bytes(out))


# --------------------------------------------------------------------------
# S3 XML


def parse_error(body: bytes) -> dict[str, str]:
    """Children of an S3 <Error> document as a dict ({} if not one)."""
    if not body:
        return {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return {}
    if root.tag.replace(S3_NS, "") != "Error":
        return {}
    return {child.tag.replace(S3_NS, ""): (child.text or "") for child in root}


def xml_findall_text(body: bytes, path: str) -> list[str]:
    """Text of elements at `path` (slash separated local names), namespace-agnostic."""
    root = ET.fromstring(body)
    nodes = [root]
    for part in path.split("/"):
        nodes = [c for n in nodes for c in n if c.tag.replace(S3_NS, "") == part]
    return [n.text or "" for n in nodes]


def client_error(exc) -> tuple[int, str]:
    """(HTTP status, S3 error code) of a botocore ClientError."""
    r = exc.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r.get("Error", {}).get("Code", "")


def error_of(call, **kwargs) -> tuple[int, str]:
    """(HTTP status, S3 error code) of the ClientError `call(**kwargs)` must raise."""
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as e:
        return client_error(e)
    raise AssertionError(f"{getattr(call, '__name__', call)} succeeded; an error was expected")


# --------------------------------------------------------------------------
# reference model of ListObjects(V2)


def utf8_sorted(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def reference_entries(
    keys: Iterable[str], prefix: str = "", delimiter: str = "", after: str = ""
) -> list[tuple[str, bool]]:
    """All entries (name, is_common_prefix) S3 returns, in order, for an unlimited listing."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    after_b = after.encode()
    for k in utf8_sorted(keys):
        if not k.startswith(prefix) or (after and k.encode() <= after_b):
            continue
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                cp = k[: i + len(delimiter)]
                if (after and cp.encode() <= after_b) or cp in seen:
                    continue
                seen.add(cp)
                out.append((cp, True))
                continue
        out.append((k, False))
    return out


def run_select(s3, bucket, key, sql, input_ser, output_ser=None, **extra):
    """Run an S3 Select query with boto3; return (records bytes, the Stats
    event's details or None, whether End came)."""
    resp = s3.select_object_content(
        Bucket=bucket,
        Key=key,
        ExpressionType="SQL",
        Expression=sql,
        InputSerialization=input_ser,
        OutputSerialization=output_ser or {"CSV": {}},
        **extra,
    )
    records, stats, end = b"", None, False
    for event in resp["Payload"]:
        if "Records" in event:
            records += event["Records"]["Payload"]
        elif "Stats" in event:
            stats = event["Stats"]["Details"]
        elif "End" in event:
            end = True
    return records, stats, end

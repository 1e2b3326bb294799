#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into fuzz/corpus/TARGET/.

The seeds are real inputs where the target reads raw bytes: the queries of
the S3 Select test files (sql/tests/select/*.slt), request documents and
policies of the kinds the e2e suite sends, and requests as clients sign
them. Structure-aware targets read their input through `arbitrary`, so any
bytes are a valid start; they get a few fixed pseudo-random inputs (a
stable seed, so rerunning this script changes nothing). Each raw seed
starts with byte 0x01: the targets take an odd first byte to mean "raw".

    python3 fuzz/seeds.py        # rewrite the seeds (libFuzzer's own finds stay)
"""
import base64
import glob
import hashlib
import json
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def write(target, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def raw(target, data):
    write(target, b"\x01" + (data if isinstance(data, bytes) else data.encode()))


rng = random.Random(20)
for target in ["sigv4_agreement", "chunked", "policy", "jwt", "session_token", "post_policy", "json_records", "xml"]:
    for i in range(8):
        data = bytearray(rng.randbytes(rng.choice([64, 256, 1024])))
        if target != "sigv4_agreement" and target != "json_records":
            data[0] &= 0xFE  # structured
        write(target, bytes(data))

# SigV4 requests, field per line: method, target, Authorization, x-amz-date,
# x-amz-content-sha256, one more header.
auth = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240102/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "ab" * 32)
for method, tgt, extra in [
    ("GET", "bucket/key", "range:bytes=0-9"),
    ("PUT", "bucket/a%20b?partNumber=1&uploadId=xyz", "content-md5:1B2M2Y8AsgTpgAmY7PhCfg=="),
    ("GET", "bucket?list-type=2&prefix=a%2F&delimiter=%2F", "x-amz-security-token:BGS1abc"),
    ("POST", "bucket?delete", "content-type:application/xml"),
    ("GET", "bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240102T030405Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "cd" * 32, ""),
    ("GET", "bucket/key?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1704168245&Signature=abc%2Bdef%3D", ""),
]:
    write("sigv4_parse", "\n".join([method, tgt, auth, "20240102T030405Z", "UNSIGNED-PAYLOAD", extra]).encode())
write("sigv4_parse", b"PUT\nbucket/key\nAWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=\n\nSTREAMING-AWS4-HMAC-SHA256-PAYLOAD\ndate:Tue, 02 Jan 2024 03:04:05 GMT")

# aws-chunked bodies, raw (selector odd).
write("chunked", b"\x01" + b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n")
write("chunked", b"\x01" + b"fffffffffffffff\r\nab\r\n")

policies = [
    {"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket", "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}}}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::bucket/*", "Condition": {"StringEquals": {"s3:ExistingObjectTag/team": "stats", "s3:RequestObjectTag/team": "stats"}, "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["team", "year"]}}}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": "arn:aws:s3:::secret/*", "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}, "StringLikeIfExists": {"aws:Referer": "http://127.0.0.1:*/*"}, "NumericLessThanEquals": {"s3:max-keys": "100"}}}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "https://127.0.0.1:8443/realms/stats"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"jwt:aud": "blobgate"}, "ForAnyValue:StringLike": {"jwt:groups": "stats-*"}}}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/${jwt:sub}/*", "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}, "Null": {"s3:x-amz-copy-source": "true"}, "StringEquals": {"s3:x-amz-metadata-directive": "COPY"}}}]},
]
for p in policies:
    raw("policy", json.dumps(p))
raw("policy", '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "Version": "2008-10-17"}')

xml_docs = [
    '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a b</Key><VersionId>null</VersionId></Object><Object><Key> lead &amp; trail </Key></Object><Quiet>true</Quiet></Delete>',
    '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag><ChecksumCRC32>NhCmhg==</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag></Part></CompleteMultipartUpload>',
    '<Tagging><TagSet><Tag><Key>team</Key><Value>stats</Value></Tag><Tag><Key>year</Key><Value>2025</Value></Tag></TagSet></Tagging>',
    '<CORSConfiguration><CORSRule><ID>web</ID><AllowedOrigin>http://127.0.0.1:*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>',
    '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>',
    '<SelectObjectContentRequest><Expression>SELECT s._1 FROM S3Object s WHERE s._2 &gt; \'1\'</Expression><ExpressionType>SQL</ExpressionType><InputSerialization><CSV><FileHeaderInfo>NONE</FileHeaderInfo><RecordDelimiter>&#13;&#10;</RecordDelimiter></CSV><CompressionType>NONE</CompressionType></InputSerialization><OutputSerialization><JSON/></OutputSerialization><ScanRange><Start>0</Start><End>100</End></ScanRange></SelectObjectContentRequest>',
    '<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>x</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>',
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Tagging><TagSet><Tag><Key>&lol2;</Key><Value><![CDATA[<raw>]]></Value></Tag></TagSet></Tagging>',
    "<a>" * 40 + "</a>" * 40,
]
for d in xml_docs:
    raw("xml", d)

for path in sorted(glob.glob(os.path.join(root, "sql", "tests", "select", "**", "*.slt"), recursive=True)):
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("query") or line.startswith("statement error"):
            q = []
            for l in lines[i + 1:]:
                if l.startswith("----") or l == "":
                    break
                q.append(l)
            if q:
                write("select_sql", "\n".join(q).encode())

now = 1704164645
for policy in [
    {"expiration": "2024-01-03T00:00:00.000Z", "conditions": [{"bucket": "bucket"}, ["starts-with", "$key", "uploads/"], {"acl": "private"}, ["content-length-range", 0, 1048576], {"success_action_status": "201"}, ["starts-with", "$Content-Type", "image/"]]},
    {"expiration": "2024-01-03T00:00:00Z", "conditions": [["eq", "$bucket", "bucket"], ["eq", "$key", "a/${filename}"], {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20240102/us-east-1/s3/aws4_request"}, {"x-amz-date": "20240102T030405Z"}]},
]:
    raw("post_policy", base64.b64encode(json.dumps(policy).encode()))

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
hdr = b64u(json.dumps({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}).encode())
body = b64u(json.dumps({"iss": "https://127.0.0.1:8443/realms/stats", "aud": "blobgate", "sub": "alice", "exp": now + 600, "groups": ["stats"]}).encode())
raw("jwt", f"{hdr}.{body}.{b64u(bytes(64))}")
raw("jwt", f"{b64u(json.dumps({'alg': 'none'}).encode())}.{body}." + "\x00" + json.dumps({"keys": [{"kty": "RSA", "n": b64u(bytes(256)), "e": "AQAB"}]}))
raw("session_token", "BGS1" + b64u(bytes(80)))

for i, records in enumerate([
    b'{ "Rules": [ {"id": "1"}, {"expr": "y > x"}, {"id": "2", "expr": "z = DEST"} ]}\n{ "created": "June 27", "modified": "July 6" }\n',
    b'{"items": [{"a": 1, "b": null}, {"b": [1, 2, {"c": "\\u00e9"}]}]} {"items": []}',
    b'[{"a": {"x": 1, "y": [true, false]}}, {"a": [0, 1, 2]}]',
]):
    write("json_records", bytes([i]) + b"\x00\x00\x00" + records)

"""kill -9 of a gateway in the middle of a single PUT and of a multipart
upload: after a restart no partial object is visible, the previous object
is intact, and the multipart upload can still be completed or aborted."""

import os
import socket
import time

import pytest
from botocore.exceptions import ClientError

from conftest import backend_config, make_s3_client, start_gateway, stop_gateway, suite_backend
from e2e_util import client_error, random_credentials, request_head, sign, unique_bucket_name

MiB = 1024 * 1024


def start_partial_put(gw, bucket: str, key: str, total: int, sent: bytes) -> socket.socket:
    """Begin a PUT of `total` bytes and send only `sent`."""
    target = f"/{bucket}/{key}"
    headers = sign(gw, "PUT", target, {"Content-Length": str(total)}, payload_hash="UNSIGNED-PAYLOAD")
    sock = socket.create_connection((gw.host, gw.port), timeout=10)
    sock.sendall(request_head("PUT", target, headers))
    sock.sendall(sent)
    return sock


def kill_hard(gw) -> None:
    gw.proc.kill()  # SIGKILL: no cleanup in the gateway
    gw.proc.wait(timeout=10)
    stop_gateway(gw)


@pytest.fixture
def crashable(tmp_path):
    """A gateway of our own (fs: own data dir; azure: the same account) that
    can be killed and restarted on the same storage with the same keys."""
    creds = random_credentials()
    cfg = backend_config(suite_backend(), tmp_path)
    gw = start_gateway(tmp_path, cfg=cfg, credentials=creds)
    state = {"gw": gw}

    def restart():
        kill_hard(state["gw"])
        state["gw"] = start_gateway(tmp_path, cfg=cfg, credentials=creds)
        return state["gw"], make_s3_client(state["gw"])

    yield gw, make_s3_client(gw), restart
    if state["gw"].proc.poll() is None:
        stop_gateway(state["gw"])


def test_kill_during_single_put(crashable):
    gw, s3, restart = crashable
    bucket = unique_bucket_name("crashput")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"previous version")
    # 40 MiB announced, 24 MiB sent: on azure that is several staged blocks.
    sock = start_partial_put(gw, bucket, "obj", 40 * MiB, os.urandom(24 * MiB))
    time.sleep(1.0)
    gw, s3 = restart()
    sock.close()
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"previous version"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["obj"]
    # A new key that never completed does not appear.
    sock = start_partial_put(gw, bucket, "fresh", 20 * MiB, os.urandom(10 * MiB))
    time.sleep(0.5)
    gw, s3 = restart()
    sock.close()
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="fresh")
    assert client_error(e.value)[0] == 404
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["obj"]


def test_kill_during_multipart(crashable):
    gw, s3, restart = crashable
    bucket = unique_bucket_name("crashmpu")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"previous version")
    up = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    part1 = os.urandom(5 * MiB)
    e1 = s3.upload_part(Bucket=bucket, Key="obj", UploadId=up, PartNumber=1, Body=part1)["ETag"]
    # Part 2 is cut off half-way by the crash.
    target = f"/{bucket}/obj?partNumber=2&uploadId={up}"
    headers = sign(gw, "PUT", target, {"Content-Length": str(20 * MiB)}, payload_hash="UNSIGNED-PAYLOAD")
    sock = socket.create_connection((gw.host, gw.port), timeout=10)
    sock.sendall(request_head("PUT", target, headers))
    sock.sendall(os.urandom(12 * MiB))
    time.sleep(1.0)
    gw, s3 = restart()
    sock.close()
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"previous version"
    parts = s3.list_parts(Bucket=bucket, Key="obj", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, e1)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    # The upload goes on after the restart and completes.
    part2 = b"the rest"
    e2 = s3.upload_part(Bucket=bucket, Key="obj", UploadId=up, PartNumber=2, Body=part2)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == part1 + part2
    # A second upload interrupted by a crash can be aborted afterwards.
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="obj", UploadId=up2, PartNumber=1, Body=b"x" * 1024)
    gw, s3 = restart()
    s3.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=up2)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == part1 + part2
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

"""CORS for buckets: PutBucketCors / GetBucketCors / DeleteBucketCors
through boto3, preflights and response headers as S3 answers them, and the
judge, a real Chromium: a page on another loopback origin reads an object
through a presigned URL and uploads with a presigned PUT, allowed by one
rule and refused without it.
"""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

import browser
from e2e_util import error_of

RULES = {
    "CORSRules": [
        {"ID": "dashboards", "AllowedOrigins": ["http://127.0.0.1:*"], "AllowedMethods": ["GET", "PUT", "HEAD"],
         "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
    ]
}  # fmt: skip


def test_cors_configuration_round_trip_and_validation(s3, bucket):
    assert error_of(s3.get_bucket_cors, Bucket=bucket) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["ID"] == "dashboards" and got[0]["AllowedOrigins"] == ["http://127.0.0.1:*"]
    assert got[0]["AllowedMethods"] == ["GET", "PUT", "HEAD"] and got[0]["MaxAgeSeconds"] == 600
    assert got[1] == {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
    assert error_of(s3.put_bucket_cors, Bucket=bucket, CORSConfiguration=bad) == (400, "InvalidRequest")
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["ID"] == "dashboards"  # kept
    s3.delete_bucket_cors(Bucket=bucket)
    assert error_of(s3.get_bucket_cors, Bucket=bucket) == (404, "NoSuchCORSConfiguration")


def test_preflights_and_response_headers(s3, gateway, bucket):
    s3.put_object(Bucket=bucket, Key="data.json", Body=b'{"a": 1}')
    url = f"{gateway.endpoint}/{bucket}/data.json"
    preflight = lambda **h: requests.options(url, headers=h, timeout=10)  # noqa: E731
    # No rules yet: refused.
    r = preflight(Origin="http://127.0.0.1:3000", **{"Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and "<Code>CORSResponse</Code>" in r.text
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = preflight(Origin="http://127.0.0.1:3000", **{"Access-Control-Request-Method": "PUT",
                                                    "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert r.headers["access-control-allow-methods"] == "GET, PUT, HEAD"
    assert r.headers["access-control-allow-headers"] == "Content-Type, X-Amz-Date"
    assert r.headers["access-control-max-age"] == "600"
    other = preflight(Origin="https://elsewhere.example", **{"Access-Control-Request-Method": "GET"})
    assert other.status_code == 403
    assert preflight(**{"Access-Control-Request-Method": "GET"}).status_code == 400  # no Origin
    # Actual requests: the allowed origin is named, on success and on errors.
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "data.json"})
    r = requests.get(presigned, headers={"Origin": "http://127.0.0.1:3000"}, timeout=10)
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert r.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    missing = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nope"})
    r = requests.get(missing, headers={"Origin": "http://127.0.0.1:3000"}, timeout=10)
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    r = requests.get(presigned, headers={"Origin": "https://elsewhere.example"}, timeout=10)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


PAGE = """<!doctype html><html><head><title>dashboard</title></head><body><p id="out">waiting</p></body></html>"""

READ_AND_WRITE = """
const [getUrl, putUrl, done] = arguments;
(async () => {
  const out = {};
  try {
    const r = await fetch(getUrl);
    out.get = r.status + ' ' + (await r.text()) + ' etag=' + r.headers.get('ETag');
  } catch (e) { out.get = 'blocked: ' + e.name; }
  try {
    const r = await fetch(putUrl, {method: 'PUT', body: 'from the dashboard', headers: {'Content-Type': 'text/plain'}});
    out.put = String(r.status);
  } catch (e) { out.put = 'blocked: ' + e.name; }
  done(out);
})();
"""


def test_a_page_on_another_origin_reads_and_writes_only_when_a_rule_allows_it(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="figures.json", Body=b'{"n": 42}')
    (tmp_path / "index.html").write_text(PAGE)
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "figures.json"})
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "upload.txt"})
    driver = browser.chromium(tmp_path / "downloads")
    try:
        with browser.serve_static(tmp_path) as site:
            driver.get(f"{site}/index.html")
            refused = driver.execute_async_script(READ_AND_WRITE, get_url, put_url)
            assert refused == {"get": "blocked: TypeError", "put": "blocked: TypeError"}, refused
            with pytest.raises(ClientError):
                s3.head_object(Bucket=bucket, Key="upload.txt")
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
            allowed = driver.execute_async_script(READ_AND_WRITE, get_url, put_url)
            etag = s3.head_object(Bucket=bucket, Key="figures.json")["ETag"]
            assert allowed == {"get": f'200 {{"n": 42}} etag={etag}', "put": "200"}, allowed
            assert s3.get_object(Bucket=bucket, Key="upload.txt")["Body"].read() == b"from the dashboard"
            errors = [e for e in browser.browser_errors(driver) if "CORS policy" not in e and "Failed to load" not in e
                      and "net::ERR_FAILED" not in e]  # fmt: skip
            assert not errors, json.dumps(errors)
    finally:
        driver.quit()

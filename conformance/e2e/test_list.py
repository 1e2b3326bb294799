"""ListObjects (v1) and ListObjectsV2: prefix, delimiter, paging, ordering,
encoding-type=url, fetch-owner. Expected results come from a small reference
model of S3 listing (e2e_util.reference_entries)."""

import concurrent.futures
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import suite_backend
from e2e_util import client_error, reference_entries, signed_request, unique_bucket_name, utf8_sorted, xml_findall_text

TREE = [
    "top.txt",
    "docs/readme",
    "docs/guide/intro.md",
    "photos/",
    "photos/x.jpg",
    "photos/2024/a.jpg",
    "photos/2024/b.jpg",
    "photos/2025/c.jpg",
    "photos/2025/sub/d.jpg",
    "photos2/e.jpg",
    "z-last",
]

# UTF-8 byte order differs from UTF-16 order (U+FF5A vs U+1F600) and from
# case-insensitive order ('B' < 'a').
ORDER_KEYS = ["a", "a-b", "a/b", "a0", "B", "é", "中", "ｚ", "😀", "~", "A", "0", "a b"]

MANY = 2500


@pytest.fixture(scope="module")
def tree(s3, module_bucket):
    for k in TREE:
        s3.put_object(Bucket=module_bucket, Key=k, Body=k.encode())
    return module_bucket


@pytest.fixture(scope="module")
def many(s3):
    name = unique_bucket_name("many")
    s3.create_bucket(Bucket=name)
    keys = [f"k/{i:05d}" for i in range(MANY)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=b""), keys))
    return name, keys


def _v2_all(s3, bucket, **kw):
    """Walk all pages; return (entries, pages)."""
    entries, pages = [], []
    token = None
    while True:
        args = dict(kw)
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(Bucket=bucket, **args)
        pages.append(page)
        entries += [(o["Key"], False) for o in page.get("Contents", [])]
        entries += [(p["Prefix"], True) for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        token = page["NextContinuationToken"]
        assert token
        assert len(pages) < 100, "paging does not terminate"
    return entries, pages


def _sorted_entries(entries):
    return sorted(entries, key=lambda e: e[0].encode())


def test_v2_basic(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree)
    assert resp["KeyCount"] == len(TREE)
    assert resp["IsTruncated"] is False
    assert resp["Name"] == tree
    assert resp["MaxKeys"] == 1000
    assert [o["Key"] for o in resp["Contents"]] == utf8_sorted(TREE)
    for o in resp["Contents"]:
        assert o["Size"] == len(o["Key"].encode())
        assert o["ETag"].startswith('"') and o["ETag"].endswith('"')
        assert o["StorageClass"] == "STANDARD"
        assert o["LastModified"]
        assert "Owner" not in o, "v2 returns Owner only with fetch-owner=true"


def test_v2_fetch_owner(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, FetchOwner=True)
    assert all(o.get("Owner", {}).get("ID") for o in resp["Contents"])


def test_v1_has_owner(s3, tree):
    resp = s3.list_objects(Bucket=tree)
    assert [o["Key"] for o in resp["Contents"]] == utf8_sorted(TREE)
    assert all(o.get("Owner", {}).get("ID") for o in resp["Contents"])


def test_utf8_binary_order(s3, bucket):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"."), ORDER_KEYS))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    if suite_backend() == "azure":
        # Azure lists in UTF-16 order; it differs from S3's UTF-8 order only
        # for characters beyond U+FFFF (README, "On Azure").
        expected = sorted(ORDER_KEYS, key=lambda k: k.encode("utf-16-be"))
        assert expected != utf8_sorted(ORDER_KEYS)  # the keys tell the orders apart
    else:
        expected = utf8_sorted(ORDER_KEYS)
    assert keys == expected
    # paging one key at a time keeps the same order
    entries, _ = _v2_all(s3, bucket, MaxKeys=1)
    assert [e[0] for e in entries] == expected


LISTINGS = [
    dict(),
    dict(Delimiter="/"),
    dict(Prefix="photos/", Delimiter="/"),
    dict(Prefix="photos/2", Delimiter="/"),
    dict(Prefix="photos"),
    dict(Prefix="photos", Delimiter="/"),
    dict(Prefix="photos/2024/"),
    dict(Prefix="nothing-here"),
    dict(Prefix="photos/", Delimiter="/", StartAfter="photos/"),
    dict(StartAfter="photos/2024/a.jpg"),
    dict(StartAfter="p"),
    dict(StartAfter="zzz"),
    dict(Delimiter="2"),
    dict(Delimiter=".jpg"),
    dict(Prefix="docs/", Delimiter="/", StartAfter="docs/guide/"),
]


def _id(case):
    return ",".join(f"{k}={v}" for k, v in case.items()) or "all"


def _ids(cases):
    return [_id(c) for c in cases]


@pytest.mark.parametrize("case", LISTINGS, ids=_ids(LISTINGS))
def test_v2_matches_reference(s3, tree, case):
    resp = s3.list_objects_v2(Bucket=tree, **case)
    expected = reference_entries(
        TREE, case.get("Prefix", ""), case.get("Delimiter", ""), case.get("StartAfter", "")
    )
    keys = [o["Key"] for o in resp.get("Contents", [])]
    prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
    assert keys == [n for n, cp in expected if not cp]
    assert prefixes == [n for n, cp in expected if cp]
    assert resp["KeyCount"] == len(expected)
    assert resp["IsTruncated"] is False
    assert resp.get("Prefix", "") == case.get("Prefix", "")
    if "Delimiter" in case:
        assert resp["Delimiter"] == case["Delimiter"]
    if "StartAfter" in case:
        assert resp["StartAfter"] == case["StartAfter"]


@pytest.mark.parametrize("max_keys", [1, 2, 3, 5])
@pytest.mark.parametrize("case", [dict(), dict(Delimiter="/"), dict(Prefix="photos/", Delimiter="/")], ids=_id)
def test_v2_paging_matches_reference(s3, tree, case, max_keys):
    entries, pages = _v2_all(s3, tree, MaxKeys=max_keys, **case)
    expected = reference_entries(TREE, case.get("Prefix", ""), case.get("Delimiter", ""))
    assert _sorted_entries(entries) == _sorted_entries(expected)
    assert len(entries) == len(set(entries)), "an entry was returned twice"
    for page in pages:
        n = len(page.get("Contents", [])) + len(page.get("CommonPrefixes", []))
        assert page["KeyCount"] == n <= max_keys
        if page["IsTruncated"]:
            assert n == max_keys


@pytest.mark.parametrize("max_keys", [1, 2, 4])
@pytest.mark.parametrize("case", [dict(), dict(Delimiter="/"), dict(Prefix="photos/", Delimiter="/")], ids=_id)
def test_v1_marker_paging(s3, tree, case, max_keys):
    entries, marker = [], None
    for _ in range(50):
        args = dict(case, MaxKeys=max_keys)
        if marker:
            args["Marker"] = marker
        page = s3.list_objects(Bucket=tree, **args)
        contents = [o["Key"] for o in page.get("Contents", [])]
        prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        entries += [(k, False) for k in contents] + [(p, True) for p in prefixes]
        assert len(contents) + len(prefixes) <= max_keys
        if marker:
            assert page["Marker"] == marker
        if not page["IsTruncated"]:
            break
        if "Delimiter" in case:
            # NextMarker is returned when a delimiter is given: the last key or prefix
            assert page["NextMarker"] == max(contents + prefixes, key=lambda s: s.encode())
        marker = page.get("NextMarker") or contents[-1]
    else:
        pytest.fail("v1 paging does not terminate")
    expected = reference_entries(TREE, case.get("Prefix", ""), case.get("Delimiter", ""))
    assert _sorted_entries(entries) == _sorted_entries(expected)
    assert len(entries) == len(set(entries))


def test_v2_max_keys_zero(s3, tree):
    resp = s3.list_objects_v2(Bucket=tree, MaxKeys=0)
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp and "CommonPrefixes" not in resp
    assert resp["MaxKeys"] == 0


def test_v2_pages_2500_keys(s3, many):
    name, keys = many
    entries, pages = _v2_all(s3, name)
    assert [len(p.get("Contents", [])) for p in pages] == [1000, 1000, 500]
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [e[0] for e in entries] == keys


def test_v2_max_keys_above_1000_is_capped(s3, many):
    name, keys = many
    resp = s3.list_objects_v2(Bucket=name, MaxKeys=5000)
    assert resp["KeyCount"] == 1000
    assert resp["IsTruncated"] is True
    assert [o["Key"] for o in resp["Contents"]] == keys[:1000]


def test_v2_continuation_token_is_reusable(s3, many):
    """Tokens carry their state (stateless replicas): using one twice gives the same page."""
    name, keys = many
    first = s3.list_objects_v2(Bucket=name, MaxKeys=700)
    token = first["NextContinuationToken"]
    a = s3.list_objects_v2(Bucket=name, MaxKeys=700, ContinuationToken=token)
    b = s3.list_objects_v2(Bucket=name, MaxKeys=700, ContinuationToken=token)
    assert [o["Key"] for o in a["Contents"]] == [o["Key"] for o in b["Contents"]] == keys[700:1400]
    assert a["ContinuationToken"] == token


def test_v2_start_after_in_many(s3, many):
    name, keys = many
    resp = s3.list_objects_v2(Bucket=name, StartAfter=keys[1234], MaxKeys=10)
    assert [o["Key"] for o in resp["Contents"]] == keys[1235:1245]


def test_v1_pages_2500_keys(s3, many):
    name, keys = many
    got, marker = [], ""
    for _ in range(5):
        page = s3.list_objects(Bucket=name, Marker=marker)
        got += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or got[-1]
    assert got == keys


def test_v2_delimiter_over_many(s3, many):
    name, _ = many
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["k/"]
    assert resp["KeyCount"] == 1
    assert "Contents" not in resp


ODD_KEYS = [
    "with space",
    "plus+sign",
    "percent%41",
    "amp&lt;<tag>",
    "unicodé/ключ",
    "quote\"'",
    "tab\there",
    "a?b=c&d#e",
    "emoji😀/x",
]


@pytest.fixture(scope="module")
def odd(s3):
    name = unique_bucket_name("odd")
    s3.create_bucket(Bucket=name)
    for k in ODD_KEYS:
        s3.put_object(Bucket=name, Key=k, Body=b"1")
    return name


def test_list_odd_keys_boto3_default(s3, odd):
    """boto3 silently adds encoding-type=url to every listing and url-decodes
    (unquote_plus) the answer: '+' must come back as %2B, space as %20 or '+'."""
    for fn in (s3.list_objects_v2, s3.list_objects):
        keys = [o["Key"] for o in fn(Bucket=odd)["Contents"]]
        assert keys == utf8_sorted(ODD_KEYS)
        resp = fn(Bucket=odd, Prefix="unicodé/", Delimiter="/")
        assert [o["Key"] for o in resp["Contents"]] == ["unicodé/ключ"]
        # botocore decodes the top-level Prefix for v2 only (v1's stays encoded, as on AWS)
        assert urllib.parse.unquote_plus(resp["Prefix"]) == "unicodé/"


def test_list_odd_keys_plain_xml(gateway, odd):
    """Without encoding-type the keys are XML-escaped text, returned verbatim."""
    resp = signed_request(gateway, "GET", f"/{odd}?list-type=2")
    assert resp.status == 200
    assert xml_findall_text(resp.body, "Contents/Key") == utf8_sorted(ODD_KEYS)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_encoding_type_url_explicit(s3, odd, version):
    """An explicit EncodingType='url' hands the encoded keys to the caller."""
    fn = s3.list_objects_v2 if version == "v2" else s3.list_objects
    resp = fn(Bucket=odd, EncodingType="url", Delimiter="/")
    assert resp["EncodingType"] == "url"
    raw_keys = [o["Key"] for o in resp["Contents"]]
    raw_prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
    for k in raw_keys + raw_prefixes:
        assert k.isascii() and " " not in k and "<" not in k and "\t" not in k, k
    assert sorted(urllib.parse.unquote_plus(k) for k in raw_keys) == sorted(
        k for k in ODD_KEYS if "/" not in k
    )
    assert [urllib.parse.unquote_plus(p) for p in raw_prefixes] == ["emoji😀/", "unicodé/"]
    assert urllib.parse.unquote_plus(resp["Delimiter"]) == "/"


def test_list_missing_bucket(s3):
    for fn in (s3.list_objects_v2, s3.list_objects):
        with pytest.raises(ClientError) as e:
            fn(Bucket=unique_bucket_name("missing"))
        assert client_error(e.value) == (404, "NoSuchBucket")


@pytest.mark.parametrize("token", ["garbage", "AAAA", "x" * 2000])
def test_invalid_continuation_token(s3, tree, token):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=tree, ContinuationToken=token)
    assert client_error(e.value) == (400, "InvalidArgument")


def test_empty_continuation_token_is_no_token(s3, tree):
    """`continuation-token=` (botocore sends it for ContinuationToken="")
    lists from the start, as S3 does, and is echoed back empty."""
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    again = s3.list_objects_v2(Bucket=tree, MaxKeys=2, ContinuationToken="")
    assert [o["Key"] for o in again["Contents"]] == [o["Key"] for o in first["Contents"]]
    assert "ContinuationToken" not in first
    assert again["ContinuationToken"] == ""


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_invalid_max_keys(gateway, tree, value):
    resp = signed_request(gateway, "GET", f"/{tree}?list-type=2&max-keys={value}")
    assert (resp.status, resp.code) == (400, "InvalidArgument")


def test_control_characters_in_keys_survive_plain_xml(gateway, s3, bucket):
    """Without encoding-type=url, a CR must come back as a character reference,
    not be folded into a newline by the XML parser."""
    keys = ["cr\rkey", "tab\tkey", "lf\nkey"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = signed_request(gateway, "GET", f"/{bucket}?list-type=2")
    assert r.status == 200, r
    assert b"&#13;" in r.body
    assert sorted(xml_findall_text(r.body, "Contents/Key")) == sorted(keys)


def test_list_object_versions_of_an_unversioned_bucket(s3, bucket):
    """Every object once, as its `null` version; what cleanup tools (boto3's
    object_versions, Terraform force_destroy) walk before deleting."""
    import boto3

    keys = ["a", "b/1", "b/2", "c d"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in r["Versions"]] == [
        (k, "null", True, len(k)) for k in keys]
    assert "DeleteMarkers" not in r
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in r["Versions"]] == ["a", "c d"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
    assert [v["Key"] for page in pages for v in page.get("Versions", [])] == keys
    # The resource API's bulk delete: ListObjectVersions, then DeleteObjects
    # with VersionId=null.
    resource = boto3.resource("s3", endpoint_url=s3.meta.endpoint_url, region_name=s3.meta.region_name,
                              aws_access_key_id=s3._request_signer._credentials.access_key,
                              aws_secret_access_key=s3._request_signer._credentials.secret_key,
                              config=s3.meta.config)  # fmt: skip
    resource.Bucket(bucket).object_versions.delete()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)  # for the fixture's cleanup

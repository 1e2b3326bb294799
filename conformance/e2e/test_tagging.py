"""Bucket tagging (Get/Put/DeleteBucketTagging) with S3's limits and errors,
stored with the bucket like its policy. (Object tagging is not built yet;
its calls answer 501 NotImplemented.)
"""

from __future__ import annotations

import pytest

from e2e_util import error_of


def test_bucket_tagging_round_trip(s3, bucket):
    assert error_of(s3.get_bucket_tagging, Bucket=bucket) == (404, "NoSuchTagSet")
    tags = [{"Key": "project", "Value": "census-2031"}, {"Key": "coût", "Value": "équipe <stats>"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags[:1]})  # replaces
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags[:1]
    s3.delete_bucket_tagging(Bucket=bucket)
    assert error_of(s3.get_bucket_tagging, Bucket=bucket) == (404, "NoSuchTagSet")


@pytest.mark.parametrize(
    "tag_set",
    [
        [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "aws:reserved", "Value": "v"}],
        [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
    ],
    ids=["duplicate key", "long key", "long value", "aws prefix", "51 tags"],
)
def test_invalid_bucket_tags_are_refused_and_keep_the_previous_set(s3, bucket, tag_set):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "kept", "Value": "yes"}]})
    assert error_of(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": tag_set}) == (400, "InvalidTag")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "kept", "Value": "yes"}]


def test_bucket_tags_go_with_the_bucket(s3):
    from e2e_util import unique_bucket_name

    name = unique_bucket_name("tags")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert "Contents" not in s3.list_objects_v2(Bucket=name)  # not an object
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert error_of(s3.get_bucket_tagging, Bucket=name) == (404, "NoSuchTagSet")
    finally:
        s3.delete_bucket(Bucket=name)

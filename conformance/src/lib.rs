//! The shared backend suite: one async function per behaviour, each taking
//! a [`Backend`]. Every backend's test file calls all of them through
//! [`for_each_case!`], so a failure names the behaviour and the backend.
//!
//! Cases create their own uniquely named buckets, so backends that share
//! an account (Azure) can run them side by side.
// A test suite: panicking on an unexpected error is how a case fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use blobgate::conditions::{Conditions, EtagCondition};
use blobgate::error::{S3Error, S3ErrorCode};
use blobgate::range::ByteRange;
use blobgate::storage::{
    Backend, BucketConfig, BucketName, ByteStream, ContentHeaders, GetOptions, ListQuery,
    ObjectKey, ObjectMeta, PutOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};

/// Calls `$callback!(case, case, ...)` with every case of the suite.
#[macro_export]
macro_rules! for_each_case {
    ($callback:ident) => {
        $callback!(
            bucket_lifecycle,
            delete_bucket_refuses_non_empty,
            missing_bucket_and_key,
            put_get_round_trip,
            empty_object,
            overwrite_replaces,
            failed_body_keeps_previous_object,
            short_body_keeps_previous_object,
            ranges,
            read_conditions,
            write_conditions,
            delete_object,
            key_shapes_round_trip,
            list_order_is_binary,
            list_prefix_and_delimiter,
            list_pages_resume,
            list_pages_with_common_prefixes,
            list_multichar_delimiter_and_inner_bounds,
            large_object_streams,
            concurrent_puts_leave_one_whole_object,
            concurrent_large_puts_never_mix,
            bucket_policy_storage,
            bucket_config_storage,
            object_tags,
            delete_bucket_races_writes,
            listing_sees_stable_keys_during_churn,
            mpu_round_trip,
            mpu_validation_keeps_upload,
            mpu_abort_keeps_object,
            mpu_unknown_and_foreign_ids,
            mpu_list_uploads,
            mpu_parallel_parts,
            mpu_checksums_and_parts
        );
    };
}

mod multipart;
pub use multipart::*;

/// A bucket name unique to this run.
pub fn unique_bucket(tag: &str) -> BucketName {
    let n: u32 = rand::random();
    BucketName::parse(&format!("t-{tag}-{n:08x}")).unwrap()
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::parse(k).unwrap()
}

/// A body from chunks.
pub fn body(chunks: Vec<Bytes>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))
}

fn bytes_body(data: &[u8]) -> ByteStream {
    body(vec![Bytes::copy_from_slice(data)])
}

fn put_opts(len: usize) -> PutOptions {
    PutOptions {
        content_length: Some(len as u64),
        ..PutOptions::default()
    }
}

async fn put(b: &dyn Backend, bucket: &BucketName, k: &str, data: &[u8]) -> ObjectMeta {
    b.put_object(bucket, &key(k), bytes_body(data), put_opts(data.len()))
        .await
        .unwrap_or_else(|e| panic!("put {k:?}: {e}"))
}

async fn read_all(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn get(b: &dyn Backend, bucket: &BucketName, k: &str) -> Result<Vec<u8>, S3Error> {
    let out = b.get_object(bucket, &key(k), GetOptions::default()).await?;
    Ok(read_all(out.body).await)
}

fn code<T>(r: Result<T, S3Error>) -> S3ErrorCode {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code,
    }
}

async fn new_bucket(b: &dyn Backend, tag: &str) -> BucketName {
    let bucket = unique_bucket(tag);
    b.create_bucket(&bucket).await.unwrap();
    bucket
}

async fn list_all(
    b: &dyn Backend,
    bucket: &BucketName,
    mut q: ListQuery,
) -> (Vec<String>, Vec<String>) {
    let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let page = b.list_objects(bucket, &q).await.unwrap();
        assert!(page.objects.len() + page.common_prefixes.len() <= q.max_keys);
        keys.extend(page.objects.into_iter().map(|o| o.key));
        prefixes.extend(page.common_prefixes);
        match page.next_after {
            Some(next) => {
                q.start_after = Some(next);
                q.resume_marker = page.next_marker;
            }
            None => return (keys, prefixes),
        }
    }
    panic!("listing did not end");
}

fn query(prefix: &str, delimiter: Option<&str>, max_keys: usize) -> ListQuery {
    ListQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        start_after: None,
        max_keys,
        resume_marker: None,
    }
}

pub async fn bucket_lifecycle(b: &dyn Backend) {
    let bucket = unique_bucket("life");
    assert_eq!(
        code(b.head_bucket(&bucket).await),
        S3ErrorCode::NoSuchBucket
    );
    b.create_bucket(&bucket).await.unwrap();
    b.head_bucket(&bucket).await.unwrap();
    assert_eq!(
        code(b.create_bucket(&bucket).await),
        S3ErrorCode::BucketAlreadyOwnedByYou
    );
    let names: Vec<String> = b
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(names.contains(&bucket.to_string()), "{names:?}");
    b.delete_bucket(&bucket).await.unwrap();
    assert_eq!(
        code(b.head_bucket(&bucket).await),
        S3ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(b.delete_bucket(&bucket).await),
        S3ErrorCode::NoSuchBucket
    );
}

pub async fn delete_bucket_refuses_non_empty(b: &dyn Backend) {
    let bucket = new_bucket(b, "nonempty").await;
    put(b, &bucket, "deep/down/k", b"x").await;
    assert_eq!(
        code(b.delete_bucket(&bucket).await),
        S3ErrorCode::BucketNotEmpty
    );
    assert_eq!(get(b, &bucket, "deep/down/k").await.unwrap(), b"x");
    b.delete_object(&bucket, &key("deep/down/k")).await.unwrap();
    b.delete_bucket(&bucket).await.unwrap();
}

pub async fn missing_bucket_and_key(b: &dyn Backend) {
    let bucket = new_bucket(b, "missing").await;
    assert_eq!(code(get(b, &bucket, "nope").await), S3ErrorCode::NoSuchKey);
    assert_eq!(
        code(
            b.head_object(&bucket, &key("nope"), &Conditions::default())
                .await
        ),
        S3ErrorCode::NoSuchKey
    );
    let ghost = unique_bucket("ghost");
    assert_eq!(code(get(b, &ghost, "k").await), S3ErrorCode::NoSuchBucket);
    assert_eq!(
        code(
            b.put_object(&ghost, &key("k"), bytes_body(b"x"), put_opts(1))
                .await
        ),
        S3ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(b.list_objects(&ghost, &query("", None, 10)).await),
        S3ErrorCode::NoSuchBucket
    );
}

pub async fn put_get_round_trip(b: &dyn Backend) {
    let bucket = new_bucket(b, "roundtrip").await;
    let data = b"hello, blobgate";
    let headers = ContentHeaders {
        content_type: Some("text/plain; charset=utf-8".into()),
        content_encoding: Some("identity".into()),
        content_disposition: Some("attachment; filename=\"x.txt\"".into()),
        content_language: Some("fr-CA".into()),
        cache_control: Some("max-age=60".into()),
        expires: Some("Wed, 21 Oct 2037 07:28:00 GMT".into()),
    };
    let metadata = vec![
        ("color".to_owned(), "blue".to_owned()),
        (
            "with-dash_and_underscore".to_owned(),
            "é ünïcode".to_owned(),
        ),
    ];
    let meta = b
        .put_object(
            &bucket,
            &key("doc.txt"),
            body(vec![
                Bytes::from_static(b"hello, "),
                Bytes::from_static(b"blobgate"),
            ]),
            PutOptions {
                headers: headers.clone(),
                user_metadata: metadata.clone(),
                content_length: Some(data.len() as u64),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(meta.etag, hex::encode(Md5::digest(data)));
    assert_eq!(meta.size, data.len() as u64);
    let out = b
        .get_object(&bucket, &key("doc.txt"), GetOptions::default())
        .await
        .unwrap();
    assert_eq!(out.meta.headers, headers);
    assert_eq!(out.meta.user_metadata, metadata);
    assert_eq!(out.meta.etag, meta.etag);
    assert_eq!(out.range, None);
    assert_eq!(read_all(out.body).await, data);
    let head = b
        .head_object(&bucket, &key("doc.txt"), &Conditions::default())
        .await
        .unwrap();
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.last_modified_ms, meta.last_modified_ms);
}

pub async fn empty_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "empty").await;
    let meta = put(b, &bucket, "nothing", b"").await;
    assert_eq!(meta.etag, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(get(b, &bucket, "nothing").await.unwrap(), b"");
}

pub async fn overwrite_replaces(b: &dyn Backend) {
    let bucket = new_bucket(b, "overwrite").await;
    put(b, &bucket, "k", b"first version, longer").await;
    put(b, &bucket, "k", b"second").await;
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"second");
    let (keys, _) = list_all(b, &bucket, query("", None, 1000)).await;
    assert_eq!(keys, ["k"]);
}

pub async fn failed_body_keeps_previous_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "failbody").await;
    put(b, &bucket, "k", b"precious").await;
    let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from(vec![b'x'; 100_000])),
        Err(S3Error::new(S3ErrorCode::BadDigest, "checksum mismatch")),
    ]));
    let r = b
        .put_object(&bucket, &key("k"), broken, put_opts(200_000))
        .await;
    assert_eq!(code(r), S3ErrorCode::BadDigest);
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"precious");
    // A failed first write leaves nothing behind.
    let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(S3Error::new(
            S3ErrorCode::IncompleteBody,
            "client went away",
        )),
    ]));
    let _ = b
        .put_object(&bucket, &key("new"), broken, put_opts(100))
        .await;
    assert_eq!(code(get(b, &bucket, "new").await), S3ErrorCode::NoSuchKey);
    let (keys, _) = list_all(b, &bucket, query("", None, 1000)).await;
    assert_eq!(keys, ["k"]);
}

pub async fn short_body_keeps_previous_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "short").await;
    put(b, &bucket, "k", b"precious").await;
    let r = b
        .put_object(&bucket, &key("k"), bytes_body(b"abc"), put_opts(10))
        .await;
    assert_eq!(code(r), S3ErrorCode::IncompleteBody);
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"precious");
}

pub async fn ranges(b: &dyn Backend) {
    let bucket = new_bucket(b, "ranges").await;
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    put(b, &bucket, "r", &data).await;
    let cases = [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=990-", 990, 999),
        ("bytes=-10", 990, 999),
        ("bytes=500-5000", 500, 999),
        ("bytes=0-0", 0, 0),
    ];
    for (header, first, last) in cases {
        let out = b
            .get_object(
                &bucket,
                &key("r"),
                GetOptions {
                    range: ByteRange::parse(header),
                    ..GetOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(out.range, Some((first as u64, last as u64)), "{header}");
        assert_eq!(out.meta.size, 1000);
        assert_eq!(read_all(out.body).await, &data[first..=last], "{header}");
    }
    let r = b
        .get_object(
            &bucket,
            &key("r"),
            GetOptions {
                range: ByteRange::parse("bytes=1000-"),
                ..GetOptions::default()
            },
        )
        .await;
    assert_eq!(code(r), S3ErrorCode::InvalidRange);
}

fn tags(etag: &str) -> Option<EtagCondition> {
    Some(EtagCondition::Tags(vec![etag.to_owned()]))
}

pub async fn read_conditions(b: &dyn Backend) {
    let bucket = new_bucket(b, "readcond").await;
    let meta = put(b, &bucket, "k", b"v1").await;
    let get_with = |conditions: Conditions| {
        let bucket = bucket.clone();
        async move {
            b.get_object(
                &bucket,
                &key("k"),
                GetOptions {
                    conditions,
                    ..GetOptions::default()
                },
            )
            .await
            .map(|_| ())
        }
    };
    get_with(Conditions {
        if_match: tags(&meta.etag),
        ..Conditions::default()
    })
    .await
    .unwrap();
    let r = get_with(Conditions {
        if_match: tags("0123"),
        ..Conditions::default()
    })
    .await;
    assert_eq!(code(r), S3ErrorCode::PreconditionFailed);
    let r = get_with(Conditions {
        if_none_match: tags(&meta.etag),
        ..Conditions::default()
    })
    .await;
    assert_eq!(code(r), S3ErrorCode::NotModified);
    let later = meta.last_modified() + Duration::from_secs(5);
    let r = get_with(Conditions {
        if_modified_since: Some(later),
        ..Conditions::default()
    })
    .await;
    assert_eq!(code(r), S3ErrorCode::NotModified);
    let earlier = meta.last_modified() - Duration::from_secs(5);
    let r = get_with(Conditions {
        if_unmodified_since: Some(earlier),
        ..Conditions::default()
    })
    .await;
    assert_eq!(code(r), S3ErrorCode::PreconditionFailed);
    let r = b
        .head_object(
            &bucket,
            &key("k"),
            &Conditions {
                if_match: tags("0123"),
                ..Conditions::default()
            },
        )
        .await;
    assert_eq!(code(r), S3ErrorCode::PreconditionFailed);
}

pub async fn write_conditions(b: &dyn Backend) {
    let bucket = new_bucket(b, "writecond").await;
    let with = |conditions: Conditions| PutOptions {
        conditions,
        content_length: Some(2),
        ..PutOptions::default()
    };
    let none_match_any = Conditions {
        if_none_match: Some(EtagCondition::Any),
        ..Conditions::default()
    };
    let first = b
        .put_object(
            &bucket,
            &key("k"),
            bytes_body(b"v1"),
            with(none_match_any.clone()),
        )
        .await
        .unwrap();
    let r = b
        .put_object(&bucket, &key("k"), bytes_body(b"v2"), with(none_match_any))
        .await;
    assert_eq!(code(r), S3ErrorCode::PreconditionFailed);
    let r = b
        .put_object(
            &bucket,
            &key("k"),
            bytes_body(b"v2"),
            with(Conditions {
                if_match: tags("0123"),
                ..Conditions::default()
            }),
        )
        .await;
    assert_eq!(code(r), S3ErrorCode::PreconditionFailed);
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"v1");
    b.put_object(
        &bucket,
        &key("k"),
        bytes_body(b"v3"),
        with(Conditions {
            if_match: tags(&first.etag),
            ..Conditions::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"v3");
    let r = b
        .put_object(
            &bucket,
            &key("absent"),
            bytes_body(b"v1"),
            with(Conditions {
                if_match: Some(EtagCondition::Any),
                ..Conditions::default()
            }),
        )
        .await;
    assert_eq!(code(r), S3ErrorCode::NoSuchKey);
}

pub async fn delete_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "delete").await;
    put(b, &bucket, "a/b/c", b"1").await;
    put(b, &bucket, "a/b", b"2").await;
    b.delete_object(&bucket, &key("a/b/c")).await.unwrap();
    assert_eq!(code(get(b, &bucket, "a/b/c").await), S3ErrorCode::NoSuchKey);
    assert_eq!(get(b, &bucket, "a/b").await.unwrap(), b"2");
    b.delete_object(&bucket, &key("a/b/c")).await.unwrap();
    b.delete_object(&bucket, &key("never/was")).await.unwrap();
    let (keys, prefixes) = list_all(b, &bucket, query("", Some("/"), 1000)).await;
    assert!(keys.is_empty());
    assert_eq!(prefixes, ["a/"]);
}

/// Keys that stress any mapping onto paths or blob names.
pub const TRICKY_KEYS: &[&str] = &[
    "plain",
    "dir/",
    "dir//double",
    "/leading",
    "..",
    "../escape",
    "a/../../b",
    "./dot",
    "%2e%2e/enc",
    "sp ace+plus&amp?q#h",
    "tab\there",
    "ünïcödé/日本語/🙂",
    "@obj",
    "#hash",
    "%",
    "back\\slash",
];

pub async fn key_shapes_round_trip(b: &dyn Backend) {
    let bucket = new_bucket(b, "keys").await;
    let long_segment = "s".repeat(1024);
    let long_path = format!("{}/end", "d".repeat(250)).repeat(5)[..1024].to_owned();
    let mut all: Vec<String> = TRICKY_KEYS.iter().map(|k| (*k).to_owned()).collect();
    all.push(long_segment);
    all.push(long_path);
    // Azure cannot name `..` in a URL path and turns `\` into `/` in blob
    // names: that backend refuses such keys with InvalidObjectName
    // (documented) rather than store another key. Every other key must
    // round-trip.
    let mut refused = Vec::new();
    for k in &all {
        match b
            .put_object(
                &bucket,
                &key(k),
                bytes_body(k.as_bytes()),
                put_opts(k.len()),
            )
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.code == S3ErrorCode::InvalidObjectName && (k == ".." || k.contains('\\')) =>
            {
                refused.push(k.clone());
                assert_eq!(
                    code(get(b, &bucket, k).await),
                    S3ErrorCode::InvalidObjectName
                );
            }
            Err(e) => panic!("put {k:?}: {e}"),
        }
    }
    all.retain(|k| !refused.contains(k));
    for k in &all {
        assert_eq!(get(b, &bucket, k).await.unwrap(), k.as_bytes(), "{k:?}");
    }
    let (mut listed, _) = list_all(b, &bucket, query("", None, 1000)).await;
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(listed, expected);
    for k in &all {
        b.delete_object(&bucket, &key(k)).await.unwrap();
    }
    listed = list_all(b, &bucket, query("", None, 1000)).await.0;
    assert!(listed.is_empty(), "{listed:?}");
}

pub async fn list_order_is_binary(b: &dyn Backend) {
    let bucket = new_bucket(b, "order").await;
    let keys = [
        "a", "a-b", "a/b", "a/b/c", "a0", "B", "é", "a.", "a/", "b", "a!",
    ];
    for k in keys {
        put(b, &bucket, k, b"x").await;
    }
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort();
    let (listed, _) = list_all(b, &bucket, query("", None, 1000)).await;
    assert_eq!(listed, expected);
    let (paged, _) = list_all(b, &bucket, query("", None, 2)).await;
    assert_eq!(paged, expected);
}

pub async fn list_prefix_and_delimiter(b: &dyn Backend) {
    let bucket = new_bucket(b, "delim").await;
    for k in [
        "photos/2024/jan/a.jpg",
        "photos/2024/feb/b.jpg",
        "photos/2025/c.jpg",
        "photos/index.html",
        "photos-old/x",
        "readme",
        "x-1-a",
        "x-1-b",
        "x-2",
    ] {
        put(b, &bucket, k, b"x").await;
    }
    let (keys, prefixes) = list_all(b, &bucket, query("", Some("/"), 1000)).await;
    assert_eq!(keys, ["readme", "x-1-a", "x-1-b", "x-2"]);
    assert_eq!(prefixes, ["photos-old/", "photos/"]);
    let (keys, prefixes) = list_all(b, &bucket, query("photos/", Some("/"), 1000)).await;
    assert_eq!(keys, ["photos/index.html"]);
    assert_eq!(prefixes, ["photos/2024/", "photos/2025/"]);
    let (keys, prefixes) = list_all(b, &bucket, query("photos/20", Some("/"), 1000)).await;
    assert!(keys.is_empty());
    assert_eq!(prefixes, ["photos/2024/", "photos/2025/"]);
    let (keys, prefixes) = list_all(b, &bucket, query("photos/2024/", None, 1000)).await;
    assert_eq!(keys, ["photos/2024/feb/b.jpg", "photos/2024/jan/a.jpg"]);
    assert!(prefixes.is_empty());
    let (keys, prefixes) = list_all(b, &bucket, query("x", Some("-"), 1000)).await;
    assert!(keys.is_empty());
    assert_eq!(prefixes, ["x-"]);
    let (keys, prefixes) = list_all(b, &bucket, query("x-", Some("-"), 1000)).await;
    assert_eq!(keys, ["x-2"]);
    assert_eq!(prefixes, ["x-1-"]);
    let (keys, _) = list_all(b, &bucket, query("nothing/", Some("/"), 1000)).await;
    assert!(keys.is_empty());
}

pub async fn list_pages_resume(b: &dyn Backend) {
    let bucket = new_bucket(b, "pages").await;
    let mut expected: Vec<String> = (0..37).map(|i| format!("k/{:03}", i * 7 % 37)).collect();
    for k in &expected {
        put(b, &bucket, k, b"x").await;
    }
    expected.sort();
    let (keys, _) = list_all(b, &bucket, query("k/", None, 5)).await;
    assert_eq!(keys, expected);
    // Resuming after an arbitrary key (V1 marker / V2 start-after).
    let mut q = query("", None, 1000);
    q.start_after = Some("k/0105".into());
    let (keys, _) = list_all(b, &bucket, q).await;
    assert_eq!(keys, expected[11..]);
    let mut q = query("", None, 1000);
    q.start_after = Some("zzz".into());
    assert!(list_all(b, &bucket, q).await.0.is_empty());
}

pub async fn list_pages_with_common_prefixes(b: &dyn Backend) {
    let bucket = new_bucket(b, "cppages").await;
    for d in 0..6 {
        for f in 0..3 {
            put(b, &bucket, &format!("d{d}/f{f}"), b"x").await;
        }
        put(b, &bucket, &format!("f{d}"), b"x").await;
    }
    let (keys, prefixes) = list_all(b, &bucket, query("", Some("/"), 2)).await;
    assert_eq!(keys, ["f0", "f1", "f2", "f3", "f4", "f5"]);
    assert_eq!(prefixes, ["d0/", "d1/", "d2/", "d3/", "d4/", "d5/"]);
    // Resuming after a common prefix skips everything rolled into it.
    let mut q = query("", Some("/"), 1000);
    q.start_after = Some("d3/".into());
    let (keys, prefixes) = list_all(b, &bucket, q).await;
    assert_eq!(prefixes, ["d4/", "d5/"]);
    assert_eq!(keys.len(), 6);
}

/// Delimiters longer than one character, and start-after keys that fall
/// inside a common prefix, across small pages.
pub async fn list_multichar_delimiter_and_inner_bounds(b: &dyn Backend) {
    let bucket = new_bucket(b, "mcdelim").await;
    for k in ["p/a.jpg", "p/a.jpg.x", "p/b.jpg", "p/c.png", "q.jpg/1", "z"] {
        put(b, &bucket, k, b"x").await;
    }
    for max in [1, 2, 1000] {
        let (keys, prefixes) = list_all(b, &bucket, query("", Some(".jpg"), max)).await;
        assert_eq!(keys, ["p/c.png", "z"], "max-keys {max}");
        assert_eq!(prefixes, ["p/a.jpg", "p/b.jpg", "q.jpg"], "max-keys {max}");
    }
    // A bound inside a prefix: the prefix shows only if later keys roll into it.
    let mut q = query("", Some("/"), 1000);
    q.start_after = Some("p/a.jpg.x".into());
    let (keys, prefixes) = list_all(b, &bucket, q.clone()).await;
    assert_eq!(
        (keys, prefixes),
        (
            vec!["z".to_owned()],
            vec!["p/".to_owned(), "q.jpg/".to_owned()]
        )
    );
    q.start_after = Some("p/c.png".into());
    let (keys, prefixes) = list_all(b, &bucket, q).await;
    assert_eq!(
        (keys, prefixes),
        (vec!["z".to_owned()], vec!["q.jpg/".to_owned()])
    );
}

pub async fn large_object_streams(b: &dyn Backend) {
    let bucket = new_bucket(b, "large").await;
    let chunk = Bytes::from((0..=255u8).cycle().take(1 << 20).collect::<Vec<u8>>());
    let chunks: Vec<Bytes> = (0..24).map(|_| chunk.clone()).collect();
    let mut md5 = Md5::new();
    for c in &chunks {
        md5.update(c);
    }
    let expected = hex::encode(md5.finalize());
    let meta = b
        .put_object(&bucket, &key("big"), body(chunks), put_opts(24 << 20))
        .await
        .unwrap();
    assert_eq!(meta.etag, expected);
    let out = b
        .get_object(&bucket, &key("big"), GetOptions::default())
        .await
        .unwrap();
    let mut md5 = Md5::new();
    let mut size = 0usize;
    let mut s = out.body;
    while let Some(c) = s.next().await {
        let c = c.unwrap();
        size += c.len();
        md5.update(&c);
    }
    assert_eq!(size, 24 << 20);
    assert_eq!(hex::encode(md5.finalize()), expected);
}

pub async fn concurrent_puts_leave_one_whole_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "race").await;
    let bodies: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 300_000]).collect();
    let puts = bodies.iter().map(|data| {
        let bucket = bucket.clone();
        async move {
            let chunks = data.chunks(16_384).map(Bytes::copy_from_slice).collect();
            b.put_object(&bucket, &key("same"), body(chunks), put_opts(data.len()))
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(puts).await;
    let got = get(b, &bucket, "same").await.unwrap();
    assert!(
        bodies.contains(&got),
        "the object is a mix of several writes"
    );
}

/// Large writes racing on one key: each either succeeds or is refused with
/// OperationAborted (Azure: another commit discarded its staged blocks);
/// at least one succeeds, and the object is exactly one of the bodies.
pub async fn concurrent_large_puts_never_mix(b: &dyn Backend) {
    let bucket = new_bucket(b, "bigrace").await;
    let len = 20 << 20;
    let bodies: Vec<Bytes> = (0..3u8).map(|i| Bytes::from(vec![b'a' + i; len])).collect();
    let puts = bodies.iter().map(|data| {
        let bucket = bucket.clone();
        async move {
            let chunks = (0..len)
                .step_by(1 << 20)
                .map(|at| data.slice(at..at + (1 << 20)))
                .collect();
            match b
                .put_object(&bucket, &key("same"), body(chunks), put_opts(len))
                .await
            {
                Ok(_) => true,
                Err(e) if e.code == S3ErrorCode::OperationAborted => false,
                Err(e) => panic!("put: {e}"),
            }
        }
    });
    let won = futures_util::future::join_all(puts).await;
    assert!(won.contains(&true), "every writer failed");
    let got = get(b, &bucket, "same").await.unwrap();
    assert!(
        bodies.iter().any(|body| body.as_ref() == got.as_slice()),
        "the object is a mix of several writes"
    );
}

/// Bucket policies are stored with the bucket, invisible to listings, and
/// go when the bucket goes.
pub async fn bucket_policy_storage(b: &dyn Backend) {
    let bucket = new_bucket(b, "policy").await;
    assert_eq!(b.get_bucket_policy(&bucket).await.unwrap(), None);
    b.delete_bucket_policy(&bucket).await.unwrap();
    let doc = br#"{"Version":"2012-10-17","Statement":[]}"#.to_vec();
    b.put_bucket_policy(&bucket, doc.clone()).await.unwrap();
    assert_eq!(b.get_bucket_policy(&bucket).await.unwrap(), Some(doc));
    let newer = br#"{"Version":"2012-10-17","Statement":[{"Sid":"x"}]}"#.to_vec();
    b.put_bucket_policy(&bucket, newer.clone()).await.unwrap();
    assert_eq!(b.get_bucket_policy(&bucket).await.unwrap(), Some(newer));
    let (keys, prefixes) = list_all(b, &bucket, query("", Some("/"), 1000)).await;
    assert!(
        keys.is_empty() && prefixes.is_empty(),
        "{keys:?} {prefixes:?}"
    );
    // A bucket holding only its policy is empty.
    b.delete_bucket(&bucket).await.unwrap();
    b.create_bucket(&bucket).await.unwrap();
    assert_eq!(b.get_bucket_policy(&bucket).await.unwrap(), None);
    b.put_bucket_policy(&bucket, b"{}".to_vec()).await.unwrap();
    b.delete_bucket_policy(&bucket).await.unwrap();
    assert_eq!(b.get_bucket_policy(&bucket).await.unwrap(), None);
    b.delete_bucket(&bucket).await.unwrap();
    let missing = unique_bucket("nopolicy");
    assert_eq!(
        code(b.get_bucket_policy(&missing).await),
        S3ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(b.put_bucket_policy(&missing, b"{}".to_vec()).await),
        S3ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(b.delete_bucket_policy(&missing).await),
        S3ErrorCode::NoSuchBucket
    );
}

/// Configuration documents (CORS) are kept with the bucket like its policy:
/// apart from it, invisible to listings, gone with the bucket.
pub async fn bucket_config_storage(b: &dyn Backend) {
    let cors = BucketConfig::Cors;
    let bucket = new_bucket(b, "config").await;
    assert_eq!(b.get_bucket_config(&bucket, cors).await.unwrap(), None);
    b.delete_bucket_config(&bucket, cors).await.unwrap();
    let doc = b"<CORSConfiguration><CORSRule/></CORSConfiguration>".to_vec();
    b.put_bucket_config(&bucket, cors, doc.clone())
        .await
        .unwrap();
    b.put_bucket_policy(&bucket, b"{}".to_vec()).await.unwrap();
    assert_eq!(b.get_bucket_config(&bucket, cors).await.unwrap(), Some(doc));
    assert_eq!(
        b.get_bucket_policy(&bucket).await.unwrap(),
        Some(b"{}".to_vec())
    );
    let (keys, prefixes) = list_all(b, &bucket, query("", Some("/"), 1000)).await;
    assert!(
        keys.is_empty() && prefixes.is_empty(),
        "{keys:?} {prefixes:?}"
    );
    b.delete_bucket_config(&bucket, cors).await.unwrap();
    assert_eq!(b.get_bucket_config(&bucket, cors).await.unwrap(), None);
    assert_eq!(
        b.get_bucket_policy(&bucket).await.unwrap(),
        Some(b"{}".to_vec())
    );
    b.put_bucket_config(&bucket, cors, b"<x/>".to_vec())
        .await
        .unwrap();
    b.delete_bucket(&bucket).await.unwrap();
    b.create_bucket(&bucket).await.unwrap();
    assert_eq!(b.get_bucket_config(&bucket, cors).await.unwrap(), None);
    b.delete_bucket(&bucket).await.unwrap();
    let missing = unique_bucket("noconfig");
    assert_eq!(
        code(b.get_bucket_config(&missing, cors).await),
        S3ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(b.put_bucket_config(&missing, cors, b"<x/>".to_vec()).await),
        S3ErrorCode::NoSuchBucket
    );
}

/// Object tags: given with the write, replaced without touching the object,
/// voided by the next write, gone with the object; the count is on HEAD.
pub async fn object_tags(b: &dyn Backend) {
    let bucket = new_bucket(b, "tags").await;
    let k = key("a/b");
    let tags = |t: &[(&str, &str)]| -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let written = b
        .put_object(
            &bucket,
            &k,
            bytes_body(b"data"),
            PutOptions {
                tags: tags(&[("project", "census"), ("stage", "raw")]),
                ..put_opts(4)
            },
        )
        .await
        .unwrap();
    assert_eq!(written.tag_count, 2);
    let mut got = b.get_object_tagging(&bucket, &k).await.unwrap();
    got.sort();
    assert_eq!(got, tags(&[("project", "census"), ("stage", "raw")]));
    let meta = b
        .head_object(&bucket, &k, &Conditions::default())
        .await
        .unwrap();
    assert_eq!(meta.tag_count, 2);

    b.put_object_tagging(&bucket, &k, tags(&[("stage", "clean")]))
        .await
        .unwrap();
    assert_eq!(
        b.get_object_tagging(&bucket, &k).await.unwrap(),
        tags(&[("stage", "clean")])
    );
    let after = b
        .head_object(&bucket, &k, &Conditions::default())
        .await
        .unwrap();
    assert_eq!((after.tag_count, &after.etag), (1, &meta.etag));
    assert_eq!(get(b, &bucket, "a/b").await.unwrap(), b"data");
    let out = b
        .get_object(&bucket, &k, GetOptions::default())
        .await
        .unwrap();
    assert_eq!(out.meta.tag_count, 1);

    b.put_object_tagging(&bucket, &k, Vec::new()).await.unwrap();
    assert!(b.get_object_tagging(&bucket, &k).await.unwrap().is_empty());
    b.put_object_tagging(&bucket, &k, tags(&[("x", "1")]))
        .await
        .unwrap();
    put(b, &bucket, "a/b", b"new").await;
    assert!(b.get_object_tagging(&bucket, &k).await.unwrap().is_empty());
    assert_eq!(
        b.head_object(&bucket, &k, &Conditions::default())
            .await
            .unwrap()
            .tag_count,
        0
    );

    b.delete_object(&bucket, &k).await.unwrap();
    assert_eq!(
        code(b.get_object_tagging(&bucket, &k).await),
        S3ErrorCode::NoSuchKey
    );
    assert_eq!(
        code(b.put_object_tagging(&bucket, &k, tags(&[("x", "1")])).await),
        S3ErrorCode::NoSuchKey
    );
    // Nothing left behind: the bucket deletes.
    b.delete_bucket(&bucket).await.unwrap();
}

/// Writers racing DeleteBucket: every write fails cleanly once the bucket is
/// gone, and a bucket created again under the name starts empty.
pub async fn delete_bucket_races_writes(b: &dyn Backend) {
    let bucket = new_bucket(b, "delrace").await;
    let writers = (0..4).map(|i| {
        let bucket = bucket.clone();
        async move {
            let k = key(&format!("w{i}/k"));
            for _ in 0..10_000 {
                match b
                    .put_object(&bucket, &k, bytes_body(b"x"), put_opts(1))
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.code == S3ErrorCode::NoSuchBucket => return,
                    Err(e) => panic!("put: {e}"),
                }
                match b.delete_object(&bucket, &k).await {
                    Ok(()) => {}
                    Err(e) if e.code == S3ErrorCode::NoSuchBucket => return,
                    Err(e) => panic!("delete: {e}"),
                }
                tokio::task::yield_now().await;
            }
            panic!("the bucket was never deleted");
        }
    });
    let deleter = async {
        loop {
            match b.delete_bucket(&bucket).await {
                Ok(()) => return,
                Err(e) if e.code == S3ErrorCode::BucketNotEmpty => tokio::task::yield_now().await,
                Err(e) => panic!("delete bucket: {e}"),
            }
        }
    };
    tokio::join!(futures_util::future::join_all(writers), deleter);
    b.create_bucket(&bucket).await.unwrap();
    let (keys, _) = list_all(b, &bucket, query("", None, 1000)).await;
    assert!(
        keys.is_empty(),
        "a re-created bucket shows old objects: {keys:?}"
    );
    b.delete_bucket(&bucket).await.unwrap();
}

/// A key nobody touches appears in every listing while its siblings are
/// created and deleted (long segments included, which some layouts hash).
pub async fn listing_sees_stable_keys_during_churn(b: &dyn Backend) {
    let bucket = new_bucket(b, "churn").await;
    let dir = "h".repeat(250);
    let stable = format!("{dir}/stable");
    put(b, &bucket, &stable, b"x").await;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let churners = (0..3).map(|i| {
        let (bucket, stop, dir) = (bucket.clone(), &stop, &dir);
        async move {
            let k = key(&format!("{dir}/churn{i}"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                b.put_object(&bucket, &k, bytes_body(b"y"), put_opts(1))
                    .await
                    .unwrap();
                b.delete_object(&bucket, &k).await.unwrap();
            }
        }
    });
    let lister = async {
        for round in 0..300 {
            let (keys, _) = list_all(b, &bucket, query("h", None, 1000)).await;
            assert!(
                keys.contains(&stable),
                "round {round}: stable key missing from {keys:?}"
            );
            tokio::task::yield_now().await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    tokio::join!(futures_util::future::join_all(churners), lister);
}

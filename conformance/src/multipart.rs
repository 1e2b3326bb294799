//! Multipart uploads: the shared cases every backend passes.

use std::time::Duration;

use blobgate::conditions::{Conditions, EtagCondition};
use blobgate::error::S3ErrorCode;
use blobgate::storage::{
    Backend, ChecksumSource, CompletedPart, ContentHeaders, ObjectMeta, PartInfo, StoredChecksum,
    UploadChecksum, UploadOptions, UploadsQuery,
};
use blobgate_auth::{ChecksumAlgorithm, Checksummer};
use bytes::Bytes;
use md5::{Digest, Md5};

use super::{body, code, get, key, list_all, new_bucket, put, query, unique_bucket};

const MIB: usize = 1 << 20;

/// `n` bytes that differ from part to part.
fn data(seed: u8, n: usize) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

async fn part(
    b: &dyn Backend,
    bucket: &blobgate::storage::BucketName,
    k: &str,
    id: &str,
    n: u32,
    data: &Bytes,
) -> PartInfo {
    // In 1 MiB chunks, as a client body arrives.
    let chunks = (0..data.len())
        .step_by(MIB)
        .map(|at| data.slice(at..(at + MIB).min(data.len())))
        .collect();
    b.upload_part(
        bucket,
        &key(k),
        id,
        n,
        body(chunks),
        data.len() as u64,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("part {n}: {e}"))
}

fn named(p: &PartInfo) -> CompletedPart {
    CompletedPart {
        part_number: p.part_number,
        etag: format!("\"{}\"", p.etag),
        checksum: None,
    }
}

fn multipart_etag(parts: &[&Bytes]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(Md5::digest(p));
    }
    format!("{}-{}", hex::encode(md5.finalize()), parts.len())
}

fn uploads_query(prefix: &str, delimiter: Option<&str>, max: usize) -> UploadsQuery {
    UploadsQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        key_marker: None,
        upload_id_marker: None,
        max_uploads: max,
    }
}

pub async fn mpu_round_trip(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpu").await;
    let options = UploadOptions {
        headers: ContentHeaders {
            content_type: Some("application/x-parts".into()),
            cache_control: Some("no-store".into()),
            ..ContentHeaders::default()
        },
        user_metadata: vec![("origin".into(), "parts é".into())],
        tags: vec![("run".into(), "42".into())],
        ..UploadOptions::default()
    };
    let id = b
        .create_multipart_upload(&bucket, &key("a/obj"), options.clone())
        .await
        .unwrap();
    let (p1, p2, p3) = (data(1, 5 * MIB + 1), data(2, 6 * MIB), data(3, 10));
    // Out of order.
    let i3 = part(b, &bucket, "a/obj", &id, 3, &p3).await;
    let i1 = part(b, &bucket, "a/obj", &id, 1, &p1).await;
    let i2 = part(b, &bucket, "a/obj", &id, 2, &p2).await;
    assert_eq!(i1.etag, hex::encode(Md5::digest(&p1)));
    assert_eq!(i1.size, p1.len() as u64);
    let listed = b
        .list_parts(&bucket, &key("a/obj"), &id, 0, 1000)
        .await
        .unwrap();
    let numbers: Vec<(u32, u64)> = listed
        .parts
        .iter()
        .map(|p| (p.part_number, p.size))
        .collect();
    assert_eq!(
        numbers,
        vec![(1, p1.len() as u64), (2, p2.len() as u64), (3, 10)]
    );
    assert_eq!(listed.next_part_number_marker, None);
    // Not visible before Complete.
    assert_eq!(code(get(b, &bucket, "a/obj").await), S3ErrorCode::NoSuchKey);
    assert!(list_all(b, &bucket, query("", None, 1000))
        .await
        .0
        .is_empty());
    let ups = b
        .list_multipart_uploads(&bucket, &uploads_query("", None, 1000))
        .await
        .unwrap();
    assert_eq!(
        ups.uploads
            .iter()
            .map(|u| (u.key.as_str(), u.upload_id.as_str()))
            .collect::<Vec<_>>(),
        vec![("a/obj", id.as_str())]
    );

    let parts = [named(&i1), named(&i2), named(&i3)];
    let meta = b
        .complete_multipart_upload(&bucket, &key("a/obj"), &id, &parts, &Conditions::default())
        .await
        .unwrap();
    let want_etag = multipart_etag(&[&p1, &p2, &p3]);
    assert_eq!(meta.etag, want_etag);
    assert_eq!(meta.size, (p1.len() + p2.len() + p3.len()) as u64);
    let whole: Vec<u8> = [&p1[..], &p2[..], &p3[..]].concat();
    assert!(
        get(b, &bucket, "a/obj").await.unwrap() == whole,
        "content differs"
    );
    let head = b
        .head_object(&bucket, &key("a/obj"), &Conditions::default())
        .await
        .unwrap();
    assert_eq!(head.etag, want_etag);
    assert_eq!(head.headers.content_type, options.headers.content_type);
    assert_eq!(head.headers.cache_control, options.headers.cache_control);
    assert_eq!(head.user_metadata, options.user_metadata);
    assert_eq!(head.tag_count, 1);
    assert_eq!(
        b.get_object_tagging(&bucket, &key("a/obj")).await.unwrap(),
        options.tags
    );
    let page = b.list_objects(&bucket, &query("", None, 10)).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].meta.etag, want_etag);
    assert_eq!(page.objects[0].meta.size, meta.size);
    // The upload is closed, and a retried Complete answers the same object.
    let ups = b
        .list_multipart_uploads(&bucket, &uploads_query("", None, 1000))
        .await
        .unwrap();
    assert!(ups.uploads.is_empty());
    let again = b
        .complete_multipart_upload(&bucket, &key("a/obj"), &id, &parts, &Conditions::default())
        .await
        .unwrap();
    assert_eq!(again.etag, want_etag);
    assert_eq!(
        code(
            b.upload_part(&bucket, &key("a/obj"), &id, 4, body(vec![]), 0, None)
                .await
        ),
        S3ErrorCode::NoSuchUpload
    );
}

pub async fn mpu_validation_keeps_upload(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpuval").await;
    put(b, &bucket, "k", b"previous").await;
    let id = b
        .create_multipart_upload(&bucket, &key("k"), UploadOptions::default())
        .await
        .unwrap();
    let (small, last) = (data(1, 1000), data(2, 10));
    let i1 = part(b, &bucket, "k", &id, 1, &small).await;
    let i2 = part(b, &bucket, "k", &id, 2, &last).await;
    let complete = |parts: Vec<CompletedPart>| {
        let (bucket, id) = (bucket.clone(), id.clone());
        async move {
            b.complete_multipart_upload(&bucket, &key("k"), &id, &parts, &Conditions::default())
                .await
        }
    };
    assert_eq!(
        code(complete(vec![named(&i1), named(&i2)]).await),
        S3ErrorCode::EntityTooSmall
    );
    let mut wrong = named(&i2);
    wrong.etag = "\"0123456789abcdef0123456789abcdef\"".into();
    assert_eq!(code(complete(vec![wrong]).await), S3ErrorCode::InvalidPart);
    let mut missing = named(&i2);
    missing.part_number = 9;
    assert_eq!(
        code(complete(vec![missing]).await),
        S3ErrorCode::InvalidPart
    );
    // A condition that fails leaves everything as it was too.
    let if_none = Conditions {
        if_none_match: Some(EtagCondition::parse("*")),
        ..Conditions::default()
    };
    assert_eq!(
        code(
            b.complete_multipart_upload(&bucket, &key("k"), &id, &[named(&i2)], &if_none)
                .await
        ),
        S3ErrorCode::PreconditionFailed
    );
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"previous");
    // Replace part 1 with a big enough one; now it completes.
    let big = data(3, 5 * MIB);
    let i1 = part(b, &bucket, "k", &id, 1, &big).await;
    let listed = b
        .list_parts(&bucket, &key("k"), &id, 0, 1000)
        .await
        .unwrap();
    assert_eq!(listed.parts[0].etag, i1.etag);
    assert_eq!(listed.parts.len(), 2);
    let meta = complete(vec![named(&i1), named(&i2)]).await.unwrap();
    assert_eq!(meta.etag, multipart_etag(&[&big, &last]));
    assert!(get(b, &bucket, "k").await.unwrap() == [&big[..], &last[..]].concat());
}

pub async fn mpu_abort_keeps_object(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpuabort").await;
    put(b, &bucket, "k", b"keep").await;
    let id = b
        .create_multipart_upload(&bucket, &key("k"), UploadOptions::default())
        .await
        .unwrap();
    part(b, &bucket, "k", &id, 1, &data(1, 3 * MIB)).await;
    b.abort_multipart_upload(&bucket, &key("k"), &id)
        .await
        .unwrap();
    assert_eq!(get(b, &bucket, "k").await.unwrap(), b"keep");
    assert_eq!(
        code(b.list_parts(&bucket, &key("k"), &id, 0, 1000).await),
        S3ErrorCode::NoSuchUpload
    );
    assert_eq!(
        code(b.abort_multipart_upload(&bucket, &key("k"), &id).await),
        S3ErrorCode::NoSuchUpload
    );
    let ups = b
        .list_multipart_uploads(&bucket, &uploads_query("", None, 1000))
        .await
        .unwrap();
    assert!(ups.uploads.is_empty());
    assert_eq!(
        list_all(b, &bucket, query("", None, 1000)).await.0,
        vec!["k"]
    );
    // The bucket can be emptied and removed: no upload is left behind.
    b.delete_object(&bucket, &key("k")).await.unwrap();
    b.delete_bucket(&bucket).await.unwrap();
}

pub async fn mpu_unknown_and_foreign_ids(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpuids").await;
    let id = b
        .create_multipart_upload(&bucket, &key("mine"), UploadOptions::default())
        .await
        .unwrap();
    for (k, upload) in [("mine", "0123456789abcdef"), ("other", id.as_str())] {
        assert_eq!(
            code(
                b.upload_part(&bucket, &key(k), upload, 1, body(vec![]), 0, None)
                    .await
            ),
            S3ErrorCode::NoSuchUpload,
            "{k} {upload}"
        );
        assert_eq!(
            code(b.list_parts(&bucket, &key(k), upload, 0, 10).await),
            S3ErrorCode::NoSuchUpload
        );
        assert_eq!(
            code(b.abort_multipart_upload(&bucket, &key(k), upload).await),
            S3ErrorCode::NoSuchUpload
        );
    }
    let missing = unique_bucket("nobucket");
    assert_eq!(
        code(
            b.create_multipart_upload(&missing, &key("k"), UploadOptions::default())
                .await
        ),
        S3ErrorCode::NoSuchBucket
    );
    b.abort_multipart_upload(&bucket, &key("mine"), &id)
        .await
        .unwrap();
}

pub async fn mpu_list_uploads(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpulist").await;
    let keys = ["a/1", "a/2", "b", "b", "c/d/e", "z"];
    let mut ids = Vec::new();
    for k in keys {
        let id = b
            .create_multipart_upload(&bucket, &key(k), UploadOptions::default())
            .await
            .unwrap();
        ids.push((k.to_owned(), id));
    }
    let all = b
        .list_multipart_uploads(&bucket, &uploads_query("", None, 1000))
        .await
        .unwrap();
    let got: Vec<&str> = all.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(got, keys);
    let rolled = b
        .list_multipart_uploads(&bucket, &uploads_query("", Some("/"), 1000))
        .await
        .unwrap();
    assert_eq!(rolled.common_prefixes, vec!["a/", "c/"]);
    assert_eq!(
        rolled
            .uploads
            .iter()
            .map(|u| u.key.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "b", "z"]
    );
    let mut q = uploads_query("", None, 2);
    let mut seen = Vec::new();
    loop {
        let page = b.list_multipart_uploads(&bucket, &q).await.unwrap();
        seen.extend(
            page.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        match page.next {
            Some((k, id)) => {
                q.key_marker = Some(k);
                q.upload_id_marker = Some(id);
            }
            None => break,
        }
    }
    let mut want = ids.clone();
    want.sort();
    seen.sort();
    assert_eq!(seen, want);
    for (k, id) in ids {
        b.abort_multipart_upload(&bucket, &key(&k), &id)
            .await
            .unwrap();
    }
}

pub async fn mpu_parallel_parts(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpupar").await;
    let id = b
        .create_multipart_upload(&bucket, &key("p"), UploadOptions::default())
        .await
        .unwrap();
    let datas: Vec<Bytes> = (1..=4u8)
        .map(|i| data(i, 5 * MIB + usize::from(i)))
        .collect();
    let uploads = datas
        .iter()
        .enumerate()
        .map(|(i, d)| part(b, &bucket, "p", &id, i as u32 + 1, d));
    let infos = futures_util::future::join_all(uploads).await;
    let parts: Vec<CompletedPart> = infos.iter().map(named).collect();
    let meta: ObjectMeta = b
        .complete_multipart_upload(&bucket, &key("p"), &id, &parts, &Conditions::default())
        .await
        .unwrap();
    assert_eq!(meta.etag, multipart_etag(&datas.iter().collect::<Vec<_>>()));
    let whole: Vec<u8> = datas.iter().flat_map(|d| d.iter().copied()).collect();
    assert!(get(b, &bucket, "p").await.unwrap() == whole);
}

/// Not in the shared list: sweeping is account-wide, so on a shared Azure
/// account it would remove the uploads of cases running beside it.
pub async fn mpu_sweep_removes_old_uploads(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpusweep").await;
    let id = b
        .create_multipart_upload(&bucket, &key("k"), UploadOptions::default())
        .await
        .unwrap();
    part(b, &bucket, "k", &id, 1, &data(1, 100)).await;
    assert_eq!(
        b.sweep_multipart_uploads(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        b.sweep_multipart_uploads(Duration::from_millis(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        code(b.list_parts(&bucket, &key("k"), &id, 0, 10).await),
        S3ErrorCode::NoSuchUpload
    );
}

/// A part's verified checksum, as the request body check hands it over.
fn verified(alg: ChecksumAlgorithm, data: &[u8]) -> (ChecksumSource, StoredChecksum) {
    let mut c = Checksummer::new(alg);
    c.update(data);
    let value = c.finish_base64();
    let outcome = blobgate_auth::BodyOutcome::default();
    outcome.complete_with((alg, value.clone()), data.len() as u64);
    let stored = StoredChecksum {
        algorithm: alg.name().to_owned(),
        value,
    };
    (ChecksumSource(outcome), stored)
}

/// An upload that declared a checksum: parts must carry it, keep it and
/// list it; Complete computes the composite checksum and the object keeps
/// its part sizes and checksums.
pub async fn mpu_checksums_and_parts(b: &dyn Backend) {
    let bucket = new_bucket(b, "mpusum").await;
    let declared = UploadChecksum {
        algorithm: "SHA256".into(),
        full_object: false,
    };
    let options = UploadOptions {
        checksum: Some(declared.clone()),
        ..UploadOptions::default()
    };
    let k = key("sum");
    let id = b
        .create_multipart_upload(&bucket, &k, options)
        .await
        .unwrap();
    let (first, last) = (data(1, 5 * MIB), data(2, 100));
    let refused = b
        .upload_part(
            &bucket,
            &k,
            &id,
            1,
            body(vec![first.clone()]),
            first.len() as u64,
            None,
        )
        .await;
    assert_eq!(code(refused), S3ErrorCode::InvalidRequest);
    let (crc, _) = verified(ChecksumAlgorithm::Crc32, &first);
    let refused = b
        .upload_part(
            &bucket,
            &k,
            &id,
            1,
            body(vec![first.clone()]),
            first.len() as u64,
            Some(crc),
        )
        .await;
    assert_eq!(code(refused), S3ErrorCode::InvalidRequest);
    let mut named_parts = Vec::new();
    let mut raw_sums = Vec::new();
    for (n, d) in [(1, &first), (2, &last)] {
        let (source, stored) = verified(ChecksumAlgorithm::Sha256, d);
        let p = b
            .upload_part(
                &bucket,
                &k,
                &id,
                n,
                body(vec![d.clone()]),
                d.len() as u64,
                Some(source),
            )
            .await
            .unwrap();
        assert_eq!(p.checksum.as_ref(), Some(&stored));
        let mut c = Checksummer::new(ChecksumAlgorithm::Sha256);
        c.update(d);
        raw_sums.extend(c.finish_bytes());
        named_parts.push(CompletedPart {
            checksum: Some(stored),
            ..named(&p)
        });
    }
    let page = b.list_parts(&bucket, &k, &id, 0, 10).await.unwrap();
    assert_eq!(page.checksum, Some(declared));
    assert_eq!(
        page.parts
            .iter()
            .map(|p| p.checksum.clone())
            .collect::<Vec<_>>(),
        named_parts
            .iter()
            .map(|p| p.checksum.clone())
            .collect::<Vec<_>>()
    );
    let meta = b
        .complete_multipart_upload(&bucket, &k, &id, &named_parts, &Conditions::default())
        .await
        .unwrap();
    let mut composite = Checksummer::new(ChecksumAlgorithm::Sha256);
    composite.update(&raw_sums);
    let want = format!("{}-2", composite.finish_base64());
    assert_eq!(
        meta.checksum.as_ref().map(|c| c.value.as_str()),
        Some(want.as_str())
    );
    let head = b
        .head_object(&bucket, &k, &Conditions::default())
        .await
        .unwrap();
    assert_eq!(head.checksum, meta.checksum);
    let parts = head.parts.expect("a multipart object keeps its parts");
    assert_eq!(parts.count(), Some(2));
    assert_eq!(parts.part(2), Some((5 * MIB as u64, 100)));
    assert_eq!(
        parts.checksum(2),
        named_parts[1].checksum.as_ref().map(|c| c.value.as_str())
    );
    // A single PUT has no parts.
    let single = put(b, &bucket, "single", b"x").await;
    assert_eq!(single.parts, None);
}

//! The shared backend suite against the Azure backend, on the Azurite
//! instance that conformance/test-all.sh starts (BLOBGATE_TEST_AZURE_*).
//! Without those variables every case fails with the reason, so a run that
//! forgot Azurite cannot pass by skipping.
// Test code: an unexpected error fails the test by panicking.
#![allow(clippy::unwrap_used)]

use blobgate::storage::azure::{AzureBackend, AzureSettings};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run conformance/test-all.sh, which starts Azurite, \
             or set BLOBGATE_TEST_AZURE_ENDPOINT, _ACCOUNT and _KEY"
        )
    })
}

fn backend() -> AzureBackend {
    let endpoint = var("BLOBGATE_TEST_AZURE_ENDPOINT");
    let account = var("BLOBGATE_TEST_AZURE_ACCOUNT");
    let key = var("BLOBGATE_TEST_AZURE_KEY");
    let settings = AzureSettings::from_lookup(Some(&endpoint), |name| match name {
        "AZURE_STORAGE_ACCOUNT" => Some(account.clone()),
        "AZURE_STORAGE_KEY" => Some(key.clone()),
        _ => None,
    })
    .unwrap();
    AzureBackend::new(settings).unwrap()
}

/// An account SAS for the test account (blob service; containers and
/// objects; read, write, delete, list, add, create), valid for an hour.
fn account_sas(account: &str, key_b64: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let expiry = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (sv, ss, srt, sp, spr) = ("2022-11-02", "b", "sco", "rwdlac", "https,http");
    let to_sign = format!("{account}\n{sp}\n{ss}\n{srt}\n\n{expiry}\n\n{spr}\n{sv}\n\n");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&b64.decode(key_b64).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={}&spr={}&sig={}",
        enc(&expiry),
        enc(spr),
        enc(&sig)
    )
}

/// The same account reached with a SAS token instead of the key.
fn sas_backend() -> AzureBackend {
    let endpoint = var("BLOBGATE_TEST_AZURE_ENDPOINT");
    let account = var("BLOBGATE_TEST_AZURE_ACCOUNT");
    let sas = account_sas(&account, &var("BLOBGATE_TEST_AZURE_KEY"));
    let settings = AzureSettings::from_lookup(Some(&endpoint), |name| match name {
        "AZURE_STORAGE_ACCOUNT" => Some(account.clone()),
        "AZURE_STORAGE_SAS_TOKEN" => Some(sas.clone()),
        _ => None,
    })
    .unwrap();
    AzureBackend::new(settings).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_token_reaches_the_account() {
    let backend = sas_backend();
    blobgate_conformance::put_get_round_trip(&backend).await;
    blobgate_conformance::list_pages_resume(&backend).await;
}

/// The multipart sweep works on every container of the account: cases
/// hold this for reading, the sweep cases for writing, so a sweep never
/// removes the uploads of a case running beside it.
static SWEEP: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

macro_rules! azure_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let _guard = SWEEP.read().await;
                let backend = backend();
                blobgate_conformance::$case(&backend).await;
            }
        )*
    };
}

blobgate_conformance::for_each_case!(azure_cases);

/// The shared sweep case, alone on the account (see [`SWEEP`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpu_sweep_removes_old_uploads() {
    let _guard = SWEEP.write().await;
    blobgate_conformance::mpu_sweep_removes_old_uploads(&backend()).await;
}

/// Azure-specific multipart cases: what the service's block semantics mean
/// for uploads (concurrent writes discard staged parts, Abort never touches
/// the object, parts larger than a buffered block).
mod multipart {
    use std::time::Duration;

    use blobgate::conditions::{Conditions, EtagCondition};
    use blobgate::error::S3ErrorCode;
    use blobgate::storage::{
        Backend, BucketName, ContentHeaders, GetOptions, ListQuery, ObjectKey, PartInfo,
        PutOptions, UploadOptions, UploadsQuery,
    };
    use blobgate::storage::{ByteStream, CompletedPart};
    use bytes::Bytes;
    use futures_util::StreamExt;
    use md5::{Digest, Md5};

    use super::SWEEP;

    const MIB: usize = 1 << 20;

    fn key(k: &str) -> ObjectKey {
        ObjectKey::parse(k).unwrap()
    }

    async fn bucket(b: &dyn Backend, tag: &str) -> BucketName {
        let bucket = blobgate_conformance::unique_bucket(tag);
        b.create_bucket(&bucket).await.unwrap();
        bucket
    }

    /// Deterministic bytes, different for each seed.
    fn data(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 16) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// A body in 1 MiB frames (and a short last one).
    fn body(data: &Bytes) -> ByteStream {
        let chunks = (0..data.len())
            .step_by(MIB)
            .map(|at| data.slice(at..(at + MIB).min(data.len())))
            .collect();
        blobgate_conformance::body(chunks)
    }

    async fn put(b: &dyn Backend, bucket: &BucketName, k: &str, data: &Bytes) {
        let options = PutOptions {
            content_length: Some(data.len() as u64),
            ..PutOptions::default()
        };
        b.put_object(bucket, &key(k), body(data), options)
            .await
            .unwrap();
    }

    async fn get(b: &dyn Backend, bucket: &BucketName, k: &str) -> Vec<u8> {
        let out = b
            .get_object(bucket, &key(k), GetOptions::default())
            .await
            .unwrap();
        let mut s = out.body;
        let mut all = Vec::new();
        while let Some(c) = s.next().await {
            all.extend_from_slice(&c.unwrap());
        }
        all
    }

    async fn create(b: &dyn Backend, bucket: &BucketName, k: &str) -> String {
        b.create_multipart_upload(bucket, &key(k), UploadOptions::default())
            .await
            .unwrap()
    }

    async fn part(
        b: &dyn Backend,
        bucket: &BucketName,
        k: &str,
        id: &str,
        n: u32,
        data: &Bytes,
    ) -> PartInfo {
        let info = b
            .upload_part(bucket, &key(k), id, n, body(data), data.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(info.etag, hex::encode(Md5::digest(data)));
        assert_eq!(info.size, data.len() as u64);
        info
    }

    fn completed(parts: &[&PartInfo]) -> Vec<CompletedPart> {
        parts
            .iter()
            .map(|p| CompletedPart {
                part_number: p.part_number,
                etag: format!("\"{}\"", p.etag),
                checksum: None,
            })
            .collect()
    }

    fn multipart_etag(parts: &[&Bytes]) -> String {
        let mut md5 = Md5::new();
        for p in parts {
            md5.update(Md5::digest(p));
        }
        format!("{}-{}", hex::encode(md5.finalize()), parts.len())
    }

    fn code<T>(r: Result<T, blobgate::error::S3Error>) -> S3ErrorCode {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.code,
        }
    }

    fn uploads_query() -> UploadsQuery {
        UploadsQuery {
            max_uploads: 1000,
            ..UploadsQuery::default()
        }
    }

    /// A buffered part of three blocks, a streamed part (over 40 MiB) and a
    /// small last part: bytes, ETag, headers and metadata come back on
    /// GET, HEAD and LIST; the bookkeeping never shows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_multi_block_parts_round_trip() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-big").await;
        let options = UploadOptions {
            headers: ContentHeaders {
                content_type: Some("application/x-test".into()),
                cache_control: Some("no-cache".into()),
                ..ContentHeaders::default()
            },
            user_metadata: vec![("colour".into(), "blue".into())],
            tags: Vec::new(),
            ..UploadOptions::default()
        };
        let id = b
            .create_multipart_upload(&bucket, &key("dir/big"), options)
            .await
            .unwrap();
        let listed = b
            .list_multipart_uploads(&bucket, &uploads_query())
            .await
            .unwrap();
        assert_eq!(listed.uploads.len(), 1);
        assert_eq!(listed.uploads[0].key, "dir/big");
        assert_eq!(listed.uploads[0].upload_id, id);

        let (d1, d2, d3) = (data(20 * MIB, 1), data(41 * MIB + 5, 2), data(1000, 3));
        let p1 = part(b, &bucket, "dir/big", &id, 1, &d1).await;
        let p2 = part(b, &bucket, "dir/big", &id, 2, &d2).await;
        let p3 = part(b, &bucket, "dir/big", &id, 3, &d3).await;
        let page = b
            .list_parts(&bucket, &key("dir/big"), &id, 0, 2)
            .await
            .unwrap();
        assert_eq!(page.parts, vec![p1.clone(), p2.clone()]);
        assert_eq!(page.next_part_number_marker, Some(2));
        let page = b
            .list_parts(&bucket, &key("dir/big"), &id, 2, 2)
            .await
            .unwrap();
        assert_eq!(page.parts, vec![p3.clone()]);

        // Nothing of the upload is visible as an object yet.
        let q = ListQuery {
            max_keys: 1000,
            ..ListQuery::default()
        };
        assert!(b
            .list_objects(&bucket, &q)
            .await
            .unwrap()
            .objects
            .is_empty());

        let meta = b
            .complete_multipart_upload(
                &bucket,
                &key("dir/big"),
                &id,
                &completed(&[&p1, &p2, &p3]),
                &Conditions::default(),
            )
            .await
            .unwrap();
        let etag = multipart_etag(&[&d1, &d2, &d3]);
        assert_eq!(meta.etag, etag);
        assert_eq!(meta.size, (d1.len() + d2.len() + d3.len()) as u64);

        let head = b
            .head_object(&bucket, &key("dir/big"), &Conditions::default())
            .await
            .unwrap();
        assert_eq!(head.etag, etag);
        assert_eq!(head.size, meta.size);
        assert_eq!(
            head.headers.content_type.as_deref(),
            Some("application/x-test")
        );
        assert_eq!(head.headers.cache_control.as_deref(), Some("no-cache"));
        assert_eq!(head.user_metadata, vec![("colour".into(), "blue".into())]);
        let listed = b.list_objects(&bucket, &q).await.unwrap();
        assert_eq!(listed.objects.len(), 1);
        assert_eq!(listed.objects[0].key, "dir/big");
        assert_eq!(listed.objects[0].meta.etag, etag);
        assert!(listed.common_prefixes.is_empty());

        let got = get(b, &bucket, "dir/big").await;
        assert_eq!(got.len() as u64, meta.size);
        let mut want = Md5::new();
        for d in [&d1, &d2, &d3] {
            want.update(d);
        }
        assert_eq!(Md5::digest(&got), want.finalize());

        // The upload is gone, and its bookkeeping with it.
        let listed = b
            .list_multipart_uploads(&bucket, &uploads_query())
            .await
            .unwrap();
        assert!(listed.uploads.is_empty());
        let code = b
            .list_parts(&bucket, &key("dir/big"), &id, 0, 10)
            .await
            .unwrap_err()
            .code;
        assert_eq!(code, S3ErrorCode::NoSuchUpload);
        b.delete_object(&bucket, &key("dir/big")).await.unwrap();
        b.delete_bucket(&bucket).await.unwrap();
    }

    /// A PUT to the key discards the parts staged before it: Complete says
    /// so with InvalidPart, the PUT's object stays, and the upload stays
    /// open (parts uploaded again complete normally).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_put_meanwhile_discards_staged_parts() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-put").await;
        let id = create(b, &bucket, "k").await;
        let (d1, d2) = (data(6 * MIB, 1), data(10, 2));
        let p1 = part(b, &bucket, "k", &id, 1, &d1).await;
        let p2 = part(b, &bucket, "k", &id, 2, &d2).await;
        let other = data(9 * MIB, 9);
        put(b, &bucket, "k", &other).await;
        let err = b
            .complete_multipart_upload(
                &bucket,
                &key("k"),
                &id,
                &completed(&[&p1, &p2]),
                &Conditions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidPart);
        assert!(err.message.contains("discarded"), "{}", err.message);
        assert_eq!(get(b, &bucket, "k").await, other.as_ref());

        // The upload is intact: upload the parts again and complete.
        let p1 = part(b, &bucket, "k", &id, 1, &d1).await;
        let p2 = part(b, &bucket, "k", &id, 2, &d2).await;
        let meta = b
            .complete_multipart_upload(
                &bucket,
                &key("k"),
                &id,
                &completed(&[&p1, &p2]),
                &Conditions::default(),
            )
            .await
            .unwrap();
        assert_eq!(meta.etag, multipart_etag(&[&d1, &d2]));
        let got = get(b, &bucket, "k").await;
        assert_eq!(got.len(), d1.len() + d2.len());
        assert!(got.starts_with(&d1) && got.ends_with(&d2));
    }

    /// Two uploads to one key: the first Complete wins, the second gets
    /// InvalidPart, and the object is the winner's, whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_concurrent_uploads_to_one_key() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-race").await;
        let (a, z) = (create(b, &bucket, "k").await, create(b, &bucket, "k").await);
        let (a1, a2) = (data(5 * MIB, 1), data(100, 2));
        let (z1, z2) = (data(5 * MIB, 3), data(200, 4));
        let (pa1, pz1) = tokio::join!(
            part(b, &bucket, "k", &a, 1, &a1),
            part(b, &bucket, "k", &z, 1, &z1)
        );
        let pa2 = part(b, &bucket, "k", &a, 2, &a2).await;
        let pz2 = part(b, &bucket, "k", &z, 2, &z2).await;
        b.complete_multipart_upload(
            &bucket,
            &key("k"),
            &a,
            &completed(&[&pa1, &pa2]),
            &Conditions::default(),
        )
        .await
        .unwrap();
        let err = b
            .complete_multipart_upload(
                &bucket,
                &key("k"),
                &z,
                &completed(&[&pz1, &pz2]),
                &Conditions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidPart);
        let got = get(b, &bucket, "k").await;
        assert_eq!(got.len(), a1.len() + a2.len());
        assert!(got.starts_with(&a1) && got.ends_with(&a2));
        b.abort_multipart_upload(&bucket, &key("k"), &z)
            .await
            .unwrap();
    }

    /// Abort forgets the upload and never touches the object at the key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_abort_keeps_the_object() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-abort").await;
        let old = data(3 * MIB, 7);
        put(b, &bucket, "k", &old).await;
        let id = create(b, &bucket, "k").await;
        let p1 = part(b, &bucket, "k", &id, 1, &data(MIB, 1)).await;
        b.abort_multipart_upload(&bucket, &key("k"), &id)
            .await
            .unwrap();
        assert_eq!(get(b, &bucket, "k").await, old.as_ref());
        assert_eq!(
            code(b.abort_multipart_upload(&bucket, &key("k"), &id).await),
            S3ErrorCode::NoSuchUpload
        );
        assert_eq!(
            code(b.list_parts(&bucket, &key("k"), &id, 0, 10).await),
            S3ErrorCode::NoSuchUpload
        );
        assert_eq!(
            code(
                b.complete_multipart_upload(
                    &bucket,
                    &key("k"),
                    &id,
                    &completed(&[&p1]),
                    &Conditions::default()
                )
                .await
            ),
            S3ErrorCode::NoSuchUpload
        );
        let d = data(10, 1);
        assert_eq!(
            code(
                b.upload_part(&bucket, &key("k"), &id, 1, body(&d), 10, None)
                    .await
            ),
            S3ErrorCode::NoSuchUpload
        );
        assert!(b
            .list_multipart_uploads(&bucket, &uploads_query())
            .await
            .unwrap()
            .uploads
            .is_empty());
        assert_eq!(get(b, &bucket, "k").await, old.as_ref());
    }

    /// A retried Complete answers the same object; another part list for a
    /// completed upload is NoSuchUpload.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_retried_complete_succeeds() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-retry").await;
        let id = create(b, &bucket, "k").await;
        let (d1, d2) = (data(5 * MIB, 1), data(3, 2));
        let p1 = part(b, &bucket, "k", &id, 1, &d1).await;
        let p2 = part(b, &bucket, "k", &id, 2, &d2).await;
        let list = completed(&[&p1, &p2]);
        let first = b
            .complete_multipart_upload(&bucket, &key("k"), &id, &list, &Conditions::default())
            .await
            .unwrap();
        // Even with a condition that the new object now fails.
        let if_absent = Conditions {
            if_none_match: Some(EtagCondition::Any),
            ..Conditions::default()
        };
        let again = b
            .complete_multipart_upload(&bucket, &key("k"), &id, &list, &if_absent)
            .await
            .unwrap();
        assert_eq!(first, again);
        let code = b
            .complete_multipart_upload(
                &bucket,
                &key("k"),
                &id,
                &completed(&[&p1]),
                &Conditions::default(),
            )
            .await
            .unwrap_err()
            .code;
        assert_eq!(code, S3ErrorCode::NoSuchUpload);
        // Another key with the same id is not this upload.
        let code = b
            .complete_multipart_upload(&bucket, &key("k2"), &id, &list, &Conditions::default())
            .await
            .unwrap_err()
            .code;
        assert_eq!(code, S3ErrorCode::NoSuchUpload);
        assert_eq!(get(b, &bucket, "k").await.len(), d1.len() + d2.len());
    }

    /// Conditions on Complete are enforced, and a failed Complete (a
    /// precondition, a wrong ETag) leaves the upload as it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_failed_complete_keeps_the_upload() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-cond").await;
        let old = data(100, 5);
        put(b, &bucket, "k", &old).await;
        let id = create(b, &bucket, "k").await;
        let d1 = data(MIB, 1);
        let p1 = part(b, &bucket, "k", &id, 1, &d1).await;
        let if_absent = Conditions {
            if_none_match: Some(EtagCondition::Any),
            ..Conditions::default()
        };
        let err = b
            .complete_multipart_upload(&bucket, &key("k"), &id, &completed(&[&p1]), &if_absent)
            .await
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::PreconditionFailed);
        let mut wrong = completed(&[&p1]);
        wrong[0].etag = "\"00000000000000000000000000000000\"".into();
        let err = b
            .complete_multipart_upload(&bucket, &key("k"), &id, &wrong, &Conditions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidPart);
        assert_eq!(get(b, &bucket, "k").await, old.as_ref());
        let old_etag = hex::encode(Md5::digest(&old));
        let if_old = Conditions {
            if_match: Some(EtagCondition::Tags(vec![old_etag])),
            ..Conditions::default()
        };
        b.complete_multipart_upload(&bucket, &key("k"), &id, &completed(&[&p1]), &if_old)
            .await
            .unwrap();
        assert_eq!(get(b, &bucket, "k").await, d1.as_ref());
    }

    /// Replacing a part keeps the latest; bodies shorter or longer than
    /// announced are IncompleteBody on both the buffered and the streamed
    /// path and leave the stored part as it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_parts_replace_and_bodies_are_checked() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-body").await;
        let id = create(b, &bucket, "k").await;
        let first = part(b, &bucket, "k", &id, 1, &data(MIB, 1)).await;
        let d1 = data(2 * MIB, 2);
        let p1 = part(b, &bucket, "k", &id, 1, &d1).await;
        assert_ne!(first.etag, p1.etag);
        for (sent, announced) in [(MIB, 2 * MIB), (2 * MIB, MIB), (MIB, 50 * MIB)] {
            let d = data(sent, 3);
            let err = b
                .upload_part(&bucket, &key("k"), &id, 1, body(&d), announced as u64, None)
                .await
                .unwrap_err();
            assert_eq!(
                err.code,
                S3ErrorCode::IncompleteBody,
                "{sent} of {announced}"
            );
        }
        let parts = b
            .list_parts(&bucket, &key("k"), &id, 0, 10)
            .await
            .unwrap()
            .parts;
        assert_eq!(parts, vec![p1.clone()]);
        b.complete_multipart_upload(
            &bucket,
            &key("k"),
            &id,
            &completed(&[&p1]),
            &Conditions::default(),
        )
        .await
        .unwrap();
        assert_eq!(get(b, &bucket, "k").await, d1.as_ref());
    }

    /// Names and ids the backend refuses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_refusals() {
        let _guard = SWEEP.read().await;
        let b = &super::backend();
        let missing = blobgate_conformance::unique_bucket("mpu-none");
        let code = b
            .create_multipart_upload(&missing, &key("k"), UploadOptions::default())
            .await
            .unwrap_err()
            .code;
        assert_eq!(code, S3ErrorCode::NoSuchBucket);
        let bucket = bucket(b, "mpu-names").await;
        for bad in [".blobgate/uploads/x", "a\\b", ".."] {
            let code = b
                .create_multipart_upload(&bucket, &key(bad), UploadOptions::default())
                .await
                .unwrap_err()
                .code;
            assert_eq!(code, S3ErrorCode::InvalidObjectName, "{bad}");
        }
        let id = create(b, &bucket, "k").await;
        let d = data(10, 1);
        for (k, upload) in [("other", id.as_str()), ("k", "0123abcd"), ("k", "../x")] {
            let code = b
                .upload_part(&bucket, &key(k), upload, 1, body(&d), 10, None)
                .await
                .unwrap_err()
                .code;
            assert_eq!(code, S3ErrorCode::NoSuchUpload, "{k} {upload}");
        }
        b.abort_multipart_upload(&bucket, &key("k"), &id)
            .await
            .unwrap();
    }

    /// A sweep of uploads older than nothing removes every upload, its
    /// parts included; an hour's age removes nothing fresh.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpu_sweep_at_zero_age_removes_everything() {
        let _guard = SWEEP.write().await;
        let b = &super::backend();
        let bucket = bucket(b, "mpu-sweep").await;
        let id = create(b, &bucket, "k").await;
        part(b, &bucket, "k", &id, 1, &data(100, 1)).await;
        assert_eq!(
            b.sweep_multipart_uploads(Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            b.list_multipart_uploads(&bucket, &uploads_query())
                .await
                .unwrap()
                .uploads
                .len(),
            1
        );
        assert!(b.sweep_multipart_uploads(Duration::ZERO).await.unwrap() >= 1);
        assert!(b
            .list_multipart_uploads(&bucket, &uploads_query())
            .await
            .unwrap()
            .uploads
            .is_empty());
        let code = b
            .list_parts(&bucket, &key("k"), &id, 0, 10)
            .await
            .unwrap_err()
            .code;
        assert_eq!(code, S3ErrorCode::NoSuchUpload);
        b.delete_bucket(&bucket).await.unwrap();
    }
}

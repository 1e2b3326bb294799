//! The shared backend suite against the local-directory backend, plus the
//! fs-specific guarantee that no key reaches outside the data directory.
// Test code: an unexpected error fails the test by panicking.
#![allow(clippy::unwrap_used)]

use blobgate::storage::fs::FsBackend;
use blobgate::storage::{Backend, BucketName, CompletedPart, ObjectKey, UploadOptions};

fn backend() -> (tempfile::TempDir, FsBackend) {
    let dir = tempfile::tempdir().unwrap();
    let backend = FsBackend::open(dir.path().join("data")).unwrap();
    (dir, backend)
}

macro_rules! fs_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_dir, backend) = backend();
                blobgate_conformance::$case(&backend).await;
            }
        )*
    };
}

blobgate_conformance::for_each_case!(fs_cases);

/// Every file the backend writes stays under its data directory.
#[tokio::test]
async fn keys_never_leave_the_data_dir() {
    let (dir, backend) = backend();
    let canary = dir.path().join("canary");
    std::fs::write(&canary, b"outside").unwrap();
    let bucket = blobgate_conformance::unique_bucket("escape");
    backend.create_bucket(&bucket).await.unwrap();
    for key in blobgate_conformance::TRICKY_KEYS.iter().copied().chain([
        "../canary",
        "../../canary",
        "/../../canary",
        "..\\canary",
    ]) {
        let key = ObjectKey::parse(key).unwrap();
        backend
            .put_object(
                &bucket,
                &key,
                blobgate_conformance::body(vec![bytes::Bytes::from_static(b"inside")]),
                blobgate::storage::PutOptions::default(),
            )
            .await
            .unwrap();
    }
    assert_eq!(std::fs::read(&canary).unwrap(), b"outside");
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside.len(), 2, "{outside:?}");
}

/// Abandoned uploads are swept (fs only: see the case's doc comment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpu_sweep_removes_old_uploads() {
    let (_dir, backend) = backend();
    blobgate_conformance::mpu_sweep_removes_old_uploads(&backend).await;
}

/// An upload of `key` with one part of `size` bytes: its id, and the parts
/// list that completes it.
async fn one_part_upload(
    backend: &FsBackend,
    bucket: &BucketName,
    key: &ObjectKey,
    size: usize,
) -> (String, Vec<CompletedPart>) {
    let id = backend
        .create_multipart_upload(bucket, key, UploadOptions::default())
        .await
        .unwrap();
    let data = bytes::Bytes::from(vec![b'x'; size]);
    let part = backend
        .upload_part(
            bucket,
            key,
            &id,
            1,
            blobgate_conformance::body(vec![data]),
            size as u64,
            None,
        )
        .await
        .unwrap();
    let parts = vec![CompletedPart {
        part_number: 1,
        etag: part.etag,
        checksum: None,
    }];
    (id, parts)
}

/// An Abort racing a Complete of the same upload: exactly one of them
/// succeeds, and a Complete that fails leaves no object behind (abort takes
/// the bucket lock Complete commits under, so it cannot pull the upload
/// away between the object's rename and the `@done` record).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abort_racing_complete_has_one_winner() {
    let (_dir, backend) = backend();
    let backend = std::sync::Arc::new(backend);
    let bucket = blobgate_conformance::unique_bucket("mpurace");
    backend.create_bucket(&bucket).await.unwrap();
    for i in 0..200u64 {
        let key = ObjectKey::parse(&format!("k{i}")).unwrap();
        let (id, parts) = one_part_upload(&backend, &bucket, &key, 1024).await;
        let (b1, b2) = (backend.clone(), backend.clone());
        let (k1, k2, bk1, bk2, id1, id2) = (
            key.clone(),
            key.clone(),
            bucket.clone(),
            bucket.clone(),
            id.clone(),
            id.clone(),
        );
        let complete = tokio::spawn(async move {
            b1.complete_multipart_upload(&bk1, &k1, &id1, &parts, &Default::default())
                .await
        });
        let abort = tokio::spawn(async move {
            // Spread the abort over the Complete's run.
            tokio::time::sleep(std::time::Duration::from_micros((i % 40) * 50)).await;
            b2.abort_multipart_upload(&bk2, &k2, &id2).await
        });
        let (completed, aborted) = (complete.await.unwrap(), abort.await.unwrap());
        let exists = backend
            .head_object(&bucket, &key, &Default::default())
            .await
            .is_ok();
        match (&completed, &aborted) {
            (Ok(_), Err(e)) => {
                assert_eq!(e.code, blobgate::error::S3ErrorCode::NoSuchUpload, "{i}");
                assert!(exists, "{i}");
            }
            (Err(e), Ok(())) => {
                assert_eq!(
                    e.code,
                    blobgate::error::S3ErrorCode::NoSuchUpload,
                    "{i}: {e}"
                );
                assert!(!exists, "{i}: a failed Complete left its object");
            }
            _ => panic!("{i}: complete {completed:?}, abort {aborted:?}"),
        }
    }
}

/// Two identical Completes at once (a client's retry racing its first
/// attempt): both answer the object made, never NoSuchUpload.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_completes_both_succeed() {
    let (_dir, backend) = backend();
    let backend = std::sync::Arc::new(backend);
    let bucket = blobgate_conformance::unique_bucket("mpuretry");
    backend.create_bucket(&bucket).await.unwrap();
    for i in 0..100u64 {
        let key = ObjectKey::parse(&format!("k{i}")).unwrap();
        let (id, parts) = one_part_upload(&backend, &bucket, &key, 64 * 1024).await;
        let run = |delay: u64| {
            let (b, bk, k, id, parts) = (
                backend.clone(),
                bucket.clone(),
                key.clone(),
                id.clone(),
                parts.clone(),
            );
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_micros(delay)).await;
                b.complete_multipart_upload(&bk, &k, &id, &parts, &Default::default())
                    .await
            })
        };
        let (first, second) = (run(0), run((i % 20) * 50));
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let (first, second) = (
            first.unwrap_or_else(|e| panic!("{i}: first: {e}")),
            second.unwrap_or_else(|e| panic!("{i}: second: {e}")),
        );
        assert_eq!(first.etag, second.etag, "{i}");
    }
}

//! The shared backend suite against the local-directory backend, plus the
//! fs-specific guarantee that no key reaches outside the data directory.
// Test code: an unexpected error fails the test by panicking.
#![allow(clippy::unwrap_used)]

use blobgate::storage::fs::FsBackend;
use blobgate::storage::{Backend, ObjectKey};

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

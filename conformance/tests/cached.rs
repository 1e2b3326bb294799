//! The read cache: the shared backend suite through the cache (it must not
//! change what any operation answers), and the cache's own guarantees:
//! writes through it are seen at once, writes around it within the
//! revalidation window, concurrent misses make one backend request.
// Test code: an unexpected error fails the test by panicking.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use blobgate::conditions::Conditions;
use blobgate::range::ByteRange;
use blobgate::storage::cache::{CacheConfig, CachedBackend};
use blobgate::storage::fs::FsBackend;
use blobgate::storage::{
    Backend, BucketName, ByteStream, GetOptions, ObjectKey, PutOptions, UploadOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;

fn config(revalidate_after: Duration) -> CacheConfig {
    CacheConfig {
        capacity_bytes: 64 << 20,
        max_object_bytes: 1 << 20,
        revalidate_after,
    }
}

/// A cache over a fresh data dir, and a second backend on the same dir that
/// writes around the cache (as another replica would).
fn setup(revalidate_after: Duration) -> (tempfile::TempDir, CachedBackend, FsBackend) {
    let dir = tempfile::tempdir().unwrap();
    let inner = FsBackend::open(dir.path().join("data")).unwrap();
    let other = FsBackend::open(dir.path().join("data")).unwrap();
    let cached = CachedBackend::new(Arc::new(inner), config(revalidate_after));
    (dir, cached, other)
}

macro_rules! cached_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_dir, cached, _) = setup(Duration::from_secs(2));
                blobgate_conformance::$case(&cached).await;
            }
        )*
    };
}

blobgate_conformance::for_each_case!(cached_cases);

fn k(s: &str) -> ObjectKey {
    ObjectKey::parse(s).unwrap()
}

fn one(data: &[u8]) -> ByteStream {
    let b = Bytes::copy_from_slice(data);
    Box::pin(futures_util::stream::once(async move { Ok(b) }))
}

async fn put(b: &dyn Backend, bucket: &BucketName, key: &str, data: &[u8]) {
    let options = PutOptions {
        content_length: Some(data.len() as u64),
        ..PutOptions::default()
    };
    b.put_object(bucket, &k(key), one(data), options)
        .await
        .unwrap();
}

async fn read(
    b: &dyn Backend,
    bucket: &BucketName,
    key: &str,
    range: Option<ByteRange>,
) -> Vec<u8> {
    let options = GetOptions {
        range,
        conditions: Conditions::default(),
    };
    let mut out = b.get_object(bucket, &k(key), options).await.unwrap().body;
    let mut all = Vec::new();
    while let Some(c) = out.next().await {
        all.extend_from_slice(&c.unwrap());
    }
    all
}

async fn bucket(b: &dyn Backend) -> BucketName {
    let name = blobgate_conformance::unique_bucket("cache");
    b.create_bucket(&name).await.unwrap();
    name
}

/// Within 2 s, reads of `key` through the cache answer `want`.
async fn served_soon(cached: &CachedBackend, b: &BucketName, key: &str, want: &[u8]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while read(cached, b, key, None).await != want {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache still serves the old object"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A PUT whose request goes away (the client disconnected, hyper dropped the
/// handler) after the backend took the write still removes the cached entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_write_still_invalidates() {
    use std::future::Future;
    use std::task::Poll;
    let (_dir, cached, other) = setup(Duration::from_secs(3600));
    let b = bucket(&cached).await;
    let mut attempts = 0;
    'attempt: loop {
        attempts += 1;
        assert!(
            attempts <= 5,
            "never caught the write between its commit and its end"
        );
        put(&cached, &b, "k", b"one").await;
        assert_eq!(read(&cached, &b, "k", None).await, b"one"); // cached now
        let landed = || async {
            let meta = other.head_object(&b, &k("k"), &Conditions::default()).await;
            meta.is_ok_and(|m| m.size == 7)
        };
        let mut write = Box::pin(put(&cached, &b, "k", b"seven!!"));
        // Poll the write a step at a time; between steps, wait for its commit
        // (which runs on the blocking pool) without polling it.
        'steps: loop {
            let step = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            if step.is_ready() {
                continue 'attempt; // finished before it could be caught: again
            }
            for _ in 0..40 {
                if landed().await {
                    break 'steps;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        drop(write); // committed, and abandoned before it could invalidate
        break;
    }
    served_soon(&cached, &b, "k", b"seven!!").await;
}

/// A PUT dropped after its body was sent but before the backend committed it
/// (the client hung up while waiting for the answer): the write goes on, and
/// a read in between that cached the old object does not outlive it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_before_its_commit_still_invalidates_after_it() {
    use std::future::Future;
    use std::sync::atomic::AtomicBool;
    use std::task::Poll;
    let (_dir, cached, other) = setup(Duration::from_secs(3600));
    let b = bucket(&cached).await;
    put(&cached, &b, "k", b"one").await;
    assert_eq!(read(&cached, &b, "k", None).await, b"one");
    let sent = Arc::new(AtomicBool::new(false));
    let flag = sent.clone();
    let body: ByteStream = Box::pin(
        futures_util::stream::once(async { Ok(Bytes::from_static(b"seven!!")) }).chain(
            futures_util::stream::poll_fn(move |_| {
                flag.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }),
        ),
    );
    let options = PutOptions {
        content_length: Some(7),
        ..PutOptions::default()
    };
    let key = k("k");
    let mut write = Box::pin(cached.put_object(&b, &key, body, options));
    while !sent.load(Ordering::SeqCst) {
        let step = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        assert!(
            step.is_pending(),
            "the write finished before its body was seen to end"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(write);
    // Most likely before the commit: this caches the old object again.
    read(&cached, &b, "k", None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let meta = other.head_object(&b, &k("k"), &Conditions::default()).await;
        if meta.is_ok_and(|m| m.size == 7) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped write never landed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    served_soon(&cached, &b, "k", b"seven!!").await;
}

#[tokio::test]
async fn writes_through_the_cache_are_seen_at_once() {
    // A long window: only invalidation can make the new data visible.
    let (_dir, cached, _) = setup(Duration::from_secs(3600));
    let b = bucket(&cached).await;
    put(&cached, &b, "k", b"one").await;
    assert_eq!(read(&cached, &b, "k", None).await, b"one");
    assert_eq!(read(&cached, &b, "k", None).await, b"one");
    assert!(cached.stats().hits.load(Ordering::Relaxed) >= 1);
    put(&cached, &b, "k", b"two").await;
    assert_eq!(read(&cached, &b, "k", None).await, b"two");
    let meta = cached
        .head_object(&b, &k("k"), &Conditions::default())
        .await
        .unwrap();
    assert_eq!(meta.size, 3);
    // A completed multipart upload replaces it too.
    let id = cached
        .create_multipart_upload(&b, &k("k"), UploadOptions::default())
        .await
        .unwrap();
    let part = cached
        .upload_part(&b, &k("k"), &id, 1, one(b"three"), 5, None)
        .await
        .unwrap();
    let done = blobgate::storage::CompletedPart {
        part_number: 1,
        etag: part.etag,
        checksum: None,
    };
    cached
        .complete_multipart_upload(&b, &k("k"), &id, &[done], &Conditions::default())
        .await
        .unwrap();
    assert_eq!(read(&cached, &b, "k", None).await, b"three");
    // And a delete is never answered from the cache.
    cached.delete_object(&b, &k("k")).await.unwrap();
    let gone = cached.get_object(&b, &k("k"), GetOptions::default()).await;
    assert!(gone.is_err());
    let gone = cached
        .head_object(&b, &k("k"), &Conditions::default())
        .await;
    assert!(gone.is_err());
}

#[tokio::test]
async fn writes_around_the_cache_are_seen_within_the_window() {
    let window = Duration::from_millis(300);
    let (_dir, cached, other) = setup(window);
    let b = bucket(&cached).await;
    put(&cached, &b, "k", b"old").await;
    assert_eq!(read(&cached, &b, "k", None).await, b"old");
    put(&other, &b, "k", b"new!").await;
    // Inside the window the cached copy may still be served...
    let started = std::time::Instant::now();
    loop {
        let got = read(&cached, &b, "k", None).await;
        if got == b"new!" {
            break;
        }
        assert_eq!(got, b"old");
        assert!(
            started.elapsed() < window + Duration::from_millis(200),
            "the change went unseen past the revalidation window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cached.stats().revalidations.load(Ordering::Relaxed) >= 1);
    // ...and a delete around the cache is seen the same way.
    other.delete_object(&b, &k("k")).await.unwrap();
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    assert!(cached
        .get_object(&b, &k("k"), GetOptions::default())
        .await
        .is_err());
    assert!(cached
        .head_object(&b, &k("k"), &Conditions::default())
        .await
        .is_err());
}

#[tokio::test]
async fn unchanged_objects_revalidate_without_refetching() {
    let (_dir, cached, _) = setup(Duration::ZERO);
    let b = bucket(&cached).await;
    put(&cached, &b, "k", b"same").await;
    for _ in 0..5 {
        assert_eq!(read(&cached, &b, "k", None).await, b"same");
    }
    let stats = cached.stats();
    assert_eq!(stats.misses.load(Ordering::Relaxed), 1);
    assert_eq!(stats.revalidations.load(Ordering::Relaxed), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_make_one_backend_request() {
    let (_dir, cached, _) = setup(Duration::from_secs(60));
    let cached = Arc::new(cached);
    let b = bucket(cached.as_ref()).await;
    let data = vec![7u8; 300_000];
    put(cached.as_ref(), &b, "hot", &data).await;
    let reads = (0..32).map(|_| {
        let (cached, b) = (cached.clone(), b.clone());
        tokio::spawn(async move { read(cached.as_ref(), &b, "hot", None).await })
    });
    for r in futures_util::future::join_all(reads).await {
        assert!(r.unwrap() == data);
    }
    let stats = cached.stats();
    assert_eq!(stats.misses.load(Ordering::Relaxed), 1, "one backend fetch");
    assert_eq!(stats.hits.load(Ordering::Relaxed), 31);
}

#[tokio::test]
async fn ranges_and_large_objects() {
    let (_dir, cached, _) = setup(Duration::from_secs(60));
    let b = bucket(&cached).await;
    let small: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    put(&cached, &b, "small", &small).await;
    read(&cached, &b, "small", None).await; // now cached whole
    assert!(cached.weighted_size().await >= small.len() as u64);
    let r = ByteRange::From {
        first: 10,
        last: Some(99_999),
    };
    assert!(read(&cached, &b, "small", Some(r)).await == small[10..100_000]);
    assert!(
        read(&cached, &b, "small", Some(ByteRange::Suffix(7))).await == small[small.len() - 7..]
    );
    let large: Vec<u8> = (0..(3u32 << 20)).map(|i| (i * 7) as u8).collect();
    put(&cached, &b, "large", &large).await;
    assert!(read(&cached, &b, "large", None).await == large);
    assert!(read(&cached, &b, "large", None).await == large);
    assert!(
        read(&cached, &b, "large", Some(ByteRange::Suffix(5))).await == large[large.len() - 5..]
    );
    // The large object's bytes were never kept.
    assert!(cached.weighted_size().await < 1 << 20);
}

#[tokio::test]
async fn the_budget_is_kept_by_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let inner = FsBackend::open(dir.path().join("data")).unwrap();
    let budget = 2 << 20;
    let cached = CachedBackend::new(
        Arc::new(inner),
        CacheConfig {
            capacity_bytes: budget,
            max_object_bytes: 1 << 20,
            revalidate_after: Duration::from_secs(60),
        },
    );
    let b = bucket(&cached).await;
    let data = vec![1u8; 512 << 10];
    for i in 0..12 {
        let key = format!("o{i}");
        put(&cached, &b, &key, &data).await;
        assert!(read(&cached, &b, &key, None).await == data);
    }
    assert!(cached.weighted_size().await <= budget);
    assert!(cached.stats().evictions.load(Ordering::Relaxed) > 0);
}

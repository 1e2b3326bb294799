//! The shared backend suite against the Azure backend, on the Azurite
//! instance that conformance/test-all.sh starts (BLOBGATE_TEST_AZURE_*).
//! Without those variables every case fails with the reason, so a run that
//! forgot Azurite cannot pass by skipping.
// Test code: an unexpected error fails the test by panicking.
#![allow(clippy::unwrap_used)]

use blobgate::storage::azure::{AzureBackend, AzureSettings};

fn backend() -> AzureBackend {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run conformance/test-all.sh, which starts Azurite, \
                 or set BLOBGATE_TEST_AZURE_ENDPOINT, _ACCOUNT and _KEY"
            )
        })
    };
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

macro_rules! azure_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let backend = backend();
                blobgate_conformance::$case(&backend).await;
            }
        )*
    };
}

blobgate_conformance::for_each_case!(azure_cases);

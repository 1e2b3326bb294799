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

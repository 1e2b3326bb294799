//! Log output: human-readable text or one JSON object per line, on stderr,
//! filtered by `RUST_LOG` (default: info).
//!
//! Every line passes through [`redact`] before it is written: whatever a
//! library puts into an error message (an Azure SAS `sig=` in a URL, an
//! Authorization header's `Signature=`, a connection string's
//! `AccountKey=`), and the configured secrets themselves, never reach the
//! log.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, span fields under "span".
    Json,
}

/// `name=` prefixes (lower case) whose value is a secret: presigned URL
/// and SAS query parameters, Authorization header parts, connection
/// string keys.
const SECRET_NAMES: [&str; 10] = [
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "signature=",
    "sig=",
    "accountkey=",
    "sharedaccesssignature=",
    "awsaccesskeyid=",
    "webidentitytoken=",
    "sessiontoken=",
];

/// Shortest configured secret masked literally (shorter ones would mask
/// ordinary words).
const MIN_SECRET_LEN: usize = 8;

const MASK: &str = "REDACTED";

/// Whether `b` ends a secret value.
fn ends_value(b: u8) -> bool {
    matches!(
        b,
        b'&' | b';' | b',' | b' ' | b'"' | b'\'' | b')' | b']' | b'}' | b'>' | b'\\' | b'\n'
    )
}

/// `line` with secret values masked: the values after [`SECRET_NAMES`]
/// (at a word boundary) and every occurrence of `secrets`.
pub fn redact<'a>(line: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(line);
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    if !out.contains('=') {
        return out;
    }
    let lower = out.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for name in SECRET_NAMES {
        let mut from = 0;
        while let Some(at) = lower[from..].find(name) {
            let start = from + at;
            let value = start + name.len();
            from = value;
            // `sig=` inside `x-amz-sig=`... counts only as a whole name.
            let boundary = start == 0
                || !matches!(lower.as_bytes()[start - 1], b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_');
            if !boundary {
                continue;
            }
            let len = lower.as_bytes()[value..]
                .iter()
                .position(|&b| ends_value(b))
                .unwrap_or(lower.len() - value);
            if len > 0 {
                spans.push((value, value + len));
            }
        }
    }
    if spans.is_empty() {
        return out;
    }
    spans.sort_unstable();
    let mut masked = String::with_capacity(out.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        masked.push_str(&out[at..start]);
        masked.push_str(MASK);
        at = end;
    }
    masked.push_str(&out[at..]);
    Cow::Owned(masked)
}

/// Writes each formatted event to stderr, redacted. The fmt layer formats
/// an event whole and writes it with one `write_all`, so a secret is never
/// split between two writes.
#[derive(Clone)]
pub struct RedactingStderr {
    secrets: Arc<[String]>,
}

impl RedactingStderr {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        RedactingStderr {
            secrets: secrets
                .into_iter()
                .filter(|s| s.len() >= MIN_SECRET_LEN)
                .collect(),
        }
    }
}

/// The writer of one event.
pub struct RedactingWriter {
    secrets: Arc<[String]>,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        match std::str::from_utf8(buf) {
            Ok(text) => stderr.write_all(redact(text, &self.secrets).as_bytes())?,
            Err(_) => stderr.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> RedactingWriter {
        RedactingWriter {
            secrets: self.secrets.clone(),
        }
    }
}

/// Install the global subscriber. `secrets` are masked wherever they occur.
pub fn init(format: LogFormat, secrets: impl IntoIterator<Item = String>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The Azure SDK logs every failed attempt at info; the gateway
        // logs what matters about them itself.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,typespec_client_core=warn,azure_core=warn")
        });
    let writer = RedactingStderr::new(secrets);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The secrets of the Azure account in the environment (an account key,
/// alone or in a connection string; a SAS token's signature is masked as
/// `sig=`).
pub fn azure_secrets_from_env() -> Vec<String> {
    let mut secrets = Vec::new();
    if let Ok(key) = std::env::var("AZURE_STORAGE_KEY") {
        secrets.push(key.trim().to_owned());
    }
    if let Ok(cs) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
        for part in cs.split(';') {
            if let Some((name, value)) = part.split_once('=') {
                if name.trim().eq_ignore_ascii_case("AccountKey") {
                    secrets.push(value.trim().to_owned());
                }
            }
        }
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_keys_are_masked() {
        let none: &[String] = &[];
        assert_eq!(
            redact(
                "error sending request for url (https://a.blob.core.windows.net/c?sv=2022-11-02&sig=abc%2Bdef%3D&se=1)",
                none
            ),
            "error sending request for url (https://a.blob.core.windows.net/c?sv=2022-11-02&sig=REDACTED&se=1)"
        );
        assert_eq!(
            redact(
                "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0123abcd",
                none
            ),
            "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=REDACTED"
        );
        assert_eq!(
            redact(
                "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Eby8vd==;BlobEndpoint=x",
                none
            ),
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=REDACTED;BlobEndpoint=x"
        );
        assert_eq!(
            redact(
                r#"{"query":"X-Amz-Credential=AK%2F1&X-Amz-Signature=ff"}"#,
                none
            ),
            r#"{"query":"X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"}"#
        );
    }

    #[test]
    fn ordinary_lines_are_untouched() {
        let none: &[String] = &[];
        let line = "INFO request{id=\"A1\" op=\"GetObject\" status=200 bytes_out=5}: done";
        assert!(matches!(redact(line, none), Cow::Borrowed(_)));
        // Names that merely end like a secret parameter.
        assert_eq!(redact("presig=1 x_sig=2", none), "presig=1 x_sig=2");
        // A name with nothing after it.
        assert_eq!(redact("sig=", none), "sig=");
    }

    #[test]
    fn configured_secrets_are_masked_anywhere() {
        let secrets = ["s3cr3t-value".to_owned()];
        assert_eq!(
            redact("key s3cr3t-value seen twice: s3cr3t-value", &secrets),
            "key REDACTED seen twice: REDACTED"
        );
        let writer = RedactingStderr::new(["short".to_owned(), "long-enough".to_owned()]);
        assert_eq!(writer.secrets.len(), 1);
    }
}

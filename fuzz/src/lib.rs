//! blobgate-fuzz: the bodies of blobgate's fuzz targets, one module each,
//! for every parser that reads untrusted bytes (issue 20): SigV4 and SigV2
//! requests, aws-chunked bodies, policy JSON, identity tokens (JWT), STS
//! session tokens, POST policies and, with the `gateway` feature, XML
//! bodies, S3 Select SQL and JSON records.
//!
//! Each body is `fn(&[u8])` and panics when a property fails, so the same
//! function runs under libFuzzer (`fuzz/libfuzzer`, coverage-guided, on
//! nightly) and in `tests/corpus.rs`, which replays the committed corpora
//! (`fuzz/corpus/TARGET/`) on stable as part of the test suite. A body
//! asserts more than "no panic" where a property exists: agreement with a
//! reference (aws-sigv4 signs, we verify; a plain chunk encoder encodes, we
//! decode), round trips (seal then open, render then parse) and bounds
//! (decoded output never longer than its input). Inputs that need
//! structure are read with [`arbitrary::Unstructured`] so that random bytes
//! get past the first check.

pub mod chunked;
pub mod jwt;
pub mod policy;
pub mod post;
pub mod session;
pub mod sigv4;
mod support;

#[cfg(feature = "gateway")]
pub mod json_records;
#[cfg(feature = "gateway")]
pub mod select_sql;
#[cfg(feature = "gateway")]
pub mod xml;

/// A fuzz target: its name (the libFuzzer binary and corpus directory) and body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target this build has.
pub const TARGETS: &[Target] = &[
    Target {
        name: "sigv4_agreement",
        run: sigv4::agreement,
    },
    Target {
        name: "sigv4_parse",
        run: sigv4::parse,
    },
    Target {
        name: "chunked",
        run: chunked::run,
    },
    Target {
        name: "policy",
        run: policy::run,
    },
    Target {
        name: "jwt",
        run: jwt::run,
    },
    Target {
        name: "session_token",
        run: session::run,
    },
    Target {
        name: "post_policy",
        run: post::run,
    },
    #[cfg(feature = "gateway")]
    Target {
        name: "xml",
        run: xml::run,
    },
    #[cfg(feature = "gateway")]
    Target {
        name: "select_sql",
        run: select_sql::run,
    },
    #[cfg(feature = "gateway")]
    Target {
        name: "json_records",
        run: json_records::run,
    },
];

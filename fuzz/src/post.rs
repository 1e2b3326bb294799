//! POST policies of browser uploads: `auth/src/post.rs`.
//!
//! Raw input: base64 of the bytes, and the bytes as they are, parsed as a
//! policy; whatever parses is checked against a form, and nothing panics.
//! Structured input: a policy of `eq`, `starts-with` and
//! `content-length-range` conditions (object and list forms, `$`-names in
//! any case) and a form, with the verdict compared against the rules as
//! AWS states them (every condition holds, `bucket` is the bucket posted
//! to, `content-type` lists each start with the prefix; every field but
//! the exempt ones is named by a condition), and an expired policy refused.

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Unstructured;
use base64::Engine as _;
use blobgate_auth::PostPolicy;
use serde_json::{json, Value};

use crate::support;

const NAMES: &[&str] = &[
    "key",
    "bucket",
    "acl",
    "content-type",
    "x-amz-meta-a",
    "success_action_status",
    "x-ignore-z",
];
const VALUES: &[u8] = b"ab/, ";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

enum Cond {
    Eq(&'static str, String),
    StartsWith(&'static str, String),
    Range(u64, u64),
}

fn holds(cond: &Cond, bucket: &str, form: &[(String, String)]) -> bool {
    let value = |name: &str| {
        if name == "bucket" {
            bucket.to_owned()
        } else {
            form.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }
    };
    match cond {
        Cond::Eq(name, want) => value(name) == *want,
        Cond::StartsWith(name, prefix) if *name == "content-type" => value(name)
            .split(',')
            .all(|t| t.trim_start().starts_with(prefix.as_str())),
        Cond::StartsWith(name, prefix) => value(name).starts_with(prefix.as_str()),
        Cond::Range(..) => true,
    }
}

fn named(conds: &[Cond], name: &str) -> bool {
    name.starts_with("x-ignore-")
        || conds
            .iter()
            .any(|c| matches!(c, Cond::Eq(n, _) | Cond::StartsWith(n, _) if *n == name))
}

fn case_mix(u: &mut Unstructured<'_>, name: &str) -> String {
    name.chars()
        .map(|c| {
            if u.arbitrary().unwrap_or(false) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

pub fn run(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(1_704_164_645);
    if data.first().is_some_and(|b| b & 1 == 1) {
        let form = vec![("key".to_owned(), "a".to_owned())];
        for text in [
            b64(&data[1..]),
            String::from_utf8_lossy(&data[1..]).into_owned(),
        ] {
            if let Ok(policy) = PostPolicy::parse(&text, now) {
                let _ = policy.content_length_range();
                let _ = policy.check("bucket", &form);
            }
        }
        return;
    }
    let mut u = Unstructured::new(data.get(1..).unwrap_or_default());
    let Ok(conds) = structured(&mut u) else {
        return;
    };
    let mut json_conds = Vec::new();
    for cond in &conds {
        json_conds.push(match cond {
            Cond::Eq(name, v) if u.arbitrary().unwrap_or(false) => {
                json!({ case_mix(&mut u, name): v })
            }
            Cond::Eq(name, v) => json!([
                case_mix(&mut u, "eq"),
                format!("${}", case_mix(&mut u, name)),
                v
            ]),
            Cond::StartsWith(name, v) => {
                json!(["starts-with", format!("${}", case_mix(&mut u, name)), v])
            }
            Cond::Range(a, b) => json!(["content-length-range", a, b]),
        });
    }
    let mut form = Vec::new();
    for _ in 0..u.int_in_range(0..=4).unwrap_or(0) {
        let (Ok(name), Ok(value)) = (u.choose(NAMES), support::string_from(&mut u, VALUES, 4))
        else {
            break;
        };
        if *name != "bucket" && !form.iter().any(|(n, _): &(String, String)| n == name) {
            form.push((name.to_string(), value));
        }
    }
    let expired = u.ratio(1, 8).unwrap_or(false);
    let expiration = if expired {
        "2024-01-01T00:00:00Z"
    } else {
        "2024-01-03T00:00:00.000Z"
    };
    let doc: Value = json!({ "expiration": expiration, "conditions": json_conds });
    let parsed = PostPolicy::parse(&b64(doc.to_string().as_bytes()), now);
    if expired {
        assert!(parsed.is_err(), "an expired policy was accepted: {doc}");
        return;
    }
    let policy =
        parsed.unwrap_or_else(|e| panic!("a valid policy was refused: {doc}: {}", e.message()));
    let range = conds.iter().find_map(|c| match c {
        Cond::Range(a, b) => Some((*a, *b)),
        _ => None,
    });
    assert_eq!(policy.content_length_range(), range);
    let expected = conds.iter().all(|c| holds(c, "bucket", &form))
        && form.iter().all(|(n, _)| named(&conds, n));
    assert_eq!(
        policy.check("bucket", &form).is_ok(),
        expected,
        "policy {doc} on form {form:?}"
    );
}

fn structured(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Cond>> {
    let mut conds = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name = *u.choose(NAMES)?;
        let value = support::string_from(u, VALUES, 4)?;
        conds.push(match u.int_in_range(0..=2)? {
            0 => Cond::Eq(name, value),
            1 => Cond::StartsWith(name, value),
            _ if conds.iter().any(|c| matches!(c, Cond::Range(..))) => Cond::Eq(name, value),
            _ => {
                let a = u.int_in_range(0..=1000)?;
                Cond::Range(a, a + u.int_in_range(0..=1000)?)
            }
        });
    }
    Ok(conds)
}

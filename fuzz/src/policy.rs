//! Policy JSON and its evaluation: `auth/src/policy.rs` and `policy/`.
//!
//! Raw input (the first byte odd) is parsed as an identity, bucket and
//! trust policy; whatever parses is evaluated against a few requests, and
//! nothing panics. Structured input builds a policy with one statement
//! whose Action and Resource are wildcard patterns (`*`, `?`) and checks
//! the decision against a reference matcher written here from IAM's rules
//! (whole-string match, `*` any run of characters including `/`, `?` one
//! character, actions case-insensitive, resources case-sensitive): Allow
//! with Resource allows exactly the matches; NotResource the others; a
//! Deny beside an `Allow *` refuses exactly the matches.

use arbitrary::Unstructured;
use blobgate_auth::{authorize, ConditionContext, Policy, Principal, Request};
use serde_json::json;

use crate::support;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:getobject",
    "S3:GETOBJECT",
    "s3:*",
    "s3:Get*",
    "s3:Get?bject",
    "s3:Put*",
    "*",
    "s3:ListBucket",
];
const REQUESTED: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:GetObjectTagging",
];

/// IAM's wildcard match of the whole of `subject`.
fn reference_glob(pattern: &[char], subject: &[char]) -> bool {
    match pattern.split_first() {
        None => subject.is_empty(),
        Some(('*', rest)) => (0..=subject.len()).any(|i| reference_glob(rest, &subject[i..])),
        Some(('?', rest)) => !subject.is_empty() && reference_glob(rest, &subject[1..]),
        Some((c, rest)) => subject.first() == Some(c) && reference_glob(rest, &subject[1..]),
    }
}

fn glob(pattern: &str, subject: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = subject.chars().collect();
    reference_glob(&p, &s)
}

fn allowed(policy: &Policy, action: &str, resource: &str) -> bool {
    let context = ConditionContext::default();
    let req = Request {
        action,
        resource,
        principal: Principal::AccessKey(support::AK),
        context: &context,
    };
    authorize(Some(policy), None, None, &req)
}

pub fn run(data: &[u8]) {
    if data.first().is_some_and(|b| b & 1 == 1) {
        raw(&data[1..]);
        return;
    }
    let mut u = Unstructured::new(data.get(1..).unwrap_or_default());
    let (Ok(action_pattern), Ok(action), Ok(pattern), Ok(subject), Ok(not)) = (
        u.choose(ACTIONS),
        u.choose(REQUESTED),
        support::string_from(&mut u, b"aAb/*?.", 10),
        support::string_from(&mut u, b"aAb/.", 10),
        u.arbitrary::<bool>(),
    ) else {
        return;
    };
    let resource_pattern = format!("arn:aws:s3:::{pattern}");
    let resource = format!("arn:aws:s3:::{subject}");
    let action_matches = glob(
        &action_pattern.to_ascii_lowercase(),
        &action.to_ascii_lowercase(),
    );
    let resource_matches = glob(&resource_pattern, &resource);
    let resource_key = if not { "NotResource" } else { "Resource" };

    let allow = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action_pattern, resource_key: resource_pattern}],
    });
    let Ok(policy) = Policy::parse(allow.to_string().as_bytes()) else {
        panic!("a policy IAM accepts was refused: {allow}");
    };
    let expected = action_matches && (resource_matches != not);
    assert_eq!(
        allowed(&policy, action, &resource),
        expected,
        "{action} on {resource} under {allow}"
    );

    let deny = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": action_pattern, resource_key: resource_pattern},
        ],
    });
    let policy = Policy::parse(deny.to_string().as_bytes()).expect("as above");
    assert_eq!(
        allowed(&policy, action, &resource),
        !expected,
        "{action} on {resource} under {deny}"
    );
}

fn raw(data: &[u8]) {
    let context = ConditionContext {
        prefix: Some("a/".to_owned()),
        referer: Some("http://example.com/".to_owned()),
        request_object_tags: Some(vec![("k".to_owned(), "v".to_owned())]),
        existing_object_tags: Some(Vec::new()),
        ..ConditionContext::default()
    };
    let parsed = [
        Policy::parse(data),
        Policy::parse_bucket_policy(data, "bucket"),
        Policy::parse_trust_policy(data),
    ];
    let _ = blobgate_auth::is_public(data);
    for policy in parsed.iter().flatten() {
        for principal in [Principal::Anonymous, Principal::AccessKey(support::AK)] {
            for (action, resource) in [
                ("s3:GetObject", "arn:aws:s3:::bucket/a/b"),
                ("s3:ListBucket", "arn:aws:s3:::bucket"),
                ("s3:PutObject", "arn:aws:s3:::other/x"),
            ] {
                let req = Request {
                    action,
                    resource,
                    principal,
                    context: &context,
                };
                let _ = policy.evaluate(&req);
            }
        }
        let _ = policy.claims();
    }
}

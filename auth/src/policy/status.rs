//! Whether a bucket policy makes the bucket public, for
//! GetBucketPolicyStatus, by AWS's rules ("The meaning of public"):
//! a policy is public when an `Allow` statement grants to everyone
//! (`"Principal": "*"` or `{"AWS": "*"}`, or `NotPrincipal`) without a
//! condition that pins the callers to fixed values of a key that names
//! them or their network. Of those keys this gateway evaluates
//! `aws:SourceIp` (a CIDR of at least /8 for IPv4, /32 for IPv6; wider is
//! still public) and `aws:userid` (exact values, no wildcards); a
//! condition on anything else (`aws:Referer`, a prefix, TLS) leaves the
//! bucket public.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status>

use serde_json::Value;

/// Whether `policy` (a document already accepted by
/// [`super::Policy::parse_bucket_policy`]) is public.
pub fn is_public(policy: &[u8]) -> bool {
    let Ok(doc) = serde_json::from_slice::<Value>(policy) else {
        return false;
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    statements.into_iter().any(statement_is_public)
}

fn statement_is_public(statement: &Value) -> bool {
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return false;
    }
    let everyone = statement.get("NotPrincipal").is_some()
        || statement.get("Principal").is_some_and(names_everyone);
    everyone && !statement.get("Condition").is_some_and(pins_the_caller)
}

fn names_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(map) => map.get("AWS").is_some_and(|aws| match aws {
            Value::String(s) => s == "*",
            Value::Array(list) => list.iter().any(|v| v.as_str() == Some("*")),
            _ => false,
        }),
        _ => false,
    }
}

/// Whether a condition block limits the statement to fixed callers.
fn pins_the_caller(condition: &Value) -> bool {
    let Some(operators) = condition.as_object() else {
        return false;
    };
    operators.iter().any(|(operator, keys)| {
        let op = operator
            .rsplit(':')
            .next()
            .unwrap_or(operator)
            .trim_end_matches("IfExists");
        let Some(keys) = keys.as_object() else {
            return false;
        };
        // ...IfExists lets a request without the key through.
        if operator.ends_with("IfExists") {
            return false;
        }
        keys.iter().any(|(key, values)| {
            let values = strings(values);
            match (op, key.to_ascii_lowercase().as_str()) {
                ("IpAddress", "aws:sourceip") => {
                    !values.is_empty() && values.iter().all(|v| narrow_cidr(v))
                }
                ("StringEquals", "aws:userid") => {
                    !values.is_empty() && values.iter().all(|v| !v.contains(['*', '?']))
                }
                _ => false,
            }
        })
    })
}

fn strings(values: &Value) -> Vec<String> {
    match values {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn narrow_cidr(text: &str) -> bool {
    let (addr, bits) = text.split_once('/').unwrap_or((text, ""));
    let v6 = addr.contains(':');
    let bits = if bits.is_empty() {
        if v6 {
            128
        } else {
            32
        }
    } else {
        match bits.parse::<u8>() {
            Ok(b) => b,
            Err(_) => return false,
        }
    };
    if v6 {
        bits >= 32
    } else {
        bits >= 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(policy: &str) -> bool {
        is_public(policy.as_bytes())
    }

    #[test]
    fn everyone_without_a_pin_is_public() {
        assert!(public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#
        ));
        assert!(public(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:user/a","*"]},"Action":"s3:*","Resource":"*"}}"#
        ));
        // A Referer check is a browser's claim: still public (as AWS says).
        assert!(public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringLike":{"aws:Referer":"https://intranet/*"}}}]}"#
        ));
        // A wide network, or IfExists, pins nobody.
        assert!(public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}}]}"#
        ));
        assert!(public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/16"}}}]}"#
        ));
    }

    #[test]
    fn named_principals_denials_and_pinned_networks_are_not() {
        assert!(!public(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/alice"},"Action":"s3:*","Resource":"*"}]}"#
        ));
        assert!(!public(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#
        ));
        assert!(!public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.1.0.0/16","192.0.2.7"]}}}]}"#
        ));
        assert!(!public(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:userid":"alice"}}}]}"#
        ));
        assert!(!public("not json"));
    }
}

//! The `Condition` element: operators, the condition keys a gateway request
//! has, and their evaluation.
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//!
//! Semantics, as AWS documents them:
//! - every (operator, key) pair of a block must hold (AND); the values of one
//!   pair are alternatives (OR) — for a negated operator the key must match
//!   *none* of them;
//! - a key the request does not have makes a positive operator false and a
//!   negated one (`StringNotEquals`, `StringNotLike`, `NumericNotEquals`,
//!   `NotIpAddress`) true; with the `...IfExists` suffix an absent key makes
//!   the condition true whatever the operator; `Null` tests presence itself;
//! - condition key names are case-insensitive, values are not (except for
//!   the `...IgnoreCase` operators).
//!
//! - identity claims (`jwt:CLAIM` in any policy, `ISSUER:CLAIM` in trust
//!   policies, as on EKS/AKS: `oidc.example/realm:sub`, split at the last
//!   `:`) may be lists (`groups`, `roles`): the set operators
//!   `ForAnyValue:` (some value of the request matches) and `ForAllValues:`
//!   (every value matches; true when there are none) qualify any operator;
//!   without one, a list holds for a positive operator when any of its
//!   values matches and for a negated one when none does.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>
//!
//! Unknown operators, unknown keys and an operator applied to a key of
//! another type are parse errors: a key this gateway never fills in would
//! make a negated condition always true, silently.

use std::borrow::Cow;
use std::net::IpAddr;

use super::pattern::Pattern;
use super::{ConditionContext, Principal};

/// A condition key a request can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// `s3:prefix` (ListBucket).
    Prefix,
    /// `s3:delimiter` (ListBucket).
    Delimiter,
    /// `s3:max-keys` (ListBucket).
    MaxKeys,
    /// `aws:SourceIp`.
    SourceIp,
    /// `aws:SecureTransport`.
    SecureTransport,
    /// `aws:Referer` (the `Referer` header: a browser's claim, not proof).
    Referer,
    /// `aws:UserAgent`.
    UserAgent,
    /// `s3:x-amz-copy-source` (CopyObject, UploadPartCopy).
    CopySource,
    /// `s3:x-amz-metadata-directive` (CopyObject).
    MetadataDirective,
    /// `s3:x-amz-server-side-encryption`.
    ServerSideEncryption,
    /// `s3:ExistingObjectTag/KEY`: the value of the object's tag KEY (the
    /// tag key keeps its case: S3 tag keys are case-sensitive).
    ExistingObjectTag(String),
    /// `s3:RequestObjectTag/KEY`: the value of tag KEY in the request.
    RequestObjectTag(String),
    /// `s3:RequestObjectTagKeys`: the tag keys in the request (a list).
    RequestObjectTagKeys,
    /// `aws:username`: the access key (undefined for an assumed role);
    /// absent when anonymous.
    UserName,
    /// `aws:userid`: the access key, or `ROLE:SESSION`.
    UserId,
    /// `jwt:CLAIM`: a claim of the identity token behind a session.
    Jwt(String),
    /// `ISSUER:CLAIM` (trust policies): a claim of a token from that issuer
    /// (named without its scheme).
    IssuerClaim { issuer: String, claim: String },
}

/// An issuer URL as trust policies name it: without `https://` (or
/// `http://`) and without a trailing `/`.
pub(crate) fn issuer_name(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
        .trim_end_matches('/')
}

impl Key {
    fn parse(name: &str, trust: bool) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "s3:prefix" => Self::Prefix,
            "s3:delimiter" => Self::Delimiter,
            "s3:max-keys" => Self::MaxKeys,
            "aws:sourceip" => Self::SourceIp,
            "aws:securetransport" => Self::SecureTransport,
            "aws:referer" => Self::Referer,
            "aws:useragent" => Self::UserAgent,
            "s3:x-amz-copy-source" => Self::CopySource,
            "s3:x-amz-metadata-directive" => Self::MetadataDirective,
            "s3:x-amz-server-side-encryption" => Self::ServerSideEncryption,
            "aws:username" => Self::UserName,
            "aws:userid" => Self::UserId,
            "s3:requestobjecttagkeys" => Self::RequestObjectTagKeys,
            l if l.starts_with("s3:existingobjecttag/") && l.len() > 21 => {
                Self::ExistingObjectTag(name[21..].to_owned())
            }
            l if l.starts_with("s3:requestobjecttag/") && l.len() > 20 => {
                Self::RequestObjectTag(name[20..].to_owned())
            }
            l if l.starts_with("jwt:") && l.len() > 4 => Self::Jwt(name[4..].to_owned()),
            l if trust && !l.starts_with("aws:") && !l.starts_with("s3:") => {
                let (issuer, claim) = name.rsplit_once(':')?;
                if issuer.is_empty() || claim.is_empty() {
                    return None;
                }
                Self::IssuerClaim {
                    issuer: issuer_name(issuer).to_owned(),
                    claim: claim.to_owned(),
                }
            }
            _ => return None,
        })
    }

    fn kind(&self) -> KeyKind {
        match self {
            Self::Prefix
            | Self::Delimiter
            | Self::Referer
            | Self::UserAgent
            | Self::CopySource
            | Self::MetadataDirective
            | Self::ServerSideEncryption
            | Self::ExistingObjectTag(_)
            | Self::RequestObjectTag(_)
            | Self::RequestObjectTagKeys
            | Self::UserName
            | Self::UserId
            | Self::Jwt(_)
            | Self::IssuerClaim { .. } => KeyKind::String,
            Self::MaxKeys => KeyKind::Numeric,
            Self::SourceIp => KeyKind::Ip,
            Self::SecureTransport => KeyKind::Bool,
        }
    }

    /// The key's value in a request, None when absent.
    fn value<'a>(&self, ctx: &'a ConditionContext, principal: Principal<'a>) -> Option<Value<'a>> {
        let text = |s: &'a str| Value::Str(Cow::Borrowed(s));
        match self {
            Self::Prefix => ctx.prefix.as_deref().map(text),
            Self::Delimiter => ctx.delimiter.as_deref().map(text),
            Self::MaxKeys => ctx.max_keys.map(Value::Number),
            Self::SourceIp => ctx.source_ip.map(|ip| Value::Ip(ip.to_canonical())),
            Self::SecureTransport => Some(Value::Bool(ctx.secure_transport)),
            Self::Referer => ctx.referer.as_deref().map(text),
            Self::UserAgent => ctx.user_agent.as_deref().map(text),
            Self::CopySource => ctx.copy_source.as_deref().map(text),
            Self::MetadataDirective => ctx.metadata_directive.as_deref().map(text),
            Self::ServerSideEncryption => ctx.server_side_encryption.as_deref().map(text),
            Self::ExistingObjectTag(tag) => tag_value(ctx.existing_object_tags.as_deref(), tag),
            Self::RequestObjectTag(tag) => tag_value(ctx.request_object_tags.as_deref(), tag),
            Self::RequestObjectTagKeys => ctx
                .request_object_tags
                .as_deref()
                .map(|tags| Value::Strs(tags.iter().map(|(k, _)| k.as_str()).collect())),
            Self::UserName => match principal {
                Principal::AccessKey(key) => Some(text(key)),
                // Undefined for assumed roles, as in AWS: the caller chooses
                // its RoleSessionName, so it must not name anybody.
                Principal::Session(_) | Principal::Anonymous | Principal::WebIdentity { .. } => {
                    None
                }
            },
            Self::UserId => match principal {
                Principal::AccessKey(key) => Some(text(key)),
                Principal::Session(s) => Some(Value::Str(Cow::Owned(s.user_id()))),
                Principal::Anonymous | Principal::WebIdentity { .. } => None,
            },
            Self::Jwt(claim) => principal
                .claims()
                .and_then(|c| c.get(claim))
                .map(|v| Value::Strs(v.values())),
            Self::IssuerClaim { issuer, claim } => match principal {
                Principal::WebIdentity {
                    issuer: token_issuer,
                    claims,
                } if issuer_name(token_issuer) == issuer => {
                    claims.get(claim).map(|v| Value::Strs(v.values()))
                }
                _ => None,
            },
        }
    }
}

/// The value of tag `key` among `tags`, if both exist.
fn tag_value<'a>(tags: Option<&'a [(String, String)]>, key: &str) -> Option<Value<'a>> {
    tags?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| Value::Str(Cow::Borrowed(v.as_str())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    String,
    Numeric,
    Ip,
    Bool,
}

/// A request's value for a key.
enum Value<'a> {
    Str(Cow<'a, str>),
    /// A claim: one value or a list.
    Strs(Vec<&'a str>),
    Number(u64),
    Ip(IpAddr),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringOp {
    Equals,
    EqualsIgnoreCase,
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumericOp {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// The operator's test, before negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    String(StringOp),
    Numeric(NumericOp),
    Ip,
    Bool,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Any,
    All,
}

/// The policy's values for one (operator, key) pair.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// String operators: patterns (wildcards count for `StringLike` only).
    Strings(Vec<Pattern>),
    Numbers(Vec<f64>),
    /// IP ranges as (network, prefix length).
    Cidrs(Vec<(IpAddr, u8)>),
    Bools(Vec<bool>),
}

/// One (operator, key, values) test of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    op: Op,
    negated: bool,
    if_exists: bool,
    set: Option<SetOp>,
    key: Key,
    values: Values,
}

/// Operator names, for error messages.
const OPERATORS: &str = "StringEquals, StringNotEquals, StringEqualsIgnoreCase, \
    StringNotEqualsIgnoreCase, StringLike, StringNotLike, NumericEquals, NumericNotEquals, \
    NumericLessThan, NumericLessThanEquals, NumericGreaterThan, NumericGreaterThanEquals, \
    IpAddress, NotIpAddress, Bool (each optionally ...IfExists) and Null";

const KEYS: &str = "s3:prefix, s3:delimiter, s3:max-keys, aws:SourceIp, aws:SecureTransport, \
    aws:Referer, aws:UserAgent, s3:x-amz-copy-source, s3:x-amz-metadata-directive, \
    s3:x-amz-server-side-encryption, s3:ExistingObjectTag/KEY, s3:RequestObjectTag/KEY, \
    s3:RequestObjectTagKeys, aws:username, aws:userid, jwt:CLAIM";

fn parse_operator(full: &str) -> Result<(Op, bool, bool, Option<SetOp>), String> {
    let (set, name) = match full.split_once(':') {
        Some(("ForAnyValue", rest)) => (Some(SetOp::Any), rest),
        Some(("ForAllValues", rest)) => (Some(SetOp::All), rest),
        Some(_) => {
            return Err(format!(
                "Invalid Condition operator {full}: the only qualifiers are ForAnyValue: \
                 and ForAllValues:"
            ))
        }
        None => (None, full),
    };
    let (base, if_exists) = match name.strip_suffix("IfExists") {
        Some(base) if base != "Null" => (base, true),
        _ => (name, false),
    };
    let (op, negated) = match base {
        "StringEquals" => (Op::String(StringOp::Equals), false),
        "StringNotEquals" => (Op::String(StringOp::Equals), true),
        "StringEqualsIgnoreCase" => (Op::String(StringOp::EqualsIgnoreCase), false),
        "StringNotEqualsIgnoreCase" => (Op::String(StringOp::EqualsIgnoreCase), true),
        "StringLike" => (Op::String(StringOp::Like), false),
        "StringNotLike" => (Op::String(StringOp::Like), true),
        "NumericEquals" => (Op::Numeric(NumericOp::Equals), false),
        "NumericNotEquals" => (Op::Numeric(NumericOp::Equals), true),
        "NumericLessThan" => (Op::Numeric(NumericOp::LessThan), false),
        "NumericLessThanEquals" => (Op::Numeric(NumericOp::LessThanEquals), false),
        "NumericGreaterThan" => (Op::Numeric(NumericOp::GreaterThan), false),
        "NumericGreaterThanEquals" => (Op::Numeric(NumericOp::GreaterThanEquals), false),
        "IpAddress" => (Op::Ip, false),
        "NotIpAddress" => (Op::Ip, true),
        "Bool" => (Op::Bool, false),
        "Null" => (Op::Null, false),
        _ => {
            return Err(format!(
                "Invalid Condition operator {full} (supported: {OPERATORS})"
            ))
        }
    };
    if set.is_some() && op == Op::Null {
        return Err(format!(
            "Invalid Condition operator {full}: Null takes no qualifier"
        ));
    }
    Ok((op, negated, if_exists, set))
}

impl Condition {
    /// Parse one (operator, key, values) triple. `variables` enables policy
    /// variables in string values (Version 2012-10-17); `trust` the
    /// `ISSUER:CLAIM` keys of role trust policies.
    pub fn parse(
        operator: &str,
        key_name: &str,
        raw_values: &[String],
        variables: bool,
        trust: bool,
    ) -> Result<Self, String> {
        let (op, negated, if_exists, set) = parse_operator(operator)?;
        let key = Key::parse(key_name, trust).ok_or_else(|| {
            let more = if trust { ", ISSUER:CLAIM" } else { "" };
            format!("Policy has an invalid condition key {key_name} (supported: {KEYS}{more})")
        })?;
        if raw_values.is_empty() {
            return Err(format!("{operator} for {key_name} has no values"));
        }
        let mismatch = || format!("{operator} cannot be applied to the condition key {key_name}");
        let bad_value =
            |v: &str, what: &str| format!("{operator} for {key_name}: \"{v}\" is not {what}");
        let values = match op {
            Op::String(_) => {
                if !matches!(key.kind(), KeyKind::String | KeyKind::Numeric) {
                    return Err(mismatch());
                }
                Values::Strings(
                    raw_values
                        .iter()
                        .map(|v| Pattern::parse(v, variables))
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("{operator} for {key_name}: {e}"))?,
                )
            }
            Op::Numeric(_) => {
                if key.kind() != KeyKind::Numeric {
                    return Err(mismatch());
                }
                Values::Numbers(
                    raw_values
                        .iter()
                        .map(|v| {
                            v.trim()
                                .parse::<f64>()
                                .ok()
                                .filter(|n| n.is_finite())
                                .ok_or_else(|| bad_value(v, "a number"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            Op::Ip => {
                if key.kind() != KeyKind::Ip {
                    return Err(mismatch());
                }
                Values::Cidrs(
                    raw_values
                        .iter()
                        .map(|v| parse_cidr(v).ok_or_else(|| bad_value(v, "an IP address or CIDR")))
                        .collect::<Result<_, _>>()?,
                )
            }
            Op::Bool | Op::Null => {
                if op == Op::Bool && key.kind() != KeyKind::Bool {
                    return Err(mismatch());
                }
                Values::Bools(
                    raw_values
                        .iter()
                        .map(|v| match v.to_ascii_lowercase().as_str() {
                            "true" => Ok(true),
                            "false" => Ok(false),
                            _ => Err(bad_value(v, "true or false")),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
        };
        Ok(Self {
            op,
            negated,
            if_exists,
            set,
            key,
            values,
        })
    }

    /// Whether the condition reads the tags of the object already stored.
    pub fn reads_existing_tags(&self) -> bool {
        matches!(self.key, Key::ExistingObjectTag(_))
    }

    /// The claim a `jwt:` key names, and those `${jwt:...}` values name.
    pub fn claims(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if let Key::Jwt(c) = &self.key {
            names.push(c.as_str());
        }
        if let Values::Strings(patterns) = &self.values {
            names.extend(patterns.iter().flat_map(Pattern::claims));
        }
        names
    }

    /// Whether the condition holds for a request.
    pub fn holds(&self, ctx: &ConditionContext, principal: Principal<'_>) -> bool {
        let value = self.key.value(ctx, principal);
        if self.op == Op::Null {
            // `"Null": {"k": "true"}` holds when k is absent.
            let absent = value.is_none();
            return matches!(&self.values, Values::Bools(b) if b.contains(&absent));
        }
        let value = match value {
            Some(Value::Strs(list)) if list.is_empty() => None,
            v => v,
        };
        let Some(value) = value else {
            return match self.set {
                Some(SetOp::All) => true,
                Some(SetOp::Any) => self.if_exists,
                None => self.if_exists || self.negated,
            };
        };
        let singles: Vec<Value<'_>> = match value {
            Value::Strs(list) => list
                .into_iter()
                .map(|s| Value::Str(Cow::Borrowed(s)))
                .collect(),
            v => vec![v],
        };
        let holds = |v: &Value<'_>| self.any_value_matches(v, principal) != self.negated;
        match self.set {
            Some(SetOp::Any) => singles.iter().any(holds),
            Some(SetOp::All) => singles.iter().all(holds),
            // A positive operator: some value matches; a negated one: none.
            None if self.negated => singles.iter().all(holds),
            None => singles.iter().any(holds),
        }
    }

    fn any_value_matches(&self, value: &Value<'_>, principal: Principal<'_>) -> bool {
        let number_text;
        let text = match value {
            Value::Str(s) => Some(s.as_ref()),
            Value::Number(n) => {
                number_text = n.to_string();
                Some(number_text.as_str())
            }
            Value::Ip(_) | Value::Bool(_) | Value::Strs(_) => None,
        };
        match (&self.op, &self.values) {
            (Op::String(op), Values::Strings(patterns)) => {
                let Some(text) = text else { return false };
                patterns.iter().any(|p| match op {
                    StringOp::Like => p.matches(text, principal),
                    StringOp::Equals => p.literal(principal).is_some_and(|l| l == text),
                    StringOp::EqualsIgnoreCase => p
                        .literal(principal)
                        .is_some_and(|l| l.to_lowercase() == text.to_lowercase()),
                })
            }
            (Op::Numeric(op), Values::Numbers(numbers)) => {
                let Value::Number(n) = value else {
                    return false;
                };
                let n = *n as f64;
                numbers.iter().any(|&v| match op {
                    NumericOp::Equals => n == v,
                    NumericOp::LessThan => n < v,
                    NumericOp::LessThanEquals => n <= v,
                    NumericOp::GreaterThan => n > v,
                    NumericOp::GreaterThanEquals => n >= v,
                })
            }
            (Op::Ip, Values::Cidrs(cidrs)) => {
                let Value::Ip(ip) = value else { return false };
                cidrs.iter().any(|&(net, len)| in_cidr(*ip, net, len))
            }
            (Op::Bool, Values::Bools(bools)) => {
                let Value::Bool(b) = value else { return false };
                bools.contains(b)
            }
            _ => false,
        }
    }
}

/// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`; the host bits may be
/// set (AWS accepts `203.0.113.7/24`), the network is what counts.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => l.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    if len > max {
        return None;
    }
    // An IPv4-mapped range (`::ffff:a.b.c.d/n`, n >= 96) is the IPv4 range,
    // as sources are compared in canonical form.
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) if ip.is_ipv6() && len >= 96 => Some((v4, len - 96)),
        _ => Some((ip, len)),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let cases: &[(&str, &str, bool)] = &[
            ("192.0.2.0/24", "192.0.2.77", true),
            ("192.0.2.0/24", "192.0.3.1", false),
            ("203.0.113.7/24", "203.0.113.200", true),
            ("10.1.2.3", "10.1.2.3", true),
            ("10.1.2.3", "10.1.2.4", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("::/0", "::1", true),
            // IPv4-mapped IPv6 sources (dual-stack listeners) are IPv4.
            ("192.0.2.0/24", "::ffff:192.0.2.9", true),
            ("::ffff:192.0.2.0/120", "192.0.2.9", true),
        ];
        for (cidr, ip, want) in cases {
            let (net, len) = parse_cidr(cidr).unwrap();
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                in_cidr(ip.to_canonical(), net, len),
                *want,
                "{ip} in {cidr}"
            );
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }
}

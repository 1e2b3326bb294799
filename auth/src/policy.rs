//! Authorization: IAM-style policies (identity policies from the users file,
//! bucket policies from PutBucketPolicy) and their evaluation for a request.
//!
//! Authentication ([`verify_request`](crate::verify_request)) says *who*
//! signed a request; a policy says *what* they may do. Both kinds of policy
//! use the AWS policy language, restricted to what an S3 gateway can mean:
//!
//! - identity policy ([`Policy::parse`]): attached to an access key, no
//!   `Principal`. <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>
//! - bucket policy ([`Policy::parse_bucket_policy`]): `Principal` required,
//!   every `Resource` inside its bucket.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html>
//!
//! Evaluation follows AWS for principals of the same account
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//! an explicit `Deny` in any policy wins; otherwise an `Allow` in the
//! identity policy *or* in a bucket-policy statement naming the principal
//! allows; otherwise the request is denied by default ([`authorize`]).
//!
//! # What is accepted
//!
//! - role trust policy ([`Policy::parse_trust_policy`]): who may assume a
//!   role. `Principal` `{"Federated": ISSUER}` (the issuer URL, or
//!   `arn:aws:iam::ACCOUNT:oidc-provider/ISSUER_WITHOUT_SCHEME`) with
//!   `sts:AssumeRoleWithWebIdentity`, or `{"AWS": [access keys]}` with
//!   `sts:AssumeRole`; no `Resource`; conditions on the token's claims as
//!   `ISSUER_WITHOUT_SCHEME:CLAIM`, as on EKS and AKS.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html>
//!
//! An assumed role's session (temporary credentials) is allowed what its
//! role's policy allows, narrowed by its session policy when it has one
//! ([`authorize`]).
//!
//! - `Version` `2012-10-17` or `2008-10-17` (or absent, meaning 2008-10-17);
//!   only 2012-10-17 has policy variables: `${aws:username}` and
//!   `${aws:userid}` (the access key; for an assumed role the session name
//!   and `ROLE:SESSION`), `${jwt:CLAIM}` (a string claim of the identity
//!   token behind a session; MinIO's spelling) and the escapes `${*}`, `${?}`,
//!   `${$}`, in `Resource` and string condition values. Any other variable,
//!   or `${` in an older-version policy, is an error rather than literal text,
//!   so a `Deny` never silently misses. A variable with no value (anonymous
//!   requests) matches nothing.
//! - `Action`/`NotAction`: `*` or `s3:...`, case-insensitive, with `*` and `?`.
//! - `Resource`/`NotResource`: `*` or `arn:aws:s3:::...`, case-sensitive
//!   (S3 keys are), with `*` and `?`.
//! - `NotAction` and `NotResource` are implemented: the statement applies to
//!   every action (resource) that matches none of the listed patterns.
//! - `NotPrincipal` is rejected: AWS advises against it, and what an
//!   "everyone but" means for anonymous callers and account principals is
//!   easy to get wrong; the same intent is `"Principal": "*"` with a
//!   `StringNotEquals` condition on `aws:username`, which also covers
//!   anonymous requests (the key is absent, so the negated operator holds).
//! - `Principal`: `"*"` or `{"AWS": "*"}` (everyone, anonymous included),
//!   or `{"AWS": [...]}` listing access keys, bare or as
//!   `arn:aws:iam::ACCOUNT:user/NAME` (NAME, the last path segment, is the
//!   access key; the account is ignored), roles as
//!   `arn:aws:iam::ACCOUNT:role/NAME` (every session of the role) and
//!   sessions as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` (SESSION
//!   may use `*` and `?`). Other principal types (`Federated` outside trust
//!   policies), account ARNs and other wildcards are rejected.
//! - `Condition`: the operators and keys listed in [`Policy::parse`]. A key
//!   the request lacks follows AWS: positive operators are false, negated
//!   ones (`StringNotEquals`, `StringNotLike`, `NumericNotEquals`,
//!   `NotIpAddress`, ...) true, and any `...IfExists` operator true.
//!   Unknown operators and keys are errors (an unknown key would always be
//!   absent, making a negated condition silently always true).
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! - A bucket policy only ever decides requests for its own bucket and its
//!   objects, whatever its `NotResource` says.
//!
//! Unknown fields, duplicate fields and anything else this gateway cannot
//! honour are errors: a policy is either understood exactly or refused.

mod condition;
mod pattern;
mod status;

pub use status::is_public;
pub(crate) mod raw;

use std::net::IpAddr;

pub(crate) use condition::issuer_name;
use condition::Condition;
use pattern::Pattern;
use raw::{MapOnly, RawPolicy, RawPrincipal, RawStatement, Strings};

use crate::session::{Claims, Session};

const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

/// The resource of service-level requests such as ListBuckets; matched by
/// `"Resource": "*"` and `"arn:aws:s3:::*"`.
pub const ALL_BUCKETS_ARN: &str = "arn:aws:s3:::*";

/// The ARN of a bucket, `arn:aws:s3:::BUCKET` (the resource of bucket-level
/// requests such as ListObjects or GetBucketPolicy).
pub fn bucket_arn(bucket: &str) -> String {
    format!("{S3_ARN_PREFIX}{bucket}")
}

/// The ARN of an object, `arn:aws:s3:::BUCKET/KEY` (the key as stored,
/// not URL-encoded).
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("{S3_ARN_PREFIX}{bucket}/{key}")
}

/// A policy that does not parse or means something this gateway cannot
/// enforce. The message is for humans (S3 `MalformedPolicy`, or a users-file
/// error) and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl PolicyError {
    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An unsigned request.
    Anonymous,
    /// A request signed by this long-term access key.
    AccessKey(&'a str),
    /// A request signed with the temporary credentials of an assumed role.
    Session(&'a Session),
    /// The bearer of a verified identity token of `issuer` (what a trust
    /// policy decides for AssumeRoleWithWebIdentity).
    WebIdentity { issuer: &'a str, claims: &'a Claims },
}

impl<'a> Principal<'a> {
    /// The identity claims behind this caller, if any.
    pub(crate) fn claims(self) -> Option<&'a Claims> {
        match self {
            Self::Session(s) => Some(&s.claims),
            Self::WebIdentity { claims, .. } => Some(claims),
            Self::Anonymous | Self::AccessKey(_) => None,
        }
    }
}

/// The request facts conditions can test. Option fields are None when the
/// request does not carry them (which decides absent-key semantics, see the
/// module docs); fill the list fields for ListObjects(V2) only, from the
/// query parameters exactly as sent (`Some("")` for an empty `prefix=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionContext {
    /// `s3:prefix`.
    pub prefix: Option<String>,
    /// `s3:delimiter`.
    pub delimiter: Option<String>,
    /// `s3:max-keys`.
    pub max_keys: Option<u64>,
    /// `aws:SourceIp`: the client address (IPv4-mapped IPv6 counts as IPv4).
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: whether the request came over TLS.
    pub secure_transport: bool,
    /// `aws:Referer`: the Referer header.
    pub referer: Option<String>,
    /// `aws:UserAgent`: the User-Agent header.
    pub user_agent: Option<String>,
    /// `s3:x-amz-copy-source`: a copy's source, as sent (`/bucket/key`, or
    /// `bucket/key`).
    pub copy_source: Option<String>,
    /// `s3:x-amz-metadata-directive`: COPY or REPLACE, as sent.
    pub metadata_directive: Option<String>,
    /// `s3:x-amz-server-side-encryption`, as sent.
    pub server_side_encryption: Option<String>,
    /// `s3:ExistingObjectTag/KEY`: the tags of the object acted on, when
    /// the action has them and a policy asks ([`Policy::reads_existing_tags`]).
    pub existing_object_tags: Option<Vec<(String, String)>>,
    /// `s3:RequestObjectTag/KEY` and `s3:RequestObjectTagKeys`: the tags a
    /// write sets (`x-amz-tagging`, a PutObjectTagging body).
    pub request_object_tags: Option<Vec<(String, String)>>,
}

/// A request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The S3 action, e.g. `s3:GetObject` (see the S3 actions list:
    /// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>).
    pub action: &'a str,
    /// [`object_arn`], [`bucket_arn`] or [`ALL_BUCKETS_ARN`].
    pub resource: &'a str,
    /// Who signed it.
    pub principal: Principal<'a>,
    /// Facts for conditions (`aws:username` comes from `principal`).
    pub context: &'a ConditionContext,
}

/// What one policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement applies and no `Deny` does.
    Allow,
    /// A `Deny` statement applies: the request is refused whatever else allows it.
    ExplicitDeny,
    /// No statement applies.
    NotApplicable,
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
    /// For a bucket policy: its bucket. Requests for other resources are
    /// never decided by it, even through `NotResource`.
    bucket: Option<String>,
}

/// What a policy document is attached to, which decides what it may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyKind<'a> {
    /// An access key's, a role's or a session's permissions: no Principal.
    Identity,
    /// A bucket's: Principal required, resources inside the bucket.
    Bucket(&'a str),
    /// A role's trust policy: Principal required, `sts:` actions, no Resource.
    Trust,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    deny: bool,
    /// None for identity policies (the policy's owner is the principal).
    principals: Option<Principals>,
    actions: PatternList,
    resources: PatternList,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
enum Principals {
    Everyone,
    Ids(Vec<PrincipalId>),
}

/// One principal a statement names.
#[derive(Debug, Clone, PartialEq)]
enum PrincipalId {
    AccessKey(String),
    /// Every session of this role.
    Role(String),
    /// Sessions of `role` whose name matches `session`.
    AssumedRole {
        role: String,
        session: Pattern,
    },
    /// Bearers of tokens of this issuer ([`issuer_name`] form).
    Federated(String),
}

impl PrincipalId {
    fn matches(&self, principal: Principal<'_>) -> bool {
        match (self, principal) {
            (Self::AccessKey(k), Principal::AccessKey(key)) => k == key,
            (Self::Role(r), Principal::Session(s)) => *r == s.role,
            (Self::AssumedRole { role, session }, Principal::Session(s)) => {
                *role == s.role && session.matches(&s.session_name, principal)
            }
            (Self::Federated(iss), Principal::WebIdentity { issuer, .. }) => {
                iss == issuer_name(issuer)
            }
            _ => false,
        }
    }
}

/// `Action`/`Resource` (matching any pattern) or `NotAction`/`NotResource`
/// (matching none).
#[derive(Debug, Clone, PartialEq)]
struct PatternList {
    patterns: Vec<Pattern>,
    negated: bool,
}

impl PatternList {
    fn matches(&self, subject: &str, principal: Principal<'_>) -> bool {
        self.patterns.iter().any(|p| p.matches(subject, principal)) != self.negated
    }
}

impl Policy {
    /// Parse an identity policy (the `policy` of a users-file entry): no
    /// `Principal`, resources `*` or `arn:aws:s3:::...`.
    ///
    /// Condition operators: `StringEquals`, `StringNotEquals`,
    /// `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`, `StringLike`,
    /// `StringNotLike`, `NumericEquals`, `NumericNotEquals`,
    /// `NumericLessThan[Equals]`, `NumericGreaterThan[Equals]`, `IpAddress`,
    /// `NotIpAddress` (CIDR or address, IPv4 or IPv6), `Bool`, each also with
    /// `...IfExists`, and `Null`. Keys: `s3:prefix`, `s3:delimiter`,
    /// `s3:max-keys`, `aws:SourceIp`, `aws:SecureTransport`, `aws:username`,
    /// `aws:userid`.
    pub fn parse(json: &[u8]) -> Result<Self, PolicyError> {
        Self::from_raw(parse_json(json)?, PolicyKind::Identity)
    }

    /// Parse a role's trust policy (see the module docs).
    pub fn parse_trust_policy(json: &[u8]) -> Result<Self, PolicyError> {
        Self::from_raw(parse_json(json)?, PolicyKind::Trust)
    }

    /// The claims the policy reads (`${jwt:...}` variables and `jwt:`
    /// condition keys), which a session must carry.
    pub fn claims(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .statements
            .iter()
            .flat_map(|st| {
                st.resources
                    .patterns
                    .iter()
                    .flat_map(Pattern::claims)
                    .chain(st.conditions.iter().flat_map(Condition::claims))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether a condition reads `s3:ExistingObjectTag/...`, so that a
    /// request needs the stored object's tags to be decided.
    pub fn reads_existing_tags(&self) -> bool {
        self.statements
            .iter()
            .any(|st| st.conditions.iter().any(Condition::reads_existing_tags))
    }

    /// Parse the bucket policy of `bucket` (PutBucketPolicy): like
    /// [`Policy::parse`], but every statement needs a `Principal` and every
    /// `Resource`/`NotResource` must be `arn:aws:s3:::BUCKET` or
    /// `arn:aws:s3:::BUCKET/...`.
    pub fn parse_bucket_policy(json: &[u8], bucket: &str) -> Result<Self, PolicyError> {
        Self::from_raw(parse_json(json)?, PolicyKind::Bucket(bucket))
    }

    /// Validate a document read by serde (also as part of the users file).
    pub(crate) fn from_raw(raw: RawPolicy, kind: PolicyKind<'_>) -> Result<Self, PolicyError> {
        let variables = match raw.version.as_deref() {
            Some("2012-10-17") => true,
            Some("2008-10-17") | None => false,
            Some(other) => {
                return Err(PolicyError(format!(
                    "The policy must contain a valid version string: \"{other}\" is neither \
                     \"2012-10-17\" nor \"2008-10-17\""
                )))
            }
        };
        let raw_statements = raw
            .statement
            .ok_or_else(|| PolicyError("Missing required field Statement".to_owned()))?
            .0;
        if raw_statements.is_empty() {
            return Err(PolicyError(
                "Statement must contain at least one statement".to_owned(),
            ));
        }
        let statements = raw_statements
            .into_iter()
            .enumerate()
            .map(|(i, st)| {
                let label = match &st.sid {
                    Some(sid) => format!("Statement[{i}] (Sid \"{sid}\")"),
                    None => format!("Statement[{i}]"),
                };
                parse_statement(st, kind, variables)
                    .map_err(|e| PolicyError(format!("{e} in {label}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            statements,
            bucket: match kind {
                PolicyKind::Bucket(b) => Some(b.to_owned()),
                _ => None,
            },
        })
    }

    /// What this policy says about `req`: [`Decision::ExplicitDeny`] if any
    /// applicable statement denies, else [`Decision::Allow`] if any allows.
    ///
    /// A statement applies when its principal (bucket policies only),
    /// action, resource and every condition match.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        if let Some(bucket) = &self.bucket {
            if !within_bucket(req.resource, bucket) {
                return Decision::NotApplicable;
            }
        }
        let action = req.action.to_ascii_lowercase();
        let mut allowed = false;
        for st in &self.statements {
            if (st.deny || !allowed) && st.applies(req, &action) {
                if st.deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

impl Statement {
    fn applies(&self, req: &Request<'_>, lowercase_action: &str) -> bool {
        let principal_matches = match &self.principals {
            None | Some(Principals::Everyone) => true,
            Some(Principals::Ids(ids)) => ids.iter().any(|id| id.matches(req.principal)),
        };
        principal_matches
            && self.actions.matches(lowercase_action, req.principal)
            && self.resources.matches(req.resource, req.principal)
            && self
                .conditions
                .iter()
                .all(|c| c.holds(req.context, req.principal))
    }
}

/// Whether `req` is allowed, given the principal's identity policy (None for
/// anonymous requests and for users without a policy; an assumed role's
/// policy for a session), a session's session policy (None when it was
/// given none, and for long-term keys), and the bucket policy of the
/// request's bucket (None when it has none, and for requests not aimed at a
/// bucket).
///
/// An explicit deny in any wins; otherwise an allow from the identity or the
/// bucket policy allows, provided the session policy, when there is one,
/// allows too (a session policy only narrows, as in AWS, and here it narrows
/// bucket-policy grants as well); otherwise the request is denied (default
/// deny).
pub fn authorize(
    identity_policy: Option<&Policy>,
    session_policy: Option<&Policy>,
    bucket_policy: Option<&Policy>,
    req: &Request<'_>,
) -> bool {
    let [identity, session, bucket] =
        [identity_policy, session_policy, bucket_policy].map(|p| p.map(|p| p.evaluate(req)));
    let decisions = [identity, session, bucket];
    if decisions.contains(&Some(Decision::ExplicitDeny)) {
        return false;
    }
    let granted = identity == Some(Decision::Allow) || bucket == Some(Decision::Allow);
    granted && session_policy.is_none_or(|_| session == Some(Decision::Allow))
}

fn within_bucket(resource: &str, bucket: &str) -> bool {
    resource
        .strip_prefix(S3_ARN_PREFIX)
        .and_then(|r| r.strip_prefix(bucket))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn parse_json(json: &[u8]) -> Result<RawPolicy, PolicyError> {
    serde_json::from_slice(json)
        .map(|MapOnly(raw)| raw)
        .map_err(|e| {
            PolicyError(if e.is_data() {
                format!("Invalid policy document: {e}")
            } else {
                format!("This policy contains invalid Json: {e}")
            })
        })
}

/// Exactly one of `name` and `Not{name}`, non-empty.
fn pick(
    name: &str,
    positive: Option<Strings>,
    negative: Option<Strings>,
) -> Result<(Vec<String>, bool), String> {
    let (values, negated) = match (positive, negative) {
        (Some(v), None) => (v.0, false),
        (None, Some(v)) => (v.0, true),
        (None, None) => return Err(format!("Missing required field {name}")),
        (Some(_), Some(_)) => return Err(format!("{name} and Not{name} are mutually exclusive")),
    };
    if values.is_empty() {
        let field = if negated { "Not" } else { "" };
        return Err(format!("{field}{name} must not be empty"));
    }
    Ok((values, negated))
}

fn parse_statement(
    st: RawStatement,
    kind: PolicyKind<'_>,
    variables: bool,
) -> Result<Statement, String> {
    let bucket = match kind {
        PolicyKind::Bucket(b) => Some(b),
        _ => None,
    };
    let trust = kind == PolicyKind::Trust;
    let deny = match st.effect.as_deref() {
        Some("Allow") => false,
        Some("Deny") => true,
        Some(other) => return Err(format!("Invalid effect: {other}")),
        None => return Err("Missing required field Effect".to_owned()),
    };
    if st.not_principal.is_some() {
        return Err(
            "NotPrincipal is not supported (use \"Principal\": \"*\" with a \
                    StringNotEquals condition on aws:username)"
                .to_owned(),
        );
    }
    let principals = match (kind, st.principal) {
        (PolicyKind::Identity, None) => None,
        (PolicyKind::Identity, Some(_)) => {
            return Err("Principal is not allowed in an identity policy \
                        (it applies to its own access key)"
                .to_owned())
        }
        (_, None) => return Err("Missing required field Principal".to_owned()),
        (_, Some(p)) => Some(parse_principal(p, trust)?),
    };

    let (actions, negated) = pick("Action", st.action, st.not_action)?;
    let mut action_patterns = Vec::with_capacity(actions.len());
    for action in &actions {
        let service = if trust { "sts:" } else { "s3:" };
        let valid = action == "*"
            || action
                .get(..service.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(service) && action.len() > service.len());
        if !valid {
            return Err(format!(
                "Policy has invalid action: \"{action}\" (expected \"*\" or \"{service}...\")"
            ));
        }
        action_patterns.push(Pattern::parse_lowercase(action));
    }
    let actions = PatternList {
        patterns: action_patterns,
        negated,
    };

    let (resources, negated) = if trust {
        if st.resource.is_some() || st.not_resource.is_some() {
            return Err(
                "Has prohibited field Resource (a trust policy applies to its role)".to_owned(),
            );
        }
        // Matches every resource: the role itself.
        (Vec::new(), true)
    } else {
        pick("Resource", st.resource, st.not_resource)?
    };
    let mut resource_patterns = Vec::with_capacity(resources.len());
    for resource in &resources {
        let valid = match bucket {
            None => resource == "*" || resource.starts_with(S3_ARN_PREFIX),
            // The raw text (before variables) must stay inside the bucket,
            // so no wildcard or variable can reach into another bucket.
            Some(bucket) => within_bucket(resource, bucket),
        };
        if !valid {
            return Err(match bucket {
                None => format!(
                    "Policy has invalid resource: \"{resource}\" \
                     (expected \"*\" or \"arn:aws:s3:::...\")"
                ),
                Some(bucket) => format!(
                    "Policy has invalid resource: \"{resource}\" is not \
                     \"arn:aws:s3:::{bucket}\" or \"arn:aws:s3:::{bucket}/...\""
                ),
            });
        }
        resource_patterns.push(
            Pattern::parse(resource, variables)
                .map_err(|e| format!("Policy has invalid resource: {e}"))?,
        );
    }
    let resources = PatternList {
        patterns: resource_patterns,
        negated,
    };

    let mut conditions = Vec::new();
    for (operator, entries) in st.condition.map(|c| c.0).unwrap_or_default() {
        if entries.0.is_empty() {
            return Err(format!("Condition operator {operator} has no keys"));
        }
        for (key, values) in entries.0 {
            conditions.push(Condition::parse(
                &operator, &key, &values.0, variables, trust,
            )?);
        }
    }

    Ok(Statement {
        deny,
        principals,
        actions,
        resources,
        conditions,
    })
}

fn parse_principal(raw: RawPrincipal, trust: bool) -> Result<Principals, String> {
    let invalid = |what: &str| format!("Invalid principal in policy: {what}");
    let entries = match raw {
        RawPrincipal::Text(t) if t == "*" => return Ok(Principals::Everyone),
        RawPrincipal::Text(t) => {
            return Err(invalid(&format!(
                "\"{t}\" (expected \"*\" or {{\"AWS\": [...]}})"
            )))
        }
        RawPrincipal::Map(entries) => entries.0,
    };
    let mut ids = Vec::new();
    let mut everyone = false;
    if entries.is_empty() {
        return Err(invalid("empty Principal"));
    }
    for (kind, values) in entries {
        let federated = match kind.as_str() {
            "AWS" => false,
            "Federated" if trust => true,
            _ => {
                let types = if trust {
                    "\"AWS\" and \"Federated\""
                } else {
                    "\"AWS\""
                };
                return Err(invalid(&format!(
                    "principal type \"{kind}\" is not supported (only {types})"
                )));
            }
        };
        if values.0.is_empty() {
            return Err(invalid(&format!("empty {kind} principal list")));
        }
        for v in values.0 {
            if federated {
                ids.push(PrincipalId::Federated(federated_issuer(&v).ok_or_else(
                    || {
                        invalid(&format!(
                            "\"{v}\" (expected an issuer URL or \
                         \"arn:aws:iam::ACCOUNT:oidc-provider/ISSUER\")"
                        ))
                    },
                )?));
                continue;
            }
            if v == "*" {
                everyone = true;
                continue;
            }
            ids.push(principal_id(&v).ok_or_else(|| {
                invalid(&format!(
                    "\"{v}\" (expected \"*\", an access key, \
                     \"arn:aws:iam::ACCOUNT:user/NAME\", \"arn:aws:iam::ACCOUNT:role/NAME\" \
                     or \"arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION\")"
                ))
            })?);
        }
    }
    Ok(if everyone {
        Principals::Everyone
    } else {
        Principals::Ids(ids)
    })
}

/// The issuer a `Federated` principal names: an `https://` (or loopback
/// `http://`) URL, or `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
fn federated_issuer(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (Some(_partition), Some("iam"), Some(""), Some(_account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let host = resource.strip_prefix("oidc-provider/")?;
        return (!host.is_empty()).then(|| issuer_name(host).to_owned());
    }
    (v.starts_with("https://") || v.starts_with("http://")).then(|| issuer_name(v).to_owned())
}

/// What an `AWS` principal names: an access key (bare, or the user name of
/// `arn:aws:iam::ACCOUNT:user/[PATH/]NAME`), a role
/// (`arn:aws:iam::ACCOUNT:role/[PATH/]NAME`) or sessions of a role
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
fn principal_id(v: &str) -> Option<PrincipalId> {
    if let Some(rest) = v.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (Some(_partition), Some(service), Some(""), Some(_account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let valid_name = |n: &str| is_valid_role_name(n).then(|| n.to_owned());
        return match service {
            "iam" => {
                if let Some(role) = resource.strip_prefix("role/") {
                    valid_name(role.rsplit('/').next()?).map(PrincipalId::Role)
                } else {
                    principal_access_key(v).map(PrincipalId::AccessKey)
                }
            }
            "sts" => {
                let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
                let role = valid_name(role)?;
                if session.is_empty() {
                    return None;
                }
                Some(PrincipalId::AssumedRole {
                    role,
                    session: Pattern::parse(session, false).ok()?,
                })
            }
            _ => None,
        };
    }
    principal_access_key(v).map(PrincipalId::AccessKey)
}

/// Whether `name` can be a role name (IAM: 1-64 of `[A-Za-z0-9+=,.@_-]`).
pub(crate) fn is_valid_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// The access key a principal names: a bare access key, or the user name of
/// `arn:aws:iam::ACCOUNT:user/[PATH/]NAME`.
fn principal_access_key(v: &str) -> Option<String> {
    let key = if let Some(rest) = v.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (Some(_partition), Some("iam"), Some(""), Some(_account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        resource.strip_prefix("user/")?.rsplit('/').next()?
    } else {
        v
    };
    is_valid_access_key(key).then(|| key.to_owned())
}

/// Whether `key` can be an access key: visible ASCII without `/` and `,`
/// (which SigV4 credentials and headers use as separators) and without the
/// wildcards `*` and `?` (so a principal list can name it unambiguously).
pub(crate) fn is_valid_access_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '*' | '?' | '/' | ','))
}

#[cfg(test)]
mod tests;

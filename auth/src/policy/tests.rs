//! Table-driven tests of policy parsing and evaluation.

use super::*;

/// The users-file example of issue 7.
const READER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":["s3:GetObject","s3:ListBucket"],
    "Resource":["arn:aws:s3:::datasets","arn:aws:s3:::datasets/*"]}]}"#;

/// Home folders: list only under home/alice/, read and write only there.
const HOME: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home",
     "Condition":{"StringLike":{"s3:prefix":["home/alice/*","home/alice/"]}}},
    {"Sid":"Objects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
     "Resource":"arn:aws:s3:::home/home/alice/*"}]}"#;

/// The same for every user, with a policy variable.
const HOME_VAR: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::home",
     "Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}},
    {"Effect":"Allow","Action":"s3:*Object","Resource":"arn:aws:s3:::home/home/${aws:username}/*"}]}"#;

/// Everything, but only from two networks.
const FROM_NETS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"s3:*","Resource":"*",
    "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}}}"#;

/// Everything except deleting datasets.
const NO_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"*","Resource":"*"},
    {"Effect":"Deny","Action":"s3:DeleteObject*","Resource":"arn:aws:s3:::datasets/*"}]}"#;

/// Wildcards in actions (any case) and resources.
const WILDCARDS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":["S3:get*","s3:*MULTIPART*"],"Resource":"arn:aws:s3:::logs-??/*.gz"}}"#;

/// NotAction / NotResource.
const NOT_ELEMENTS: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","NotAction":"s3:Delete*","Resource":"*"},
    {"Effect":"Deny","Action":"*","NotResource":["arn:aws:s3:::open","arn:aws:s3:::open/*"]}]}"#;

/// Reads over TLS only; listing capped at 100 keys.
const TLS_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"},
    {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}},
    {"Effect":"Deny","Action":"s3:ListBucket","Resource":"*",
     "Condition":{"NumericGreaterThan":{"s3:max-keys":100}}}]}"#;

/// A listing condition with IfExists: requests without a prefix pass.
const IF_EXISTS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
    "Condition":{"StringEqualsIfExists":{"s3:delimiter":"/"},"StringNotLike":{"s3:prefix":"private/*"}}}}"#;

/// Bucket policy: public reads under public/.
const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public",
    "Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"}]}"#;

/// Bucket policy: named keys may write; everyone but admin is denied deletes.
const NAMED: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":["reader","arn:aws:iam::123456789012:user/team/writer"]},
     "Action":["s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::b/*"},
    {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*",
     "Condition":{"StringNotEquals":{"aws:username":"admin"}}}]}"#;

/// Bucket policy with NotResource: must not decide anything outside `b`.
const BUCKET_NOT_RESOURCE: &str = r#"{"Statement":{"Effect":"Allow","Principal":"*",
    "Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/secret/*"}}"#;

/// Request facts, in table-friendly form.
#[derive(Clone, Copy)]
struct Ctx {
    prefix: Option<&'static str>,
    delimiter: Option<&'static str>,
    max_keys: Option<u64>,
    ip: Option<&'static str>,
    tls: bool,
}

const NONE: Ctx = Ctx {
    prefix: None,
    delimiter: None,
    max_keys: None,
    ip: None,
    tls: true,
};

impl Ctx {
    fn build(self) -> ConditionContext {
        ConditionContext {
            prefix: self.prefix.map(str::to_owned),
            delimiter: self.delimiter.map(str::to_owned),
            max_keys: self.max_keys,
            source_ip: self.ip.map(|ip| ip.parse().unwrap()),
            secure_transport: self.tls,
            ..ConditionContext::default()
        }
    }
}

const ALICE: Principal<'static> = Principal::AccessKey("alice");
const ANON: Principal<'static> = Principal::Anonymous;

struct Case {
    name: &'static str,
    /// An identity policy, or a bucket policy of bucket `b`.
    policy: &'static str,
    bucket_policy: bool,
    action: &'static str,
    resource: &'static str,
    principal: Principal<'static>,
    ctx: Ctx,
    want: Decision,
}

use Decision::{Allow, ExplicitDeny, NotApplicable};

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let c = |name, policy, bucket_policy, action, resource, principal, ctx, want| Case {
        name, policy, bucket_policy, action, resource, principal, ctx, want,
    };
    let id = false;
    let bp = true;
    vec![
        // Plain allow, and default deny for everything else.
        c("reader gets", READER, id, "s3:GetObject", "arn:aws:s3:::datasets/a/b.csv", ALICE, NONE, Allow),
        c("reader lists", READER, id, "s3:ListBucket", "arn:aws:s3:::datasets", ALICE, NONE, Allow),
        c("action names are case-insensitive", READER, id, "S3:GETOBJECT", "arn:aws:s3:::datasets/x", ALICE, NONE, Allow),
        c("reader cannot put", READER, id, "s3:PutObject", "arn:aws:s3:::datasets/x", ALICE, NONE, NotApplicable),
        c("reader: other bucket", READER, id, "s3:GetObject", "arn:aws:s3:::private/x", ALICE, NONE, NotApplicable),
        c("reader: bucket ARN is not an object", READER, id, "s3:GetObject", "arn:aws:s3:::datasets", ALICE, NONE, Allow),
        c("reader: prefix-named bucket", READER, id, "s3:GetObject", "arn:aws:s3:::datasets2/x", ALICE, NONE, NotApplicable),
        c("reader: ListBuckets", READER, id, "s3:ListAllMyBuckets", ALL_BUCKETS_ARN, ALICE, NONE, NotApplicable),
        c("resources are case-sensitive", READER, id, "s3:GetObject", "arn:aws:s3:::DataSets/x", ALICE, NONE, NotApplicable),
        // Wildcards.
        c("s3:get* matches", WILDCARDS, id, "s3:GetObjectTagging", "arn:aws:s3:::logs-01/a/b.gz", ALICE, NONE, Allow),
        c("*MULTIPART* matches", WILDCARDS, id, "s3:AbortMultipartUpload", "arn:aws:s3:::logs-01/x.gz", ALICE, NONE, Allow),
        c("*multipart* is not put", WILDCARDS, id, "s3:PutObject", "arn:aws:s3:::logs-01/x.gz", ALICE, NONE, NotApplicable),
        c("? is one character", WILDCARDS, id, "s3:GetObject", "arn:aws:s3:::logs-001/x.gz", ALICE, NONE, NotApplicable),
        c("* spans slashes", WILDCARDS, id, "s3:GetObject", "arn:aws:s3:::logs-ab/y/m/d.gz", ALICE, NONE, Allow),
        c("suffix must match", WILDCARDS, id, "s3:GetObject", "arn:aws:s3:::logs-ab/x.gz.tmp", ALICE, NONE, NotApplicable),
        c("* matches ListBuckets", NO_DELETE, id, "s3:ListAllMyBuckets", ALL_BUCKETS_ARN, ALICE, NONE, Allow),
        // Explicit deny over allow.
        c("allow everything", NO_DELETE, id, "s3:PutObject", "arn:aws:s3:::datasets/x", ALICE, NONE, Allow),
        c("deny wins", NO_DELETE, id, "s3:DeleteObject", "arn:aws:s3:::datasets/x", ALICE, NONE, ExplicitDeny),
        c("deny wildcard", NO_DELETE, id, "s3:DeleteObjectVersion", "arn:aws:s3:::datasets/x", ALICE, NONE, ExplicitDeny),
        c("deny elsewhere does not apply", NO_DELETE, id, "s3:DeleteObject", "arn:aws:s3:::scratch/x", ALICE, NONE, Allow),
        // NotAction / NotResource.
        c("NotAction allows others", NOT_ELEMENTS, id, "s3:GetObject", "arn:aws:s3:::open/x", ALICE, NONE, Allow),
        c("NotAction excludes", NOT_ELEMENTS, id, "s3:DeleteObject", "arn:aws:s3:::open/x", ALICE, NONE, NotApplicable),
        c("NotResource denies outside", NOT_ELEMENTS, id, "s3:GetObject", "arn:aws:s3:::closed/x", ALICE, NONE, ExplicitDeny),
        // Prefix conditions on ListBucket.
        c("home: own prefix", HOME, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, Ctx { prefix: Some("home/alice/2024/"), ..NONE }, Allow),
        c("home: own folder", HOME, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, Ctx { prefix: Some("home/alice/"), ..NONE }, Allow),
        c("home: other prefix", HOME, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, Ctx { prefix: Some("home/bob/"), ..NONE }, NotApplicable),
        c("home: no prefix", HOME, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, NONE, NotApplicable),
        c("home: empty prefix", HOME, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, Ctx { prefix: Some(""), ..NONE }, NotApplicable),
        c("home: own object", HOME, id, "s3:PutObject", "arn:aws:s3:::home/home/alice/a.txt", ALICE, NONE, Allow),
        c("home: other object", HOME, id, "s3:GetObject", "arn:aws:s3:::home/home/bob/a.txt", ALICE, NONE, NotApplicable),
        // Policy variables.
        c("var: alice lists her prefix", HOME_VAR, id, "s3:ListBucket", "arn:aws:s3:::home", ALICE, Ctx { prefix: Some("home/alice/x"), ..NONE }, Allow),
        c("var: bob cannot list alice's", HOME_VAR, id, "s3:ListBucket", "arn:aws:s3:::home", Principal::AccessKey("bob"), Ctx { prefix: Some("home/alice/x"), ..NONE }, NotApplicable),
        c("var: bob reads his own", HOME_VAR, id, "s3:GetObject", "arn:aws:s3:::home/home/bob/f", Principal::AccessKey("bob"), NONE, Allow),
        c("var: anonymous matches nothing", HOME_VAR, id, "s3:GetObject", "arn:aws:s3:::home/home//f", ANON, NONE, NotApplicable),
        // Source IP.
        c("ip: inside v4", FROM_NETS, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, Ctx { ip: Some("192.0.2.44"), ..NONE }, Allow),
        c("ip: inside v6", FROM_NETS, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, Ctx { ip: Some("2001:db8:5::1"), ..NONE }, Allow),
        c("ip: mapped v4", FROM_NETS, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, Ctx { ip: Some("::ffff:192.0.2.44"), ..NONE }, Allow),
        c("ip: outside", FROM_NETS, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, Ctx { ip: Some("198.51.100.1"), ..NONE }, NotApplicable),
        c("ip: unknown source", FROM_NETS, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, NONE, NotApplicable),
        // Bool and numeric conditions.
        c("tls: read", TLS_ONLY, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, NONE, Allow),
        c("tls: plain http denied", TLS_ONLY, id, "s3:GetObject", "arn:aws:s3:::b/k", ALICE, Ctx { tls: false, ..NONE }, ExplicitDeny),
        c("max-keys: 100 ok", TLS_ONLY, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, Ctx { max_keys: Some(100), ..NONE }, Allow),
        c("max-keys: 101 denied", TLS_ONLY, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, Ctx { max_keys: Some(101), ..NONE }, ExplicitDeny),
        c("max-keys: absent", TLS_ONLY, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, NONE, Allow),
        // IfExists, and negated operators with an absent key.
        c("ifexists: absent delimiter", IF_EXISTS, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, NONE, Allow),
        c("ifexists: right delimiter", IF_EXISTS, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, Ctx { delimiter: Some("/"), prefix: Some("pub/"), ..NONE }, Allow),
        c("ifexists: wrong delimiter", IF_EXISTS, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, Ctx { delimiter: Some("-"), ..NONE }, NotApplicable),
        c("notlike: private prefix", IF_EXISTS, id, "s3:ListBucket", "arn:aws:s3:::b", ALICE, Ctx { prefix: Some("private/x"), ..NONE }, NotApplicable),
        // Bucket policies: principals.
        c("public: anonymous reads", PUBLIC_READ, bp, "s3:GetObject", "arn:aws:s3:::b/public/logo.png", ANON, NONE, Allow),
        c("public: signed reads", PUBLIC_READ, bp, "s3:GetObject", "arn:aws:s3:::b/public/logo.png", ALICE, NONE, Allow),
        c("public: not outside public/", PUBLIC_READ, bp, "s3:GetObject", "arn:aws:s3:::b/private/x", ANON, NONE, NotApplicable),
        c("public: no writes", PUBLIC_READ, bp, "s3:PutObject", "arn:aws:s3:::b/public/x", ANON, NONE, NotApplicable),
        c("named: bare key", NAMED, bp, "s3:PutObject", "arn:aws:s3:::b/x", Principal::AccessKey("reader"), NONE, Allow),
        c("named: user ARN with path", NAMED, bp, "s3:PutObject", "arn:aws:s3:::b/x", Principal::AccessKey("writer"), NONE, Allow),
        c("named: other key", NAMED, bp, "s3:PutObject", "arn:aws:s3:::b/x", ALICE, NONE, NotApplicable),
        c("named: keys are case-sensitive", NAMED, bp, "s3:PutObject", "arn:aws:s3:::b/x", Principal::AccessKey("Reader"), NONE, NotApplicable),
        c("named: not anonymous", NAMED, bp, "s3:PutObject", "arn:aws:s3:::b/x", ANON, NONE, NotApplicable),
        c("named: delete denied to non-admin", NAMED, bp, "s3:DeleteObject", "arn:aws:s3:::b/x", Principal::AccessKey("reader"), NONE, ExplicitDeny),
        c("named: delete denied to anonymous", NAMED, bp, "s3:DeleteObject", "arn:aws:s3:::b/x", ANON, NONE, ExplicitDeny),
        c("named: admin not denied", NAMED, bp, "s3:DeleteObject", "arn:aws:s3:::b/x", Principal::AccessKey("admin"), NONE, NotApplicable),
        c("not-resource: inside bucket", BUCKET_NOT_RESOURCE, bp, "s3:GetObject", "arn:aws:s3:::b/pub", ANON, NONE, Allow),
        c("not-resource: excluded", BUCKET_NOT_RESOURCE, bp, "s3:GetObject", "arn:aws:s3:::b/secret/k", ANON, NONE, NotApplicable),
        c("not-resource: never another bucket", BUCKET_NOT_RESOURCE, bp, "s3:GetObject", "arn:aws:s3:::c/k", ANON, NONE, NotApplicable),
        c("not-resource: never a prefix-named bucket", BUCKET_NOT_RESOURCE, bp, "s3:GetObject", "arn:aws:s3:::bb/k", ANON, NONE, NotApplicable),
    ]
}

#[test]
fn evaluation_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let policy = if case.bucket_policy {
            Policy::parse_bucket_policy(case.policy.as_bytes(), "b")
        } else {
            Policy::parse(case.policy.as_bytes())
        }
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let ctx = case.ctx.build();
        let req = Request {
            action: case.action,
            resource: case.resource,
            principal: case.principal,
            context: &ctx,
        };
        let got = policy.evaluate(&req);
        if got != case.want {
            failures.push(format!("{}: got {got:?}, want {:?}", case.name, case.want));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[rustfmt::skip]
fn authorize_table() {
    let identity = Policy::parse(READER.as_bytes()).unwrap();
    let deny_identity = Policy::parse(NO_DELETE.as_bytes()).unwrap();
    let public = Policy::parse_bucket_policy(PUBLIC_READ.as_bytes(), "b").unwrap();
    let named = Policy::parse_bucket_policy(NAMED.as_bytes(), "b").unwrap();
    let ctx = ConditionContext::default();
    // (name, identity policy, bucket policy, action, resource, principal, allowed)
    type Case<'a> = (&'a str, Option<&'a Policy>, Option<&'a Policy>, &'a str, &'a str, Principal<'a>, bool);
    let cases: &[Case<'_>] = &[
        ("no policies: default deny", None, None, "s3:GetObject", "arn:aws:s3:::b/x", ALICE, false),
        ("identity allows", Some(&identity), None, "s3:GetObject", "arn:aws:s3:::datasets/x", ALICE, true),
        ("identity silent, bucket allows", Some(&identity), Some(&public), "s3:GetObject", "arn:aws:s3:::b/public/x", ALICE, true),
        ("anonymous, bucket allows", None, Some(&public), "s3:GetObject", "arn:aws:s3:::b/public/x", ANON, true),
        ("anonymous, bucket silent", None, Some(&public), "s3:GetObject", "arn:aws:s3:::b/x", ANON, false),
        ("bucket denies over identity allow", Some(&deny_identity), Some(&named), "s3:DeleteObject", "arn:aws:s3:::b/x", Principal::AccessKey("reader"), false),
        ("identity denies over bucket allow", Some(&deny_identity), Some(&named), "s3:DeleteObject", "arn:aws:s3:::datasets/x", Principal::AccessKey("admin"), false),
        ("identity allows, bucket silent", Some(&deny_identity), Some(&named), "s3:GetObject", "arn:aws:s3:::b/x", ALICE, true),
        ("bucket allows a key without identity policy", None, Some(&named), "s3:PutObject", "arn:aws:s3:::b/x", Principal::AccessKey("reader"), true),
    ];
    for (name, identity, bucket, action, resource, principal, want) in cases {
        let req = Request { action, resource, principal: *principal, context: &ctx };
        assert_eq!(authorize(*identity, None, *bucket, &req), *want, "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn parse_error_table() {
    // (name, document, Some(bucket) for a bucket policy, expected message part)
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        ("bad json", r#"{"Statement": ["#, None, "invalid Json"),
        ("not an object", r#"[1, 2]"#, None, "Invalid policy document: invalid type: sequence"),
        ("positional statement", r#"{"Statement":[[null,"Allow",null,null,"*",null,"*"]]}"#, None, "expected an object"),
        ("bad effect", r#"{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#, None, "Invalid effect: allow in Statement[0]"),
        ("missing effect", r#"{"Statement":{"Sid":"s1","Action":"*","Resource":"*"}}"#, None, "Missing required field Effect in Statement[0] (Sid \"s1\")"),
        ("unknown operator", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringMatches":{"s3:prefix":"a"}}}}"#, None, "Invalid Condition operator StringMatches"),
        ("unknown qualifier", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringLike":{"s3:prefix":"a"}}}}"#, None, "qualifiers"),
        ("unknown condition key", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"x"}}}}"#, None, "invalid condition key aws:SourceVpc"),
        ("operator for another key type", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"s3:prefix":"10.0.0.0/8"}}}}"#, None, "IpAddress cannot be applied"),
        ("bad cidr", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}"#, None, "is not an IP address or CIDR"),
        ("bad bool", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}"#, None, "is not true or false"),
        ("bad number", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}}"#, None, "is not a number"),
        ("no condition values", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"s3:prefix":[]}}}}"#, None, "has no values"),
        ("duplicate operator", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"s3:prefix":"a*"},"StringLike":{"s3:prefix":"b*"}}}}"#, None, "duplicate field `StringLike`"),
        ("duplicate effect", r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}"#, None, "duplicate field `Effect`"),
        ("unknown statement field", r#"{"Statement":{"Effect":"Allow","Actions":"*","Resource":"*"}}"#, None, "unknown field `Actions`"),
        ("unknown top-level field", r#"{"Statment":[]}"#, None, "unknown field `Statment`"),
        ("bad version", r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, None, "valid version string"),
        ("no statement", r#"{"Version":"2012-10-17"}"#, None, "Missing required field Statement"),
        ("empty statement", r#"{"Statement":[]}"#, None, "at least one statement"),
        ("no action", r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, None, "Missing required field Action"),
        ("action and notaction", r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:Get*","Resource":"*"}}"#, None, "mutually exclusive"),
        ("empty action list", r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#, None, "Action must not be empty"),
        ("non-s3 action", r#"{"Statement":{"Effect":"Allow","Action":"iam:CreateUser","Resource":"*"}}"#, None, "invalid action"),
        ("action of wrong type", r#"{"Statement":{"Effect":"Allow","Action":{"a":1},"Resource":"*"}}"#, None, "a string or an array of strings"),
        ("nested action array", r#"{"Statement":{"Effect":"Allow","Action":[["s3:GetObject"]],"Resource":"*"}}"#, None, "expected a string"),
        ("non-s3 resource", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:sqs:::q"}}"#, None, "invalid resource"),
        ("principal in identity policy", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#, None, "Principal is not allowed"),
        ("notprincipal", r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"*","Resource":"arn:aws:s3:::b"}}"#, Some("b"), "NotPrincipal is not supported"),
        ("variable without 2012 version", r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#, None, "2012-10-17"),
        ("unknown variable", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"}}"#, None, "unsupported policy variable"),
        // Bucket policies.
        ("bucket: resource outside", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}"#, Some("b"), "Policy has invalid resource"),
        ("bucket: prefix-named bucket", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bb/*"}}"#, Some("b"), "Policy has invalid resource"),
        ("bucket: wildcard into other buckets", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b*"}}"#, Some("b"), "Policy has invalid resource"),
        ("bucket: star resource", r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#, Some("b"), "Policy has invalid resource"),
        ("bucket: second resource outside", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b"},{"Effect":"Allow","Principal":"*","Action":"*","Resource":["arn:aws:s3:::b/*","arn:aws:s3:::c/*"]}]}"#, Some("b"), "in Statement[1]"),
        ("bucket: missing principal", r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "Missing required field Principal"),
        ("bucket: service principal", r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "principal type \"Service\""),
        ("bucket: account principal", r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "Invalid principal"),
        ("bucket: account root principal", r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "Invalid principal"),
        ("bucket: wildcard principal", r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"read*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "Invalid principal"),
        ("bucket: principal string", r#"{"Statement":{"Effect":"Allow","Principal":"reader","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "Invalid principal"),
        ("bucket: empty principal list", r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":[]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#, Some("b"), "empty AWS principal list"),
    ];
    for (name, doc, bucket, want) in cases {
        let err = match bucket {
            Some(bucket) => Policy::parse_bucket_policy(doc.as_bytes(), bucket),
            None => Policy::parse(doc.as_bytes()),
        }
        .expect_err(name);
        assert!(err.message().contains(want), "{name}: {err}");
    }
}

#[test]
fn accepted_forms() {
    // Single statement object, 2008 version, numbers and booleans as values,
    // a principal list containing "*", NotAction in a bucket policy.
    let docs: &[(&str, Option<&str>)] = &[
        (
            r#"{"Version":"2008-10-17","Id":"x","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}}"#,
            None,
        ),
        (
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericGreaterThanEquals":{"s3:max-keys":[1000, 1e3]},"Null":{"aws:username":"true"}}}]}"#,
            None,
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["x","*"]},"NotAction":"s3:Delete*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}"#,
            Some("b"),
        ),
    ];
    for (doc, bucket) in docs {
        match bucket {
            Some(bucket) => Policy::parse_bucket_policy(doc.as_bytes(), bucket),
            None => Policy::parse(doc.as_bytes()),
        }
        .unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
}

#[test]
fn null_operator() {
    let policy = Policy::parse(
        br#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{"Null":{"aws:username":"true"}}}}"#,
    )
    .unwrap();
    let ctx = ConditionContext::default();
    let req = |principal| Request {
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        principal,
        context: &ctx,
    };
    assert_eq!(policy.evaluate(&req(ANON)), Allow);
    assert_eq!(policy.evaluate(&req(ALICE)), NotApplicable);
}

#[test]
fn arns() {
    assert_eq!(bucket_arn("b"), "arn:aws:s3:::b");
    assert_eq!(object_arn("b", "a/b c"), "arn:aws:s3:::b/a/b c");
    assert!(within_bucket(&object_arn("b", ""), "b"));
    assert!(!within_bucket("arn:aws:s3:::bc/x", "b"));
}

mod federation {
    //! Trust policies, assumed-role sessions and identity claims.

    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::session::{ClaimValue, Claims, Session, SessionSource};

    const ISSUER: &str = "https://login.example/realms/stats";

    fn claims(pairs: &[(&str, &[&str])]) -> Claims {
        pairs
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    [one] if !k.starts_with("groups") => ClaimValue::Text((*one).to_owned()),
                    list => ClaimValue::List(list.iter().map(|s| (*s).to_owned()).collect()),
                };
                ((*k).to_owned(), value)
            })
            .collect()
    }

    fn assume(trust: &Policy, principal: Principal<'_>, action: &str) -> bool {
        let ctx = ConditionContext::default();
        let req = Request {
            action,
            resource: "arn:aws:iam::000000000000:role/analyst",
            principal,
            context: &ctx,
        };
        trust.evaluate(&req) == Decision::Allow
    }

    #[test]
    fn trust_policies_decide_who_assumes_a_role() {
        let trust = Policy::parse_trust_policy(
            br#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123:oidc-provider/login.example/realms/stats"},
               "Action":"sts:AssumeRoleWithWebIdentity",
               "Condition":{"StringEquals":{"login.example/realms/stats:aud":"blobgate"},
                            "ForAnyValue:StringLike":{"login.example/realms/stats:groups":["stat*"]}}},
              {"Effect":"Allow","Principal":{"AWS":["ci", "arn:aws:iam::1:user/deployer"]},"Action":"sts:AssumeRole"},
              {"Effect":"Deny","Principal":{"Federated":"https://login.example/realms/stats"},
               "Action":"sts:*","Condition":{"StringEquals":{"login.example/realms/stats:sub":"mallory"}}}]}"#,
        )
        .unwrap();
        fn web<'a>(c: &'a Claims, issuer: &'a str) -> Principal<'a> {
            Principal::WebIdentity { issuer, claims: c }
        }
        let ok = claims(&[
            ("aud", &["blobgate"]),
            ("sub", &["alice"]),
            ("groups", &["x", "statisticians"]),
        ]);
        assert!(assume(
            &trust,
            web(&ok, ISSUER),
            "sts:AssumeRoleWithWebIdentity"
        ));
        // The issuer with a trailing slash is the same issuer.
        assert!(assume(
            &trust,
            web(&ok, "https://login.example/realms/stats/"),
            "sts:AssumeRoleWithWebIdentity"
        ));
        // Only the web-identity action.
        assert!(!assume(&trust, web(&ok, ISSUER), "sts:AssumeRole"));
        let no_group = claims(&[
            ("aud", &["blobgate"]),
            ("sub", &["alice"]),
            ("groups", &["admins"]),
        ]);
        assert!(!assume(
            &trust,
            web(&no_group, ISSUER),
            "sts:AssumeRoleWithWebIdentity"
        ));
        let no_groups_claim = claims(&[("aud", &["blobgate"]), ("sub", &["alice"])]);
        assert!(!assume(
            &trust,
            web(&no_groups_claim, ISSUER),
            "sts:AssumeRoleWithWebIdentity"
        ));
        let other_aud = claims(&[
            ("aud", &["other"]),
            ("sub", &["alice"]),
            ("groups", &["stats"]),
        ]);
        assert!(!assume(
            &trust,
            web(&other_aud, ISSUER),
            "sts:AssumeRoleWithWebIdentity"
        ));
        // Another issuer's token: neither its principal nor its claims apply.
        assert!(!assume(
            &trust,
            web(&ok, "https://evil.example/realms/stats"),
            "sts:AssumeRoleWithWebIdentity"
        ));
        let mallory = claims(&[
            ("aud", &["blobgate"]),
            ("sub", &["mallory"]),
            ("groups", &["stats"]),
        ]);
        assert_eq!(
            trust.evaluate(&Request {
                action: "sts:AssumeRoleWithWebIdentity",
                resource: "arn:aws:iam::0:role/analyst",
                principal: web(&mallory, ISSUER),
                context: &ConditionContext::default(),
            }),
            Decision::ExplicitDeny
        );
        assert!(assume(&trust, Principal::AccessKey("ci"), "sts:AssumeRole"));
        assert!(assume(
            &trust,
            Principal::AccessKey("deployer"),
            "sts:AssumeRole"
        ));
        assert!(!assume(
            &trust,
            Principal::AccessKey("other"),
            "sts:AssumeRole"
        ));
        assert!(!assume(&trust, Principal::Anonymous, "sts:AssumeRole"));
    }

    #[test]
    fn for_all_values_and_negated_list_conditions() {
        let trust = |cond: &str| {
            Policy::parse_trust_policy(
                format!(
                    r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow",
                    "Principal":{{"Federated":"{ISSUER}"}},"Action":"sts:AssumeRoleWithWebIdentity",
                    "Condition":{cond}}}}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let all = trust(
            r#"{"ForAllValues:StringEquals":{"login.example/realms/stats:groups":["a","b"]}}"#,
        );
        let none_admin =
            trust(r#"{"StringNotEquals":{"login.example/realms/stats:groups":"admins"}}"#);
        fn web(c: &Claims) -> Principal<'_> {
            Principal::WebIdentity {
                issuer: ISSUER,
                claims: c,
            }
        }
        let act = "sts:AssumeRoleWithWebIdentity";
        let ab = claims(&[("groups", &["a", "b"])]);
        let ac = claims(&[("groups", &["a", "c"])]);
        let admin = claims(&[("groups", &["a", "admins"])]);
        let empty = claims(&[]);
        assert!(assume(&all, web(&ab), act));
        assert!(!assume(&all, web(&ac), act));
        // ForAllValues over no values holds (AWS's documented pitfall).
        assert!(assume(&all, web(&empty), act));
        assert!(assume(&none_admin, web(&ab), act));
        assert!(!assume(&none_admin, web(&admin), act));
    }

    #[test]
    fn trust_policy_errors() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"sts:AssumeRoleWithWebIdentity"}}"#,
                "issuer URL",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"https://i"},"Action":"s3:GetObject"}}"#,
                "sts:",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"https://i"},"Action":"sts:*","Resource":"*"}}"#,
                "Resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
                "Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"x"},"Action":"sts:AssumeRole"}}"#,
                "principal type",
            ),
        ];
        for (doc, want) in cases {
            let e = Policy::parse_trust_policy(doc.as_bytes()).unwrap_err();
            assert!(e.message().contains(want), "{doc}: {e}");
        }
        // Federated principals and issuer keys belong to trust policies only.
        assert!(Policy::parse_bucket_policy(
            br#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"https://i"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#,
            "b"
        )
        .is_err());
        assert!(Policy::parse(
            br#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"login.example:sub":"a"}}}}"#
        )
        .is_err());
    }

    fn session(role: &str, name: &str, c: Claims, policy: Option<&str>) -> Session {
        Session::new(
            role.into(),
            "123456789012".into(),
            name.into(),
            SessionSource::WebIdentity {
                issuer: ISSUER.into(),
            },
            c,
            policy.map(str::to_owned),
            SystemTime::now() + Duration::from_secs(900),
        )
    }

    fn allowed(
        role_policy: &Policy,
        session_policy: Option<&Policy>,
        bucket: Option<&Policy>,
        s: &Session,
        action: &str,
        resource: &str,
    ) -> bool {
        let ctx = ConditionContext::default();
        let req = Request {
            action,
            resource,
            principal: Principal::Session(s),
            context: &ctx,
        };
        authorize(Some(role_policy), session_policy, bucket, &req)
    }

    #[test]
    fn sessions_are_allowed_their_role_narrowed_by_the_session_policy() {
        let role = Policy::parse(
            br#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::team/home/${jwt:sub}/*"},
              {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::team/by-session/${aws:username}/*"},
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::team",
               "Condition":{"StringEquals":{"jwt:email":"alice@example.org"}}}]}"#,
        )
        .unwrap();
        assert_eq!(role.claims(), ["email", "sub"]);
        let alice = session(
            "analyst",
            "nb-1",
            claims(&[("sub", &["alice"]), ("email", &["alice@example.org"])]),
            None,
        );
        assert!(allowed(
            &role,
            None,
            None,
            &alice,
            "s3:PutObject",
            "arn:aws:s3:::team/home/alice/x.csv"
        ));
        assert!(!allowed(
            &role,
            None,
            None,
            &alice,
            "s3:PutObject",
            "arn:aws:s3:::team/home/bob/x.csv"
        ));
        // ${aws:username} is undefined for a session: its name is the
        // caller's choice and must not stand for a user.
        assert!(!allowed(
            &role,
            None,
            None,
            &alice,
            "s3:GetObject",
            "arn:aws:s3:::team/by-session/nb-1/f"
        ));
        assert!(allowed(
            &role,
            None,
            None,
            &alice,
            "s3:ListBucket",
            "arn:aws:s3:::team"
        ));
        // A missing claim matches nothing (never the empty string).
        let nosub = session("analyst", "nb-2", claims(&[]), None);
        assert!(!allowed(
            &role,
            None,
            None,
            &nosub,
            "s3:PutObject",
            "arn:aws:s3:::team/home//x.csv"
        ));
        assert!(!allowed(
            &role,
            None,
            None,
            &nosub,
            "s3:ListBucket",
            "arn:aws:s3:::team"
        ));
        // A session policy narrows; it never widens.
        let narrow = Policy::parse(
            br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::team/home/alice/shared/*"}}"#,
        )
        .unwrap();
        let wide =
            Policy::parse(br#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
                .unwrap();
        assert!(allowed(
            &role,
            Some(&narrow),
            None,
            &alice,
            "s3:GetObject",
            "arn:aws:s3:::team/home/alice/shared/a"
        ));
        assert!(!allowed(
            &role,
            Some(&narrow),
            None,
            &alice,
            "s3:PutObject",
            "arn:aws:s3:::team/home/alice/shared/a"
        ));
        assert!(!allowed(
            &role,
            Some(&narrow),
            None,
            &alice,
            "s3:GetObject",
            "arn:aws:s3:::team/home/alice/other"
        ));
        assert!(!allowed(
            &role,
            Some(&wide),
            None,
            &alice,
            "s3:DeleteBucket",
            "arn:aws:s3:::team"
        ));
    }

    #[test]
    fn bucket_policies_name_roles_and_sessions() {
        let nothing = Policy::parse(br#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::none"}}"#).unwrap();
        let bucket = Policy::parse_bucket_policy(
            br#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::123456789012:assumed-role/analyst/nb-*"},
               "Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/pipeline"},
               "Action":"s3:PutObject","Resource":"arn:aws:s3:::shared/out/*"}]}"#,
            "shared",
        )
        .unwrap();
        let nb = session("analyst", "nb-7", claims(&[]), None);
        let cli = session("analyst", "cli", claims(&[]), None);
        let step = session("pipeline", "step-3", claims(&[]), None);
        let get = "arn:aws:s3:::shared/data.csv";
        assert!(allowed(
            &nothing,
            None,
            Some(&bucket),
            &nb,
            "s3:GetObject",
            get
        ));
        assert!(!allowed(
            &nothing,
            None,
            Some(&bucket),
            &cli,
            "s3:GetObject",
            get
        ));
        assert!(!allowed(
            &nothing,
            None,
            Some(&bucket),
            &step,
            "s3:GetObject",
            get
        ));
        assert!(allowed(
            &nothing,
            None,
            Some(&bucket),
            &step,
            "s3:PutObject",
            "arn:aws:s3:::shared/out/x"
        ));
        // A long-term key named like the role is not the role.
        let ctx = ConditionContext::default();
        let req = Request {
            action: "s3:PutObject",
            resource: "arn:aws:s3:::shared/out/x",
            principal: Principal::AccessKey("pipeline"),
            context: &ctx,
        };
        assert!(!authorize(None, None, Some(&bucket), &req));
    }
}

#[test]
fn object_tag_condition_keys() {
    let policy = Policy::parse(
        br#"{"Statement":[
          {"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
           "Condition":{"StringEquals":{"s3:ExistingObjectTag/Classification":"public"}}},
          {"Effect":"Allow","Action":"s3:PutObject","Resource":"*",
           "Condition":{"StringLike":{"S3:RequestObjectTag/project":"census-*"},
                        "ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["project","stage"]}}},
          {"Effect":"Deny","Action":"s3:PutObjectTagging","Resource":"*",
           "Condition":{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":"owner"}}}]}"#,
    )
    .unwrap();
    assert!(policy.reads_existing_tags());
    assert!(!Policy::parse(READER.as_bytes())
        .unwrap()
        .reads_existing_tags());
    let tags = |t: &[(&str, &str)]| {
        Some(
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    };
    let decide = |action, existing, request| {
        let ctx = ConditionContext {
            existing_object_tags: existing,
            request_object_tags: request,
            ..ConditionContext::default()
        };
        policy.evaluate(&Request {
            action,
            resource: "arn:aws:s3:::b/k",
            principal: ALICE,
            context: &ctx,
        })
    };
    let get = |existing| decide("s3:GetObject", existing, None);
    assert_eq!(get(tags(&[("Classification", "public")])), Allow);
    // Tag keys are case-sensitive, values too; no tags is no match.
    assert_eq!(get(tags(&[("classification", "public")])), NotApplicable);
    assert_eq!(get(tags(&[("Classification", "Public")])), NotApplicable);
    assert_eq!(get(tags(&[])), NotApplicable);
    assert_eq!(get(None), NotApplicable);
    let put = |request| decide("s3:PutObject", None, request);
    assert_eq!(put(tags(&[("project", "census-2031")])), Allow);
    assert_eq!(
        put(tags(&[("project", "census-2031"), ("stage", "raw")])),
        Allow
    );
    assert_eq!(
        put(tags(&[("project", "census-2031"), ("owner", "x")])),
        NotApplicable
    );
    assert_eq!(put(tags(&[("project", "labour")])), NotApplicable);
    assert_eq!(put(None), NotApplicable);
    let retag = |request| decide("s3:PutObjectTagging", None, request);
    assert_eq!(retag(tags(&[("owner", "x")])), ExplicitDeny);
    assert_eq!(retag(tags(&[("stage", "x")])), NotApplicable);
    // A key name without a tag is not a key.
    for bad in [
        "s3:ExistingObjectTag/",
        "s3:RequestObjectTag/",
        "s3:RequestObjectTagKey",
    ] {
        let doc = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"StringEquals":{{"{bad}":"a"}}}}}}}}"#
        );
        assert!(Policy::parse(doc.as_bytes()).is_err(), "{bad}");
    }
}

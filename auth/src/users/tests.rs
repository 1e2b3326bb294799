//! Tests of the users file: the three secret sources, every validation
//! error, and that no message or Debug output carries a secret.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use crate::{ConditionContext, Decision, Principal, Request};

/// Every secret in these tests contains this marker, so a leak is easy to spot.
const MARK: &str = "s3cr3t";

fn env(name: &str) -> Option<String> {
    match name {
        "READER_SECRET" => Some("s3cr3t-env\n".to_owned()),
        "BLANK" => Some(" \n".to_owned()),
        _ => None,
    }
}

fn read_file(path: &Path) -> io::Result<String> {
    match path.to_str() {
        Some("secret.txt") => Ok("  s3cr3t-file\r\n".to_owned()),
        Some("blank.txt") => Ok("\n".to_owned()),
        _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
    }
}

fn parse(json: &str) -> Result<Vec<UserEntry>, String> {
    parse_users(json.as_bytes(), env, read_file)
}

#[test]
fn three_secret_sources() {
    let users = parse(
        r#"{"users":[
            {"access_key":"inline","secret_key":" s3cr3t-inline "},
            {"access_key":"reader","secret_key_env":"READER_SECRET",
             "policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
               "Action":["s3:GetObject","s3:ListBucket"],
               "Resource":["arn:aws:s3:::datasets","arn:aws:s3:::datasets/*"]}]}},
            {"access_key":"filed","secret_key_file":"secret.txt"}
        ]}"#,
    )
    .unwrap();
    let summary: Vec<(&str, &str, bool)> = users
        .iter()
        .map(|u| (u.access_key.as_str(), u.secret_key(), u.policy.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            // Inline secrets are taken as written; env and file values trimmed.
            ("inline", " s3cr3t-inline ", false),
            ("reader", "s3cr3t-env", true),
            ("filed", "s3cr3t-file", false),
        ]
    );

    let ctx = ConditionContext::default();
    let req = Request {
        action: "s3:GetObject",
        resource: "arn:aws:s3:::datasets/x",
        principal: Principal::AccessKey("reader"),
        context: &ctx,
    };
    assert_eq!(
        users[1].policy.as_ref().unwrap().evaluate(&req),
        Decision::Allow
    );

    let debug = format!("{users:?}");
    assert!(debug.contains("reader") && !debug.contains(MARK), "{debug}");
}

#[test]
fn empty_users_list() {
    assert!(parse(r#"{"users":[]}"#).unwrap().is_empty());
}

#[test]
#[rustfmt::skip]
fn errors() {
    // (name, users file, expected message parts)
    let cases: &[(&str, &str, &[&str])] = &[
        ("bad json", r#"{"users":["#, &["EOF while parsing"]),
        ("not an object", r#"[]"#, &["invalid type: sequence, expected an object"]),
        ("users as arrays", r#"{"users":[["a","s3cr3t",null,null,null]]}"#, &["users[0]", "expected an object"]),
        ("unknown top-level field", r#"{"user":[]}"#, &["unknown field `user`"]),
        ("http issuer off loopback", r#"{"oidc_providers":[{"issuer":"http://login.example/x","audiences":["blobgate"]}]}"#,
            &["oidc_providers[0]", "https URL"]),
        ("no audiences", r#"{"oidc_providers":[{"issuer":"https://login.example/x","audiences":[]}]}"#,
            &["oidc_providers[0]", "audiences"]),
        ("bad role name", r#"{"roles":[{"name":"a/b","trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"sts:AssumeRole"}}}]}"#,
            &["roles[0]", "role name"]),
        ("role trust error", r#"{"roles":[{"name":"r","trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"s3:GetObject"}}}]}"#,
            &["roles[0] (name \"r\"): trust: Policy has invalid action"]),
        ("role session too long", r#"{"roles":[{"name":"r","max_session_secs":43201,"trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"sts:AssumeRole"}}}]}"#,
            &["roles[0]", "max_session_secs"]),
        ("duplicate role", r#"{"roles":[{"name":"r","trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"sts:AssumeRole"}}},{"name":"r","trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"sts:AssumeRole"}}}]}"#,
            &["roles[1]", "duplicate role name"]),
        ("unknown top-level field", r#"{"users":[],"groups":[]}"#, &["unknown field `groups`"]),
        ("unknown user field", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t"},{"access_key":"b","secret":"s3cr3t"}]}"#,
            &["users[1] (access key \"b\")", "unknown field `secret`"]),
        ("missing access key", r#"{"users":[{"secret_key":"s3cr3t"}]}"#, &["users[0]", "missing field `access_key`"]),
        ("empty access key", r#"{"users":[{"access_key":"","secret_key":"s3cr3t"}]}"#, &["users[0]: access_key is empty"]),
        ("bad access key", r#"{"users":[{"access_key":"a/b","secret_key":"s3cr3t"}]}"#, &["users[0] (access key \"a/b\")", "visible ASCII"]),
        ("no secret", r#"{"users":[{"access_key":"a"}]}"#, &["users[0] (access key \"a\")", "needs one of"]),
        ("two secrets", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t","secret_key_env":"READER_SECRET"}]}"#,
            &["users[0] (access key \"a\")", "exactly one of"]),
        ("three secrets", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t","secret_key_env":"READER_SECRET","secret_key_file":"secret.txt"}]}"#,
            &["exactly one of"]),
        ("empty inline secret", r#"{"users":[{"access_key":"a","secret_key":""}]}"#, &["secret_key is empty"]),
        ("numeric inline secret", r#"{"users":[{"access_key":"a","secret_key":123456}]}"#, &["secret_key must be a string"]),
        ("empty env name", r#"{"users":[{"access_key":"a","secret_key_env":""}]}"#, &["secret_key_env is empty"]),
        ("unset env", r#"{"users":[{"access_key":"a","secret_key_env":"NOPE"}]}"#, &["environment variable NOPE", "is not set"]),
        ("blank env", r#"{"users":[{"access_key":"a","secret_key_env":"BLANK"}]}"#, &["environment variable BLANK", "is empty"]),
        ("empty file name", r#"{"users":[{"access_key":"a","secret_key_file":""}]}"#, &["secret_key_file is empty"]),
        ("missing file", r#"{"users":[{"access_key":"a","secret_key_file":"nope.txt"}]}"#, &["cannot read secret_key_file nope.txt", "no such file"]),
        ("blank file", r#"{"users":[{"access_key":"a","secret_key_file":"blank.txt"}]}"#, &["secret_key_file blank.txt is empty"]),
        ("duplicate access key", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t-1"},{"access_key":"b","secret_key":"s3cr3t-2"},{"access_key":"a","secret_key_file":"secret.txt"}]}"#,
            &["users[2] (access key \"a\"): duplicate access key (also users[0])"]),
        ("policy error", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t","policy":{"Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}}]}"#,
            &["users[0] (access key \"a\"): policy: Invalid effect: Permit in Statement[0]"]),
        ("policy with principal", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t","policy":{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}}]}"#,
            &["users[0] (access key \"a\"): policy: Principal is not allowed"]),
        ("policy shape error", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t"},{"access_key":"b","secret_key":"s3cr3t","policy":{"Statement":{"Effect":"Allow","Acton":"*","Resource":"*"}}}]}"#,
            &["users[1] (access key \"b\")", "unknown field `Acton`", "line 1"]),
        ("policy duplicate condition", r#"{"users":[{"access_key":"a","secret_key":"s3cr3t","policy":{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}}}]}"#,
            &["users[0]: duplicate field `IpAddress`", "line 1"]),
    ];
    for (name, json, wants) in cases {
        let err = parse(json).expect_err(name);
        for want in *wants {
            assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
        }
        assert!(!err.contains(MARK) && !err.contains("123456"), "{name} leaks a secret: {err}");
    }
}

/// A scratch folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("blobgate-users-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("secrets")).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_users_file_resolves_relative_secret_files() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("secrets/ci"), "s3cr3t-ci\n").unwrap();
    let absolute = dir.0.join("secrets/abs");
    std::fs::write(&absolute, "s3cr3t-abs").unwrap();
    let users_path = dir.0.join("users.json");
    let json = format!(
        r#"{{"users":[{{"access_key":"ci","secret_key_file":"secrets/ci"}},
            {{"access_key":"abs","secret_key_file":{}}}]}}"#,
        serde_json::to_string(&absolute).unwrap()
    );
    std::fs::write(&users_path, json).unwrap();
    let users = load_users_file(&users_path).unwrap();
    assert_eq!(users[0].secret_key(), "s3cr3t-ci");
    assert_eq!(users[1].secret_key(), "s3cr3t-abs");

    // Errors name the users file.
    std::fs::write(
        &users_path,
        r#"{"users":[{"access_key":"ci","secret_key_file":"secrets/missing"}]}"#,
    )
    .unwrap();
    let err = load_users_file(&users_path).unwrap_err();
    assert!(
        err.starts_with(&format!("users file {}: users[0]", users_path.display())),
        "{err}"
    );
    let err = load_users_file(&dir.0.join("nope.json")).unwrap_err();
    assert!(err.contains("nope.json"), "{err}");
}

#[test]
fn providers_and_roles_load_beside_users() {
    let json = r#"{"oidc_providers":[{"issuer":"http://127.0.0.1:5556/realms/x","audiences":["blobgate","notebooks"]}],
      "roles":[{"name":"analyst","max_session_secs":7200,
        "trust":{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"http://127.0.0.1:5556/realms/x"},"Action":"sts:AssumeRoleWithWebIdentity"}},
        "policy":{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::team/${jwt:sub}/*"}}},
        {"name":"pipeline","trust":{"Statement":{"Effect":"Allow","Principal":{"AWS":"ci"},"Action":"sts:AssumeRole"}}}]}"#;
    let file = crate::parse_users_file(
        json.as_bytes(),
        |_| None,
        |_| Err(std::io::ErrorKind::NotFound.into()),
    )
    .unwrap();
    assert!(file.users.is_empty());
    assert_eq!(file.oidc_providers[0].audiences, ["blobgate", "notebooks"]);
    assert_eq!(file.roles.len(), 2);
    assert_eq!(file.roles[0].max_session_secs, 7200);
    assert_eq!(file.roles[0].policy.as_ref().unwrap().claims(), ["sub"]);
    assert_eq!(file.roles[1].max_session_secs, 3600);
    assert!(file.roles[1].policy.is_none());
}

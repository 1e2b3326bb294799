//! Identity tokens (OIDC ID tokens, Kubernetes service-account tokens):
//! `auth/src/jwt.rs`.
//!
//! Structured input builds claims (issuer, audience as a string, a list or
//! `azp`, times around now, `sub`, anything else) and a header (ES256 with
//! the published key id, another id, `none`, HS256); the token is signed
//! with a P-256 key whose public half is the issuer's JWK Set. The verdict
//! must be the one RFC 7519 and OpenID Connect Core §3.1.3.7 give, worked
//! out here independently; with a character of the signature changed the
//! token is refused. Raw input (the first byte odd) is a token and a JWK
//! Set: parsing never panics and no token verifies against keys it was not
//! signed with.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Unstructured;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use blobgate_auth::jwt::{self, Expectations, JwkSet, LEEWAY};
use serde_json::{json, Map, Value};

use crate::support;

const ISSUER: &str = "https://127.0.0.1:8443/realms/stats";
const AUDIENCE: &str = "blobgate";
const NOW: u64 = 1_704_164_645;

struct Issuer {
    key: EcdsaKeyPair,
    jwks: JwkSet,
}

fn issuer() -> &'static Issuer {
    static ISSUER_KEYS: OnceLock<Issuer> = OnceLock::new();
    ISSUER_KEYS.get_or_init(|| {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("keygen");
        let point = &key.public_key().as_ref()[1..];
        let doc = json!({"keys": [
            {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
             "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]});
        let jwks = JwkSet::parse(doc.to_string().as_bytes()).expect("a JWK Set");
        Issuer { key, jwks }
    })
}

fn expectations(audiences: &[String]) -> Expectations<'_> {
    Expectations {
        issuer: ISSUER,
        audiences,
        now: UNIX_EPOCH + Duration::from_secs(NOW),
    }
}

fn time_claim(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Value>> {
    Ok(match u.int_in_range(0..=5)? {
        0 => None,
        1 => Some(json!("soon")),
        2 => Some(json!(
            NOW as f64 + f64::from(u.int_in_range(-100i32..=100)?) / 2.0
        )),
        _ => Some(json!(
            NOW as i64 + i64::from(u.int_in_range(-3600i32..=3600)?)
        )),
    })
}

/// The verdict the rules give for these claims.
fn valid(claims: &Map<String, Value>) -> bool {
    let now = NOW as f64;
    let leeway = LEEWAY.as_secs_f64();
    let issuer_ok = claims.get("iss") == Some(&json!(ISSUER));
    let audience_ok = match claims.get("aud").or_else(|| claims.get("azp")) {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(list)) => list.contains(&json!(AUDIENCE)),
        _ => false,
    };
    let exp_ok = claims
        .get("exp")
        .and_then(Value::as_f64)
        .is_some_and(|e| e + leeway > now);
    let not_before_ok = ["nbf", "iat"].iter().all(|name| match claims.get(*name) {
        None => true,
        Some(v) => v.as_f64().is_some_and(|t| t - leeway <= now),
    });
    let sub_ok = claims.get("sub").is_some_and(Value::is_string);
    issuer_ok && audience_ok && exp_ok && not_before_ok && sub_ok
}

pub fn run(data: &[u8]) {
    if data.first().is_some_and(|b| b & 1 == 1) {
        raw(&data[1..]);
        return;
    }
    let mut u = Unstructured::new(data.get(1..).unwrap_or_default());
    let Ok((header, claims)) = build(&mut u) else {
        return;
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let signature = issuer()
        .key
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    let audiences = [AUDIENCE.to_owned(), "other-client".to_owned()];
    let properly_signed = header["alg"] == "ES256" && header.get("kid").is_none_or(|k| k == "ec-1");
    let verdict = jwt::parse(&token)
        .and_then(|p| jwt::verify(&token, p, &issuer().jwks, &expectations(&audiences)));
    assert_eq!(
        verdict.is_ok(),
        properly_signed && valid(&claims),
        "header {header}, claims {claims:?}: {verdict:?}"
    );

    // A changed signature character: refused.
    let Ok(position) = u.int_in_range(input.len() + 1..=token.len() - 1) else {
        return;
    };
    let mut changed = token.clone().into_bytes();
    changed[position] = if changed[position] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let changed = String::from_utf8(changed).expect("ascii");
    if let Ok(p) = jwt::parse(&changed) {
        assert!(
            jwt::verify(&changed, p, &issuer().jwks, &expectations(&audiences)).is_err(),
            "a token with a changed signature verified"
        );
    }
}

fn build(u: &mut Unstructured<'_>) -> arbitrary::Result<(Value, Map<String, Value>)> {
    let alg = *u.choose(&["ES256", "ES256", "ES256", "none", "HS256", "RS256", "ES384"])?;
    let mut header = json!({"alg": alg, "typ": "JWT"});
    match u.int_in_range(0..=3)? {
        0 => {}
        1 => header["kid"] = json!("hmac"),
        2 => header["kid"] = json!(support::unicode_upto(u, 6)?),
        _ => header["kid"] = json!("ec-1"),
    }
    let mut claims = Map::new();
    if u.ratio(7, 8)? {
        let iss = *u.choose(&[
            ISSUER,
            ISSUER,
            "https://127.0.0.1:8443/realms/other",
            "https://127.0.0.1:8443/realms/stats/",
        ])?;
        claims.insert("iss".into(), json!(iss));
    }
    let audience = || -> &'static str { AUDIENCE };
    match u.int_in_range(0..=4)? {
        0 => {}
        1 => {
            claims.insert("aud".into(), json!(audience()));
        }
        2 => {
            claims.insert("aud".into(), json!(["x", audience()]));
        }
        3 => {
            claims.insert("aud".into(), json!(support::unicode_upto(u, 8)?));
        }
        _ => {
            claims.insert("azp".into(), json!(audience()));
        }
    }
    for name in ["exp", "nbf", "iat"] {
        if let Some(v) = time_claim(u)? {
            claims.insert(name.into(), v);
        }
    }
    if u.ratio(7, 8)? {
        claims.insert("sub".into(), json!(support::unicode_upto(u, 12)?));
    }
    for _ in 0..u.int_in_range(0..=2)? {
        claims.insert(
            support::unicode_upto(u, 6)?,
            json!(support::unicode_upto(u, 12)?),
        );
    }
    Ok((header, claims))
}

fn raw(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let token = String::from_utf8_lossy(&data[..split]);
    let audiences = [AUDIENCE.to_owned()];
    // Keys from the input: parsed and used, with no claim on the verdict
    // (an issuer that publishes a weak key is trusted with it).
    if let Some(keys) = data.get(split + 1..).and_then(|d| JwkSet::parse(d).ok()) {
        if let Ok(parsed) = jwt::parse(&token) {
            let _ = jwt::verify(&token, parsed, &keys, &expectations(&audiences));
        }
    }
    if let Ok(parsed) = jwt::parse(&token) {
        let _ = jwt::issuer_of(&parsed);
        assert!(
            jwt::verify(&token, parsed, &issuer().jwks, &expectations(&audiences)).is_err(),
            "a token nobody signed verified: {token}"
        );
    }
}

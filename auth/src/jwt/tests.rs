//! JWT verification against keys made here: every way a token can be wrong
//! is refused with its own error, and a good token's claims come back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384,
};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;

const ISSUER: &str = "http://127.0.0.1:5556/realms/test";

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// n and e of a PKCS#1 RSAPublicKey (DER: SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(d: &[u8]) -> (&[u8], &[u8]) {
        let (len, start) = if d[1] & 0x80 == 0 {
            (usize::from(d[1]), 2)
        } else {
            let n = usize::from(d[1] & 0x7f);
            (
                d[2..2 + n]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b)),
                2 + n,
            )
        };
        (&d[start..start + len], &d[start + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect();
    (strip(n), strip(e))
}

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ec384: EcdsaKeyPair,
}

impl Keys {
    fn new() -> Self {
        Keys {
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ec384: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
        }
    }

    fn rsa_n_e(&self) -> (Vec<u8>, Vec<u8>) {
        rsa_components(self.rsa.public_key().as_ref())
    }

    fn jwks(&self) -> JwkSet {
        let (n, e) = self.rsa_n_e();
        let point = |k: &EcdsaKeyPair| k.public_key().as_ref()[1..].to_vec();
        let (p, q) = (point(&self.ec), point(&self.ec384));
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64u(&n), "e": b64u(&e)},
            {"kty": "RSA", "kid": "rsa-any", "n": b64u(&n), "e": b64u(&e)},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64u(&p[..32]), "y": b64u(&p[32..])},
            {"kty": "EC", "kid": "ec-384", "crv": "P-384", "x": b64u(&q[..48]), "y": b64u(&q[48..])},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": b64u(&n), "e": b64u(&e)},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AAAA"}
        ]});
        JwkSet::parse(doc.to_string().as_bytes()).unwrap()
    }

    fn sign(&self, alg: &str, kid: &str, claims: &serde_json::Value) -> String {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            b64u(header.to_string().as_bytes()),
            b64u(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match alg {
            "RS256" | "RS384" => {
                let mut sig = vec![0u8; self.rsa.public_modulus_len()];
                let params = if alg == "RS256" {
                    &RSA_PKCS1_SHA256
                } else {
                    &RSA_PKCS1_SHA384
                };
                self.rsa
                    .sign(params, &rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            "ES256" => self
                .ec
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "ES384" => self
                .ec384
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => Vec::new(),
        };
        format!("{input}.{}", b64u(&sig))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> serde_json::Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": "blobgate", "iat": now(), "exp": now() + 300,
           "groups": ["stats", "admins"], "email": "alice@example.org"})
}

fn check(
    token: &str,
    keys: &JwkSet,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let audiences = vec!["blobgate".to_owned()];
    let expect = Expectations {
        issuer: ISSUER,
        audiences: &audiences,
        now: SystemTime::now(),
    };
    verify(token, parse(token)?, keys, &expect)
}

#[test]
fn good_tokens_verify_with_each_algorithm() {
    let keys = Keys::new();
    let jwks = keys.jwks();
    assert_eq!(
        jwks.keys.len(),
        4,
        "encryption, HMAC and OKP keys are not used"
    );
    for (alg, kid) in [
        ("RS256", "rsa-1"),
        ("RS256", "rsa-any"),
        ("RS384", "rsa-any"),
        ("ES256", "ec-1"),
        ("ES384", "ec-384"),
    ] {
        let token = keys.sign(alg, kid, &claims());
        let got = check(&token, &jwks).unwrap_or_else(|e| panic!("{alg}/{kid}: {e}"));
        assert_eq!(got["sub"], "alice");
        assert_eq!(got["groups"], json!(["stats", "admins"]));
    }
    // An array audience naming ours, and azp without aud.
    let mut c = claims();
    c["aud"] = json!(["other", "blobgate"]);
    assert!(check(&keys.sign("ES256", "ec-1", &c), &jwks).is_ok());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    c["azp"] = json!("blobgate");
    assert!(check(&keys.sign("ES256", "ec-1", &c), &jwks).is_ok());
    // A token for another service is not ours because we requested it:
    // with an `aud`, `azp` does not count.
    let mut c = claims();
    c["aud"] = json!("account");
    c["azp"] = json!("blobgate");
    assert_eq!(
        check(&keys.sign("ES256", "ec-1", &c), &jwks).unwrap_err(),
        TokenError::WrongAudience
    );
}

#[test]
fn bad_tokens_are_refused_each_for_its_reason() {
    let keys = Keys::new();
    let jwks = keys.jwks();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims();
        f(&mut c);
        keys.sign("RS256", "rsa-1", &c)
    };
    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("http://127.0.0.1:1/other")),
            TokenError::WrongIssuer,
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("kubernetes")),
            TokenError::WrongAudience,
        ),
        (
            "no audience",
            with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            TokenError::Claim("aud"),
        ),
        (
            "expired",
            with(&|c| c["exp"] = json!(now() - 120)),
            TokenError::Expired,
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            TokenError::Claim("exp"),
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now() + 600)),
            TokenError::NotYetValid,
        ),
        (
            "issued in the future",
            with(&|c| c["iat"] = json!(now() + 600)),
            TokenError::NotYetValid,
        ),
        (
            "no sub",
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            TokenError::Claim("sub"),
        ),
        (
            "unknown kid",
            keys.sign("RS256", "never-published", &claims()),
            TokenError::UnknownKey,
        ),
        // The RSA key's alg is RS256: an RS384 token may not use it.
        (
            "alg of the key",
            keys.sign("RS384", "rsa-1", &claims()),
            TokenError::UnknownKey,
        ),
        // An EC token naming an RSA key.
        (
            "key type",
            keys.sign("ES256", "rsa-any", &claims()),
            TokenError::UnknownKey,
        ),
        (
            "garbage",
            "not a token".to_owned(),
            TokenError::Malformed("expected three dot-separated parts".into()),
        ),
    ];
    for (name, token, want) in cases {
        assert_eq!(check(&token, &jwks).unwrap_err(), want, "{name}");
    }

    // A foreign signature under a published kid.
    let other = Keys::new();
    let forged = other.sign("RS256", "rsa-1", &claims());
    assert_eq!(check(&forged, &jwks).unwrap_err(), TokenError::BadSignature);
    let forged = other.sign("ES256", "ec-1", &claims());
    assert_eq!(check(&forged, &jwks).unwrap_err(), TokenError::BadSignature);

    // Claims altered after signing.
    let token = keys.sign("RS256", "rsa-1", &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c["sub"] = json!("root");
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        b64u(c.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        check(&altered, &jwks).unwrap_err(),
        TokenError::BadSignature
    );

    // alg none, and HS256 keyed with the public key (algorithm confusion).
    let unsigned = |alg: &str, sig: &[u8]| {
        let h = json!({"alg": alg, "kid": "rsa-1"});
        let input = format!(
            "{}.{}",
            b64u(h.to_string().as_bytes()),
            b64u(claims().to_string().as_bytes())
        );
        format!("{input}.{}", b64u(sig))
    };
    assert_eq!(
        check(&unsigned("none", b""), &jwks).unwrap_err(),
        TokenError::UnsupportedAlgorithm("none".into())
    );
    let h = json!({"alg": "HS256", "kid": "rsa-1"});
    let input = format!(
        "{}.{}",
        b64u(h.to_string().as_bytes()),
        b64u(claims().to_string().as_bytes())
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keys.rsa.public_key().as_ref()).unwrap();
    mac.update(input.as_bytes());
    let hs = format!("{input}.{}", b64u(&mac.finalize().into_bytes()));
    assert_eq!(
        check(&hs, &jwks).unwrap_err(),
        TokenError::UnsupportedAlgorithm("HS256".into())
    );
    assert!(matches!(
        check(&"a.".repeat(9000), &jwks).unwrap_err(),
        TokenError::Malformed(_)
    ));
}

#[test]
fn the_leeway_is_thirty_seconds() {
    let keys = Keys::new();
    let jwks = keys.jwks();
    let mut c = claims();
    c["exp"] = json!(now() - 10);
    assert!(check(&keys.sign("RS256", "rsa-1", &c), &jwks).is_ok());
    c["exp"] = json!(now() - 40);
    assert_eq!(
        check(&keys.sign("RS256", "rsa-1", &c), &jwks).unwrap_err(),
        TokenError::Expired
    );
    let _ = Duration::ZERO;
}

#[test]
fn discovery_documents_name_their_issuer() {
    let doc =
        json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/keys"), "other": 1}).to_string();
    let d = Discovery::parse(doc.as_bytes(), ISSUER).unwrap();
    assert_eq!(d.jwks_uri, format!("{ISSUER}/keys"));
    assert!(Discovery::parse(doc.as_bytes(), "http://127.0.0.1:5556/realms/other").is_err());
    assert!(Discovery::parse(b"{}", ISSUER).is_err());
    assert_eq!(
        discovery_url("https://login.example/realms/x/"),
        "https://login.example/realms/x/.well-known/openid-configuration"
    );
    assert!(JwkSet::parse(b"[]").is_err());
}

//! OpenID Connect ID tokens and Kubernetes service-account tokens: JSON Web
//! Tokens signed with the issuer's published keys, verified here without
//! any I/O (the caller fetches the keys and hands them in).
//!
//! Rules, and where they come from:
//! - compact JWS: `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`
//!   (RFC 7515 §7.1); the header's `alg` picks the algorithm, its `kid` the
//!   key (RFC 7515 §4.1);
//! - algorithms: RS256/RS384/RS512 (RSA PKCS#1 v1.5, keys of 2048 bits or
//!   more) and ES256/ES384 (ECDSA on P-256/P-384, signatures as `r || s`),
//!   RFC 7518 §3. `none` and the HMAC algorithms are refused: an issuer's
//!   public key must never be usable as an HMAC secret (the
//!   algorithm-confusion attack), and the key's type must fit the algorithm;
//! - keys: a JWK Set (RFC 7517 §5), RSA `n`/`e` and EC `crv`/`x`/`y`; a key
//!   whose `use` is not `sig` or whose `alg` differs from the token's is not
//!   used;
//! - discovery: `ISSUER/.well-known/openid-configuration` names `jwks_uri`,
//!   and its `issuer` must be the configured issuer exactly (OpenID Connect
//!   Discovery 1.0 §4.3);
//! - claims: `iss` equal to the issuer, `aud` (a string or an array)
//!   containing an accepted audience (or, without `aud`, `azp`: a token
//!   meant for another service is never accepted because its `azp` is
//!   ours); `exp`
//!   required and in the future, `nbf` and `iat` not in the future, each
//!   with [`LEEWAY`] for clock skew (RFC 7519 §4.1, OpenID Connect Core
//!   §3.1.3.7).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// Allowed clock skew between the issuer and this gateway.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Longest token accepted (AWS STS: 2048 for WebIdentityToken is too short
/// for Entra ID tokens with groups; 16 KiB bounds the work).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused. The messages name no part of the token's
/// signature and are safe to send to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, bad base64 or JSON.
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    /// `alg` is none, HMAC, or not one this gateway verifies.
    #[error("the token's signing algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// No published key has the token's `kid` (or fits its algorithm).
    #[error("the token was signed with a key the issuer does not publish")]
    UnknownKey,
    /// The signature does not verify with the key.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// `iss` is not the provider's issuer.
    #[error("the token's issuer is not an accepted identity provider")]
    WrongIssuer,
    /// `aud` names no accepted audience.
    #[error("the token's audience is not accepted")]
    WrongAudience,
    /// `exp` is past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// A required claim is missing or has the wrong type.
    #[error("the token's {0} claim is missing or invalid")]
    Claim(&'static str),
}

/// The JOSE header fields this gateway reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
}

impl Algorithm {
    fn parse(alg: &str) -> Option<Self> {
        Some(match alg {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
        }
    }
}

/// A public key of a JWK Set.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point `0x04 || x || y`, with its curve.
    Ec {
        p384: bool,
        point: Vec<u8>,
    },
}

/// One signing key of an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    alg: Option<String>,
    material: KeyMaterial,
}

impl Jwk {
    fn fits(&self, alg: Algorithm) -> bool {
        let type_fits = matches!(
            (&self.material, alg),
            (
                KeyMaterial::Rsa { .. },
                Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512
            ) | (KeyMaterial::Ec { p384: false, .. }, Algorithm::Es256)
                | (KeyMaterial::Ec { p384: true, .. }, Algorithm::Es384)
        );
        type_fits && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }

    fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            KeyMaterial::Rsa { n, e } => {
                let params = match alg {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            KeyMaterial::Ec { point, .. } => {
                let params = match alg {
                    Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Algorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(params, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

/// An issuer's published keys (its `jwks_uri` document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64(field: Option<&str>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(field?.trim_end_matches('=').as_bytes())
        .ok()
}

impl JwkSet {
    /// Parse a JWK Set document. Keys this gateway cannot use (other key
    /// types or curves, encryption keys, malformed members) are skipped, as
    /// RFC 7517 §5 asks; a document that is not a JWK Set is an error.
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let raw: RawJwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWK Set: {e}"))?;
        let keys = raw
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RawJwk>(v).ok())
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let material = match k.kty.as_str() {
                    "RSA" => KeyMaterial::Rsa {
                        n: b64(k.n.as_deref())?,
                        e: b64(k.e.as_deref())?,
                    },
                    "EC" => {
                        let (p384, len) = match k.crv.as_deref()? {
                            "P-256" => (false, 32),
                            "P-384" => (true, 48),
                            _ => return None,
                        };
                        let (x, y) = (b64(k.x.as_deref())?, b64(k.y.as_deref())?);
                        if x.len() != len || y.len() != len {
                            return None;
                        }
                        let mut point = Vec::with_capacity(1 + 2 * len);
                        point.push(4);
                        point.extend_from_slice(&x);
                        point.extend_from_slice(&y);
                        KeyMaterial::Ec { p384, point }
                    }
                    _ => return None,
                };
                Some(Jwk {
                    kid: k.kid,
                    alg: k.alg,
                    material,
                })
            })
            .collect();
        Ok(Self { keys })
    }

    /// Whether a key with this `kid` is published.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The members of an OpenID Provider's discovery document this gateway uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
}

impl Discovery {
    /// Parse `ISSUER/.well-known/openid-configuration`, checking that it
    /// describes `issuer` (a document for another issuer is refused).
    pub fn parse(json: &[u8], issuer: &str) -> Result<Self, String> {
        let doc: Discovery = serde_json::from_slice(json)
            .map_err(|e| format!("not an OpenID discovery document: {e}"))?;
        if doc.issuer != issuer {
            return Err(format!(
                "the discovery document is for issuer {:?}, not {issuer:?}",
                doc.issuer
            ));
        }
        Ok(doc)
    }
}

/// The URL of an issuer's discovery document.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub now: SystemTime,
}

/// The three parts of a compact JWS, decoded.
pub struct Parsed {
    pub header: Header,
    /// The payload's claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    signing_input_len: usize,
    signature: Vec<u8>,
}

/// Decode a token without verifying it: its header (to choose the issuer's
/// key) and its claims (to choose the issuer).
pub fn parse(token: &str) -> Result<Parsed, TokenError> {
    let malformed = |m: &str| TokenError::Malformed(m.to_owned());
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part.as_bytes())
            .map_err(|_| TokenError::Malformed(format!("the {what} is not base64url")))
    };
    let header: Header = serde_json::from_slice(&decode(h, "header")?)
        .map_err(|_| malformed("the header is not a JOSE header"))?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&decode(p, "payload")?)
            .map_err(|_| malformed("the payload is not a JSON object"))?;
    Ok(Parsed {
        header,
        claims,
        signing_input_len: h.len() + 1 + p.len(),
        signature: decode(s, "signature")?,
    })
}

/// The `iss` claim of a parsed token, if it is a string.
pub fn issuer_of(parsed: &Parsed) -> Option<&str> {
    parsed.claims.get("iss").and_then(|v| v.as_str())
}

/// Verify `token` (already [`parse`]d as `parsed`) with `keys` and check its
/// claims against `expect`. Returns the claims.
pub fn verify(
    token: &str,
    parsed: Parsed,
    keys: &JwkSet,
    expect: &Expectations<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let alg = Algorithm::parse(&parsed.header.alg)
        .ok_or_else(|| TokenError::UnsupportedAlgorithm(parsed.header.alg.clone()))?;
    let candidates: Vec<&Jwk> = match &parsed.header.kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect(),
        None => keys.keys.iter().collect(),
    };
    let candidates: Vec<&Jwk> = candidates.into_iter().filter(|k| k.fits(alg)).collect();
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey);
    }
    let message = &token.as_bytes()[..parsed.signing_input_len];
    if !candidates
        .iter()
        .any(|k| k.verify(alg, message, &parsed.signature))
    {
        return Err(TokenError::BadSignature);
    }
    check_claims(&parsed.claims, expect)?;
    Ok(parsed.claims)
}

fn seconds(claims: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<f64> {
    claims.get(name).and_then(serde_json::Value::as_f64)
}

/// The accepted audience a token is for: one its `aud` (a string or an
/// array) names, or its `azp` when it has no `aud`.
pub fn accepted_audience<'c>(
    claims: &'c serde_json::Map<String, serde_json::Value>,
    accepted: &[String],
) -> Option<&'c str> {
    let named: Vec<&str> = match claims.get("aud").or_else(|| claims.get("azp")) {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    };
    named
        .into_iter()
        .find(|a| accepted.iter().any(|want| want == a))
}

fn check_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    expect: &Expectations<'_>,
) -> Result<(), TokenError> {
    if claims.get("iss").and_then(|v| v.as_str()) != Some(expect.issuer) {
        return Err(TokenError::WrongIssuer);
    }
    if accepted_audience(claims, expect.audiences).is_none() {
        return Err(match (claims.get("aud"), claims.get("azp")) {
            (None, None) => TokenError::Claim("aud"),
            _ => TokenError::WrongAudience,
        });
    }
    let now = expect
        .now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let leeway = LEEWAY.as_secs_f64();
    let exp = seconds(claims, "exp").ok_or(TokenError::Claim("exp"))?;
    if exp + leeway <= now {
        return Err(TokenError::Expired);
    }
    for name in ["nbf", "iat"] {
        match claims.get(name) {
            None => {}
            Some(v) => {
                let t = v.as_f64().ok_or(TokenError::Claim(name))?;
                if t - leeway > now {
                    return Err(TokenError::NotYetValid);
                }
            }
        }
    }
    if claims.get("sub").and_then(|v| v.as_str()).is_none() {
        return Err(TokenError::Claim("sub"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

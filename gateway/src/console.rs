//! The web console's door: the assets of `gateway/console/` (HTML, CSS,
//! JavaScript modules, message catalogues), compiled into the binary and
//! served at `/-/console/`, and the one document the gateway writes for
//! it, `config.json` (region and the OIDC sign-in settings).
//!
//! The console is a client of the S3 and STS APIs on the same origin and
//! nothing more: it signs every request with the signed-in user's own
//! credentials in the browser, so the same SigV4 check and policies apply.
//! This module serves files only; it knows no credentials, sets no cookie
//! and grants nothing. Its headers follow the safety rules: a
//! strict Content-Security-Policy (no inline script, no eval, `connect-src`
//! limited to this origin and the configured issuer), `frame-ancestors`
//! from `--console-frame-ancestors` (default `'none'`), `nosniff`, and no
//! referrer (a presigned URL or an authorization code must not leak).

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::body::{self, ResponseBody};
use crate::error::{S3Error, S3ErrorCode};

/// Settings of the console (`--console*` flags).
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// Origins allowed to frame the console (CSP `frame-ancestors`); empty
    /// means `'none'`.
    pub frame_ancestors: Vec<String>,
    /// "Sign in with <provider>", when configured.
    pub oidc: Option<ConsoleOidc>,
    /// The region the console signs for.
    pub region: String,
}

/// The OIDC client the console is (authorization code with PKCE, a public
/// client: there is no secret to keep).
#[derive(Debug, Clone)]
pub struct ConsoleOidc {
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    /// The role the console assumes with the ID token.
    pub role_arn: String,
    /// The provider's name on the sign-in button.
    pub name: String,
}

/// One compiled-in file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($( $path:literal => $type:literal ),* $(,)?) => {
        &[ $( Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../console/", $path)),
        } ),* ]
    };
}

/// Every file under `gateway/console/` (a unit test checks the list is
/// complete).
static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "folder.svg" => "image/svg+xml",
    "js/app.js" => "text/javascript; charset=utf-8",
    "js/dom.js" => "text/javascript; charset=utf-8",
    "js/eventstream.js" => "text/javascript; charset=utf-8",
    "js/i18n.js" => "text/javascript; charset=utf-8",
    "js/oidc.js" => "text/javascript; charset=utf-8",
    "js/s3.js" => "text/javascript; charset=utf-8",
    "js/session.js" => "text/javascript; charset=utf-8",
    "js/sigv4.js" => "text/javascript; charset=utf-8",
    "js/upload.js" => "text/javascript; charset=utf-8",
    "js/views.js" => "text/javascript; charset=utf-8",
    "i18n/en.json" => "application/json; charset=utf-8",
    "i18n/fr.json" => "application/json; charset=utf-8",
};

/// Why a `--console-frame-ancestors` entry cannot be used.
pub fn check_frame_ancestor(origin: &str) -> Result<(), String> {
    if origin == "'self'" {
        return Ok(());
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("frame ancestor {origin:?} must be 'self' or an http(s) origin"))?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']'));
    if host_ok {
        Ok(())
    } else {
        Err(format!(
            "frame ancestor {origin:?} must be an origin (scheme://host[:port], no path)"
        ))
    }
}

/// The origin (scheme://host[:port]) of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let origin = &url[..end];
    origin
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '/' | '[' | ']'))
        .then_some(origin)
}

impl ConsoleConfig {
    /// The Content-Security-Policy of every console response.
    fn content_security_policy(&self) -> String {
        let mut connect = String::from("'self'");
        if let Some(origin) = self.oidc.as_ref().and_then(|o| origin_of(&o.issuer)) {
            connect.push(' ');
            connect.push_str(origin);
        }
        let ancestors = if self.frame_ancestors.is_empty() {
            "'none'".to_owned()
        } else {
            self.frame_ancestors.join(" ")
        };
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
             media-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors {ancestors}"
        )
    }

    /// `config.json`: what the browser needs before anyone signs in.
    fn document(&self) -> String {
        let oidc = self.oidc.as_ref().map(|o| {
            serde_json::json!({
                "issuer": o.issuer,
                "clientId": o.client_id,
                "scopes": o.scopes,
                "roleArn": o.role_arn,
                "name": o.name,
            })
        });
        serde_json::json!({ "region": self.region, "oidc": oidc }).to_string()
    }
}

/// A strong validator for a file's bytes.
fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// ETags of the compiled-in files, computed once.
fn asset_etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.bytes)).collect())
}

/// The name of `/-/console/...` in logs and metrics.
pub const OPERATION: &str = "GetConsoleAsset";

/// Serve `/-/{path}` where `path` starts with `console`.
pub fn handle(
    config: &ConsoleConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response<ResponseBody>, S3Error> {
    if !config.enabled {
        return Ok(plain(StatusCode::NOT_FOUND, "not found"));
    }
    let mut response = serve(config, method, path, headers)?;
    secure(config, response.headers_mut());
    Ok(response)
}

fn serve(
    config: &ConsoleConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response<ResponseBody>, S3Error> {
    if method != Method::GET && method != Method::HEAD {
        return Err(S3Error::new(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ));
    }
    let file = match path.strip_prefix("console") {
        // Relative, so that it holds behind a proxy's path prefix.
        Some("") => {
            let mut r = plain(StatusCode::MOVED_PERMANENTLY, "moved");
            r.headers_mut()
                .insert(http::header::LOCATION, HeaderValue::from_static("console/"));
            return Ok(r);
        }
        Some("/") => "index.html",
        Some(rest) => rest.strip_prefix('/').unwrap_or(rest),
        None => return Ok(plain(StatusCode::NOT_FOUND, "not found")),
    };
    let (bytes, content_type, tag): (Bytes, &str, String) = if file == "config.json" {
        let doc = config.document();
        let tag = etag(doc.as_bytes());
        (doc.into(), "application/json; charset=utf-8", tag)
    } else {
        match ASSETS.iter().position(|a| a.path == file) {
            Some(i) => (
                Bytes::from_static(ASSETS[i].bytes),
                ASSETS[i].content_type,
                asset_etags()[i].clone(),
            ),
            None => return Ok(plain(StatusCode::NOT_FOUND, "not found")),
        }
    };
    let not_modified = headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if not_modified {
        let mut r = Response::new(body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if method == Method::HEAD {
        Response::new(body::empty())
    } else {
        Response::new(body::full(bytes))
    };
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(http::header::ETAG, v);
    }
    Ok(response)
}

/// The headers every console response carries.
fn secure(config: &ConsoleConfig, h: &mut HeaderMap) {
    // Revalidated on every load, so an upgrade is seen at once.
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if config.frame_ancestors.is_empty() {
        h.insert(
            http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&config.content_security_policy()) {
        h.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Headers for objects read from a gateway that serves the console: an
/// HTML or SVG object opened in the browser runs in a sandbox, as an opaque
/// origin, so its scripts cannot read the console's sessionStorage (where a
/// signed-in tab keeps its credentials) nor call the S3 API as this origin.
/// Scripts, pop-ups and downloads still work (a notebook's HTML report);
/// programs reading objects are not affected.
pub fn isolate_object(h: &mut HeaderMap) {
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox allow-scripts allow-popups allow-downloads"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn plain(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn config() -> ConsoleConfig {
        ConsoleConfig {
            enabled: true,
            region: "us-east-1".into(),
            ..Default::default()
        }
    }

    fn get(config: &ConsoleConfig, path: &str) -> Response<ResponseBody> {
        handle(config, &Method::GET, path, &HeaderMap::new()).unwrap()
    }

    #[test]
    fn every_file_of_the_console_directory_is_compiled_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap().to_str().unwrap();
                    on_disk.push(rel.replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    fn catalogue(lang: &str) -> serde_json::Map<String, serde_json::Value> {
        let path = format!("i18n/{lang}.json");
        let asset = ASSETS.iter().find(|a| a.path == path).unwrap();
        serde_json::from_slice(asset.bytes).unwrap()
    }

    /// The `{placeholders}` of a message (every plural form's).
    fn placeholders(message: &serde_json::Value) -> std::collections::BTreeSet<String> {
        let texts: Vec<&str> = match message {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Object(forms) => forms.values().filter_map(|v| v.as_str()).collect(),
            other => panic!("a message is text or plural forms: {other}"),
        };
        let mut out = std::collections::BTreeSet::new();
        for text in texts {
            let mut rest = text;
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}') else {
                    break;
                };
                out.insert(rest[open + 1..open + close].to_owned());
                rest = &rest[open + close..];
            }
        }
        out
    }

    #[test]
    fn french_says_everything_english_says_with_the_same_placeholders() {
        let en = catalogue("en");
        let fr = catalogue("fr");
        let en_keys: Vec<&String> = en.keys().collect();
        let fr_keys: Vec<&String> = fr.keys().collect();
        assert_eq!(en_keys, fr_keys);
        for (key, message) in &en {
            assert_eq!(placeholders(message), placeholders(&fr[key]), "{key}");
        }
    }

    #[test]
    fn every_message_the_scripts_ask_for_exists() {
        let en = catalogue("en");
        let mut asked = 0;
        // i18n.js defines t() and names it in its documentation.
        for asset in ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js") && a.path != "js/i18n.js")
        {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for (at, _) in text.match_indices("t(\"") {
                // Only calls of the catalogue function t(), not e.g. select(".
                let before = text[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let start = at + 3;
                let key: String = text[start..].chars().take_while(|&c| c != '"').collect();
                assert!(
                    en.contains_key(&key),
                    "{}: t(\"{key}\") has no message",
                    asset.path
                );
                asked += 1;
            }
        }
        assert!(asked > 100, "only {asked} messages found");
    }

    #[tokio::test]
    async fn index_is_served_with_strict_headers() {
        let r = get(&config(), "console/");
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains("js/app.js"));
    }

    #[test]
    fn frame_ancestors_and_issuer_enter_the_policy() {
        let mut c = config();
        c.frame_ancestors = vec!["https://kubeflow.example.org".into()];
        c.oidc = Some(ConsoleOidc {
            issuer: "https://login.example.org/realms/stats".into(),
            client_id: "console".into(),
            scopes: "openid".into(),
            role_arn: "arn:aws:iam::123456789012:role/analyst".into(),
            name: "Example".into(),
        });
        let r = get(&c, "console/js/app.js");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors https://kubeflow.example.org"),
            "{csp}"
        );
        assert!(
            csp.contains("connect-src 'self' https://login.example.org;"),
            "{csp}"
        );
        assert!(!r.headers().contains_key("x-frame-options"));
    }

    #[test]
    fn frame_ancestors_must_be_origins() {
        assert!(check_frame_ancestor("'self'").is_ok());
        assert!(check_frame_ancestor("https://dash.example.org:8443").is_ok());
        for bad in [
            "dash.example.org",
            "https://a.example.org/path",
            "https://a; script-src *",
            "'unsafe-inline'",
            "https://",
        ] {
            assert!(check_frame_ancestor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        assert_eq!(
            get(&config(), "console/../config.rs").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(get(&config(), "consoles").status(), StatusCode::NOT_FOUND);
        let moved = get(&config(), "console");
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(moved.headers()["location"], "console/");
        let e = handle(&config(), &Method::PUT, "console/", &HeaderMap::new()).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MethodNotAllowed);
        let mut off = config();
        off.enabled = false;
        assert_eq!(get(&off, "console/").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn revalidation_answers_not_modified() {
        let r = get(&config(), "console/console.css");
        let tag = r.headers()["etag"].clone();
        let mut h = HeaderMap::new();
        h.insert(http::header::IF_NONE_MATCH, tag);
        let r = handle(&config(), &Method::GET, "console/console.css", &h).unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn config_document_names_region_and_provider() {
        let mut c = config();
        c.oidc = Some(ConsoleOidc {
            issuer: "http://127.0.0.1:1/realms/stats".into(),
            client_id: "console".into(),
            scopes: "openid profile".into(),
            role_arn: "arn:aws:iam::123456789012:role/analyst".into(),
            name: "Stats".into(),
        });
        let body = get(&c, "console/config.json")
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["region"], "us-east-1");
        assert_eq!(doc["oidc"]["clientId"], "console");
        assert_eq!(doc["oidc"]["name"], "Stats");
        let body = get(&config(), "console/config.json")
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(doc["oidc"].is_null());
    }
}

//! The requests the load generator sends, for the three APIs it speaks:
//! S3 (path-style, SigV4 with `UNSIGNED-PAYLOAD` so that no body is ever
//! hashed by the client), Azure Blob (an account SAS appended to every URL:
//! nothing to sign per request) and plain HTTP (unsigned GET and HEAD, for a
//! static file server serving the same files). Also the few response fields
//! it reads back (upload id, continuation token, key count, error code).
//!
//! S3: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>;
//! Azure: <https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api>.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The body type of every request.
pub type Body = Full<Bytes>;

/// Azure REST version sent with every request (the SAS is signed for it).
pub const AZURE_VERSION: &str = "2020-10-02";

/// RFC 3986 unreserved characters stay; everything else is `%XX` (what
/// SigV4 canonicalisation expects of query values and key segments).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` between key segments.
const KEY_PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Which protocol a target speaks.
pub enum Api {
    S3(S3Signer),
    Azure { sas: String },
    Plain,
}

/// SigV4 signing of S3 requests as the AWS SDKs do it (single percent
/// encoding, no path normalisation, `x-amz-content-sha256` sent).
pub struct S3Signer {
    identity: Identity,
    region: String,
    settings: SigningSettings,
}

impl S3Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let identity =
            aws_credential_types::Credentials::new(access_key, secret_key, None, None, "loadgen")
                .into();
        S3Signer {
            identity,
            region: region.to_owned(),
            settings,
        }
    }

    /// Add the SigV4 headers (`x-amz-date`, `x-amz-content-sha256:
    /// UNSIGNED-PAYLOAD`, `authorization`) to `req`, whose URI is in origin
    /// form; `authority` is its Host.
    pub fn sign(
        &self,
        req: &mut Request<Body>,
        authority: &str,
        time: SystemTime,
    ) -> Result<(), String> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(self.settings.clone())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let uri = format!("http://{authority}{}", req.uri());
        let mut headers = Vec::with_capacity(req.headers().len());
        for (name, value) in req.headers() {
            let value = value
                .to_str()
                .map_err(|_| format!("header {name} is not text"))?;
            headers.push((name.as_str(), value));
        }
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.into_iter(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| format!("signable request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// One request the load generator can make, on keys of the target's bucket.
pub enum Op<'a> {
    CreateBucket,
    Put {
        key: &'a str,
        body: Bytes,
    },
    Get {
        key: &'a str,
    },
    Head {
        key: &'a str,
    },
    /// One page of keys under `prefix` (ListObjectsV2; Azure List Blobs).
    List {
        prefix: &'a str,
        max_keys: u32,
        token: Option<&'a str>,
    },
    /// CreateMultipartUpload (S3 only: an Azure upload starts with its
    /// first block).
    CreateUpload {
        key: &'a str,
    },
    /// UploadPart; Azure Put Block.
    UploadPart {
        key: &'a str,
        upload_id: &'a str,
        part: u32,
        body: Bytes,
    },
    /// CompleteMultipartUpload with the parts' ETags; Azure Put Block List.
    CompleteUpload {
        key: &'a str,
        upload_id: &'a str,
        parts: &'a [(u32, String)],
    },
    /// AbortMultipartUpload (S3 only: Azure drops uncommitted blocks itself).
    AbortUpload {
        key: &'a str,
        upload_id: &'a str,
    },
}

impl Op<'_> {
    /// A short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateBucket => "CreateBucket",
            Op::Put { .. } => "PutObject",
            Op::Get { .. } => "GetObject",
            Op::Head { .. } => "HeadObject",
            Op::List { .. } => "ListObjectsV2",
            Op::CreateUpload { .. } => "CreateMultipartUpload",
            Op::UploadPart { .. } => "UploadPart",
            Op::CompleteUpload { .. } => "CompleteMultipartUpload",
            Op::AbortUpload { .. } => "AbortMultipartUpload",
        }
    }
}

/// Where requests go and how they are authorised.
pub struct Target {
    pub api: Api,
    /// `host:port`.
    pub authority: String,
    /// Path prefix before the bucket, without a trailing `/` (the account
    /// name for Azurite, empty for S3).
    pub base: String,
    pub bucket: String,
}

impl Target {
    /// Whether a multipart upload needs a request to start and to abort.
    pub fn has_upload_ids(&self) -> bool {
        matches!(self.api, Api::S3(_))
    }

    /// The request for `op`, signed when the API needs it.
    pub fn request(&self, op: &Op<'_>, time: SystemTime) -> Result<Request<Body>, String> {
        let (method, key, query, headers, body) = match &self.api {
            Api::S3(_) | Api::Plain => s3_parts(op),
            Api::Azure { .. } => azure_parts(op),
        };
        let mut path = format!("{}/{}", self.base, self.bucket);
        if let Some(key) = key {
            path.push('/');
            path.extend(utf8_percent_encode(key, KEY_PATH));
        }
        let mut query = query;
        if let Api::Azure { sas } = &self.api {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(sas);
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
        }
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::HOST, &self.authority);
        if method == Method::PUT || method == Method::POST {
            builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        }
        if let Api::Azure { .. } = self.api {
            builder = builder.header("x-ms-version", AZURE_VERSION);
        }
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut req = builder
            .body(Full::new(body))
            .map_err(|e| format!("building {}: {e}", op.name()))?;
        if let Api::S3(signer) = &self.api {
            signer.sign(&mut req, &self.authority, time)?;
        }
        Ok(req)
    }
}

type Parts<'a> = (
    Method,
    Option<&'a str>,
    String,
    Vec<(&'static str, String)>,
    Bytes,
);

fn enc(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

fn s3_parts<'a>(op: &Op<'a>) -> Parts<'a> {
    let none = Bytes::new();
    match op {
        Op::CreateBucket => (Method::PUT, None, String::new(), vec![], none),
        Op::Put { key, body } => (Method::PUT, Some(*key), String::new(), vec![], body.clone()),
        Op::Get { key } => (Method::GET, Some(*key), String::new(), vec![], none),
        Op::Head { key } => (Method::HEAD, Some(*key), String::new(), vec![], none),
        Op::List {
            prefix,
            max_keys,
            token,
        } => {
            let mut query = String::new();
            if let Some(token) = token {
                query = format!("continuation-token={}&", enc(token));
            }
            query.push_str(&format!(
                "list-type=2&max-keys={max_keys}&prefix={}",
                enc(prefix)
            ));
            (Method::GET, None, query, vec![], none)
        }
        Op::CreateUpload { key } => (Method::POST, Some(*key), "uploads".into(), vec![], none),
        Op::UploadPart {
            key,
            upload_id,
            part,
            body,
        } => (
            Method::PUT,
            Some(*key),
            format!("partNumber={part}&uploadId={}", enc(upload_id)),
            vec![],
            body.clone(),
        ),
        Op::CompleteUpload {
            key,
            upload_id,
            parts,
        } => (
            Method::POST,
            Some(*key),
            format!("uploadId={}", enc(upload_id)),
            vec![("content-type", "application/xml".into())],
            Bytes::from(complete_upload_xml(parts)),
        ),
        Op::AbortUpload { key, upload_id } => (
            Method::DELETE,
            Some(*key),
            format!("uploadId={}", enc(upload_id)),
            vec![],
            none,
        ),
    }
}

fn azure_parts<'a>(op: &Op<'a>) -> Parts<'a> {
    let none = Bytes::new();
    let block_blob = || vec![("x-ms-blob-type", "BlockBlob".to_owned())];
    match op {
        Op::CreateBucket => (Method::PUT, None, "restype=container".into(), vec![], none),
        Op::Put { key, body } => (
            Method::PUT,
            Some(*key),
            String::new(),
            block_blob(),
            body.clone(),
        ),
        Op::Get { key } => (Method::GET, Some(*key), String::new(), vec![], none),
        Op::Head { key } => (Method::HEAD, Some(*key), String::new(), vec![], none),
        Op::List {
            prefix,
            max_keys,
            token,
        } => {
            let mut query = String::from("comp=list");
            if let Some(token) = token {
                query.push_str(&format!("&marker={}", enc(token)));
            }
            query.push_str(&format!(
                "&maxresults={max_keys}&prefix={}&restype=container",
                enc(prefix)
            ));
            (Method::GET, None, query, vec![], none)
        }
        // Not sent: `Target::has_upload_ids` is false for Azure.
        Op::CreateUpload { key } | Op::AbortUpload { key, .. } => {
            (Method::HEAD, Some(*key), String::new(), vec![], none)
        }
        Op::UploadPart {
            key, part, body, ..
        } => (
            Method::PUT,
            Some(*key),
            format!("blockid={}&comp=block", enc(&azure_block_id(*part))),
            vec![],
            body.clone(),
        ),
        Op::CompleteUpload { key, parts, .. } => (
            Method::PUT,
            Some(*key),
            "comp=blocklist".into(),
            vec![("content-type", "application/xml".into())],
            Bytes::from(azure_block_list_xml(parts)),
        ),
    }
}

/// The CompleteMultipartUpload body for `(part number, ETag)` pairs.
pub fn complete_upload_xml(parts: &[(u32, String)]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            xml_escape(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// Azure block ids must all have the same length: base64 of a six-digit
/// part number.
pub fn azure_block_id(part: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{part:06}"))
}

fn azure_block_list_xml(parts: &[(u32, String)]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
    for (number, _) in parts {
        xml.push_str(&format!("<Latest>{}</Latest>", azure_block_id(*number)));
    }
    xml.push_str("</BlockList>");
    xml
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>...</tag>` in `xml`, unescaped; `None` when
/// absent or empty (`<tag/>`).
pub fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let text = xml_unescape(&xml[start..end]);
    (!text.is_empty()).then_some(text)
}

/// One listing page: how many keys it holds and the token of the next page.
#[derive(Debug, PartialEq, Eq)]
pub struct ListPage {
    pub keys: usize,
    pub next: Option<String>,
}

impl Target {
    /// Read a ListObjectsV2 or List Blobs response.
    pub fn parse_list(&self, xml: &str) -> ListPage {
        match self.api {
            Api::Azure { .. } => ListPage {
                keys: xml.matches("<Blob>").count(),
                next: xml_field(xml, "NextMarker"),
            },
            _ => ListPage {
                keys: xml.matches("<Key>").count(),
                next: if xml_field(xml, "IsTruncated").as_deref() == Some("true") {
                    xml_field(xml, "NextContinuationToken")
                } else {
                    None
                },
            },
        }
    }
}

#[cfg(test)]
mod tests;

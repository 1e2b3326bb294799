//! Turns method + host + path + query into an [`Endpoint`] named after the
//! AWS operation, with the bucket and key, in path style and virtual-host
//! style.

use http::Method;
use percent_encoding::percent_decode_str;

use crate::error::{S3Error, S3ErrorCode};

/// The S3 operation a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    SelectObjectContent,
    CopyObject,
    DeleteObjects,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
    ListObjectVersions,
    GetBucketPolicyStatus,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketAcl,
    PutBucketAcl,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    /// Browser-based upload: `POST /bucket` with an HTML form.
    PostObject,
    GetObjectAttributes,
    /// A known S3 operation this gateway does not serve (yet).
    NotImplemented(&'static str),
}

impl Endpoint {
    /// The AWS operation name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket => "CreateBucket",
            Endpoint::HeadBucket => "HeadBucket",
            Endpoint::DeleteBucket => "DeleteBucket",
            Endpoint::GetBucketLocation => "GetBucketLocation",
            Endpoint::GetBucketVersioning => "GetBucketVersioning",
            Endpoint::ListObjects => "ListObjects",
            Endpoint::ListObjectsV2 => "ListObjectsV2",
            Endpoint::PutObject => "PutObject",
            Endpoint::GetObject => "GetObject",
            Endpoint::HeadObject => "HeadObject",
            Endpoint::DeleteObject => "DeleteObject",
            Endpoint::GetBucketPolicy => "GetBucketPolicy",
            Endpoint::GetBucketPolicyStatus => "GetBucketPolicyStatus",
            Endpoint::GetBucketCors => "GetBucketCors",
            Endpoint::PutBucketCors => "PutBucketCors",
            Endpoint::DeleteBucketCors => "DeleteBucketCors",
            Endpoint::GetBucketTagging => "GetBucketTagging",
            Endpoint::PutBucketTagging => "PutBucketTagging",
            Endpoint::DeleteBucketTagging => "DeleteBucketTagging",
            Endpoint::GetBucketAcl => "GetBucketAcl",
            Endpoint::PutBucketAcl => "PutBucketAcl",
            Endpoint::GetObjectAcl => "GetObjectAcl",
            Endpoint::PutObjectAcl => "PutObjectAcl",
            Endpoint::GetObjectTagging => "GetObjectTagging",
            Endpoint::PutObjectTagging => "PutObjectTagging",
            Endpoint::DeleteObjectTagging => "DeleteObjectTagging",
            Endpoint::PostObject => "PostObject",
            Endpoint::GetObjectAttributes => "GetObjectAttributes",
            Endpoint::PutBucketPolicy => "PutBucketPolicy",
            Endpoint::DeleteBucketPolicy => "DeleteBucketPolicy",
            Endpoint::SelectObjectContent => "SelectObjectContent",
            Endpoint::CopyObject => "CopyObject",
            Endpoint::DeleteObjects => "DeleteObjects",
            Endpoint::CreateMultipartUpload => "CreateMultipartUpload",
            Endpoint::UploadPart => "UploadPart",
            Endpoint::UploadPartCopy => "UploadPartCopy",
            Endpoint::CompleteMultipartUpload => "CompleteMultipartUpload",
            Endpoint::AbortMultipartUpload => "AbortMultipartUpload",
            Endpoint::ListParts => "ListParts",
            Endpoint::ListMultipartUploads => "ListMultipartUploads",
            Endpoint::ListObjectVersions => "ListObjectVersions",
            Endpoint::NotImplemented(op) => op,
        }
    }
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parse a raw query string (`+` is a space, as in S3).
    pub fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw else {
            return Query::default();
        };
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_decode_str(&s).decode_utf8_lossy().into_owned()
        };
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(pair), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Bucket subresources S3 has (those this gateway does not serve yet answer
/// 501 NotImplemented).
const BUCKET_SUBRESOURCES: &[(&str, &str)] = &[
    ("accelerate", "BucketAccelerateConfiguration"),
    ("acl", "BucketAcl"),
    ("analytics", "BucketAnalyticsConfiguration"),
    ("cors", "BucketCors"),
    ("encryption", "BucketEncryption"),
    (
        "intelligent-tiering",
        "BucketIntelligentTieringConfiguration",
    ),
    ("inventory", "BucketInventoryConfiguration"),
    ("lifecycle", "BucketLifecycleConfiguration"),
    ("logging", "BucketLogging"),
    ("metrics", "BucketMetricsConfiguration"),
    ("notification", "BucketNotificationConfiguration"),
    ("object-lock", "ObjectLockConfiguration"),
    ("ownershipControls", "BucketOwnershipControls"),
    ("policy", "BucketPolicy"),
    ("policyStatus", "BucketPolicyStatus"),
    ("publicAccessBlock", "PublicAccessBlock"),
    ("replication", "BucketReplication"),
    ("requestPayment", "BucketRequestPayment"),
    ("tagging", "BucketTagging"),
    ("uploads", "MultipartUploads"),
    ("versioning", "BucketVersioning"),
    ("versions", "ObjectVersions"),
    ("website", "BucketWebsite"),
    ("delete", "DeleteObjects"),
];

/// Object subresources S3 has (those not served yet answer 501).
const OBJECT_SUBRESOURCES: &[(&str, &str)] = &[
    ("acl", "ObjectAcl"),
    ("attributes", "ObjectAttributes"),
    ("legal-hold", "ObjectLegalHold"),
    ("restore", "RestoreObject"),
    ("retention", "ObjectRetention"),
    ("select", "SelectObjectContent"),
    ("tagging", "ObjectTagging"),
    ("torrent", "ObjectTorrent"),
    ("uploadId", "MultipartUpload"),
    ("uploads", "CreateMultipartUpload"),
];

fn subresource(query: &Query, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(name, _)| query.has(name))
        .map(|(_, op)| *op)
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        S3ErrorCode::MethodNotAllowed,
        "The specified method is not allowed against this resource.",
    )
}

/// The bucket a virtual-host-style request names in its Host header
/// (`BUCKET.DOMAIN`), if it is one.
pub fn virtual_host_bucket<'h>(host: Option<&'h str>, domain: Option<&str>) -> Option<&'h str> {
    let host = host?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let bucket = name.strip_suffix(domain?)?.strip_suffix('.')?;
    (!bucket.is_empty()).then_some(bucket)
}

/// Split the request target into bucket and key, honouring virtual-host
/// addressing when `domain` is set and the Host header is a subdomain of it.
pub fn split_target(
    host: Option<&str>,
    raw_path: &str,
    domain: Option<&str>,
) -> Result<(Option<String>, Option<String>), S3Error> {
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("The request path is not valid UTF-8"))?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    if let Some(bucket) = virtual_host_bucket(host, domain) {
        let key = (!path.is_empty()).then(|| path.to_owned());
        return Ok((Some(bucket.to_owned()), key));
    }
    if path.is_empty() {
        return Ok((None, None));
    }
    match path.split_once('/') {
        None => Ok((Some(path.to_owned()), None)),
        Some((bucket, "")) => Ok((Some(bucket.to_owned()), None)),
        Some((bucket, key)) => Ok((Some(bucket.to_owned()), Some(key.to_owned()))),
    }
}

/// Route a request.
pub fn route(
    method: &Method,
    host: Option<&str>,
    raw_path: &str,
    query: &Query,
    has_copy_source: bool,
    domain: Option<&str>,
) -> Result<Route, S3Error> {
    let (bucket, key) = split_target(host, raw_path, domain)?;
    let endpoint = match (&bucket, &key) {
        (None, _) => match *method {
            Method::GET => Endpoint::ListBuckets,
            _ => return Err(method_not_allowed()),
        },
        (Some(_), None) => {
            let sub = subresource(query, BUCKET_SUBRESOURCES);
            match (method.clone(), sub) {
                (Method::GET, None) if query.has("location") => Endpoint::GetBucketLocation,
                (Method::GET, Some("BucketVersioning")) => Endpoint::GetBucketVersioning,
                (Method::GET, Some("BucketPolicyStatus")) => Endpoint::GetBucketPolicyStatus,
                (Method::GET, Some("BucketCors")) => Endpoint::GetBucketCors,
                (Method::PUT, Some("BucketCors")) => Endpoint::PutBucketCors,
                (Method::DELETE, Some("BucketCors")) => Endpoint::DeleteBucketCors,
                (Method::GET, Some("BucketTagging")) => Endpoint::GetBucketTagging,
                (Method::PUT, Some("BucketTagging")) => Endpoint::PutBucketTagging,
                (Method::DELETE, Some("BucketTagging")) => Endpoint::DeleteBucketTagging,
                (Method::GET, Some("BucketAcl")) => Endpoint::GetBucketAcl,
                (Method::PUT, Some("BucketAcl")) => Endpoint::PutBucketAcl,
                (Method::GET, Some("BucketPolicy")) => Endpoint::GetBucketPolicy,
                (Method::PUT, Some("BucketPolicy")) => Endpoint::PutBucketPolicy,
                (Method::DELETE, Some("BucketPolicy")) => Endpoint::DeleteBucketPolicy,
                (Method::GET, Some("MultipartUploads")) => Endpoint::ListMultipartUploads,
                (Method::GET, Some("ObjectVersions")) => Endpoint::ListObjectVersions,
                (Method::POST, Some("DeleteObjects")) => Endpoint::DeleteObjects,
                (Method::GET, None) if query.get("list-type") == Some("2") => {
                    Endpoint::ListObjectsV2
                }
                (Method::GET, None) => Endpoint::ListObjects,
                (Method::PUT, None) => Endpoint::CreateBucket,
                (Method::HEAD, None) => Endpoint::HeadBucket,
                (Method::DELETE, None) => Endpoint::DeleteBucket,
                // Browser-based uploads (HTML forms with a signed policy).
                (Method::POST, None) => Endpoint::PostObject,
                (Method::GET | Method::PUT | Method::DELETE | Method::POST, Some(op)) => {
                    Endpoint::NotImplemented(op)
                }
                _ => return Err(method_not_allowed()),
            }
        }
        (Some(_), Some(_)) => {
            let sub = subresource(query, OBJECT_SUBRESOURCES);
            match (method.clone(), sub) {
                (Method::POST, Some("SelectObjectContent")) => Endpoint::SelectObjectContent,
                (Method::GET, Some("ObjectAcl")) => Endpoint::GetObjectAcl,
                (Method::PUT, Some("ObjectAcl")) => Endpoint::PutObjectAcl,
                (Method::GET, Some("ObjectTagging")) => Endpoint::GetObjectTagging,
                (Method::PUT, Some("ObjectTagging")) => Endpoint::PutObjectTagging,
                (Method::DELETE, Some("ObjectTagging")) => Endpoint::DeleteObjectTagging,
                (Method::GET, Some("ObjectAttributes")) => Endpoint::GetObjectAttributes,
                (Method::POST, Some("CreateMultipartUpload")) => Endpoint::CreateMultipartUpload,
                (Method::PUT, Some("MultipartUpload")) if has_copy_source => {
                    Endpoint::UploadPartCopy
                }
                (Method::PUT, Some("MultipartUpload")) => Endpoint::UploadPart,
                (Method::POST, Some("MultipartUpload")) => Endpoint::CompleteMultipartUpload,
                (Method::DELETE, Some("MultipartUpload")) => Endpoint::AbortMultipartUpload,
                (Method::GET, Some("MultipartUpload")) => Endpoint::ListParts,
                // A part number without an upload id names nothing to write.
                (Method::PUT, None) if query.has("partNumber") => {
                    return Err(S3Error::invalid_argument("partNumber requires an uploadId"))
                }
                (Method::PUT, None) if has_copy_source => Endpoint::CopyObject,
                (Method::PUT, None) => Endpoint::PutObject,
                (Method::GET, None) => Endpoint::GetObject,
                (Method::HEAD, None) => Endpoint::HeadObject,
                (Method::DELETE, None) => Endpoint::DeleteObject,
                (Method::GET | Method::PUT | Method::DELETE | Method::POST, Some(op)) => {
                    Endpoint::NotImplemented(op)
                }
                _ => return Err(method_not_allowed()),
            }
        }
    };
    Ok(Route {
        endpoint,
        bucket,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: Method, host: &str, target: &str) -> Route {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        route(
            &method,
            Some(host),
            path,
            &Query::parse(Some(query)),
            false,
            Some("s3.local"),
        )
        .unwrap()
    }

    /// method, Host, target, endpoint, bucket, key
    type Case = (
        Method,
        &'static str,
        &'static str,
        Endpoint,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn table() {
        use Endpoint::*;
        let cases: &[Case] = &[
            (Method::GET, "localhost:9000", "/", ListBuckets, None, None),
            (
                Method::PUT,
                "localhost",
                "/bkt",
                CreateBucket,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt/",
                CreateBucket,
                Some("bkt"),
                None,
            ),
            (
                Method::HEAD,
                "localhost",
                "/bkt",
                HeadBucket,
                Some("bkt"),
                None,
            ),
            (
                Method::DELETE,
                "localhost",
                "/bkt",
                DeleteBucket,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?location",
                GetBucketLocation,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?list-type=2&prefix=a",
                ListObjectsV2,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?marker=x",
                ListObjects,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt/a/b%20c",
                PutObject,
                Some("bkt"),
                Some("a/b c"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt//lead",
                GetObject,
                Some("bkt"),
                Some("/lead"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt/a+b",
                GetObject,
                Some("bkt"),
                Some("a+b"),
            ),
            (
                Method::HEAD,
                "localhost",
                "/bkt/k",
                HeadObject,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::DELETE,
                "localhost",
                "/bkt/k/",
                DeleteObject,
                Some("bkt"),
                Some("k/"),
            ),
            (
                Method::GET,
                "bkt.s3.local:9000",
                "/",
                ListObjects,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "bkt.s3.local",
                "/?list-type=2",
                ListObjectsV2,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "bkt.s3.local",
                "/a/b",
                PutObject,
                Some("bkt"),
                Some("a/b"),
            ),
            (
                Method::GET,
                "s3.local",
                "/bkt/k",
                GetObject,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?versioning",
                GetBucketVersioning,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt?versioning",
                NotImplemented("BucketVersioning"),
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?policy",
                GetBucketPolicy,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "bkt.s3.local",
                "/?policy",
                PutBucketPolicy,
                Some("bkt"),
                None,
            ),
            (
                Method::DELETE,
                "localhost",
                "/bkt?policy=",
                DeleteBucketPolicy,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?cors",
                GetBucketCors,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt?cors",
                PutBucketCors,
                Some("bkt"),
                None,
            ),
            (
                Method::DELETE,
                "localhost",
                "/bkt?cors",
                DeleteBucketCors,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?acl",
                GetBucketAcl,
                Some("bkt"),
                None,
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt/k?acl",
                PutObjectAcl,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?policyStatus",
                GetBucketPolicyStatus,
                Some("bkt"),
                None,
            ),
            (
                Method::GET,
                "localhost",
                "/bkt/k?attributes",
                GetObjectAttributes,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::POST,
                "localhost",
                "/bkt/k?uploads",
                CreateMultipartUpload,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::PUT,
                "localhost",
                "/bkt/k?partNumber=1&uploadId=x",
                UploadPart,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::POST,
                "localhost",
                "/bkt/k?uploadId=x",
                CompleteMultipartUpload,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::DELETE,
                "localhost",
                "/bkt/k?uploadId=x",
                AbortMultipartUpload,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt/k?uploadId=x&max-parts=2",
                ListParts,
                Some("bkt"),
                Some("k"),
            ),
            (
                Method::GET,
                "localhost",
                "/bkt?uploads&prefix=a",
                ListMultipartUploads,
                Some("bkt"),
                None,
            ),
            (
                Method::POST,
                "localhost",
                "/bkt",
                PostObject,
                Some("bkt"),
                None,
            ),
            (
                Method::POST,
                "bkt.s3.local",
                "/?delete",
                DeleteObjects,
                Some("bkt"),
                None,
            ),
        ];
        for (method, host, target, endpoint, bucket, key) in cases {
            let got = r(method.clone(), host, target);
            assert_eq!(&got.endpoint, endpoint, "{method} {host} {target}");
            assert_eq!(got.bucket.as_deref(), *bucket, "{target}");
            assert_eq!(got.key.as_deref(), *key, "{target}");
        }
    }

    #[test]
    fn method_not_allowed_and_bad_paths() {
        let q = Query::default();
        let err = route(&Method::PATCH, None, "/b/k", &q, false, None).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MethodNotAllowed);
        let err = route(&Method::POST, None, "/", &q, false, None).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MethodNotAllowed);
        let err = route(&Method::GET, None, "/b/%FF", &q, false, None).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn copy_source_header_selects_copy() {
        let q = Query::default();
        let got = route(&Method::PUT, None, "/b/k", &q, true, None).unwrap();
        assert_eq!(got.endpoint, Endpoint::CopyObject);
        let q = Query::parse(Some("partNumber=2&uploadId=u"));
        let got = route(&Method::PUT, None, "/b/k", &q, true, None).unwrap();
        assert_eq!(got.endpoint, Endpoint::UploadPartCopy);
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("prefix=a%2Fb+c&delimiter=%2F&fetch-owner"));
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("fetch-owner"));
    }
}

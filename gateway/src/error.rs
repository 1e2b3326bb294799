//! The one error type a client can see: an AWS error code, its HTTP status
//! and a message, rendered once as the S3 XML error document.
//!
//! Reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// Every S3 error code the gateway sends, spelled as AWS spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    IllegalLocationConstraintException,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidObjectName,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    KeyTooLongError,
    MalformedPolicy,
    MalformedXML,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    NotModified,
    OperationAborted,
    PreconditionFailed,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
    /// A code from another family (S3 Select's), with its HTTP status.
    Other {
        code: &'static str,
        status: u16,
    },
}

impl S3ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IllegalLocationConstraintException => "IllegalLocationConstraintException",
            IncompleteBody => "IncompleteBody",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidObjectName => "InvalidObjectName",
            InvalidPart => "InvalidPart",
            InvalidPartNumber => "InvalidPartNumber",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            KeyTooLongError => "KeyTooLongError",
            MalformedPolicy => "MalformedPolicy",
            MalformedXML => "MalformedXML",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            NoSuchKey => "NoSuchKey",
            NoSuchUpload => "NoSuchUpload",
            NoSuchVersion => "NoSuchVersion",
            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            OperationAborted => "OperationAborted",
            PreconditionFailed => "PreconditionFailed",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SlowDown => "SlowDown",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Other { code, .. } => code,
        }
    }

    /// The HTTP status AWS answers with for this code.
    pub fn status(self) -> StatusCode {
        use S3ErrorCode::*;
        match self {
            AccessDenied | InvalidAccessKeyId | RequestTimeTooSkewed | SignatureDoesNotMatch => {
                StatusCode::FORBIDDEN
            }
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | EntityTooLarge
            | EntityTooSmall
            | IllegalLocationConstraintException
            | IncompleteBody
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidObjectName
            | InvalidPart
            | InvalidPartOrder
            | InvalidRequest
            | KeyTooLongError
            | MalformedPolicy
            | MalformedXML
            | MetadataTooLarge
            | MissingSecurityHeader
            | RequestTimeout
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            NoSuchBucket | NoSuchBucketPolicy | NoSuchKey | NoSuchUpload | NoSuchVersion => {
                StatusCode::NOT_FOUND
            }
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BucketAlreadyOwnedByYou | BucketNotEmpty | OperationAborted => StatusCode::CONFLICT,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            NotModified => StatusCode::NOT_MODIFIED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            InvalidRange | InvalidPartNumber => StatusCode::RANGE_NOT_SATISFIABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ServiceUnavailable | SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            Other { status, .. } => {
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// An error a client sees. Internal causes are kept for the log only.
#[derive(Debug)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: Cow<'static, str>,
    /// Extra response headers (e.g. `Content-Range` on a 416).
    pub headers: Vec<(http::HeaderName, String)>,
    /// The internal cause, logged and never sent.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            code,
            message: message.into(),
            headers: Vec::new(),
            source: None,
        }
    }

    /// An internal failure: the client gets a generic 500, the cause is logged.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        S3Error {
            code: S3ErrorCode::InternalError,
            message: Cow::Borrowed("We encountered an internal error. Please try again."),
            headers: Vec::new(),
            source: Some(cause.into()),
        }
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Keep an internal cause for the log.
    pub fn with_source(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(cause.into());
        self
    }

    pub fn no_such_bucket() -> Self {
        Self::new(
            S3ErrorCode::NoSuchBucket,
            "The specified bucket does not exist",
        )
    }

    pub fn no_such_key() -> Self {
        Self::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    }

    pub fn not_modified() -> Self {
        Self::new(S3ErrorCode::NotModified, "Not Modified")
    }

    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            S3ErrorCode::NotImplemented,
            format!("{what} is not implemented by this gateway"),
        )
    }

    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(S3ErrorCode::InvalidArgument, message)
    }

    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(S3ErrorCode::InvalidRequest, message)
    }

    pub fn malformed_xml() -> Self {
        Self::new(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Render the S3 XML error document.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut x = crate::xml::XmlWriter::new();
        x.open("Error");
        x.elem("Code", self.code.as_str());
        x.elem("Message", &self.message);
        x.elem("Resource", resource);
        x.elem("RequestId", request_id);
        x.close("Error");
        x.finish()
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

impl From<blobgate_auth::AuthError> for S3Error {
    fn from(e: blobgate_auth::AuthError) -> Self {
        use S3ErrorCode::*;
        let code = match e.s3_code() {
            "AccessDenied" => AccessDenied,
            "InvalidAccessKeyId" => InvalidAccessKeyId,
            "SignatureDoesNotMatch" => SignatureDoesNotMatch,
            "RequestTimeTooSkewed" => RequestTimeTooSkewed,
            "AuthorizationHeaderMalformed" => AuthorizationHeaderMalformed,
            "AuthorizationQueryParametersError" => AuthorizationQueryParametersError,
            "XAmzContentSHA256Mismatch" => XAmzContentSHA256Mismatch,
            "BadDigest" => BadDigest,
            "InvalidDigest" => InvalidDigest,
            "InvalidArgument" => InvalidArgument,
            "IncompleteBody" => IncompleteBody,
            "MissingSecurityHeader" => MissingSecurityHeader,
            "RequestTimeout" => RequestTimeout,
            "MissingContentLength" => MissingContentLength,
            // A missing, tampered, foreign or expired session token: 403,
            // like every other credential the gateway does not accept.
            "InvalidToken" => Other {
                code: "InvalidToken",
                status: 403,
            },
            "ExpiredToken" => Other {
                code: "ExpiredToken",
                status: 403,
            },
            _ => InvalidRequest,
        };
        S3Error::new(code, e.message())
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> Self {
        S3Error::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_s3_error_document() {
        let e = S3Error::no_such_key();
        let xml = e.to_xml("/b/k&<", "REQ1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Resource>/b/k&amp;&lt;</Resource><RequestId>REQ1</RequestId></Error>"
        );
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn internal_error_hides_cause() {
        let e = S3Error::internal(std::io::Error::other("disk path /secret"));
        assert!(!e.to_xml("/", "r").contains("secret"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

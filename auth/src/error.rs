//! The one error type of this crate: every way authentication or body
//! verification can fail, with the AWS error code, HTTP status and client
//! message for each.
//!
//! Codes follow <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList>.

/// An authentication or body-verification failure, as a client should see it.
///
/// [`Display`](std::fmt::Display) gives a detailed description for logs;
/// [`AuthError::message`] gives the text to send to the client. Neither ever
/// contains a secret key, a signing key or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries neither an Authorization header nor presigned query parameters.
    #[error("request is not authenticated")]
    MissingAuthentication,
    /// The access key id is not known to the credential store.
    #[error("unknown access key id")]
    InvalidAccessKeyId,
    /// The signature (request, chunk or trailer) does not match.
    #[error("signature does not match")]
    SignatureDoesNotMatch,
    /// Header auth: the request time is more than 15 minutes from the server time.
    #[error("request time too skewed")]
    RequestTimeTooSkewed,
    /// Presigned: now is past X-Amz-Date + X-Amz-Expires.
    #[error("presigned request has expired")]
    RequestExpired,
    /// Presigned: X-Amz-Date is more than 15 minutes in the future.
    #[error("presigned request is not valid yet")]
    RequestNotYetValid,
    /// Access denied for another authentication reason (the message says which).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The Authorization header cannot be parsed or names a wrong scope.
    #[error("authorization header malformed: {0}")]
    AuthorizationHeaderMalformed(String),
    /// The presigned query parameters cannot be parsed or are out of range.
    #[error("authorization query parameters error: {0}")]
    AuthorizationQueryParametersError(String),
    /// SigV2 (or another unsupported scheme such as SigV4A) was used.
    #[error("unsupported signature version")]
    UnsupportedSignatureVersion,
    /// Header auth without an x-amz-content-sha256 header.
    #[error("missing x-amz-content-sha256 header")]
    MissingContentSha256,
    /// Another invalid request (the message says which).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The SHA-256 of the body differs from x-amz-content-sha256.
    #[error("x-amz-content-sha256 does not match the body")]
    XAmzContentSHA256Mismatch,
    /// Content-MD5 or a checksum does not match the body.
    #[error("bad digest: {0}")]
    BadDigest(String),
    /// The Content-MD5 header is not base64 of 16 bytes.
    #[error("invalid Content-MD5 header")]
    InvalidDigest,
    /// An argument (header value) is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The body is shorter than its declared length, or the chunked body ended early.
    #[error("incomplete body")]
    IncompleteBody,
    /// The aws-chunked body is not well formed.
    #[error("malformed aws-chunked body: {0}")]
    MalformedChunk(String),
    /// The session token is malformed, altered, or not this gateway's.
    #[error("invalid session token")]
    InvalidToken,
    /// The session token (temporary credentials) has expired.
    #[error("expired session token")]
    ExpiredToken,
    /// The underlying body stream failed.
    #[error("error reading request body: {0}")]
    BodyRead(String),
}

impl AuthError {
    /// The AWS error code, spelled exactly as S3 spells it.
    pub fn s3_code(&self) -> &'static str {
        match self {
            Self::MissingAuthentication
            | Self::RequestExpired
            | Self::RequestNotYetValid
            | Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::InvalidToken => "InvalidToken",
            Self::ExpiredToken => "ExpiredToken",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            Self::UnsupportedSignatureVersion
            | Self::MissingContentSha256
            | Self::InvalidRequest(_)
            | Self::MalformedChunk(_) => "InvalidRequest",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::BadDigest(_) => "BadDigest",
            Self::InvalidDigest => "InvalidDigest",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::IncompleteBody | Self::BodyRead(_) => "IncompleteBody",
        }
    }

    /// The HTTP status S3 answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingAuthentication
            | Self::InvalidAccessKeyId
            | Self::InvalidToken
            | Self::ExpiredToken
            | Self::SignatureDoesNotMatch
            | Self::RequestTimeTooSkewed
            | Self::RequestExpired
            | Self::RequestNotYetValid
            | Self::AccessDenied(_) => 403,
            Self::AuthorizationHeaderMalformed(_)
            | Self::AuthorizationQueryParametersError(_)
            | Self::UnsupportedSignatureVersion
            | Self::MissingContentSha256
            | Self::InvalidRequest(_)
            | Self::XAmzContentSHA256Mismatch
            | Self::BadDigest(_)
            | Self::InvalidDigest
            | Self::InvalidArgument(_)
            | Self::IncompleteBody
            | Self::MalformedChunk(_)
            | Self::BodyRead(_) => 400,
        }
    }

    /// The human-readable message for the client (never contains secrets).
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthentication => "Access Denied".to_owned(),
            Self::InvalidAccessKeyId => {
                "The AWS Access Key Id you provided does not exist in our records.".to_owned()
            }
            Self::SignatureDoesNotMatch => "The request signature we calculated does not match \
                the signature you provided. Check your key and signing method."
                .to_owned(),
            Self::RequestTimeTooSkewed => {
                "The difference between the request time and the current time is too large."
                    .to_owned()
            }
            Self::RequestExpired => "Request has expired".to_owned(),
            Self::InvalidToken => {
                "The provided token is malformed or otherwise invalid.".to_owned()
            }
            Self::ExpiredToken => "The provided token has expired.".to_owned(),
            Self::RequestNotYetValid => "Request is not valid yet".to_owned(),
            Self::AccessDenied(msg)
            | Self::AuthorizationHeaderMalformed(msg)
            | Self::AuthorizationQueryParametersError(msg)
            | Self::InvalidRequest(msg)
            | Self::BadDigest(msg)
            | Self::InvalidArgument(msg) => msg.clone(),
            Self::UnsupportedSignatureVersion => "The authorization mechanism you have provided \
                is not supported. Please use AWS4-HMAC-SHA256."
                .to_owned(),
            Self::MissingContentSha256 => {
                "Missing required header for this request: x-amz-content-sha256".to_owned()
            }
            Self::XAmzContentSHA256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
            Self::InvalidDigest => "The Content-MD5 you specified was invalid.".to_owned(),
            Self::IncompleteBody | Self::BodyRead(_) => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
                    .to_owned()
            }
            Self::MalformedChunk(msg) => format!("Malformed aws-chunked body: {msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (AuthError::MissingAuthentication, "AccessDenied", 403),
            (AuthError::RequestExpired, "AccessDenied", 403),
            (AuthError::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (AuthError::InvalidToken, "InvalidToken", 403),
            (AuthError::ExpiredToken, "ExpiredToken", 403),
            (
                AuthError::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                403,
            ),
            (AuthError::RequestTimeTooSkewed, "RequestTimeTooSkewed", 403),
            (
                AuthError::AuthorizationHeaderMalformed("x".into()),
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::AuthorizationQueryParametersError("x".into()),
                "AuthorizationQueryParametersError",
                400,
            ),
            (
                AuthError::UnsupportedSignatureVersion,
                "InvalidRequest",
                400,
            ),
            (
                AuthError::XAmzContentSHA256Mismatch,
                "XAmzContentSHA256Mismatch",
                400,
            ),
            (AuthError::BadDigest("x".into()), "BadDigest", 400),
            (AuthError::InvalidDigest, "InvalidDigest", 400),
            (
                AuthError::InvalidArgument("x".into()),
                "InvalidArgument",
                400,
            ),
            (AuthError::IncompleteBody, "IncompleteBody", 400),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.s3_code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
            assert!(!err.message().is_empty());
        }
        assert_eq!(AuthError::RequestExpired.message(), "Request has expired");
    }
}

//! blobgate-auth: AWS Signature Version 4 (and, for the clients that still
//! send it, Version 2) verification for an S3-compatible
//! gateway (Authorization header, presigned URLs, aws-chunked streaming
//! signatures with trailers), the payload checks that go with it
//! (x-amz-content-sha256, Content-MD5, `x-amz-checksum-*`), and IAM-style
//! policy authorization.
//!
//! The crate knows nothing of servers or storage backends:
//!
//! 1. [`verify_request`] checks the signature of a request's method, URI and
//!    headers against a [`CredentialStore`] and returns a [`Verified`] with
//!    the access key and the [`PayloadMode`].
//! 2. [`verify_body`] wraps the body stream in a [`VerifyingBody`] that
//!    decodes aws-chunked bodies and fails before end-of-stream if any
//!    signature, hash, checksum or length check fails; the [`BodyOutcome`]
//!    then carries the verified checksum and decoded length.
//! 3. [`authorize`] decides whether the verified access key (or an
//!    anonymous caller) may perform an S3 action on a resource, from the
//!    key's identity [`Policy`] and the bucket's policy; [`load_users_file`]
//!    reads the access keys, their secrets and identity policies.
//! 4. Identity federation (STS): [`jwt`] verifies OIDC and Kubernetes
//!    service-account tokens against an issuer's keys, [`roles`] holds the
//!    providers and roles of the users file, and [`session`] seals the
//!    temporary credentials of an assumed role into a session token that
//!    [`verify_request`] opens (through [`CredentialStore::session`]).
//! 5. Browser uploads (POST Object): [`verify_post_form`] checks the
//!    signature of a form's policy, [`PostPolicy`] the form against it.

mod authorization;
mod body;
mod canonical;
mod checksum;
mod chunked;
mod credentials;
mod error;
pub mod jwt;
mod policy;
pub mod post;
pub mod roles;
pub mod session;
mod sigv2;
mod sigv4;
#[cfg(test)]
mod test_support;
mod users;

pub use body::{stored_content_encoding, verify_body, BodyOutcome, VerifyingBody};
pub use checksum::{composite_of, ChecksumAlgorithm, Checksummer, CrcCombiner};
pub use credentials::{CredentialStore, StaticCredentials};
pub use error::AuthError;
pub use policy::{
    authorize, bucket_arn, is_public, object_arn, ConditionContext, Decision, Policy, PolicyError,
    Principal, Request, ALL_BUCKETS_ARN,
};
pub use post::{verify_post_form, PostPolicy, PostPolicyError};
pub use session::{ClaimValue, Claims, Session, SessionError, SessionKeys, SessionSource};
pub use sigv4::{verify_request, verify_sts_request, PayloadMode, RequestParts, Verified};
pub use users::{load_users_file, parse_users, parse_users_file, UserEntry, UsersFile};

//! STS, the AWS Security Token Service's query API, on the gateway's own
//! listener: `POST /` with a form body (or `GET /?Action=...`) whose
//! `Action` is one of
//!
//! - `AssumeRoleWithWebIdentity`: unsigned; an OIDC identity token (an
//!   Entra ID, Dex or Keycloak ID token, or a Kubernetes projected
//!   service-account token) is exchanged for temporary credentials of a
//!   role whose trust policy allows its issuer and claims;
//! - `AssumeRole`: signed (SigV4, service `sts`) with a long-term key that
//!   the role's trust policy names;
//! - `GetCallerIdentity`: signed with any credentials; who the caller is.
//!
//! The credentials are a session sealed into its own session token
//! ([`blobgate_auth::session`]), so any replica with the same STS key
//! accepts them and no store is shared. A session's rights are its role's
//! policy as the users file says now, narrowed by the session `Policy`
//! given here (checked in [`crate::access`]). Sessions cannot assume roles
//! (no role chaining).
//!
//! Parameters, responses and error codes are AWS's:
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>.
//! Errors are STS's `ErrorResponse` documents, never S3's.
//!
//! Tokens, secrets and session tokens are never logged; the log line of an
//! issued session names the role, the session name, the subject, the
//! issuer or signing key, and the new access key id.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use blobgate_auth::jwt::{self, TokenError};
use blobgate_auth::roles::{Role, DEFAULT_SESSION_SECS, MIN_SESSION_SECS};
use blobgate_auth::session::MAX_TOKEN_LEN as MAX_SESSION_TOKEN_LEN;
use blobgate_auth::{
    verify_sts_request, AuthError, ClaimValue, Claims, ConditionContext, Decision, Policy,
    Principal, Request as PolicyRequest, RequestParts, Session, SessionSource, Verified,
};
use bytes::BytesMut;
use futures_util::StreamExt;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::body::{self, IdleTimeout, IncomingStream, ResponseBody};
use crate::identity::WebIdentityError;
use crate::observe::Observation;
use crate::request::Gateway;
use crate::router::Query;
use crate::xml::XmlWriter;

/// The account id of the gateway's own principals (root and users-file
/// keys) in ARNs. Roles keep whatever account their ARN names.
pub const ACCOUNT_ID: &str = "000000000000";
/// The only API version STS has.
pub const VERSION: &str = "2011-06-15";
const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Largest form body read: a 16 KiB identity token and a 2 KiB policy,
/// percent-encoded, fit well within it.
const MAX_BODY: usize = 64 * 1024;
/// AWS's limit on a session policy (plain text, not packed).
pub const MAX_SESSION_POLICY: usize = 2048;
/// Identity-token claims that describe the token rather than its holder:
/// never carried into sessions.
const TOKEN_CLAIMS: &[&str] = &[
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "sid",
];

/// Whether a request to the service root is for STS: every `POST /` (the
/// query API's form) and a `GET /` that names an `Action`.
pub fn is_sts_request(method: &Method, query: &Query) -> bool {
    *method == Method::POST || (*method == Method::GET && query.has("Action"))
}

/// An STS action this gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    AssumeRoleWithWebIdentity,
    AssumeRole,
    GetCallerIdentity,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "AssumeRoleWithWebIdentity" => Some(Self::AssumeRoleWithWebIdentity),
            "AssumeRole" => Some(Self::AssumeRole),
            "GetCallerIdentity" => Some(Self::GetCallerIdentity),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            Self::AssumeRole => "AssumeRole",
            Self::GetCallerIdentity => "GetCallerIdentity",
        }
    }

    /// The policy action a trust policy must allow.
    fn policy_action(self) -> &'static str {
        match self {
            Self::AssumeRoleWithWebIdentity => "sts:AssumeRoleWithWebIdentity",
            Self::AssumeRole => "sts:AssumeRole",
            Self::GetCallerIdentity => "sts:GetCallerIdentity",
        }
    }
}

/// An STS error, as the `ErrorResponse` document names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: Cow<'static, str>,
}

impl StsError {
    fn new(code: &'static str, status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        StsError {
            code,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message: message.into(),
        }
    }

    fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    fn invalid_parameter(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("InvalidParameterValue", 400, message)
    }

    fn access_denied(action: Action, role_arn: &str) -> Self {
        Self::new(
            "AccessDenied",
            403,
            format!(
                "Not authorized to perform {} on {role_arn}",
                action.policy_action()
            ),
        )
    }

    /// The `ErrorResponse` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        w.open_root_ns("ErrorResponse", NS);
        w.open("Error");
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        w.elem("Type", kind);
        w.elem("Code", self.code);
        w.elem("Message", &self.message);
        w.close("Error");
        w.elem("RequestId", request_id);
        w.close("ErrorResponse");
        w.finish()
    }
}

/// Serve one STS request; errors are rendered here, as STS documents.
pub async fn handle(
    gateway: &Gateway,
    peer: SocketAddr,
    parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
    observation: &mut Observation,
) -> Response<ResponseBody> {
    let mut action = None;
    let result = serve(gateway, peer, &parts, body, request_id, &mut action).await;
    let action_name = action.map_or("Unknown", Action::name);
    observation.named(match action {
        Some(a) => a.name(),
        None => "STS",
    });
    match result {
        Ok(doc) => {
            gateway.metrics.sts_request(action_name, "ok");
            text_xml(StatusCode::OK, doc)
        }
        Err(e) => {
            gateway.metrics.sts_request(action_name, e.code);
            if e.status.is_server_error() {
                tracing::error!(action = action_name, code = e.code, "STS request failed");
            } else {
                tracing::info!(action = action_name, code = e.code, message = %e.message, "STS request refused");
            }
            text_xml(e.status, e.to_xml(request_id))
        }
    }
}

fn text_xml(status: StatusCode, doc: String) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(doc));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    response
}

async fn serve(
    gateway: &Gateway,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Incoming,
    request_id: &str,
    action_out: &mut Option<Action>,
) -> Result<String, StsError> {
    let form = read_form(gateway, body).await?;
    let body_sha256 = hex::encode(Sha256::digest(&form));
    let params = parameters(parts.uri.query(), &form);
    let action = match params.get("Action") {
        None | Some("") => {
            return Err(StsError::new(
                "MissingAction",
                400,
                "The request must contain the parameter Action.",
            ))
        }
        Some(name) => Action::parse(name).ok_or_else(|| {
            StsError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {name} for version {VERSION}"),
            )
        })?,
    };
    *action_out = Some(action);
    if let Some(version) = params.get("Version") {
        if version != VERSION {
            return Err(StsError::new(
                "InvalidAction",
                400,
                format!(
                    "Could not find operation {} for version {version}",
                    action.name()
                ),
            ));
        }
    }
    let context = ConditionContext {
        source_ip: Some(peer.ip()),
        secure_transport: gateway.tls.is_some(),
        ..ConditionContext::default()
    };
    let now = SystemTime::now();
    match action {
        Action::AssumeRoleWithWebIdentity => {
            assume_role_with_web_identity(gateway, &params, &context, now, request_id).await
        }
        Action::AssumeRole => {
            let caller = verify_signed(gateway, parts, &body_sha256, now)?;
            assume_role(gateway, &caller, &params, &context, now, request_id)
        }
        Action::GetCallerIdentity => {
            let caller = verify_signed(gateway, parts, &body_sha256, now)?;
            Ok(get_caller_identity(
                &caller.access_key,
                caller.session().map(|s| &**s),
                request_id,
            ))
        }
    }
}

/// The form body, at most [`MAX_BODY`] bytes.
async fn read_form(gateway: &Gateway, body: Incoming) -> Result<BytesMut, StsError> {
    let mut stream = IdleTimeout::new(IncomingStream::new(body), gateway.config.body_idle_timeout);
    let mut form = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StsError::new("IncompleteBody", 400, e.message))?;
        if form.len() + chunk.len() > MAX_BODY {
            return Err(StsError::validation(
                "The request body is larger than 64 KiB.",
            ));
        }
        form.extend_from_slice(&chunk);
    }
    Ok(form)
}

/// The query's parameters, then the form's.
fn parameters(query: Option<&str>, form: &[u8]) -> Query {
    let form = String::from_utf8_lossy(form);
    let all = match query {
        Some(q) if !q.is_empty() => format!("{q}&{form}"),
        _ => form.into_owned(),
    };
    Query::parse(Some(&all))
}

fn verify_signed(
    gateway: &Gateway,
    parts: &http::request::Parts,
    body_sha256: &str,
    now: SystemTime,
) -> Result<Verified, StsError> {
    verify_sts_request(
        &RequestParts {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            virtual_bucket: None,
        },
        body_sha256,
        gateway.access.as_ref(),
        &gateway.config.region,
        now,
    )
    .map_err(auth_error)
}

/// A signature failure as STS names it.
fn auth_error(e: AuthError) -> StsError {
    match e {
        AuthError::MissingAuthentication => StsError::new(
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token",
        ),
        AuthError::InvalidAccessKeyId | AuthError::InvalidToken => StsError::new(
            "InvalidClientTokenId",
            403,
            "The security token included in the request is invalid.",
        ),
        AuthError::ExpiredToken => StsError::new(
            "ExpiredToken",
            400,
            "The security token included in the request is expired",
        ),
        AuthError::SignatureDoesNotMatch => StsError::new(
            "SignatureDoesNotMatch",
            403,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        ),
        AuthError::RequestTimeTooSkewed | AuthError::RequestExpired => StsError::new(
            "RequestExpired",
            400,
            "The request reached the service more than 15 minutes after the date stamp on the \
             request or more than 15 minutes after the request expiration date, or the date \
             stamp on the request is more than 15 minutes in the future.",
        ),
        AuthError::AuthorizationHeaderMalformed(m)
        | AuthError::AuthorizationQueryParametersError(m) => {
            StsError::new("IncompleteSignature", 400, m)
        }
        other => StsError::invalid_parameter(other.message()),
    }
}

/// A role ARN, `arn:aws:iam::ACCOUNT:role/NAME` (a path before the name is
/// allowed, as in IAM): its account and the role's name.
fn parse_role_arn(arn: &str) -> Result<(&str, &str), StsError> {
    if !(20..=2048).contains(&arn.len()) {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{arn}' at 'roleArn' failed to satisfy \
             constraint: Member must have length between 20 and 2048"
        )));
    }
    let not_a_role = || StsError::validation(format!("{arn} is invalid"));
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(not_a_role)?;
    let (account, resource) = rest.split_once(':').ok_or_else(not_a_role)?;
    let path = resource.strip_prefix("role/").ok_or_else(not_a_role)?;
    let name = path.rsplit('/').next().unwrap_or_default();
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return Err(not_a_role());
    }
    Ok((account, name))
}

/// RoleSessionName: 2 to 64 of `[\w+=,.@-]`.
fn check_session_name(name: Option<&str>) -> Result<&str, StsError> {
    let name = name.ok_or_else(|| {
        StsError::validation(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy \
             constraint: Member must not be null",
        )
    })?;
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !(2..=64).contains(&name.len()) || !ok_chars {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy \
             constraint: Member must have length between 2 and 64 and satisfy regular \
             expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(name)
}

/// DurationSeconds: 900 up to the role's `max_session_secs`; default one
/// hour (or the role's maximum, if shorter).
fn session_duration(value: Option<&str>, role: &Role) -> Result<Duration, StsError> {
    let Some(value) = value else {
        return Ok(Duration::from_secs(
            DEFAULT_SESSION_SECS.min(role.max_session_secs),
        ));
    };
    let secs: u64 = value.parse().map_err(|_| {
        StsError::validation(format!(
            "1 validation error detected: Value '{value}' at 'durationSeconds' failed to \
             satisfy constraint: Member must be a number"
        ))
    })?;
    if secs < MIN_SESSION_SECS {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy \
             constraint: Member must have value greater than or equal to {MIN_SESSION_SECS}"
        )));
    }
    if secs > role.max_session_secs {
        return Err(StsError::validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role \
             ({} seconds).",
            role.max_session_secs
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// The optional session policy, checked to parse as an identity policy;
/// and the managed session policies (`PolicyArns`), which this gateway has
/// none of.
fn session_policy(params: &Query) -> Result<Option<String>, StsError> {
    if params.has("PolicyArns.member.1.arn") {
        return Err(StsError::invalid_parameter(
            "Managed session policies (PolicyArns) are not supported; pass the policy document \
             as Policy.",
        ));
    }
    let Some(doc) = params.get("Policy") else {
        return Ok(None);
    };
    if doc.is_empty() || doc.len() > MAX_SESSION_POLICY {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: \
             Member must have length between 1 and {MAX_SESSION_POLICY}"
        )));
    }
    Policy::parse(doc.as_bytes())
        .map_err(|e| StsError::new("MalformedPolicyDocument", 400, e.message().to_owned()))?;
    Ok(Some(doc.to_owned()))
}

/// What AssumeRole and AssumeRoleWithWebIdentity both ask for, checked:
/// the role (AccessDenied for an unknown one, not told apart from a role
/// the caller may not assume), the session's name, duration and policy.
struct Assumption {
    arn: String,
    account: String,
    role: Arc<Role>,
    session_name: String,
    duration: Duration,
    policy: Option<String>,
}

impl Assumption {
    fn parse(gateway: &Gateway, action: Action, params: &Query) -> Result<Self, StsError> {
        let arn = params.get("RoleArn").ok_or_else(|| {
            StsError::validation(
                "1 validation error detected: Value null at 'roleArn' failed to satisfy \
                 constraint: Member must not be null",
            )
        })?;
        let (account, name) = parse_role_arn(arn)?;
        let role = gateway
            .access
            .role(name)
            .ok_or_else(|| StsError::access_denied(action, arn))?;
        let session_name = check_session_name(params.get("RoleSessionName"))?.to_owned();
        let duration = session_duration(params.get("DurationSeconds"), &role)?;
        Ok(Assumption {
            arn: arn.to_owned(),
            account: account.to_owned(),
            role,
            session_name,
            duration,
            policy: session_policy(params)?,
        })
    }

    /// Whether the role's trust policy lets `principal` assume it.
    fn trusts(&self, action: Action, principal: Principal<'_>, context: &ConditionContext) -> bool {
        self.role.trust.evaluate(&PolicyRequest {
            action: action.policy_action(),
            resource: &self.arn,
            principal,
            context,
        }) == Decision::Allow
    }

    /// The new session, expiring `duration` after `now`.
    fn session(&self, source: SessionSource, claims: Claims, now: SystemTime) -> Session {
        Session::new(
            self.role.name.clone(),
            self.account.clone(),
            self.session_name.clone(),
            source,
            claims,
            self.policy.clone(),
            now + self.duration,
        )
    }
}

async fn assume_role_with_web_identity(
    gateway: &Gateway,
    params: &Query,
    context: &ConditionContext,
    now: SystemTime,
    request_id: &str,
) -> Result<String, StsError> {
    let action = Action::AssumeRoleWithWebIdentity;
    let assumption = Assumption::parse(gateway, action, params)?;
    // A token file read with its trailing newline still names one token.
    let token = params
        .get("WebIdentityToken")
        .unwrap_or_default()
        .trim_matches(|c: char| c.is_ascii_whitespace());
    if !(4..=jwt::MAX_TOKEN_LEN).contains(&token.len()) {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy \
             constraint: Member must have length between 4 and {}",
            jwt::MAX_TOKEN_LEN
        )));
    }
    let invalid_token = |e: TokenError| StsError::new("InvalidIdentityToken", 400, e.to_string());
    let parsed = jwt::parse(token).map_err(invalid_token)?;
    let issuer = jwt::issuer_of(&parsed)
        .ok_or(TokenError::Claim("iss"))
        .map_err(invalid_token)?
        .to_owned();
    let provider = gateway.access.provider(&issuer).ok_or_else(|| {
        StsError::new(
            "InvalidIdentityToken",
            400,
            "No OpenIDConnect provider found in your account for the token's issuer",
        )
    })?;
    let verified = gateway
        .identity
        .verify(&provider, token, now)
        .await
        .map_err(|e| match e {
            WebIdentityError::Token(TokenError::Expired) => StsError::new(
                "ExpiredTokenException",
                400,
                "Token expired: the identity token's exp is in the past",
            ),
            WebIdentityError::Token(e) => invalid_token(e),
            WebIdentityError::Unreachable(detail) => {
                tracing::warn!(issuer = %issuer, error = %detail, "identity provider unreachable");
                StsError::new(
                    "IDPCommunicationError",
                    400,
                    "The identity provider could not be reached to verify the token; try again",
                )
            }
        })?;
    let all_claims: Claims = verified
        .iter()
        .filter(|(name, _)| !TOKEN_CLAIMS.contains(&name.as_str()))
        .filter_map(|(name, v)| ClaimValue::from_json(v).map(|v| (name.clone(), v)))
        .collect();
    let principal = Principal::WebIdentity {
        issuer: &issuer,
        claims: &all_claims,
    };
    if !assumption.trusts(action, principal, context) {
        return Err(StsError::access_denied(action, &assumption.arn));
    }
    let subject = all_claims
        .get("sub")
        .and_then(ClaimValue::text)
        .unwrap_or_default()
        .to_owned();
    let audience = jwt::accepted_audience(&verified, &provider.audiences)
        .unwrap_or_default()
        .to_owned();
    // Every usable claim travels with the session (bucket policies may read
    // any); one that does not fit is refused, never silently dropped, as a
    // dropped claim could disable a Deny.
    let session = assumption.session(
        SessionSource::WebIdentity {
            issuer: issuer.clone(),
        },
        all_claims,
        now,
    );
    let sealed = gateway.access.session_keys().seal(&session);
    if sealed.len() > MAX_SESSION_TOKEN_LEN {
        return Err(StsError::new(
            "PackedPolicyTooLarge",
            400,
            "The identity token's claims and the session policy are too large for a session",
        ));
    }
    tracing::info!(
        action = action.name(),
        role = %assumption.role.name,
        session = %assumption.session_name,
        subject = %subject,
        issuer = %issuer,
        access_key = %session.access_key,
        expires_s = assumption.duration.as_secs(),
        "STS session issued"
    );
    Ok(credentials_document(
        action,
        &[
            ("SubjectFromWebIdentityToken", &subject),
            ("Audience", &audience),
        ],
        &session,
        &sealed,
        &[("Provider", provider_name(&issuer))],
        request_id,
    ))
}

fn assume_role(
    gateway: &Gateway,
    caller: &Verified,
    params: &Query,
    context: &ConditionContext,
    now: SystemTime,
    request_id: &str,
) -> Result<String, StsError> {
    let action = Action::AssumeRole;
    let assumption = Assumption::parse(gateway, action, params)?;
    // Temporary credentials do not assume roles: a session's rights stay
    // bounded by the role it came from.
    if caller.session().is_some()
        || !assumption.trusts(action, Principal::AccessKey(&caller.access_key), context)
    {
        return Err(StsError::access_denied(action, &assumption.arn));
    }
    let session = assumption.session(
        SessionSource::AccessKey(caller.access_key.clone()),
        Claims::new(),
        now,
    );
    let sealed = gateway.access.session_keys().seal(&session);
    tracing::info!(
        action = action.name(),
        role = %assumption.role.name,
        session = %assumption.session_name,
        caller = %caller.access_key,
        access_key = %session.access_key,
        expires_s = assumption.duration.as_secs(),
        "STS session issued"
    );
    Ok(credentials_document(
        action,
        &[],
        &session,
        &sealed,
        &[],
        request_id,
    ))
}

fn get_caller_identity(access_key: &str, session: Option<&Session>, request_id: &str) -> String {
    let (arn, user_id, account) = match session {
        Some(s) => (s.assumed_role_arn(), s.user_id(), s.account.clone()),
        None => (
            format!("arn:aws:iam::{ACCOUNT_ID}:user/{access_key}"),
            access_key.to_owned(),
            ACCOUNT_ID.to_owned(),
        ),
    };
    let mut w = XmlWriter::new();
    w.open_root_ns("GetCallerIdentityResponse", NS);
    w.open("GetCallerIdentityResult");
    w.elem("Arn", &arn);
    w.elem("UserId", &user_id);
    w.elem("Account", &account);
    w.close("GetCallerIdentityResult");
    write_metadata(&mut w, request_id);
    w.close("GetCallerIdentityResponse");
    w.finish()
}

/// The `ACTIONResponse` of an action that hands out credentials: its
/// result's elements `before`, `AssumedRoleUser` and `Credentials`, then
/// those `after`.
fn credentials_document(
    action: Action,
    before: &[(&str, &str)],
    session: &Session,
    sealed: &str,
    after: &[(&str, &str)],
    request_id: &str,
) -> String {
    let (response, result) = (
        format!("{}Response", action.name()),
        format!("{}Result", action.name()),
    );
    let mut w = XmlWriter::new();
    w.open_root_ns(&response, NS);
    w.open(&result);
    for (name, text) in before {
        w.elem(name, text);
    }
    write_session(&mut w, session, sealed);
    for (name, text) in after {
        w.elem(name, text);
    }
    w.close(&result);
    write_metadata(&mut w, request_id);
    w.close(&response);
    w.finish()
}

/// `AssumedRoleUser` and `Credentials`.
fn write_session(w: &mut XmlWriter, session: &Session, sealed: &str) {
    w.open("AssumedRoleUser");
    w.elem("Arn", &session.assumed_role_arn());
    w.elem("AssumedRoleId", &session.user_id());
    w.close("AssumedRoleUser");
    w.open("Credentials");
    w.elem("AccessKeyId", &session.access_key);
    w.elem("SecretAccessKey", session.secret_key());
    w.elem("SessionToken", sealed);
    w.elem("Expiration", &expiration(session.expiry()));
    w.close("Credentials");
}

fn write_metadata(w: &mut XmlWriter, request_id: &str) {
    w.open("ResponseMetadata");
    w.elem("RequestId", request_id);
    w.close("ResponseMetadata");
}

/// STS's timestamps: ISO 8601 to the second, UTC.
fn expiration(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_default()
}

/// `Provider`: the issuer without its scheme, as AWS shows it.
fn provider_name(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
        .trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(max: u64) -> Role {
        Role {
            name: "analyst".into(),
            trust: Policy::parse_trust_policy(
                br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                    "Principal":{"AWS":"jobs"},"Action":"sts:AssumeRole"}]}"#,
            )
            .unwrap(),
            policy: None,
            max_session_secs: max,
        }
    }

    #[test]
    fn sts_routes_posts_and_gets_with_an_action() {
        assert!(is_sts_request(&Method::POST, &Query::default()));
        assert!(is_sts_request(
            &Method::GET,
            &Query::parse(Some("Action=GetCallerIdentity"))
        ));
        // GET / is ListBuckets.
        assert!(!is_sts_request(&Method::GET, &Query::default()));
        assert!(!is_sts_request(
            &Method::PUT,
            &Query::parse(Some("Action=x"))
        ));
    }

    #[test]
    fn form_and_query_parameters_are_merged() {
        let p = parameters(
            Some("Version=2011-06-15"),
            b"Action=AssumeRole&RoleSessionName=a%40b&Policy=%7B%22x%22%7D",
        );
        assert_eq!(p.get("Version"), Some("2011-06-15"));
        assert_eq!(p.get("Action"), Some("AssumeRole"));
        assert_eq!(p.get("RoleSessionName"), Some("a@b"));
        assert_eq!(p.get("Policy"), Some("{\"x\"}"));
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/analyst").unwrap(),
            ("123456789012", "analyst")
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/team/analyst").unwrap(),
            ("123456789012", "analyst")
        );
        for bad in [
            "arn:aws:iam::123456789012:user/analyst",
            "arn:aws:sts::123456789012:role/analyst",
            "arn:aws:iam::12345x789012:role/analyst",
            "arn:aws:iam::123456789012:role/",
            "short",
        ] {
            assert_eq!(
                parse_role_arn(bad).unwrap_err().code,
                "ValidationError",
                "{bad}"
            );
        }
    }

    #[test]
    fn session_names() {
        assert_eq!(
            check_session_name(Some("alice@stats.example")).unwrap(),
            "alice@stats.example"
        );
        for bad in ["a", "has space", "slash/no", &"x".repeat(65)] {
            assert_eq!(
                check_session_name(Some(bad)).unwrap_err().code,
                "ValidationError",
                "{bad}"
            );
        }
        assert_eq!(
            check_session_name(None).unwrap_err().code,
            "ValidationError"
        );
    }

    #[test]
    fn durations_within_the_roles_limit() {
        let r = role(7200);
        assert_eq!(
            session_duration(None, &r).unwrap(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            session_duration(Some("900"), &r).unwrap(),
            Duration::from_secs(900)
        );
        assert_eq!(
            session_duration(Some("7200"), &r).unwrap(),
            Duration::from_secs(7200)
        );
        for bad in ["899", "7201", "-1", "1h", ""] {
            let e = session_duration(Some(bad), &r).unwrap_err();
            assert_eq!(
                (e.code, e.status.as_u16()),
                ("ValidationError", 400),
                "{bad}"
            );
        }
        // A role shorter than an hour: its maximum is the default.
        assert_eq!(
            session_duration(None, &role(1200)).unwrap(),
            Duration::from_secs(1200)
        );
    }

    #[test]
    fn session_policies() {
        let q = |s: &str| Query::parse(Some(s));
        assert!(session_policy(&q("Action=AssumeRole")).unwrap().is_none());
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/*"}]}"#;
        let enc = percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC);
        let text = session_policy(&q(&format!("Policy={enc}")))
            .unwrap()
            .unwrap();
        assert_eq!(text, doc);
        assert_eq!(
            session_policy(&q("Policy=%7Bnot%20json")).unwrap_err().code,
            "MalformedPolicyDocument"
        );
        let long = format!("Policy={}", "x".repeat(MAX_SESSION_POLICY + 1));
        assert_eq!(
            session_policy(&q(&long)).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            session_policy(&q(
                "PolicyArns.member.1.arn=arn:aws:iam::aws:policy/ReadOnly"
            ))
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
    }

    #[test]
    fn error_document() {
        let e = StsError::new("InvalidIdentityToken", 400, "bad <token>");
        assert_eq!(
            e.to_xml("R1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse \
             xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>InvalidIdentityToken</Code><Message>bad &lt;token&gt;</Message></Error>\
             <RequestId>R1</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn signature_failures_as_sts_names_them() {
        let code = |e| auth_error(e).code;
        assert_eq!(
            code(AuthError::MissingAuthentication),
            "MissingAuthenticationToken"
        );
        assert_eq!(code(AuthError::InvalidAccessKeyId), "InvalidClientTokenId");
        assert_eq!(code(AuthError::InvalidToken), "InvalidClientTokenId");
        assert_eq!(code(AuthError::ExpiredToken), "ExpiredToken");
        assert_eq!(
            code(AuthError::SignatureDoesNotMatch),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn times_and_providers() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_255_369_830);
        assert_eq!(expiration(t), "2009-10-12T17:50:30Z");
        assert_eq!(
            provider_name("https://login.example/realms/x/"),
            "login.example/realms/x"
        );
        assert_eq!(provider_name("http://127.0.0.1:8080/r"), "127.0.0.1:8080/r");
    }

    #[test]
    fn caller_identity_of_a_long_term_key() {
        let doc = get_caller_identity("jobs", None, "R");
        assert!(
            doc.contains("<Arn>arn:aws:iam::000000000000:user/jobs</Arn>"),
            "{doc}"
        );
        assert!(
            doc.contains("<UserId>jobs</UserId><Account>000000000000</Account>"),
            "{doc}"
        );
        let session = Session::new(
            "analyst".into(),
            "123456789012".into(),
            "alice".into(),
            SessionSource::AccessKey("jobs".into()),
            Claims::new(),
            None,
            SystemTime::now(),
        );
        let doc = get_caller_identity(&session.access_key, Some(&session), "R");
        assert!(
            doc.contains(
                "<Arn>arn:aws:sts::123456789012:assumed-role/analyst/alice</Arn>\
                          <UserId>analyst:alice</UserId><Account>123456789012</Account>"
            ),
            "{doc}"
        );
    }
}

//! STS session tokens: `auth/src/session.rs`.
//!
//! Structured input builds a session (any Unicode in its names, claims and
//! session policy); sealing then opening gives the same session back
//! before it expires, nothing after, and nothing once any one character of
//! the token is changed. Raw input is opened as a token and never is one.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Unstructured;
use blobgate_auth::{ClaimValue, Claims, Session, SessionKeys, SessionSource};

use crate::support;

fn keys() -> &'static SessionKeys {
    static KEYS: OnceLock<SessionKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        SessionKeys::new(b"blobgate fuzz session key material, 32+ bytes").expect("long enough")
    })
}

fn session(u: &mut Unstructured<'_>) -> arbitrary::Result<Session> {
    let mut claims = Claims::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let name = support::unicode_upto(u, 8)?;
        let value = if u.arbitrary()? {
            ClaimValue::Text(support::unicode_upto(u, 12)?)
        } else {
            ClaimValue::List(
                (0..u.int_in_range(0..=3)?)
                    .map(|_| support::unicode_upto(u, 6))
                    .collect::<Result<_, _>>()?,
            )
        };
        claims.insert(name, value);
    }
    let source = if u.arbitrary()? {
        SessionSource::WebIdentity {
            issuer: support::unicode_upto(u, 16)?,
        }
    } else {
        SessionSource::AccessKey(support::unicode_upto(u, 16)?)
    };
    let policy = if u.arbitrary()? {
        Some(support::unicode_upto(u, 64)?)
    } else {
        None
    };
    Ok(Session::new(
        support::unicode_upto(u, 16)?,
        support::string_from(u, b"0123456789", 12)?,
        support::unicode_upto(u, 16)?,
        source,
        claims,
        policy,
        support::sign_time() + Duration::from_secs(u.int_in_range(1..=43_200)?),
    ))
}

pub fn run(data: &[u8]) {
    if data.first().is_some_and(|b| b & 1 == 1) {
        let token = String::from_utf8_lossy(&data[1..]);
        assert!(
            keys().open(&token, UNIX_EPOCH).is_err(),
            "a forged token opened"
        );
        return;
    }
    let mut u = Unstructured::new(data.get(1..).unwrap_or_default());
    let Ok(session) = session(&mut u) else {
        return;
    };
    let token = keys().seal(&session);
    let opened = keys()
        .open(&token, support::sign_time())
        .expect("a token this key sealed");
    assert!(
        opened == session,
        "the session changed on the way through its token"
    );
    assert!(
        keys().open(&token, session.expiry()).is_err(),
        "opened at its expiry"
    );

    let Ok(position) = u.choose_index(token.len()) else {
        return;
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let Ok(&replacement) = u.choose(alphabet) else {
        return;
    };
    let mut changed = token.into_bytes();
    if changed[position] == replacement {
        return;
    }
    changed[position] = replacement;
    let changed = String::from_utf8(changed).expect("ascii");
    assert!(
        keys().open(&changed, support::sign_time()).is_err(),
        "a changed token opened"
    );
}

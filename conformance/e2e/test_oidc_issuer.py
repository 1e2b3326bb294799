"""The test issuer's authorization-code flow (oidc_issuer.py) on its own, with
no gateway: what the web console's browser tests rely on it for.

Over real HTTP with `requests`, redirects never followed: discovery, the
redirect with a code, the token exchange with PKCE (id_token checked against
the published JWKS), single-use codes, exact redirect URIs, the refresh
grant, the login form, and CORS for a single-page app on another origin.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from oidc_issuer import OidcIssuer, pkce_challenge

CLIENT = "console"
REDIRECT = "http://127.0.0.1:9/-/console/callback"
CONSOLE_ORIGIN = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def issuer():
    iss = OidcIssuer(path="/realms/console").start()
    iss.register_client(CLIENT, [REDIRECT])
    yield iss
    iss.stop()


@pytest.fixture(autouse=True)
def _defaults(issuer):
    issuer.login_user = {"sub": "alice", "groups": ["statisticians"], "email": "alice@example.org"}
    issuer.login_form = False
    issuer.allowed_origins = None
    yield


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(issuer: OidcIssuer, token: str) -> dict:
    """The claims of a JWT whose signature checks out against the issuer's JWKS."""
    head_b64, body_b64, sig_b64 = token.split(".")
    head = json.loads(_b64decode(head_b64))
    jwks = requests.get(issuer.discovery()["jwks_uri"], timeout=5).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == head["kid"])
    signing_input = f"{head_b64}.{body_b64}".encode()
    sig = _b64decode(sig_b64)
    number = lambda b64: int.from_bytes(_b64decode(b64), "big")  # noqa: E731
    if jwk["kty"] == "RSA":
        key = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
        key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        key = ec.EllipticCurvePublicNumbers(number(jwk["x"]), number(jwk["y"]), ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return json.loads(_b64decode(body_b64))


def authorize(issuer: OidcIssuer, verifier: str, redirect_uri: str = REDIRECT, **extra) -> requests.Response:
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": redirect_uri,
              "scope": "openid profile groups", "state": "st-1", "code_challenge": pkce_challenge(verifier),
              "code_challenge_method": "S256", "nonce": "n-1", **extra}  # fmt: skip
    return requests.get(f"{issuer.issuer}/auth", params=params, allow_redirects=False, timeout=5)


def redirect_query(r: requests.Response) -> dict[str, str]:
    assert r.status_code == 302, r.text
    loc = r.headers["Location"]
    assert loc.startswith(REDIRECT + "?"), loc
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def code_of(issuer: OidcIssuer, verifier: str) -> str:
    q = redirect_query(authorize(issuer, verifier))
    assert q["state"] == "st-1"
    return q["code"]


def redeem(issuer: OidcIssuer, code: str, verifier: str, redirect_uri: str = REDIRECT, **headers) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": CLIENT, "code_verifier": verifier}  # fmt: skip
    return requests.post(f"{issuer.issuer}/token", data=form, headers=headers, timeout=5)


def test_discovery_names_the_code_flow(issuer):
    doc = requests.get(f"{issuer.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert doc["authorization_endpoint"] == f"{issuer.issuer}/auth"
    assert doc["token_endpoint"] == f"{issuer.issuer}/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "code" in doc["response_types_supported"]
    assert set(doc["grant_types_supported"]) >= {"authorization_code", "refresh_token"}
    assert "openid" in doc["scopes_supported"]


def test_code_flow_with_pkce(issuer):
    verifier = secrets.token_urlsafe(48)
    before = issuer.token_requests()
    r = redeem(issuer, code_of(issuer, verifier), verifier)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == issuer.id_token_lifetime
    assert body["scope"] == "openid profile groups" and body["refresh_token"] and body["access_token"]
    claims = verified_claims(issuer, body["id_token"])
    assert claims["iss"] == issuer.issuer and claims["sub"] == "alice" and claims["aud"] == CLIENT
    assert claims["nonce"] == "n-1" and claims["groups"] == ["statisticians"]
    assert claims["email"] == "alice@example.org"
    assert claims["exp"] - claims["iat"] == issuer.id_token_lifetime
    assert verified_claims(issuer, body["access_token"])["sub"] == "alice"
    assert issuer.token_requests() == before + 1


def test_pkce_mismatch_refused(issuer):
    verifier = secrets.token_urlsafe(48)
    code = code_of(issuer, verifier)
    r = redeem(issuer, code, secrets.token_urlsafe(48))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # A failed redemption spends the code as well.
    assert redeem(issuer, code, verifier).json()["error"] == "invalid_grant"


def test_authorize_requires_s256(issuer):
    verifier = secrets.token_urlsafe(48)
    for extra in ({"code_challenge_method": "plain"}, {"code_challenge": ""}):
        q = redirect_query(authorize(issuer, verifier, **extra))
        assert q["error"] == "invalid_request" and q["state"] == "st-1" and "code" not in q


def test_code_is_single_use(issuer):
    verifier = secrets.token_urlsafe(48)
    code = code_of(issuer, verifier)
    first = redeem(issuer, code, verifier)
    assert first.status_code == 200
    again = redeem(issuer, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # The replay revokes what the code led to (RFC 6749, 4.1.2).
    refresh = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"], "client_id": CLIENT}
    assert requests.post(f"{issuer.issuer}/token", data=refresh, timeout=5).json()["error"] == "invalid_grant"


def test_code_expires(issuer, monkeypatch):
    verifier = secrets.token_urlsafe(48)
    monkeypatch.setattr(issuer, "code_lifetime", -1.0)
    code = code_of(issuer, verifier)
    r = redeem(issuer, code, verifier)
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant", "error_description": "the code has expired"}


def test_wrong_redirect_uri_refused(issuer):
    verifier = secrets.token_urlsafe(48)
    # At /auth: an error page, never a redirect to the unregistered URI.
    for uri in ("http://127.0.0.1:9/-/console/callback/", "http://127.0.0.1:10/-/console/callback",
                "http://evil.example/-/console/callback"):  # fmt: skip
        r = authorize(issuer, verifier, redirect_uri=uri)
        assert r.status_code == 400 and "Location" not in r.headers
        assert "not registered" in r.text
    r = requests.get(f"{issuer.issuer}/auth", params={"client_id": "nobody", "redirect_uri": REDIRECT},
                     allow_redirects=False, timeout=5)  # fmt: skip
    assert r.status_code == 400 and "Location" not in r.headers
    # At /token: the code is bound to the URI of its authorization request.
    code = code_of(issuer, verifier)
    r = redeem(issuer, code, verifier, redirect_uri=REDIRECT + "x")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_no_user_is_access_denied(issuer):
    issuer.login_user = None
    q = redirect_query(authorize(issuer, secrets.token_urlsafe(48)))
    assert q == {"error": "access_denied", "error_description": "the user did not sign in", "state": "st-1"}


def test_refresh_grant(issuer):
    verifier = secrets.token_urlsafe(48)
    first = redeem(issuer, code_of(issuer, verifier), verifier).json()
    issuer.login_user = {"sub": "mallory"}  # who signs in next does not matter to a refresh
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": CLIENT}
    r = requests.post(f"{issuer.issuer}/token", data=form, timeout=5)
    assert r.status_code == 200, r.text
    fresh = r.json()
    claims = verified_claims(issuer, fresh["id_token"])
    assert claims["sub"] == "alice" and claims["aud"] == CLIENT and claims["groups"] == ["statisticians"]
    assert fresh["id_token"] != first["id_token"] and fresh["refresh_token"] != first["refresh_token"]
    # Rotated: the old refresh token is spent, the new one works.
    assert requests.post(f"{issuer.issuer}/token", data=form, timeout=5).json()["error"] == "invalid_grant"
    form["refresh_token"] = fresh["refresh_token"]
    assert requests.post(f"{issuer.issuer}/token", data={**form, "client_id": "other"}, timeout=5).json()["error"] == "invalid_client"
    assert requests.post(f"{issuer.issuer}/token", data=form, timeout=5).status_code == 200
    bad = requests.post(f"{issuer.issuer}/token", data={"grant_type": "password"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"


def test_login_form(issuer):
    issuer.login_form = True
    issuer.users["bob"] = {"sub": "bob", "groups": ["visitors"]}
    verifier = secrets.token_urlsafe(48)
    page = authorize(issuer, verifier)
    assert page.status_code == 200 and 'name="username"' in page.text and "Sign in" in page.text
    assert f'action="{issuer.issuer}/auth"' in page.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    assert hidden["code_challenge"] == pkce_challenge(verifier) and hidden["state"] == "st-1"
    r = requests.post(f"{issuer.issuer}/auth", data={**hidden, "username": "bob"}, allow_redirects=False, timeout=5)
    claims = verified_claims(issuer, redeem(issuer, redirect_query(r)["code"], verifier).json()["id_token"])
    assert claims["sub"] == "bob" and claims["groups"] == ["visitors"]
    r = requests.post(f"{issuer.issuer}/auth", data={**hidden, "username": "carol"}, allow_redirects=False, timeout=5)
    assert verified_claims(issuer, redeem(issuer, redirect_query(r)["code"], verifier).json()["id_token"])["sub"] == "carol"
    r = requests.post(f"{issuer.issuer}/auth", data={**hidden, "cancel": "1"}, allow_redirects=False, timeout=5)
    assert redirect_query(r)["error"] == "access_denied"


def test_cors(issuer):
    preflight = {"Origin": CONSOLE_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    for path in ("/token", "/.well-known/openid-configuration", "/protocol/openid-connect/certs"):
        r = requests.options(f"{issuer.issuer}{path}", headers=preflight, timeout=5)
        assert r.status_code == 204, path
        assert r.headers["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert r.headers["Access-Control-Allow-Headers"] == "Content-Type"
    doc = requests.get(f"{issuer.issuer}/.well-known/openid-configuration", headers={"Origin": CONSOLE_ORIGIN}, timeout=5)
    assert doc.headers["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
    verifier = secrets.token_urlsafe(48)
    r = redeem(issuer, code_of(issuer, verifier), verifier, Origin=CONSOLE_ORIGIN)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
    err = redeem(issuer, "nope", verifier, Origin=CONSOLE_ORIGIN)
    assert err.status_code == 400 and err.headers["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
    # Another origin gets no CORS grant; a listed one does.
    r = requests.options(f"{issuer.issuer}/token", headers={**preflight, "Origin": "http://evil.example"}, timeout=5)
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    issuer.allowed_origins = ["http://localhost:8080"]
    r = requests.options(f"{issuer.issuer}/token", headers={**preflight, "Origin": "http://localhost:8080"}, timeout=5)
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    r = requests.options(f"{issuer.issuer}/token", headers=preflight, timeout=5)
    assert "Access-Control-Allow-Origin" not in r.headers
    # Preflights are not JWKS fetches.
    assert issuer.jwks_fetches() == sum(1 for m, p in issuer.calls if m == "GET" and p.endswith("/certs"))

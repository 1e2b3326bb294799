"""A real OpenID Connect issuer on loopback, for the STS tests.

It serves what a gateway reads from Entra ID, Dex, Keycloak or an AKS
cluster's issuer: the discovery document at
`ISSUER/.well-known/openid-configuration` and the JWKS its `jwks_uri` names,
over real HTTP on 127.0.0.1, and signs tokens (RS256 or ES256) with keys it
publishes. Tests rotate its keys, sign with keys it does not publish, forge
tokens (`alg: none`, HS256 keyed with the public key), count the requests
the gateway makes, and stop and restart it on the same port to play an
unreachable issuer.

For the web console it is also the authorization server a browser signs in
at: the authorization-code flow with PKCE (S256 only) for public clients
registered with register_client(), at ISSUER/auth (signing in `login_user` at
once, or showing a user-name form when `login_form` is set) and ISSUER/token
(authorization_code and refresh_token grants, RFC 6749 errors), with CORS on
the token endpoint, the discovery document and the JWKS for a single-page app
served from another origin.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n: int, length: int | None = None) -> bytes:
    length = length or (n.bit_length() + 7) // 8
    return n.to_bytes(length, "big")


class SigningKey:
    """One key pair of the issuer, with its JWK."""

    def __init__(self, alg: str = "RS256", kid: str | None = None):
        self.alg = alg
        self.kid = kid or uuid.uuid4().hex[:12]
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(alg)

    def jwk(self) -> dict:
        pub = self.private.public_key()
        if self.alg == "RS256":
            n = pub.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64url(_int_bytes(n.n)), "e": b64url(_int_bytes(n.e))}  # fmt: skip
        n = pub.public_numbers()
        return {"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": b64url(_int_bytes(n.x, 32)), "y": b64url(_int_bytes(n.y, 32))}  # fmt: skip

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "RS256":
            return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return _int_bytes(r, 32) + _int_bytes(s, 32)


# A PKCE verifier: 43 to 128 unreserved characters (RFC 7636, 4.1); an S256
# challenge is the base64url SHA-256 of one, 43 characters.
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
LOOPBACK_ORIGIN = re.compile(r"http://127\.0\.0\.1:[0-9]{1,5}")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclasses.dataclass
class _Grant:
    """What an authorization code, and later its refresh tokens, stand for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    user: dict  # the id_token's claims of the user who signed in (with "sub")
    auth_time: int
    expires: float  # of the code (time.monotonic())
    family: str  # one id per code, shared by the refresh tokens it led to


class _OAuthError(Exception):
    """An RFC 6749 error answer of the token endpoint."""

    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def compact(header: dict, claims: dict, sign) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


class OidcIssuer:
    """An issuer at http://127.0.0.1:PORT/realms/stats (start() to serve)."""

    def __init__(self, path: str = "/realms/stats"):
        self.path = path
        self.port = 0
        # An RSA key (the default for tokens) and an EC key, both published.
        self.keys: list[SigningKey] = [SigningKey("RS256"), SigningKey("ES256")]
        self.published: list[SigningKey] = list(self.keys)
        self.requests: list[str] = []  # the path (with query) of every GET
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        # -- the authorization-code flow (tests set these freely)
        self.clients: dict[str, list[str]] = {}  # client_id -> redirect URIs (register_client)
        # Who signs in at ISSUER/auth: the id_token's claims of that user ("sub"
        # and any others, e.g. "groups"); None answers access_denied.
        self.login_user: dict | None = {"sub": "alice"}
        # Show a user-name form at ISSUER/auth instead; the user named there
        # gets the claims users[name] (default {"sub": name}).
        self.login_form: bool = False
        self.users: dict[str, dict] = {}
        self.id_token_lifetime: int = 300  # s; also the access token's and expires_in
        self.code_lifetime: float = 60.0  # s
        self.rotate_refresh_tokens: bool = True  # a used refresh token is spent
        # Origins the token endpoint, discovery and JWKS answer CORS requests
        # of; None: any http://127.0.0.1:PORT.
        self.allowed_origins: list[str] | None = None
        self._codes: dict[str, _Grant] = {}
        self._spent_codes: dict[str, str] = {}  # code -> its family
        self._refresh_tokens: dict[str, _Grant] = {}
        self._token_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # -- serving

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def name(self) -> str:
        """The issuer as policies name it (no scheme)."""
        return self.issuer.removeprefix("http://")

    def discovery(self) -> dict:
        """The document at ISSUER/.well-known/openid-configuration."""
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs",
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce",
                                 "azp", "name", "email", "groups"],  # fmt: skip
        }

    def start(self) -> "OidcIssuer":
        issuer = self
        discovery_path = f"{self.path}/.well-known/openid-configuration"
        jwks_path = f"{self.path}/protocol/openid-connect/certs"
        auth_path = f"{self.path}/auth"
        token_path = f"{self.path}/token"
        cors_paths = (discovery_path, jwks_path, token_path)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str | None = None,
                      headers: dict[str, str] | None = None) -> None:  # fmt: skip
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(body).encode(), "application/json", headers)

            def _cors(self) -> dict[str, str]:
                origin = self.headers.get("Origin")
                out = {"Vary": "Origin"}
                if origin and issuer.origin_allowed(origin):
                    out.update({"Access-Control-Allow-Origin": origin,
                                "Access-Control-Allow-Methods": "GET, POST",
                                "Access-Control-Allow-Headers": "Content-Type"})  # fmt: skip
                return out

            def _answer(self, answer: tuple[int, bytes, str | None, dict[str, str]]) -> None:
                self._send(*answer)

            def do_GET(self):
                path = urlsplit(self.path).path
                with issuer._lock:
                    issuer.requests.append(self.path)
                    issuer.calls.append(("GET", self.path))
                if path == discovery_path:
                    self._json(200, issuer.discovery(), self._cors())
                elif path == jwks_path:
                    self._json(200, {"keys": [k.jwk() for k in issuer.published]}, self._cors())
                elif path == auth_path:
                    self._answer(issuer._authorize(parse_qs(urlsplit(self.path).query, keep_blank_values=True), False))
                else:
                    self.send_error(404)

            def do_POST(self):
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                with issuer._lock:
                    issuer.calls.append(("POST", self.path))
                form_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if path == token_path:
                    with issuer._lock:
                        issuer._token_requests += 1
                    headers = {**self._cors(), "Cache-Control": "no-store", "Pragma": "no-cache"}
                    try:
                        if form_type != "application/x-www-form-urlencoded":
                            raise _OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
                        self._json(200, issuer._token(parse_qs(body, keep_blank_values=True)), headers)
                    except _OAuthError as e:
                        self._json(400, {"error": e.error, "error_description": e.description}, headers)
                elif path == auth_path:
                    if form_type != "application/x-www-form-urlencoded":
                        self._answer(issuer._error_page("the sign-in form must be posted as a form"))
                    else:
                        self._answer(issuer._authorize(parse_qs(body, keep_blank_values=True), True))
                else:
                    self.send_error(404)

            def do_OPTIONS(self):  # CORS preflight
                path = urlsplit(self.path).path
                with issuer._lock:
                    issuer.calls.append(("OPTIONS", self.path))
                if path not in cors_paths:
                    self.send_error(404)
                    return
                headers = self._cors()
                if "Access-Control-Allow-Origin" not in headers:
                    self._send(403, b"", None, headers)
                    return
                self._send(204, b"", None, {**headers, "Access-Control-Max-Age": "600"})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def jwks_fetches(self) -> int:
        with self._lock:
            return sum(1 for p in self.requests if urlsplit(p).path.endswith("/certs"))

    def token_requests(self) -> int:
        """POSTs to the token endpoint so far (answered with tokens or errors)."""
        with self._lock:
            return self._token_requests

    # -- the authorization-code flow

    def register_client(self, client_id: str, redirect_uris: list[str]) -> None:
        """A public client (no secret; PKCE instead) and the redirect URIs it
        may use, matched exactly. Registering again replaces the URIs."""
        with self._lock:
            self.clients[client_id] = list(redirect_uris)

    def origin_allowed(self, origin: str) -> bool:
        """Whether CORS answers name `origin` (see allowed_origins)."""
        if self.allowed_origins is not None:
            return origin in self.allowed_origins
        return LOOPBACK_ORIGIN.fullmatch(origin) is not None

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far stops working (a sign-out at the
        directory, or a session the directory ended)."""
        with self._lock:
            self._refresh_tokens.clear()

    def _error_page(self, message: str) -> tuple[int, bytes, str, dict[str, str]]:
        """A 400 page for what must not be sent back to a redirect URI."""
        page = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title>'
                f'</head><body><main><h1>Sign-in error</h1><p id="error">{html.escape(message)}</p>'
                "</main></body></html>")  # fmt: skip
        return 400, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"}

    def _login_page(self, params: dict[str, str]) -> tuple[int, bytes, str, dict[str, str]]:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if k not in ("username", "cancel"))  # fmt: skip
        page = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>'
                f'<body><main><h1>Sign in</h1><form method="post" action="{html.escape(self.issuer)}/auth">'
                f'{hidden}<p><label for="username">User name</label> '
                '<input id="username" name="username" type="text" autocomplete="username" required autofocus></p>'
                '<p><button type="submit" id="sign-in">Sign in</button> '
                '<button type="submit" id="cancel" name="cancel" value="1" formnovalidate>Cancel</button></p>'
                "</form></main></body></html>")  # fmt: skip
        return 200, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"}

    def _authorize(self, query: dict[str, list[str]], posted: bool) -> tuple[int, bytes, str | None, dict[str, str]]:
        """GET ISSUER/auth (and POST, the login form's answer): an answer
        (status, body, content type, headers)."""
        repeated = [k for k, v in query.items() if len(v) > 1]
        if repeated:
            return self._error_page(f"parameter {repeated[0]} given more than once")
        params = {k: v[0] for k, v in query.items()}
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        with self._lock:
            uris = self.clients.get(client_id)
        if uris is None:
            return self._error_page(f"unknown client_id {client_id!r}")
        if redirect_uri not in uris:
            return self._error_page(f"redirect_uri {redirect_uri!r} is not registered for {client_id!r}")

        def back(**answer: str) -> tuple[int, bytes, None, dict[str, str]]:
            if "state" in params:
                answer["state"] = params["state"]
            sep = "&" if "?" in redirect_uri else "?"
            return 302, b"", None, {"Location": f"{redirect_uri}{sep}{urlencode(answer)}", "Cache-Control": "no-store"}

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="only response_type=code")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not PKCE_CHALLENGE.fullmatch(challenge):
            return back(error="invalid_request", error_description="PKCE with code_challenge_method=S256 is required")
        scope = params.get("scope", "")
        if "openid" not in scope.split():
            return back(error="invalid_scope", error_description="the scope must include openid")

        if posted:
            username = params.get("username", "").strip()
            if params.get("cancel") or not username:
                return back(error="access_denied", error_description="the user did not sign in")
            with self._lock:
                user = dict(self.users.get(username) or {"sub": username})
            user.setdefault("sub", username)
        elif self.login_form:
            return self._login_page(params)
        else:
            user = dict(self.login_user) if self.login_user is not None else None
            if user is None:
                return back(error="access_denied", error_description="the user did not sign in")
            user.setdefault("sub", "alice")

        code = secrets.token_urlsafe(32)
        grant = _Grant(client_id=client_id, redirect_uri=redirect_uri, code_challenge=challenge,
                       nonce=params.get("nonce") or None, scope=scope, user=user, auth_time=int(time.time()),
                       expires=time.monotonic() + self.code_lifetime, family=uuid.uuid4().hex)  # fmt: skip
        with self._lock:
            self._codes[code] = grant
        return back(code=code)

    def _token(self, query: dict[str, list[str]]) -> dict:
        """POST ISSUER/token: the token response, or _OAuthError."""
        repeated = [k for k, v in query.items() if len(v) > 1]
        if repeated:
            raise _OAuthError("invalid_request", f"parameter {repeated[0]} given more than once")
        form = {k: v[0] for k, v in query.items()}

        def need(*names: str) -> list[str]:
            missing = [n for n in names if not form.get(n)]
            if missing:
                raise _OAuthError("invalid_request", f"missing {', '.join(missing)}")
            return [form[n] for n in names]

        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code, redirect_uri, client_id, verifier = need("code", "redirect_uri", "client_id", "code_verifier")
            self._known_client(client_id)
            with self._lock:
                # Single use, whatever the outcome: a failed redemption spends it too.
                grant = self._codes.pop(code, None)
                if grant is None:
                    family = self._spent_codes.get(code)
                    if family is not None:  # RFC 6749, 4.1.2: revoke what the code led to
                        for token in [t for t, g in self._refresh_tokens.items() if g.family == family]:
                            del self._refresh_tokens[token]
                else:
                    self._spent_codes[code] = grant.family
            if grant is None:
                raise _OAuthError("invalid_grant", "the code is unknown or was used already")
            if time.monotonic() > grant.expires:
                raise _OAuthError("invalid_grant", "the code has expired")
            if grant.client_id != client_id:
                raise _OAuthError("invalid_grant", "the code was issued to another client")
            if grant.redirect_uri != redirect_uri:
                raise _OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
            if not PKCE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
                pkce_challenge(verifier), grant.code_challenge
            ):
                raise _OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
            return self._issue(grant)
        if grant_type == "refresh_token":
            refresh_token, client_id = need("refresh_token", "client_id")
            self._known_client(client_id)
            with self._lock:
                grant = self._refresh_tokens.get(refresh_token)
                if grant is not None and grant.client_id == client_id and self.rotate_refresh_tokens:
                    del self._refresh_tokens[refresh_token]
            if grant is None:
                raise _OAuthError("invalid_grant", "the refresh token is unknown, spent or revoked")
            if grant.client_id != client_id:
                raise _OAuthError("invalid_grant", "the refresh token was issued to another client")
            return self._issue(grant)
        if not grant_type:
            raise _OAuthError("invalid_request", "missing grant_type")
        raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _known_client(self, client_id: str) -> None:
        with self._lock:
            if client_id not in self.clients:
                raise _OAuthError("invalid_client", f"unknown client_id {client_id!r}")

    def _issue(self, grant: _Grant) -> dict:
        """Fresh tokens for the user of a grant: the id_token and the access
        token are JWTs of the current key, the refresh token is opaque."""
        user = dict(grant.user)
        sub = user.pop("sub")
        aud = user.pop("aud", grant.client_id)
        extra = {"auth_time": grant.auth_time, "azp": grant.client_id, **user}
        nonce = {"nonce": grant.nonce} if grant.nonce else {}  # kept on refresh (OIDC Core 12.2)
        id_token = self.token(sub=sub, aud=aud, lifetime=self.id_token_lifetime, **{**extra, **nonce})
        access_token = self.token(header={"typ": "at+jwt"}, sub=sub, aud=aud, lifetime=self.id_token_lifetime,
                                  **{**extra, "scope": grant.scope, "client_id": grant.client_id})  # fmt: skip
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[refresh_token] = grant
        return {"access_token": access_token, "id_token": id_token, "token_type": "Bearer",
                "expires_in": self.id_token_lifetime, "refresh_token": refresh_token, "scope": grant.scope}  # fmt: skip

    # -- keys

    def key(self, alg: str) -> SigningKey:
        """The newest key of algorithm `alg`."""
        return next(k for k in self.keys if k.alg == alg)

    def rotate(self, alg: str = "RS256", drop_old: bool = False) -> SigningKey:
        """A new signing key, published (with the old ones unless drop_old)."""
        key = SigningKey(alg)
        self.keys.insert(0, key)
        self.published = [key] + ([] if drop_old else self.published)
        return key

    # -- tokens

    def claims(self, sub: str = "alice", aud="blobgate", lifetime: int = 300, **extra) -> dict:
        now = int(time.time())
        out = {"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now,
               "exp": now + lifetime, "jti": uuid.uuid4().hex}  # fmt: skip
        out.update(extra)
        return out

    def token(self, key: SigningKey | None = None, header: dict | None = None, **claims) -> str:
        """A token signed with `key` (default: the current key)."""
        key = key or self.keys[0]
        head = {"alg": key.alg, "typ": "JWT", "kid": key.kid, **(header or {})}
        return compact(head, self.claims(**claims), key.sign)

    def unsigned_token(self, **claims) -> str:
        """`alg: none`, no signature: must never be accepted."""
        head = {"alg": "none", "typ": "JWT"}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(self.claims(**claims)).encode())}"
        return signing_input + "."

    def hs256_with_public_key(self, **claims) -> str:
        """The key-confusion forgery: HS256 keyed with the published RSA key."""
        key = self.keys[0]
        secret = key.public_pem()
        head = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        return compact(head, self.claims(**claims),
                       lambda m: hmac.new(secret, m, hashlib.sha256).digest())  # fmt: skip

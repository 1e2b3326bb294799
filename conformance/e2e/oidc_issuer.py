"""A real OpenID Connect issuer on loopback, for the STS tests.

It serves what a gateway reads from Entra ID, Dex, Keycloak or an AKS
cluster's issuer: the discovery document at
`ISSUER/.well-known/openid-configuration` and the JWKS its `jwks_uri` names,
over real HTTP on 127.0.0.1, and signs tokens (RS256 or ES256) with keys it
publishes. Tests rotate its keys, sign with keys it does not publish, forge
tokens (`alg: none`, HS256 keyed with the public key), count the requests
the gateway makes, and stop and restart it on the same port to play an
unreachable issuer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
        self.requests: list[str] = []
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

    def start(self) -> "OidcIssuer":
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with issuer._lock:
                    issuer.requests.append(self.path)
                if self.path == f"{issuer.path}/.well-known/openid-configuration":
                    body = {"issuer": issuer.issuer, "jwks_uri": f"{issuer.issuer}/protocol/openid-connect/certs",
                            "authorization_endpoint": f"{issuer.issuer}/auth",
                            "token_endpoint": f"{issuer.issuer}/token",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}  # fmt: skip
                elif self.path == f"{issuer.path}/protocol/openid-connect/certs":
                    body = {"keys": [k.jwk() for k in issuer.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
            return sum(1 for p in self.requests if p.endswith("/certs"))

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

// "Sign in with <provider>": the OAuth 2.0 authorization code flow with
// PKCE (RFC 7636) for a public client, then AssumeRoleWithWebIdentity with
// the ID token for the configured role. The browser talks to the issuer
// itself (discovery and token endpoints need CORS for this origin, as for
// any single-page application); the gateway only sees the ID token, through
// STS, where it is verified like any other.
//
// The return path after sign-in is this page's own address with a hash
// route checked to be one (no open redirect); state and nonce bind the
// answer to the request that started it.

import { assumeRoleWithWebIdentity, S3Error } from "./s3.js";

const PENDING = "blobgate.console.oidc";

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri() {
  return `${location.origin}${location.pathname}`;
}

async function discover(config) {
  let response;
  try {
    response = await fetch(`${config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, { credentials: "omit" });
  } catch (e) {
    throw new S3Error("IssuerUnreachable", e.message, 0);
  }
  if (!response.ok) throw new S3Error("IssuerUnreachable", `HTTP ${response.status}`, response.status);
  const discovery = await response.json();
  // The document must be the configured issuer's own (OpenID Connect Discovery 1.0, section 4.3).
  if (discovery.issuer !== config.issuer || !discovery.authorization_endpoint || !discovery.token_endpoint) {
    throw new S3Error("IssuerRefused", "the issuer's discovery document does not name this issuer", 0);
  }
  return discovery;
}

/** Go to the issuer's sign-in page. */
export async function begin(config) {
  const discovery = await discover(config);
  const verifier = random();
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = random();
  const nonce = random();
  const returnTo = /^#\/[^\s]*$/.test(location.hash) ? location.hash : "#/";
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, nonce, returnTo, tokenEndpoint: discovery.token_endpoint }));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scopes,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

function claimsOf(idToken) {
  const part = idToken.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

function sessionName(claims) {
  const name = String(claims.preferred_username || claims.email || claims.sub || "console");
  return name.replace(/[^\w+=,.@-]/g, "-").slice(0, 64).padEnd(2, "-");
}

async function tokens(endpoint, form) {
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
      credentials: "omit",
    });
  } catch (e) {
    throw new S3Error("IssuerUnreachable", e.message, 0);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token) {
    throw new S3Error("IssuerRefused", body.error_description || body.error || `HTTP ${response.status}`, response.status);
  }
  return body;
}

async function assume(config, body, tokenEndpoint, previousRefreshToken = null) {
  const claims = claimsOf(body.id_token);
  const creds = await assumeRoleWithWebIdentity(config.roleArn, body.id_token, sessionName(claims));
  return {
    ...creds,
    identity: creds.arn,
    kind: "oidc",
    // Issuers that do not rotate refresh tokens send none with a refresh.
    refreshToken: body.refresh_token || previousRefreshToken,
    tokenEndpoint,
    nonce: claims.nonce,
  };
}

/**
 * Finish a sign-in this page was sent back to: null when the address is
 * not an authorization response; the new session otherwise.
 */
export async function complete(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("state") || !(params.has("code") || params.has("error"))) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  const returnTo = pending && /^#\/[^\s]*$/.test(pending.returnTo) ? pending.returnTo : "#/";
  history.replaceState(null, "", `${location.pathname}${returnTo}`);
  if (!pending || params.get("state") !== pending.state) {
    throw new S3Error("StateMismatch", "", 0);
  }
  if (params.has("error")) {
    throw new S3Error("IssuerRefused", params.get("error_description") || params.get("error"), 0);
  }
  const body = await tokens(pending.tokenEndpoint, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    client_id: config.clientId,
    code_verifier: pending.verifier,
  });
  if (claimsOf(body.id_token).nonce !== pending.nonce) throw new S3Error("StateMismatch", "nonce", 0);
  return assume(config, body, pending.tokenEndpoint);
}

/** New credentials for an OIDC session, from its refresh token. */
export async function renew(config, session) {
  const body = await tokens(session.tokenEndpoint, {
    grant_type: "refresh_token",
    refresh_token: session.refreshToken,
    client_id: config.clientId,
  });
  return assume(config, body, session.tokenEndpoint, session.refreshToken);
}

// Who is signed in: the credentials every request is signed with.
//
// They live in this tab only: in memory, and in sessionStorage so that a
// reload keeps the user signed in (never localStorage, never a URL or a
// cookie). Sign-out clears them; so does their expiry, unless a renewal
// (OIDC sessions: the refresh token, then AssumeRoleWithWebIdentity again)
// replaces them first.

const KEY = "blobgate.console.session";
const RENEW_BEFORE_MS = 5 * 60 * 1000;

let current = null;
let expiryTimer = null;
let renewTimer = null;
const listeners = [];

/**
 * A session: {accessKeyId, secretAccessKey, sessionToken?, expiration?
 * (ISO), identity (ARN shown to the user), kind: "keys" | "oidc",
 * refreshToken?}.
 */
export function credentials() {
  if (!current) throw new Error("not signed in");
  return current;
}

export function signedIn() {
  return current !== null;
}

export function onChange(fn) {
  listeners.push(fn);
}

let renewer = null;

/** How OIDC sessions renew (set by oidc.js): async (session) => new session. */
export function setRenewer(fn) {
  renewer = fn;
}

// setTimeout takes at most 2^31 - 1 ms.
const MAX_DELAY = 2 ** 31 - 1;
const RETRY_MS = 30 * 1000;
// Bumped whenever the session is replaced or ended: a renewal that was in
// flight then is dropped (a sign-out is never undone by it).
let generation = 0;

function schedule() {
  clearTimeout(expiryTimer);
  clearTimeout(renewTimer);
  if (!current || !current.expiration) return;
  const left = new Date(current.expiration).getTime() - Date.now();
  if (left <= 0) {
    end("expired");
    return;
  }
  expiryTimer = setTimeout(() => end("expired"), Math.min(left, MAX_DELAY));
  if (current.refreshToken && renewer) {
    const mine = generation;
    const attempt = async () => {
      try {
        const next = await renewer(current);
        if (mine === generation) replace(next);
      } catch (e) {
        console.warn("session renewal failed; retrying", e.code || e.message);
        // Tried again until the credentials end.
        if (mine === generation && remainingMs() > RETRY_MS) renewTimer = setTimeout(attempt, RETRY_MS);
      }
    };
    renewTimer = setTimeout(attempt, Math.min(Math.max(0, left - RENEW_BEFORE_MS), MAX_DELAY));
  }
}

function persist(session) {
  current = session;
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function start(session) {
  generation += 1;
  persist(session);
  schedule();
  for (const fn of listeners) fn("signed-in");
}

/** Renewed credentials of the same session (nothing on screen changes). */
function replace(session) {
  generation += 1;
  persist(session);
  schedule();
  for (const fn of listeners) fn("renewed");
}

/** End the session (sign-out, expiry): the credentials are forgotten. */
export function end(reason = "signed-out") {
  generation += 1;
  current = null;
  sessionStorage.removeItem(KEY);
  clearTimeout(expiryTimer);
  clearTimeout(renewTimer);
  for (const fn of listeners) fn(reason);
}

/** The session of this tab before a reload, if it has not expired. */
export function restore() {
  const saved = sessionStorage.getItem(KEY);
  if (!saved) return false;
  try {
    const session = JSON.parse(saved);
    if (session.expiration && new Date(session.expiration).getTime() <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return false;
    }
    current = session;
    schedule();
    return true;
  } catch {
    sessionStorage.removeItem(KEY);
    return false;
  }
}

/** Milliseconds the credentials have left (Infinity for keys). */
export function remainingMs() {
  if (!current || !current.expiration) return Infinity;
  return new Date(current.expiration).getTime() - Date.now();
}

export const session = { credentials };

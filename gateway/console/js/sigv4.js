// AWS Signature Version 4 in the browser, for the S3 and STS requests the
// console sends with the signed-in user's credentials (WebCrypto: the page
// must be a secure context, https or loopback).
//
// Rules: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
// (canonical request, string to sign, signing key) and, for presigned URLs,
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html

const encoder = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of a string or bytes. */
export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key, message) {
  const k = await crypto.subtle.importKey(
    "raw",
    typeof key === "string" ? encoder.encode(key) : key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", k, encoder.encode(message));
}

/** URI-encode as SigV4 does: every byte but A-Z a-z 0-9 - _ . ~ (and "/" when asked). */
export function uriEncode(text, keepSlash = false) {
  let out = "";
  for (const byte of encoder.encode(text)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === "/")) {
      out += c;
    } else {
      out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}

/** The canonical query string of [name, value] pairs. */
export function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** 20260102T030405Z and 20260102 for a Date. */
export function amzDate(date) {
  const iso = date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  return { stamp: iso, day: iso.slice(0, 8) };
}

async function signature(secret, day, region, service, stringToSign) {
  let key = await hmac("AWS4" + secret, day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  return hex(await hmac(key, stringToSign));
}

/**
 * Sign a request: returns the headers to send (x-amz-date, the payload hash,
 * the session token and Authorization) in addition to `headers`.
 *
 * `path` is the canonical URI (already URI-encoded), `query` a list of
 * [name, value] pairs, `headers` lower-case names to values (host included),
 * `payloadHash` the body's hex SHA-256 or "UNSIGNED-PAYLOAD".
 */
export async function signHeaders({ method, path, query = [], headers, payloadHash, credentials, region, service = "s3", now = new Date() }) {
  const { stamp, day } = amzDate(now);
  const all = { ...headers, "x-amz-date": stamp };
  if (service === "s3") all["x-amz-content-sha256"] = payloadHash;
  if (credentials.sessionToken) all["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, " ")}\n`).join("");
  const signed = names.join(";");
  const canonical = [method, path, canonicalQuery(query), canonicalHeaders, signed, payloadHash].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256Hex(canonical)].join("\n");
  const sig = await signature(credentials.secretAccessKey, day, region, service, toSign);
  const out = { ...all };
  delete out.host;
  out.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
  return out;
}

/** A presigned URL's query string (host the only signed header). */
export async function presignQuery({ method, path, query = [], host, credentials, region, expiresSeconds, now = new Date() }) {
  const { stamp, day } = amzDate(now);
  const scope = `${day}/${region}/s3/aws4_request`;
  const pairs = [
    ...query,
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", stamp],
    ["X-Amz-Expires", String(expiresSeconds)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  if (credentials.sessionToken) pairs.push(["X-Amz-Security-Token", credentials.sessionToken]);
  const canonical = [method, path, canonicalQuery(pairs), `host:${host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256Hex(canonical)].join("\n");
  const sig = await signature(credentials.secretAccessKey, day, region, "s3", toSign);
  return `${canonicalQuery(pairs)}&X-Amz-Signature=${sig}`;
}

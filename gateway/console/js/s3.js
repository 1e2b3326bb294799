// The S3 and STS requests the console makes, each signed with the signed-in
// user's credentials (sigv4.js) and sent to this gateway's own origin: the
// console has no endpoint of its own, so every action meets the same
// authentication and policies as any other client.
//
// Behind a reverse proxy that strips a path prefix (an Istio VirtualService,
// say), requests go to the prefix while the signature covers the path the
// gateway sees. Operations and their XML:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html

import { presignQuery, sha256Hex, signHeaders, uriEncode } from "./sigv4.js";
import { readSelect } from "./eventstream.js";

const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";

/** What the gateway said went wrong: its code, message and HTTP status. */
export class S3Error extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

/** The path prefix in front of /-/console/ (empty when served at the root). */
export function basePath() {
  const path = location.pathname;
  const at = path.lastIndexOf("/-/console/");
  return at > 0 ? path.slice(0, at) : "";
}

/** The canonical (signed) path of a bucket and key. */
export function objectPath(bucket, key) {
  if (!bucket) return "/";
  return key === undefined || key === null ? `/${uriEncode(bucket)}` : `/${uriEncode(bucket)}/${uriEncode(key, true)}`;
}

function xmlText(node, name) {
  const el = node.getElementsByTagName(name)[0];
  return el ? el.textContent : null;
}

async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  const doc = text ? new DOMParser().parseFromString(text, "application/xml") : null;
  const byStatus = { 403: "AccessDenied", 404: "NoSuchKey", 412: "PreconditionFailed", 503: "SlowDown" };
  const code = (doc && xmlText(doc, "Code")) || byStatus[response.status] || `HTTP${response.status}`;
  const message = (doc && xmlText(doc, "Message")) || response.statusText;
  return new S3Error(code, message, response.status);
}

export class S3Client {
  /** `session` yields {accessKeyId, secretAccessKey, sessionToken?}; `region` is the gateway's. */
  constructor(session, region) {
    this.session = session;
    this.region = region;
    this.base = basePath();
  }

  url(path, queryString) {
    return `${location.origin}${this.base}${path}${queryString ? `?${queryString}` : ""}`;
  }

  /** Signed headers and URL for a request (for fetch or XMLHttpRequest). */
  async signed(method, bucket, key, { query = [], headers = {}, payloadHash = "UNSIGNED-PAYLOAD" } = {}) {
    const path = objectPath(bucket, key);
    const signedHeaders = await signHeaders({
      method,
      path,
      query,
      headers: { ...headers, host: location.host },
      payloadHash,
      credentials: this.session.credentials(),
      region: this.region,
    });
    const qs = query.map(([k, v]) => (v === "" ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`)).join("&");
    return { url: this.url(path, qs), headers: signedHeaders };
  }

  async send(method, bucket, key, { query = [], headers = {}, body, signal } = {}) {
    const payloadHash = body === undefined ? await sha256Hex("") : await sha256Hex(body);
    const req = await this.signed(method, bucket, key, { query, headers, payloadHash });
    let response;
    try {
      response = await fetch(req.url, { method, headers: req.headers, body, signal, cache: "no-store", credentials: "omit" });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new S3Error("NetworkError", e.message, 0);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async xml(method, bucket, key, options) {
    const response = await this.send(method, bucket, key, options);
    const text = await response.text();
    const doc = new DOMParser().parseFromString(text, "application/xml");
    // A document the browser cannot parse must fail, never read as empty.
    if (doc.getElementsByTagName("parsererror").length) {
      throw new S3Error("MalformedResponse", "the gateway's answer is not XML the browser can read", response.status);
    }
    return doc;
  }

  // -- buckets

  async listBuckets() {
    const doc = await this.xml("GET", null, null);
    return Array.from(doc.getElementsByTagName("Bucket"), (b) => ({
      name: xmlText(b, "Name"),
      created: new Date(xmlText(b, "CreationDate")),
    }));
  }

  async createBucket(name) {
    await this.send("PUT", name, null);
  }

  async deleteBucket(name) {
    await this.send("DELETE", name, null);
  }

  async getBucketPolicy(bucket) {
    try {
      return await (await this.send("GET", bucket, null, { query: [["policy", ""]] })).text();
    } catch (e) {
      if (e.code === "NoSuchBucketPolicy") return null;
      throw e;
    }
  }

  async putBucketPolicy(bucket, text) {
    await this.send("PUT", bucket, null, { query: [["policy", ""]], body: text, headers: { "content-type": "application/json" } });
  }

  async deleteBucketPolicy(bucket) {
    await this.send("DELETE", bucket, null, { query: [["policy", ""]] });
  }

  // -- objects

  /** One page of a delimiter listing: {folders, objects, next}. */
  async listPage(bucket, prefix, { token, maxKeys = 500, delimiter = "/", signal } = {}) {
    // URL-encoded keys: a key with control characters would otherwise be
    // XML that browsers refuse.
    const query = [["list-type", "2"], ["prefix", prefix], ["max-keys", String(maxKeys)], ["encoding-type", "url"]];
    if (delimiter) query.push(["delimiter", delimiter]);
    if (token) query.push(["continuation-token", token]);
    const doc = await this.xml("GET", bucket, null, { query, signal });
    const decode = (text) => decodeURIComponent(text.replace(/\+/g, "%20"));
    const folders = Array.from(doc.getElementsByTagName("CommonPrefixes"), (p) => decode(xmlText(p, "Prefix")));
    const objects = Array.from(doc.getElementsByTagName("Contents"), (c) => ({
      key: decode(xmlText(c, "Key")),
      size: Number(xmlText(c, "Size")),
      modified: new Date(xmlText(c, "LastModified")),
      etag: xmlText(c, "ETag"),
    }));
    const truncated = xmlText(doc, "IsTruncated") === "true";
    return { folders, objects, next: truncated ? xmlText(doc, "NextContinuationToken") : null };
  }

  async headObject(bucket, key) {
    const response = await this.send("HEAD", bucket, key, { headers: { "x-amz-checksum-mode": "ENABLED" } });
    return response.headers;
  }

  /** The first `bytes` bytes of an object. */
  async readStart(bucket, key, bytes) {
    const response = await this.send("GET", bucket, key, { headers: { range: `bytes=0-${bytes - 1}` } });
    return response.arrayBuffer();
  }

  async putEmpty(bucket, key) {
    await this.send("PUT", bucket, key, { body: "" });
  }

  async deleteObject(bucket, key) {
    await this.send("DELETE", bucket, key);
  }

  /** DeleteObjects for up to 1000 keys; returns the keys that failed, with their errors. */
  async deleteObjects(bucket, keys) {
    const doc = document.implementation.createDocument(S3_NS, "Delete", null);
    const quiet = doc.createElementNS(S3_NS, "Quiet");
    quiet.textContent = "true";
    doc.documentElement.appendChild(quiet);
    for (const key of keys) {
      const object = doc.createElementNS(S3_NS, "Object");
      const k = doc.createElementNS(S3_NS, "Key");
      k.textContent = key;
      object.appendChild(k);
      doc.documentElement.appendChild(object);
    }
    const body = new XMLSerializer().serializeToString(doc);
    const result = await this.xml("POST", bucket, null, { query: [["delete", ""]], body, headers: { "content-type": "application/xml" } });
    return Array.from(result.getElementsByTagName("Error"), (e) => ({
      key: xmlText(e, "Key"),
      code: xmlText(e, "Code"),
      message: xmlText(e, "Message"),
    }));
  }

  /** A presigned GET URL valid for `seconds`, with optional response-* overrides. */
  async presignGet(bucket, key, seconds, overrides = {}) {
    const path = objectPath(bucket, key);
    const query = Object.entries(overrides);
    const qs = await presignQuery({
      method: "GET",
      path,
      query,
      host: location.host,
      credentials: this.session.credentials(),
      region: this.region,
      expiresSeconds: seconds,
    });
    return this.url(path, qs);
  }

  // -- S3 Select

  /**
   * Run `sql` on an object. `input` is {format: "CSV"|"JSON"|"Parquet",
   * header, delimiter, jsonType, compression}; `output` "JSON" or "CSV".
   * Calls onRecords(Uint8Array) per Records event (return false to stop).
   */
  async select(bucket, key, sql, input, output, onRecords, signal) {
    const doc = document.implementation.createDocument(S3_NS, "SelectObjectContentRequest", null);
    const root = doc.documentElement;
    const add = (parent, name, text) => {
      const el = doc.createElementNS(S3_NS, name);
      if (text !== undefined) el.textContent = text;
      parent.appendChild(el);
      return el;
    };
    add(root, "Expression", sql);
    add(root, "ExpressionType", "SQL");
    const ser = add(root, "InputSerialization");
    if (input.format === "CSV") {
      const csv = add(ser, "CSV");
      add(csv, "FileHeaderInfo", input.header || "USE");
      add(csv, "FieldDelimiter", input.delimiter || ",");
    } else if (input.format === "JSON") {
      add(add(ser, "JSON"), "Type", input.jsonType || "LINES");
    } else {
      add(ser, "Parquet");
    }
    if (input.format !== "Parquet") add(ser, "CompressionType", input.compression || "NONE");
    const out = add(root, "OutputSerialization");
    if (output === "CSV") add(out, "CSV");
    else add(add(out, "JSON"), "RecordDelimiter", "\n");
    const body = new XMLSerializer().serializeToString(doc);
    const response = await this.send("POST", bucket, key, {
      query: [["select", ""], ["select-type", "2"]],
      body,
      headers: { "content-type": "application/xml" },
      signal,
    });
    return readSelect(response.body, onRecords);
  }

  // -- multipart (the upload manager sends the parts with XMLHttpRequest, for progress)

  async createMultipartUpload(bucket, key, contentType) {
    const doc = await this.xml("POST", bucket, key, { query: [["uploads", ""]], headers: contentType ? { "content-type": contentType } : {} });
    return xmlText(doc, "UploadId");
  }

  async completeMultipartUpload(bucket, key, uploadId, parts) {
    const doc = document.implementation.createDocument(S3_NS, "CompleteMultipartUpload", null);
    for (const part of parts) {
      const p = doc.createElementNS(S3_NS, "Part");
      const n = doc.createElementNS(S3_NS, "PartNumber");
      n.textContent = String(part.number);
      const e = doc.createElementNS(S3_NS, "ETag");
      e.textContent = part.etag;
      p.append(n, e);
      doc.documentElement.appendChild(p);
    }
    const body = new XMLSerializer().serializeToString(doc);
    const result = await this.xml("POST", bucket, key, { query: [["uploadId", uploadId]], body, headers: { "content-type": "application/xml" } });
    // CompleteMultipartUpload may answer 200 with an Error document.
    if (result.documentElement.nodeName === "Error") {
      throw new S3Error(xmlText(result, "Code"), xmlText(result, "Message"), 200);
    }
  }

  async abortMultipartUpload(bucket, key, uploadId) {
    await this.send("DELETE", bucket, key, { query: [["uploadId", uploadId]] });
  }
}

// -- STS (same origin, the query API addressed to the root)

function stsError(doc, status) {
  return new S3Error(xmlText(doc, "Code") || `HTTP${status}`, xmlText(doc, "Message") || "", status);
}

function credentialsFrom(doc) {
  return {
    accessKeyId: xmlText(doc, "AccessKeyId"),
    secretAccessKey: xmlText(doc, "SecretAccessKey"),
    sessionToken: xmlText(doc, "SessionToken"),
    expiration: xmlText(doc, "Expiration"),
    arn: xmlText(doc, "Arn"),
  };
}

async function stsPost(form, headers = {}) {
  let response;
  try {
    response = await fetch(`${location.origin}${basePath()}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", ...headers },
      body: form,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new S3Error("NetworkError", e.message, 0);
  }
  const doc = new DOMParser().parseFromString(await response.text(), "application/xml");
  if (!response.ok) throw stsError(doc, response.status);
  return doc;
}

/** AssumeRoleWithWebIdentity: temporary credentials for an ID token. */
export async function assumeRoleWithWebIdentity(roleArn, token, sessionName) {
  const form = new URLSearchParams({
    Action: "AssumeRoleWithWebIdentity",
    Version: "2011-06-15",
    RoleArn: roleArn,
    RoleSessionName: sessionName,
    WebIdentityToken: token,
  }).toString();
  return credentialsFrom(await stsPost(form));
}

/** GetCallerIdentity, signed: proves a key pair and names its owner. */
export async function getCallerIdentity(credentials, region) {
  const form = "Action=GetCallerIdentity&Version=2011-06-15";
  const headers = await signHeaders({
    method: "POST",
    path: "/",
    headers: { host: location.host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    payloadHash: await sha256Hex(form),
    credentials,
    region,
    service: "sts",
  });
  const doc = await stsPost(form, headers);
  return { arn: xmlText(doc, "Arn"), account: xmlText(doc, "Account"), userId: xmlText(doc, "UserId") };
}

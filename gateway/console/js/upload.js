// Uploads from the browser: files and folders, each file streamed from disk
// (Blob.slice is lazy; XMLHttpRequest reads the slice as it sends, so a
// 2 GiB file is never held in memory) with progress per file and overall.
//
// Up to SINGLE_PUT_LIMIT a file is one PutObject; beyond, a multipart upload
// with parts sent PARTS_IN_FLIGHT at a time (part size grows so a file fits
// S3's 10,000 parts). Cancel aborts the requests in flight and the multipart
// upload, so no parts are left behind. Payloads are sent UNSIGNED-PAYLOAD
// (S3's rule for bodies the signer does not hash), over the same SigV4.

const MiB = 1024 * 1024;
export const SINGLE_PUT_LIMIT = 16 * MiB;
const MIN_PART = 8 * MiB;
const MAX_PARTS = 10000;
const PARTS_IN_FLIGHT = 4;
const FILES_IN_FLIGHT = 2;

function partSize(size) {
  return Math.max(MIN_PART, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/** Send `blob` with XMLHttpRequest (progress events), resolving with the ETag. */
function sendXhr(request, blob, onProgress, register) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", request.url);
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(blob.size);
        resolve(xhr.getResponseHeader("ETag"));
      } else {
        const doc = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
        const code = doc.getElementsByTagName("Code")[0]?.textContent || `HTTP${xhr.status}`;
        const message = doc.getElementsByTagName("Message")[0]?.textContent || "";
        reject(Object.assign(new Error(message || code), { code, status: xhr.status }));
      }
    };
    xhr.onerror = () => reject(Object.assign(new Error("network"), { code: "NetworkError" }));
    xhr.onabort = () => reject(Object.assign(new Error("cancelled"), { code: "Cancelled" }));
    register(xhr);
    xhr.send(blob);
  });
}

/**
 * One file to upload: {file, key}. State: "queued" | "sending" | "done" |
 * "failed" | "cancelled"; `loaded` bytes sent; `error` when failed.
 */
class Transfer {
  constructor(manager, file, bucket, key) {
    this.manager = manager;
    this.file = file;
    this.bucket = bucket;
    this.key = key;
    this.state = "queued";
    this.loaded = 0;
    this.error = null;
    this.requests = new Set();
    this.uploadId = null;
  }

  get size() {
    return this.file.size;
  }

  cancel() {
    if (this.state === "done" || this.state === "failed" || this.state === "cancelled") return;
    const wasSending = this.state === "sending";
    this.state = "cancelled";
    this.stop();
    if (!wasSending) this.manager.changed(this);
  }

  /** Abort every request in flight. */
  stop() {
    for (const xhr of this.requests) xhr.abort();
  }

  /** Throws when the transfer was cancelled while a request was being prepared. */
  check() {
    if (this.state !== "sending") throw Object.assign(new Error("cancelled"), { code: "Cancelled" });
  }

  async run() {
    const s3 = this.manager.s3;
    this.state = "sending";
    this.manager.changed(this);
    const type = this.file.type || "application/octet-stream";
    try {
      if (this.file.size <= SINGLE_PUT_LIMIT) {
        const req = await s3.signed("PUT", this.bucket, this.key, { headers: { "content-type": type } });
        this.check();
        await sendXhr(req, this.file, (n) => this.progress(n), (x) => this.track(x));
      } else {
        await this.multipart(type);
      }
      if (this.state === "cancelled") throw Object.assign(new Error("cancelled"), { code: "Cancelled" });
      this.state = "done";
    } catch (e) {
      if (this.uploadId) {
        // Once no part is in flight (multipart() waits for them); retried once.
        const abort = () => s3.abortMultipartUpload(this.bucket, this.key, this.uploadId);
        await abort().catch(() => abort()).catch(() => {});
        this.uploadId = null;
      }
      if (this.state === "cancelled" || e.code === "Cancelled") {
        this.state = "cancelled";
      } else {
        this.state = "failed";
        this.error = e;
      }
    }
    this.manager.changed(this);
  }

  track(xhr) {
    this.requests.add(xhr);
    xhr.addEventListener("loadend", () => this.requests.delete(xhr));
  }

  progress(loaded) {
    this.loaded = loaded;
    this.manager.changed(this);
  }

  async multipart(type) {
    const s3 = this.manager.s3;
    const size = partSize(this.file.size);
    const count = Math.ceil(this.file.size / size);
    this.uploadId = await s3.createMultipartUpload(this.bucket, this.key, type);
    this.check();
    const sent = new Array(count).fill(0);
    const etags = new Array(count);
    let next = 0;
    let failure = null;
    const worker = async () => {
      while (next < count && this.state === "sending" && !failure) {
        const index = next++;
        const blob = this.file.slice(index * size, Math.min(this.file.size, (index + 1) * size));
        const req = await s3.signed("PUT", this.bucket, this.key, {
          query: [["partNumber", String(index + 1)], ["uploadId", this.uploadId]],
        });
        this.check();
        if (failure) return;
        etags[index] = await sendXhr(
          req,
          blob,
          (n) => {
            sent[index] = n;
            this.progress(sent.reduce((a, b) => a + b, 0));
          },
          (x) => this.track(x),
        );
      }
    };
    // One part failing stops the others; all have settled before the upload
    // is completed or aborted, so no part lands after an abort.
    const guarded = () =>
      worker().catch((e) => {
        failure = failure || e;
        this.stop();
      });
    await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, guarded));
    this.check();
    if (failure) throw failure;
    await s3.completeMultipartUpload(
      this.bucket,
      this.key,
      this.uploadId,
      etags.map((etag, i) => ({ number: i + 1, etag })),
    );
    this.uploadId = null;
  }
}

export class UploadManager {
  /** `onChange(manager)` is called whenever a transfer's state or progress moves. */
  constructor(s3, onChange) {
    this.s3 = s3;
    this.onChange = onChange;
    this.transfers = [];
    this.running = 0;
    this.pending = false;
  }

  /** Queue files: [{file, key}] into `bucket`. */
  add(bucket, items) {
    for (const { file, key } of items) this.transfers.push(new Transfer(this, file, bucket, key));
    this.pump();
    this.changed();
  }

  pump() {
    while (this.running < FILES_IN_FLIGHT) {
      const next = this.transfers.find((t) => t.state === "queued");
      if (!next) return;
      this.running += 1;
      next.run().finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  cancelAll() {
    for (const t of this.transfers) t.cancel();
  }

  /** Resolves once no transfer is running (their aborts sent). */
  async idle() {
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  clearFinished() {
    this.transfers = this.transfers.filter((t) => t.state === "queued" || t.state === "sending");
    this.changed();
  }

  totals() {
    const size = this.transfers.reduce((a, t) => a + t.size, 0);
    const loaded = this.transfers.reduce((a, t) => a + (t.state === "done" ? t.size : t.loaded), 0);
    const active = this.transfers.some((t) => t.state === "queued" || t.state === "sending");
    return { size, loaded, active };
  }

  changed() {
    // Coalesced into one redraw per frame.
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.onChange(this);
    });
  }
}

/** Files of a drop, folders walked (webkitGetAsEntry), with their relative paths. */
export async function droppedFiles(dataTransfer) {
  const entries = Array.from(dataTransfer.items || [])
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (!entries.length) return Array.from(dataTransfer.files, (file) => ({ file, path: file.name }));
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return out;
}

// The console's screens: buckets, a folder (browse, filter, sort, upload,
// delete), an object (details, preview, share, download, S3 Select) and a
// bucket's policy. Each view draws into <main> from S3 answers; what the
// user may not do is shown as the gateway's AccessDenied, politely, and
// nothing else about it.

import { h, replace } from "./dom.js";
import { formatDate, formatNumber, formatSize, t } from "./i18n.js";
import * as session from "./session.js";
import { droppedFiles, UploadManager } from "./upload.js";

// The first page is small, to be on screen at once; the next ones larger,
// for fewer requests while scrolling.
const FIRST_PAGE = 100;
const PAGE_SIZE = 1000;
const DELETE_BATCH = 1000;
const PREVIEW_ROWS = 20;
const QUERY_ROW_LIMIT = 1000;
const TEXT_PREVIEW_BYTES = 64 * 1024;
const MAX_SHARE_SECONDS = 7 * 24 * 3600;

let uploads = null;

/**
 * Before the credentials go (sign-out): cancel every upload and wait for
 * their multipart uploads to be aborted, so nothing is left behind and no
 * file of this user is sent with the next user's credentials.
 */
export async function endUploads() {
  if (!uploads) return;
  const manager = uploads;
  uploads = null;
  manager.cancelAll();
  await manager.idle();
}

// -- shared pieces

/** A failure in the user's words (with the gateway's code). */
export function describeError(err) {
  const known = {
    AccessDenied: "error.accessDenied",
    NoSuchBucket: "error.noSuchBucket",
    NoSuchKey: "error.noSuchKey",
    BucketNotEmpty: "error.bucketNotEmpty",
    BucketAlreadyOwnedByYou: "error.bucketExists",
    BucketAlreadyExists: "error.bucketExists",
    InvalidBucketName: "error.invalidBucketName",
    MalformedPolicy: "error.malformedPolicy",
    NetworkError: "error.network",
    ExpiredToken: "error.expired",
    InvalidToken: "error.expired",
    SlowDown: "error.slowDown",
    Cancelled: "upload.cancelled",
  };
  const key = known[err.code];
  const text = key ? t(key) : t("error.generic");
  const detail = err.message && err.message !== err.code ? ` ${err.message}` : "";
  return `${text} (${err.code || "Error"}${err.code === "AccessDenied" ? "" : detail ? ":" + detail : ""})`;
}

function errorBox(err) {
  if (err.code === "ExpiredToken" || err.code === "InvalidToken") {
    setTimeout(() => session.end("expired"), 0);
  }
  return h("p", { class: "error", role: "alert" }, describeError(err));
}

let announceTimer = null;

function announce(text) {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    status.textContent = "";
  }, 6000);
}

function title(text) {
  document.title = `${text} · blobgate`;
}

function hashFor(kind, bucket, path = "") {
  const rest = path ? "/" + path.split("/").map(encodeURIComponent).join("/") : "";
  return `#/${kind}/${encodeURIComponent(bucket)}${rest}`;
}

function breadcrumbs(bucket, path) {
  const items = [h("li", {}, h("a", { href: "#/" }, t("nav.buckets")))];
  items.push(h("li", {}, h("a", { href: hashFor("b", bucket) }, bucket)));
  let at = "";
  const parts = path.split("/");
  parts.forEach((part, i) => {
    if (!part) return;
    const last = i === parts.length - 1 || (i === parts.length - 2 && parts[parts.length - 1] === "");
    at += part + (i < parts.length - 1 ? "/" : "");
    const folder = i < parts.length - 1;
    items.push(
      h("li", {}, last ? h("span", { "aria-current": "page" }, part) : h("a", { href: hashFor(folder ? "b" : "o", bucket, at) }, part)),
    );
  });
  return h("nav", { "aria-label": t("nav.breadcrumbs"), class: "breadcrumbs" }, h("ol", {}, items));
}

/** A modal question; resolves true when confirmed. */
function confirmDialog(message, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, message),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close("no") }, t("action.cancel")),
        h("button", { type: "button", class: "danger", id: "confirm-yes", onclick: () => dialog.close("yes") }, confirmLabel),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

function table(caption, headers, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows),
    ),
  );
}

// -- buckets

async function bucketsView(main, { s3 }) {
  title(t("buckets.title"));
  const list = h("div", { "aria-busy": "true" }, t("app.loading"));
  const createError = h("div");
  const create = h(
    "form",
    {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const name = e.target.elements.bucketName.value.trim();
        try {
          await s3.createBucket(name);
          announce(t("buckets.created", { name }));
          location.hash = hashFor("b", name);
        } catch (err) {
          replace(createError, errorBox(err));
        }
      },
    },
    h("label", { for: "bucketName" }, t("buckets.newName")),
    h("input", { id: "bucketName", name: "bucketName", required: true, pattern: "[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]", spellcheck: "false" }),
    h("button", { type: "submit" }, t("buckets.create")),
  );
  const open = h(
    "form",
    {
      class: "inline",
      onsubmit: (e) => {
        e.preventDefault();
        const path = e.target.elements.openPath.value.trim().replace(/^s3:\/\//, "").replace(/^\/+/, "");
        const [bucket, ...rest] = path.split("/");
        if (bucket) location.hash = hashFor("b", bucket, rest.join("/"));
      },
    },
    h("label", { for: "openPath" }, t("buckets.open")),
    h("input", { id: "openPath", name: "openPath", placeholder: "bucket/prefix/", spellcheck: "false" }),
    h("button", { type: "submit", class: "secondary" }, t("buckets.go")),
  );
  replace(main, h("h1", {}, t("buckets.title")), h("div", { class: "toolbar" }, create, open), createError, list);
  main.focus();
  try {
    const buckets = await s3.listBuckets();
    if (!buckets.length) {
      replace(list, h("p", {}, t("buckets.none")));
      return;
    }
    const rows = buckets.map((b) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: hashFor("b", b.name) }, b.name)),
        h("td", {}, formatDate(b.created)),
        h(
          "td",
          { class: "row-actions" },
          h("a", { href: hashFor("p", b.name) }, t("buckets.policy")),
          h(
            "button",
            {
              type: "button",
              class: "link danger",
              "aria-label": t("buckets.deleteNamed", { name: b.name }),
              onclick: async () => {
                if (!(await confirmDialog(t("buckets.confirmDelete", { name: b.name }), t("action.delete")))) return;
                try {
                  await s3.deleteBucket(b.name);
                  announce(t("buckets.deleted", { name: b.name }));
                  bucketsView(main, { s3 });
                } catch (err) {
                  replace(createError, errorBox(err));
                }
              },
            },
            t("action.delete"),
          ),
        ),
      ),
    );
    replace(list, table(t("buckets.title"), [t("col.name"), t("col.created"), t("col.actions")], rows));
    list.removeAttribute("aria-busy");
  } catch (err) {
    replace(list, errorBox(err), err.code === "AccessDenied" ? h("p", {}, t("buckets.openHint")) : null);
    list.removeAttribute("aria-busy");
  }
}

// -- browse a folder

function uploadPanel(s3) {
  if (!uploads) {
    uploads = new UploadManager(s3, drawUploads);
  }
  let panel = document.getElementById("uploads");
  if (!panel) {
    panel = h("section", { id: "uploads", class: "uploads", "aria-label": t("upload.title"), hidden: true });
  }
  return panel;
}

// Rows are built once per transfer and updated in place, so that buttons
// under the pointer and the screen reader's position survive progress.
const uploadRows = new WeakMap();

function uploadRow(tr) {
  let row = uploadRows.get(tr);
  if (!row) {
    const bar = h("progress", { max: tr.size || 1, value: 0, "aria-label": t("upload.progressOf", { name: tr.key }) });
    const stateText = h("span", { class: "transfer-state" });
    const cancel = h("button", { type: "button", class: "link", onclick: () => tr.cancel(), "aria-label": t("upload.cancelNamed", { name: tr.key }) }, t("action.cancel"));
    row = { el: h("li", { class: "transfer" }, h("span", { class: "transfer-name" }, tr.key), bar, stateText, cancel), bar, stateText, cancel };
    uploadRows.set(tr, row);
  }
  row.el.className = `transfer ${tr.state}`;
  row.bar.value = tr.state === "done" ? tr.size || 1 : tr.loaded;
  row.stateText.textContent = tr.state === "failed" ? describeError(tr.error) : t(`upload.state.${tr.state}`, { size: formatSize(tr.size) });
  row.cancel.hidden = !(tr.state === "queued" || tr.state === "sending");
  return row.el;
}

function drawUploads(manager) {
  const panel = document.getElementById("uploads");
  if (!panel) return;
  if (!manager.transfers.length) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  if (!panel.firstChild) {
    panel.overall = h("progress", { id: "upload-overall", max: 100, value: 0, "aria-label": t("upload.overall") });
    panel.summary = h("span", { id: "upload-summary" });
    panel.cancelAll = h("button", { type: "button", class: "secondary", id: "upload-cancel-all", onclick: () => uploads.cancelAll() }, t("upload.cancelAll"));
    panel.clear = h("button", { type: "button", class: "secondary", id: "upload-clear", onclick: () => uploads.clearFinished() }, t("upload.clear"));
    panel.list = h("ul");
    replace(panel, h("div", { class: "uploads-head" }, h("h2", {}, t("upload.title")), panel.overall, panel.summary, panel.cancelAll, panel.clear), panel.list);
  }
  const totals = manager.totals();
  const percent = totals.size ? Math.floor((totals.loaded / totals.size) * 100) : 100;
  panel.overall.value = percent;
  panel.summary.textContent = t("upload.summary", { loaded: formatSize(totals.loaded), size: formatSize(totals.size), percent });
  panel.cancelAll.hidden = !totals.active;
  panel.clear.hidden = totals.active;
  const rows = manager.transfers.map(uploadRow);
  if (rows.length !== panel.list.children.length || rows.some((r, i) => panel.list.children[i] !== r)) {
    replace(panel.list, rows);
  }
  if (!totals.active && manager.finishedHook) {
    const hook = manager.finishedHook;
    manager.finishedHook = null;
    hook();
  }
}

function sortRows(items, sort) {
  const dir = sort.dir === "asc" ? 1 : -1;
  const by = {
    name: (a, b) => a.name.localeCompare(b.name) * dir,
    size: (a, b) => ((a.size ?? -1) - (b.size ?? -1)) * dir || a.name.localeCompare(b.name),
    modified: (a, b) => ((a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0)) * dir || a.name.localeCompare(b.name),
  }[sort.key];
  const folders = items.filter((i) => i.folder);
  const objects = items.filter((i) => !i.folder);
  // S3 lists in key order: sorting by name ascending keeps that order.
  if (!(sort.key === "name" && sort.dir === "asc")) {
    folders.sort(by);
    objects.sort(by);
  }
  return [...folders, ...objects];
}

async function allKeys(s3, bucket, prefix) {
  const keys = [];
  let token = null;
  do {
    const page = await s3.listPage(bucket, prefix, { token, maxKeys: 1000, delimiter: "" });
    keys.push(...page.objects.map((o) => o.key));
    token = page.next;
  } while (token);
  return keys;
}

async function deleteKeys(s3, bucket, keys) {
  const failed = [];
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    failed.push(...(await s3.deleteObjects(bucket, keys.slice(i, i + DELETE_BATCH))));
  }
  return failed;
}

function browseView(main, { s3, bucket, prefix }) {
  title(`${bucket}/${prefix}`);
  const state = { items: [], next: null, filter: "", sort: { key: "name", dir: "asc" }, loading: false, generation: 0, selected: new Set() };
  const feedback = h("div", { class: "feedback" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", id: "load-more", hidden: true, onclick: () => loadPage() }, t("browse.loadMore"));
  const count = h("p", { class: "count", id: "item-count" });
  const listing = h("div", { class: "table-wrap" });
  const fileInput = h("input", { type: "file", multiple: true, id: "upload-files", class: "visually-hidden", onchange: (e) => queue(Array.from(e.target.files, (f) => ({ file: f, path: f.name }))) });
  const folderInput = h("input", {
    type: "file",
    multiple: true,
    webkitdirectory: true,
    id: "upload-folder",
    class: "visually-hidden",
    onchange: (e) => queue(Array.from(e.target.files, (f) => ({ file: f, path: f.webkitRelativePath || f.name }))),
  });

  function queue(files) {
    if (!files.length) return;
    const panel = uploadPanel(s3);
    if (!panel.isConnected) main.appendChild(panel);
    uploads.s3 = s3;
    uploads.finishedHook = () => reload();
    uploads.add(bucket, files.map(({ file, path }) => ({ file, key: prefix + path })));
    announce(t("upload.queued", { count: files.length }));
  }

  const headerCell = (key, label) => {
    const active = state.sort.key === key;
    return h(
      "th",
      { scope: "col", "aria-sort": active ? (state.sort.dir === "asc" ? "ascending" : "descending") : "none" },
      h(
        "button",
        {
          type: "button",
          class: "sort",
          onclick: () => {
            state.sort = { key, dir: active && state.sort.dir === "asc" ? "desc" : "asc" };
            drawTable();
          },
        },
        label,
        active ? (state.sort.dir === "asc" ? " ▲" : " ▼") : "",
      ),
    );
  };

  function drawTable() {
    const rows = sortRows(state.items, state.sort).map((item) => {
      const name = item.name.slice(prefix.length);
      const checkbox = h("input", {
        type: "checkbox",
        checked: state.selected.has(item.name),
        "aria-label": t("browse.select", { name }),
        onchange: (e) => {
          if (e.target.checked) state.selected.add(item.name);
          else state.selected.delete(item.name);
          deleteButton.disabled = state.selected.size === 0;
        },
      });
      return h(
        "tr",
        {},
        h("td", { class: "check" }, checkbox),
        h(
          "td",
          { class: "name" },
          item.folder
            ? h("a", { href: hashFor("b", bucket, item.name), class: "folder" }, name)
            : h("a", { href: hashFor("o", bucket, item.name), class: "object" }, name),
        ),
        h("td", { class: "size" }, item.folder ? "" : formatSize(item.size)),
        h("td", { class: "date" }, item.folder ? "" : formatDate(item.modified)),
      );
    });
    replace(
      listing,
      h(
        "table",
        { id: "objects" },
        h("caption", { class: "visually-hidden" }, t("browse.caption", { path: `${bucket}/${prefix}` })),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col", class: "check" }, h("span", { class: "visually-hidden" }, t("col.select"))),
            headerCell("name", t("col.name")),
            headerCell("size", t("col.size")),
            headerCell("modified", t("col.modified")),
          ),
        ),
        replace(tbody, rows),
      ),
    );
    count.textContent = state.items.length
      ? t(state.next ? "browse.countMore" : "browse.count", { count: state.items.length })
      : "";
    if (!state.items.length && !state.loading && !state.next) {
      listing.appendChild(h("p", { class: "empty" }, state.filter ? t("browse.noMatch") : t("browse.empty")));
    }
  }

  async function loadPage() {
    if (state.loading) return;
    state.loading = true;
    const generation = state.generation;
    listing.setAttribute("aria-busy", "true");
    try {
      const maxKeys = state.next ? PAGE_SIZE : FIRST_PAGE;
      const page = await s3.listPage(bucket, prefix + state.filter, { token: state.next, maxKeys });
      if (generation !== state.generation) return;
      state.items.push(...page.folders.map((p) => ({ name: p, folder: true })));
      state.items.push(...page.objects.filter((o) => o.key !== prefix).map((o) => ({ name: o.key, size: o.size, modified: o.modified })));
      state.next = page.next;
      state.loading = false;
      more.hidden = !state.next;
      drawTable();
    } catch (err) {
      if (generation === state.generation) replace(feedback, errorBox(err));
    } finally {
      if (generation === state.generation) {
        state.loading = false;
        listing.removeAttribute("aria-busy");
      }
    }
  }

  function reload() {
    state.generation += 1;
    state.items = [];
    state.next = null;
    state.loading = false;
    state.selected.clear();
    deleteButton.disabled = true;
    replace(feedback);
    loadPage();
  }

  let filterTimer = null;
  const filter = h("input", {
    id: "filter",
    type: "search",
    placeholder: t("browse.filterPlaceholder"),
    spellcheck: "false",
    oninput: (e) => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => {
        state.filter = e.target.value;
        reload();
      }, 250);
    },
  });

  const deleteButton = h(
    "button",
    {
      type: "button",
      class: "danger",
      id: "delete-selected",
      disabled: true,
      onclick: async () => {
        const chosen = Array.from(state.selected);
        try {
          announce(t("app.loading"));
          const keys = [];
          for (const name of chosen) {
            if (name.endsWith("/")) keys.push(...(await allKeys(s3, bucket, name)));
            else keys.push(name);
          }
          if (!(await confirmDialog(t("browse.confirmDelete", { count: keys.length }), t("action.delete")))) return;
          const failed = await deleteKeys(s3, bucket, keys);
          if (failed.length) {
            replace(feedback, errorBox({ code: failed[0].code, message: t("browse.deleteFailed", { count: failed.length }) }));
          } else {
            announce(t("browse.deleted", { count: keys.length }));
          }
          reload();
        } catch (err) {
          replace(feedback, errorBox(err));
        }
      },
    },
    t("browse.deleteSelected"),
  );

  const newFolder = h(
    "form",
    {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const name = e.target.elements.folderName.value.trim().replace(/^\/+|\/+$/g, "");
        if (!name) return;
        try {
          await s3.putEmpty(bucket, `${prefix}${name}/`);
          e.target.reset();
          announce(t("browse.folderCreated", { name }));
          reload();
        } catch (err) {
          replace(feedback, errorBox(err));
        }
      },
    },
    h("label", { for: "folderName" }, t("browse.newFolder")),
    h("input", { id: "folderName", name: "folderName", spellcheck: "false" }),
    h("button", { type: "submit", class: "secondary" }, t("browse.createFolder")),
  );

  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("div", { class: "inline" }, h("label", { for: "filter" }, t("browse.filter")), filter),
    h("div", { class: "inline" },
      fileInput,
      h("label", { for: "upload-files", class: "button" }, t("upload.files")),
      folderInput,
      h("label", { for: "upload-folder", class: "button secondary" }, t("upload.folder")),
      deleteButton,
      h("button", { type: "button", class: "secondary", onclick: () => reload() }, t("browse.refresh")),
    ),
    newFolder,
  );
  // Labels styled as buttons open the pickers; keyboard users press Enter or Space on them.
  for (const label of toolbar.querySelectorAll("label.button")) {
    label.tabIndex = 0;
    label.setAttribute("role", "button");
    label.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        document.getElementById(label.htmlFor).click();
      }
    });
  }

  const drop = h(
    "section",
    {
      class: "dropzone",
      "aria-label": t("browse.dropzone"),
      ondragover: (e) => {
        e.preventDefault();
        drop.classList.add("over");
      },
      ondragleave: () => drop.classList.remove("over"),
      ondrop: async (e) => {
        e.preventDefault();
        drop.classList.remove("over");
        queue(await droppedFiles(e.dataTransfer));
      },
    },
    h("p", { class: "hint" }, t("browse.dropHint")),
    listing,
    count,
    more,
  );

  const panel = uploadPanel(s3);
  replace(
    main,
    breadcrumbs(bucket, prefix),
    h("h1", {}, prefix ? prefix.replace(/\/$/, "").split("/").pop() : bucket),
    toolbar,
    feedback,
    drop,
    panel,
  );
  if (uploads) drawUploads(uploads);
  main.focus();
  drawTable();
  loadPage();
  // The next page loads when the end of the list scrolls into view.
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && state.next && !state.loading) loadPage();
  }).observe(more);
}

// -- one object

function formatOf(key) {
  const lower = key.toLowerCase().replace(/\.(gz|bz2)$/, "");
  if (lower.endsWith(".csv") || lower.endsWith(".tsv")) return "CSV";
  if (lower.endsWith(".json") || lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "JSON";
  if (lower.endsWith(".parquet")) return "Parquet";
  return null;
}

function compressionOf(key) {
  const lower = key.toLowerCase();
  return lower.endsWith(".gz") ? "GZIP" : lower.endsWith(".bz2") ? "BZIP2" : "NONE";
}

/** Run a Select with JSON output, collecting up to `limit` records. */
async function selectRecords(s3, bucket, key, sql, input, limit) {
  const decoder = new TextDecoder();
  const records = [];
  let partial = "";
  let truncated = false;
  await s3.select(bucket, key, sql, input, "JSON", (bytes) => {
    partial += decoder.decode(bytes, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop();
    for (const line of lines) {
      if (!line) continue;
      if (records.length >= limit) {
        truncated = true;
        return false;
      }
      records.push(JSON.parse(line));
    }
    return true;
  });
  partial += decoder.decode();
  if (partial.trim() && records.length < limit) records.push(JSON.parse(partial));
  return { records, truncated };
}

function recordsTable(caption, records) {
  const columns = [];
  for (const r of records) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return table(
    caption,
    columns,
    records.map((r) => h("tr", {}, columns.map((c) => h("td", {}, cell(r[c]))))),
  );
}

function defaultInput(key) {
  const format = formatOf(key) || "CSV";
  return { format, header: "USE", delimiter: ",", jsonType: key.toLowerCase().endsWith(".json") ? "DOCUMENT" : "LINES", compression: compressionOf(key) };
}

async function preview(s3, bucket, key, headers, into) {
  const type = headers.get("content-type") || "";
  const format = formatOf(key);
  try {
    if (format) {
      const { records } = await selectRecords(s3, bucket, key, `SELECT * FROM S3Object s LIMIT ${PREVIEW_ROWS}`, defaultInput(key), PREVIEW_ROWS);
      replace(into, records.length ? recordsTable(t("object.previewCaption", { count: records.length }), records) : h("p", {}, t("object.noRows")));
    } else if (type.startsWith("image/")) {
      const url = await s3.presignGet(bucket, key, 600);
      replace(into, h("img", { src: url, alt: t("object.imageAlt", { name: key.split("/").pop() }), class: "preview-image" }));
    } else if (type.startsWith("text/") || /json|xml|yaml|csv/.test(type) || /\.(txt|md|log|py|r|sql|yaml|yml|toml|ini|sh)$/i.test(key)) {
      const bytes = await s3.readStart(bucket, key, TEXT_PREVIEW_BYTES);
      replace(into, h("pre", { class: "preview-text", tabindex: "0" }, new TextDecoder().decode(bytes)));
    } else {
      replace(into, h("p", {}, t("object.noPreview")));
    }
  } catch (err) {
    replace(into, errorBox(err));
  }
}

function shareSection(s3, bucket, key) {
  const result = h("div", { class: "share-result" });
  const hours = h("input", { id: "share-hours", type: "number", min: "1", max: "168", value: "24", required: true });
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        const wanted = Math.round(Number(hours.value) * 3600);
        const left = Math.floor(session.remainingMs() / 1000);
        const seconds = Math.max(1, Math.min(wanted, MAX_SHARE_SECONDS, left - 5));
        const url = await s3.presignGet(bucket, key, seconds);
        const until = new Date(Date.now() + seconds * 1000);
        const link = h("input", { id: "share-link", readonly: true, value: url, "aria-label": t("share.link"), onfocus: (ev) => ev.target.select() });
        replace(
          result,
          link,
          h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: async () => {
                try {
                  await navigator.clipboard.writeText(url);
                  announce(t("share.copied"));
                } catch {
                  link.select();
                }
              },
            },
            t("share.copy"),
          ),
          h("p", { id: "share-until" }, t("share.until", { date: formatDate(until) })),
          seconds < wanted ? h("p", { class: "note", id: "share-capped" }, seconds >= MAX_SHARE_SECONDS ? t("share.cappedWeek") : t("share.cappedCredentials")) : null,
        );
      },
    },
    h("label", { for: "share-hours" }, t("share.hours")),
    hours,
    h("button", { type: "submit" }, t("share.create")),
  );
  return h("section", { class: "card", "aria-labelledby": "share-title" }, h("h2", { id: "share-title" }, t("share.title")), h("p", {}, t("share.explain")), form, result);
}

function querySection(s3, bucket, key) {
  const input = defaultInput(key);
  const output = h("div", { class: "query-output", "aria-live": "polite" });
  const sql = h("textarea", { id: "sql", rows: 4, spellcheck: "false" });
  sql.value = "SELECT * FROM S3Object s LIMIT 100";
  const select = (id, label, options, value) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h("select", { id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))),
    );
  const fields = h(
    "div",
    { class: "query-options" },
    select("q-format", t("query.format"), [["CSV", "CSV"], ["JSON", "JSON"], ["Parquet", "Parquet"]], input.format),
    select("q-header", t("query.header"), [["USE", t("query.header.use")], ["IGNORE", t("query.header.ignore")], ["NONE", t("query.header.none")]], input.header),
    h("div", { class: "field" }, h("label", { for: "q-delimiter" }, t("query.delimiter")), h("input", { id: "q-delimiter", value: input.delimiter, maxlength: "1", size: "2" })),
    select("q-json", t("query.jsonType"), [["LINES", t("query.json.lines")], ["DOCUMENT", t("query.json.document")]], input.jsonType),
    select("q-compression", t("query.compression"), [["NONE", t("query.compression.none")], ["GZIP", "GZIP"], ["BZIP2", "BZIP2"]], input.compression),
  );
  const current = () => ({
    format: fields.querySelector("#q-format").value,
    header: fields.querySelector("#q-header").value,
    delimiter: fields.querySelector("#q-delimiter").value || ",",
    jsonType: fields.querySelector("#q-json").value,
    compression: fields.querySelector("#q-compression").value,
  });
  const run = async (e) => {
    e.preventDefault();
    replace(output, h("p", {}, t("query.running")));
    const started = performance.now();
    try {
      const { records, truncated } = await selectRecords(s3, bucket, key, sql.value, current(), QUERY_ROW_LIMIT);
      const ms = Math.round(performance.now() - started);
      replace(
        output,
        h("p", { id: "query-summary" }, t(truncated ? "query.summaryTruncated" : "query.summary", { count: records.length, ms })),
        records.length ? recordsTable(t("query.results"), records) : null,
      );
    } catch (err) {
      replace(output, errorBox(err));
    }
  };
  const download = async () => {
    try {
      const parts = [];
      await s3.select(bucket, key, sql.value, current(), "CSV", (bytes) => {
        parts.push(bytes);
        return true;
      });
      const url = URL.createObjectURL(new Blob(parts, { type: "text/csv" }));
      const a = h("a", { href: url, download: `${key.split("/").pop()}-query.csv`, hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      replace(output, errorBox(err));
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": "query-title" },
    h("h2", { id: "query-title" }, t("query.title")),
    h(
      "form",
      { onsubmit: run },
      h("label", { for: "sql" }, t("query.sql")),
      sql,
      fields,
      h("div", { class: "actions" }, h("button", { type: "submit", id: "run-query" }, t("query.run")), h("button", { type: "button", class: "secondary", onclick: download }, t("query.downloadCsv"))),
    ),
    output,
  );
}

async function objectView(main, { s3, bucket, key }) {
  title(key.split("/").pop());
  const feedback = h("div");
  const details = h("dl", { class: "details", "aria-busy": "true" });
  const previewArea = h("div", { class: "preview" }, t("app.loading"));
  const parent = key.includes("/") ? key.slice(0, key.lastIndexOf("/") + 1) : "";
  const actions = h(
    "div",
    { class: "toolbar" },
    h(
      "button",
      {
        type: "button",
        id: "download",
        onclick: async () => {
          const name = key.split("/").pop();
          const url = await s3.presignGet(bucket, key, 300, {
            "response-content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
          });
          const a = h("a", { href: url, hidden: true });
          document.body.appendChild(a);
          a.click();
          a.remove();
        },
      },
      t("object.download"),
    ),
    h(
      "button",
      {
        type: "button",
        class: "danger",
        id: "delete-object",
        onclick: async () => {
          if (!(await confirmDialog(t("object.confirmDelete", { name: key }), t("action.delete")))) return;
          try {
            await s3.deleteObject(bucket, key);
            announce(t("browse.deleted", { count: 1 }));
            location.hash = hashFor("b", bucket, parent);
          } catch (err) {
            replace(feedback, errorBox(err));
          }
        },
      },
      t("action.delete"),
    ),
  );
  replace(
    main,
    breadcrumbs(bucket, key),
    h("h1", {}, key.split("/").pop()),
    actions,
    feedback,
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "details-title" }, h("h2", { id: "details-title" }, t("object.details")), details),
      shareSection(s3, bucket, key),
    ),
    h("section", { class: "card", "aria-labelledby": "preview-title" }, h("h2", { id: "preview-title" }, t("object.preview")), previewArea),
    formatOf(key) ? querySection(s3, bucket, key) : null,
  );
  main.focus();
  try {
    const headers = await s3.headObject(bucket, key);
    const rows = [
      [t("object.size"), `${formatSize(Number(headers.get("content-length")))} (${formatNumber(Number(headers.get("content-length")))} ${t("object.bytes")})`],
      [t("object.type"), headers.get("content-type") || ""],
      [t("object.etag"), headers.get("etag") || ""],
      [t("object.modified"), formatDate(headers.get("last-modified"))],
    ];
    for (const [name, value] of headers.entries()) {
      if (name.startsWith("x-amz-meta-")) rows.push([`${t("object.metadata")}: ${name.slice(11)}`, value]);
      if (name.startsWith("x-amz-checksum-") && name !== "x-amz-checksum-type") rows.push([`${t("object.checksum")} ${name.slice(15).toUpperCase()}`, value]);
    }
    replace(details, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    details.removeAttribute("aria-busy");
    preview(s3, bucket, key, headers, previewArea);
  } catch (err) {
    replace(details, errorBox(err));
    details.removeAttribute("aria-busy");
    replace(previewArea);
  }
}

// -- bucket policy

async function policyView(main, { s3, bucket }) {
  title(t("policy.title", { bucket }));
  const feedback = h("div");
  const text = h("textarea", { id: "policy", rows: 18, spellcheck: "false" });
  const form = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await s3.putBucketPolicy(bucket, text.value);
          replace(feedback, h("p", { class: "ok", role: "status" }, t("policy.saved")));
        } catch (err) {
          replace(feedback, errorBox(err));
        }
      },
    },
    h("label", { for: "policy" }, t("policy.label")),
    text,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", id: "save-policy" }, t("policy.save")),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!(await confirmDialog(t("policy.confirmDelete", { bucket }), t("action.delete")))) return;
            try {
              await s3.deleteBucketPolicy(bucket);
              text.value = "";
              replace(feedback, h("p", { class: "ok", role: "status" }, t("policy.deleted")));
            } catch (err) {
              replace(feedback, errorBox(err));
            }
          },
        },
        t("policy.delete"),
      ),
    ),
  );
  replace(main, breadcrumbs(bucket, ""), h("h1", {}, t("policy.title", { bucket })), feedback, form);
  main.focus();
  try {
    const policy = await s3.getBucketPolicy(bucket);
    if (policy === null) {
      replace(feedback, h("p", {}, t("policy.none")));
    } else {
      try {
        text.value = JSON.stringify(JSON.parse(policy), null, 2);
      } catch {
        text.value = policy;
      }
    }
  } catch (err) {
    replace(feedback, errorBox(err));
  }
}

export const views = { buckets: bucketsView, browse: browseView, object: objectView, policy: policyView };

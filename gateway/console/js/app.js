// The console's entry point: loads the messages and the gateway's console
// settings (config.json), restores or completes a sign-in, draws the frame
// (header, language, sign-out) and routes the hash (#/ buckets,
// #/b/BUCKET/PREFIX a folder, #/o/BUCKET/KEY an object, #/p/BUCKET a
// bucket's policy) to the views.

import { h, replace } from "./dom.js";
import { init as initI18n, LANGUAGES, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import * as session from "./session.js";
import * as oidc from "./oidc.js";
import { getCallerIdentity, S3Client } from "./s3.js";
import { describeError, endUploads, views } from "./views.js";

const state = { config: null, s3: null, signInError: null };

function header() {
  const nav = session.signedIn()
    ? [
        h("a", { href: "#/", class: "nav-link" }, t("nav.buckets")),
        h("span", { class: "identity", title: session.credentials().identity }, session.credentials().identity),
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            id: "sign-out",
            onclick: async () => {
              await endUploads();
              session.end("signed-out");
            },
          },
          t("nav.signOut"),
        ),
      ]
    : [];
  const select = h(
    "select",
    { id: "language", onchange: (e) => setLanguage(e.target.value) },
    Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, selected: code === language(), lang: code }, name)),
  );
  return h(
    "header",
    { class: "top" },
    h("a", { href: "#/", class: "brand" }, h("img", { src: "icon.svg", alt: "", width: 24, height: 24 }), "blobgate"),
    h("nav", { "aria-label": t("nav.label") }, nav),
    h("div", { class: "language" }, h("label", { for: "language" }, t("nav.language")), select),
  );
}

function signInView(main) {
  const error = state.signInError;
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: async (e) => {
        e.preventDefault();
        const data = new FormData(e.target);
        const credentials = {
          accessKeyId: String(data.get("accessKeyId")).trim(),
          secretAccessKey: String(data.get("secretAccessKey")),
        };
        const button = e.target.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const who = await getCallerIdentity(credentials, state.config.region);
          state.signInError = null;
          session.start({ ...credentials, identity: who.arn, kind: "keys" });
        } catch (err) {
          state.signInError = signInMessage(err);
          state.lastAccessKey = credentials.accessKeyId;
          render();
        }
      },
    },
    h("h1", {}, t("signin.title")),
    error ? h("p", { class: "error", role: "alert", id: "signin-error" }, error) : null,
    h("label", { for: "accessKeyId" }, t("signin.accessKey")),
    h("input", { id: "accessKeyId", name: "accessKeyId", value: state.lastAccessKey || "", required: true, autocomplete: "username", spellcheck: "false" }),
    h("label", { for: "secretAccessKey" }, t("signin.secretKey")),
    // Not offered to the password manager: the secret stays in this tab.
    h("input", { id: "secretAccessKey", name: "secretAccessKey", type: "password", required: true, autocomplete: "off" }),
    h("button", { type: "submit" }, t("signin.submit")),
    state.config.oidc
      ? [
          h("p", { class: "or" }, t("signin.or")),
          h(
            "button",
            {
              type: "button",
              id: "oidc-signin",
              class: "secondary",
              onclick: async () => {
                try {
                  await oidc.begin(state.config.oidc);
                } catch (err) {
                  state.signInError = signInMessage(err);
                  render();
                }
              },
            },
            t("signin.oidc", { provider: state.config.oidc.name }),
          ),
        ]
      : null,
  );
  replace(main, form);
  if (error) form.querySelector(state.lastAccessKey ? "#secretAccessKey" : "#accessKeyId").focus();
}

/** What a failed sign-in means, in the user's words. */
function signInMessage(err) {
  switch (err.code) {
    case "InvalidClientTokenId":
    case "SignatureDoesNotMatch":
      return t("signin.error.wrongKey");
    case "AccessDenied":
      return t("signin.error.noRole");
    case "IssuerUnreachable":
    case "IDPCommunicationError":
      return t("signin.error.issuerUnreachable");
    case "InvalidIdentityToken":
    case "ExpiredTokenException":
    case "IssuerRefused":
    case "StateMismatch":
      return t("signin.error.issuerRefused", { detail: err.message || err.code });
    default:
      return describeError(err);
  }
}

function route() {
  try {
    return parseRoute(location.hash || "#/");
  } catch {
    return { view: "buckets" }; // a malformed address
  }
}

function parseRoute(hash) {
  const parts = hash.slice(2).split("/");
  const kind = parts[0];
  const bucket = parts.length > 1 ? decodeURIComponent(parts[1]) : "";
  const rest = parts.slice(2).map(decodeURIComponent).join("/");
  if (kind === "b" && bucket) return { view: "browse", bucket, prefix: rest };
  if (kind === "o" && bucket && rest) return { view: "object", bucket, key: rest };
  if (kind === "p" && bucket) return { view: "policy", bucket };
  return { view: "buckets" };
}

function render() {
  const root = document.getElementById("app");
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(root, header(), main, h("div", { id: "status", class: "status", role: "status", "aria-live": "polite" }));
  if (!session.signedIn()) {
    document.title = `${t("signin.title")} · blobgate`;
    signInView(main);
    return;
  }
  const r = route();
  views[r.view](main, { ...r, s3: state.s3, config: state.config });
}

async function boot() {
  await initI18n();
  onLanguageChange(render);
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  state.config = await response.json();
  state.s3 = new S3Client(session.session, state.config.region);
  if (state.config.oidc) session.setRenewer((s) => oidc.renew(state.config.oidc, s));
  session.onChange((reason) => {
    // Renewed credentials change nothing on screen (no lost edits or results).
    if (reason === "renewed") return;
    if (reason === "expired") state.signInError = t("signin.error.expired");
    render();
  });
  if (!window.isSecureContext || !crypto.subtle) {
    replace(document.getElementById("app"), h("p", { class: "error", role: "alert" }, t("app.insecure")));
    return;
  }
  session.restore();
  if (state.config.oidc) {
    try {
      const completed = await oidc.complete(state.config.oidc);
      if (completed) session.start(completed);
    } catch (err) {
      state.signInError = signInMessage(err);
    }
  }
  window.addEventListener("hashchange", render);
  render();
}

boot().catch((e) => {
  console.error(e);
  replace(document.getElementById("app"), h("p", { class: "error", role: "alert" }, String(e.message || e)));
});

// Messages, numbers and dates in the user's language (English or French).
//
// Every text the console shows comes from a catalogue (i18n/en.json,
// i18n/fr.json): t("key", {name: value}) fills {name} placeholders, and a
// message that is an object ({"one": ..., "other": ...}) is chosen by
// Intl.PluralRules on the `count` parameter. The language follows the
// browser's until the user picks one (kept in localStorage: a preference,
// not a credential).

export const LANGUAGES = { en: "English", fr: "Français" };
const PREFERENCE = "blobgate.console.lang";

let current = "en";
let messages = {};
let fallback = {};
const listeners = [];

function preferred() {
  const saved = localStorage.getItem(PREFERENCE);
  if (saved && LANGUAGES[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.toLowerCase().split("-")[0];
    if (LANGUAGES[base]) return base;
  }
  return "en";
}

async function load(lang) {
  const response = await fetch(`i18n/${lang}.json`);
  if (!response.ok) throw new Error(`i18n/${lang}.json: ${response.status}`);
  return response.json();
}

/** Load the catalogues (the user's language, English beside it). */
export async function init() {
  fallback = await load("en");
  await setLanguage(preferred(), false);
}

export async function setLanguage(lang, remember = true) {
  messages = lang === "en" ? fallback : await load(lang);
  current = lang;
  if (remember) localStorage.setItem(PREFERENCE, lang);
  document.documentElement.lang = lang;
  for (const fn of listeners) fn(lang);
}

export function language() {
  return current;
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** The message `key`, with {placeholders} filled from `params`. */
export function t(key, params = {}) {
  let message = messages[key] ?? fallback[key];
  if (message === undefined) return key;
  if (typeof message === "object") {
    const rule = new Intl.PluralRules(current).select(Number(params.count ?? 0));
    message = message[rule] ?? message.other;
  }
  return message.replace(/\{(\w+)\}/g, (m, name) =>
    name in params ? (typeof params[name] === "number" ? formatNumber(params[name]) : String(params[name])) : m,
  );
}

export function formatNumber(n) {
  return new Intl.NumberFormat(current).format(n);
}

/** 1536 -> "1.5 KiB" / "1,5 Kio". */
export function formatSize(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(bytes)) return "";
  const units = t("units.bytes").split(" ");
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  const number = new Intl.NumberFormat(current, { maximumFractionDigits: digits }).format(value);
  return `${number}\u00a0${units[unit]}`;
}

export function formatDate(date) {
  if (!date) return "";
  const d = date instanceof Date ? date : new Date(date);
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

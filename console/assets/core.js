// core.js: what every page of the console shares. The DOM is built with h() only: text is
// always a text node (never markup), so whatever the API returns renders as text.

// ---- DOM -------------------------------------------------------------------------------

// h builds an element. attrs: {class, id, for, type, ...} set as attributes; on<event>
// functions added as listeners; true/false/null booleans set or left out. Children: nodes,
// strings and numbers (as text), arrays (flattened), null/undefined/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear empties el and appends children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// announce tells screen readers (the aria-live region) about a change that is not focused.
export function announce(text) {
  const live = document.getElementById('live');
  if (live) live.textContent = text;
}

// ---- i18n ------------------------------------------------------------------------------

const catalogs = { en: {}, nb: {} };
let current = 'en';

// addMessages merges a page's {en: {...}, nb: {...}} into the catalogs.
export function addMessages(m) {
  for (const l of Object.keys(catalogs)) Object.assign(catalogs[l], (m && m[l]) || {});
}

export const languages = ['nb', 'en'];

// lang is the console's language ('nb' or 'en').
export function lang() { return current; }

export function setLang(l) {
  current = languages.includes(l) ? l : 'en';
  document.documentElement.lang = current;
}

// browserLang is the first of the browser's languages (Accept-Language) that the console
// speaks: Norwegian (nb, nn, no) → nb, English → en; otherwise en.
export function browserLang() {
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const p = l.toLowerCase().split('-')[0];
    if (p === 'nb' || p === 'nn' || p === 'no') return 'nb';
    if (p === 'en') return 'en';
  }
  return 'en';
}

// t is the text of key in the current language (English, then the key itself, if missing),
// with {name} placeholders replaced from vars.
export function t(key, vars) {
  let s = catalogs[current][key] ?? catalogs.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// ---- the API ---------------------------------------------------------------------------

// session is what /api/me said: {principal, actor, actions, csrf_token, methods}; null when
// signed out.
export const session = { me: null };

// may says whether the signed-in user's roles allow action (auth.Action, e.g. "incidents.work").
export function may(action) {
  return !!(session.me && session.me.actions && session.me.actions.includes(action));
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// url is path with the query params (null, undefined and '' left out).
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? path + '?' + s : path;
}

// api calls the JSON API with the session cookie; unsafe methods send the CSRF token. A 401
// (no session, expired, forged) goes to the sign-in page and returns a promise that never
// settles; any other error status throws ApiError with the API's code and message.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && session.me && session.me.csrf_token) {
    headers['X-CSRF-Token'] = session.me.csrf_token;
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', signal: opts.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', t('core.network'));
  }
  if (res.status === 401 && !opts.allow401) {
    toSignin();
    return new Promise(() => {});
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText);
  }
  return data;
}

// toSignin leaves for the sign-in page, to come back here after.
export function toSignin() {
  session.me = null;
  const here = location.pathname + location.search;
  if (location.pathname !== '/signin') navigate(url('/signin', { next: here }), { replace: true });
}

// ---- navigation ------------------------------------------------------------------------

let router = null;

// saveLang is the one way to change the language: it stores l for the signed-in user (PUT
// /api/me/prefs; '' = the browser's language), then applies it and draws the page again in
// it. When the setting cannot be stored it throws ApiError and nothing changes.
export async function saveLang(l) {
  await api('PUT', '/api/me/prefs', { lang: l });
  setLang(l || browserLang());
  if (router) router();
}

// setRouter is app.js's: it renders the page of the current location.
export function setRouter(fn) { router = fn; }

// navigate goes to path inside the console (history.pushState, or replaceState).
export function navigate(path, opts = {}) {
  if (opts.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  if (router) router();
}

// link is an anchor to a console path that navigates without a reload (a modified click, or
// one with another button, opens it as the browser would).
export function link(path, ...children) {
  return h('a', {
    href: path,
    onclick: (e) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(path);
    },
  }, ...children);
}

// ---- formatting ------------------------------------------------------------------------

// fmtTime shows an RFC 3339 time in the browser's time zone (the UTC time in its title).
export function fmtTime(v) {
  if (!v) return '';
  const d = new Date(v);
  if (isNaN(d)) return String(v);
  return d.toLocaleString(lang() === 'nb' ? 'nb-NO' : 'en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// timeEl is a <time> element of v, its title the UTC time.
export function timeEl(v) {
  if (!v) return h('span', {}, '');
  return h('time', { datetime: v, title: new Date(v).toISOString() }, fmtTime(v));
}

// fmtDuration shows ms as "2 d 3 h", "3 h 12 min", "4 min 5 s".
export function fmtDuration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = d ? [d + ' d', hh + ' h'] : hh ? [hh + ' h', m + ' min'] : [m + ' min', s + ' s'];
  return (neg ? '−' : '') + parts.join(' ');
}

// localInput is a Date as the value of <input type="datetime-local"> (the browser's zone).
export function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// localInputOf is the datetime-local value of the RFC 3339 time v (a link's query), or of
// the time def (ms since the epoch) when v is missing or not a time.
export function localInputOf(v, def) {
  const d = v ? new Date(v) : null;
  return localInput(d && !isNaN(d) ? d : new Date(def));
}

// fromLocalInput is the RFC 3339 (UTC) time of a datetime-local value, or '' if empty.
export function fromLocalInput(v) {
  return v ? new Date(v).toISOString() : '';
}

// ---- tables, errors, downloads -----------------------------------------------------------

// table renders rows ({column: value}) under columns. opts: caption, label(col) → header
// text (default t('col.'+col)), cell(col, value, row) → node or text (default: times as
// <time>, the rest as text).
export function table(columns, rows, opts = {}) {
  const label = opts.label || ((c) => t('col.' + c));
  const cell = opts.cell || cellText;
  return h('div', { class: 'table-wrap' },
    h('table', { class: opts.class || null },
      opts.caption ? h('caption', {}, opts.caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, label(c))))),
      h('tbody', {}, rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {},
        columns.map((c) => h('td', {}, cell(c, r[c], r))))))));
}

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

// scrollable makes the wrapper of a table (what table returns) a named region that the
// keyboard can reach, so a table wider than the screen can be scrolled without a mouse.
export function scrollable(wrap, name) {
  wrap.setAttribute('tabindex', '0');
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', name);
  return wrap;
}

// cellText is how table shows a value by default: times as <time>, objects as JSON, the rest
// as text (for a cell function that changes only some columns).
export function cellText(_c, v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string' && isoTime.test(v)) return timeEl(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// errorBox shows an error for people: the API's message, with its code.
export function errorBox(err) {
  const msg = err instanceof ApiError ? `${err.message} (${err.code})` : String((err && err.message) || err);
  return h('div', { class: 'error', role: 'alert' }, msg);
}

// toCSV is rows ({column: value}) under columns as RFC 4180 CSV. A cell that a spreadsheet
// would run as a formula (= + - @ tab CR at the start) is prefixed with ' (CSV injection).
export function toCSV(columns, rows) {
  const q = (v) => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [columns.map(q).join(','), ...rows.map((r) => columns.map((c) => q(r[c])).join(','))].join('\r\n') + '\r\n';
}

// listsAsText is a row ({column: value}) with its lists as "a, b": as a table shows it and a
// CSV export holds it.
export function listsAsText(row) {
  const out = {};
  for (const [k, v] of Object.entries(row)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

// download saves text as a file named name (only letters, digits, '.', '-' and '_' are kept,
// so a name cannot carry a path).
export function download(name, mime, text) {
  const safe = String(name).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: mime })), download: safe });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// field is a labelled form control: h('label') around the text, then the control.
export function field(labelText, control, hint) {
  const id = control.id || (control.id = 'f-' + Math.random().toString(36).slice(2, 9));
  const hintEl = hint ? h('small', { id: id + '-hint', class: 'hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), control, hintEl);
}

addMessages({
  en: {
    'core.network': 'The server cannot be reached. Check the connection and try again.',
  },
  nb: {
    'core.network': 'Får ikke kontakt med serveren. Sjekk tilkoblingen og prøv igjen.',
  },
});

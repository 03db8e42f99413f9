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

// request calls the API with the session cookie and returns the Response of a successful
// answer; unsafe methods send the CSRF token (a token gone stale, as after signing in again
// in another tab, is read again from /api/me and the request tried once more). A 401 (no
// session, expired, forged) goes to the sign-in page and returns a promise that never
// settles (unless opts.allow401: then it is returned); any other error status throws
// ApiError with the API's code and message. opts: signal, allow401, accept (the Accept
// header, default JSON).
export async function request(method, path, body, opts = {}) {
  const unsafe = method !== 'GET' && method !== 'HEAD';
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: opts.accept || 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (unsafe && session.me && session.me.csrf_token) headers['X-CSRF-Token'] = session.me.csrf_token;
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
    if (res.ok || (res.status === 401 && opts.allow401)) return res;
    if (res.status === 401) {
      toSignin();
      return new Promise(() => {});
    }
    const e = ((await parse(res)) || {}).error || {};
    if (res.status === 403 && e.code === 'csrf' && unsafe && attempt === 0 && await reloadMe(opts.signal)) continue;
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText);
  }
}

// api calls the JSON API (see request) and returns the answer's JSON (or its text).
export async function api(method, path, body, opts = {}) {
  const res = await request(method, path, body, opts);
  const data = await parse(res);
  if (res.status === 401) {
    const e = (data && data.error) || {};
    throw new ApiError(401, e.code || 'http_401', e.message || res.statusText);
  }
  return data;
}

// parse is the body of res as JSON, as text when it is not JSON, or null when empty.
async function parse(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

// reloadMe reads /api/me again (a new CSRF token); false when nobody is signed in.
async function reloadMe(signal) {
  try {
    const me = await api('GET', '/api/me', undefined, { signal, allow401: true });
    if (!me || !me.csrf_token) return false;
    session.me = me;
    return true;
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return false;
  }
}

// allRows is every row of a paged rows answer (GET path with params, 1000 a page, at most
// 100 pages), following its next cursors.
export async function allRows(path, params, opts = {}) {
  const rows = [];
  let cursor = '';
  for (let i = 0; i < 100; i++) {
    const page = await api('GET', url(path, { ...params, limit: 1000, cursor }), undefined, { signal: opts.signal });
    rows.push(...((page && page.rows) || []));
    cursor = page && page.next;
    if (!cursor) break;
  }
  return rows;
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

let shown = null; // the pathname and search of the page the router drew last
const here = () => location.pathname + location.search;

// setRouter is app.js's: fn renders the page of the current location. It returns the router
// (fn, remembering what it drew). Going back or forward to another page draws it; a change
// of only the fragment (the skip link) leaves the page as it is.
export function setRouter(fn) {
  router = () => { shown = here(); return fn(); };
  window.addEventListener('popstate', () => { if (here() !== shown) router(); });
  return router;
}

// replaceQuery puts the page's state (its filters) into the URL without drawing it again.
export function replaceQuery(path) {
  history.replaceState(null, '', path);
  shown = here();
}

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

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

// fmtTime shows an RFC 3339 time in the browser's time zone (the UTC time in its title).
export function fmtTime(v) {
  if (!v) return '';
  const d = new Date(v);
  if (isNaN(d)) return String(v);
  return d.toLocaleString(lang() === 'nb' ? 'nb-NO' : 'en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// isTime says whether v is an RFC 3339 time (a string that starts like one and is a valid date).
function isTime(v) {
  return typeof v === 'string' && isoTime.test(v) && !isNaN(new Date(v));
}

// timeEl is a <time> element of v, its title the UTC time; v that is not a time is plain text.
export function timeEl(v) {
  if (!v) return h('span', {}, '');
  if (!isTime(v)) return h('span', {}, String(v));
  return h('time', { datetime: v, title: new Date(v).toISOString() }, fmtTime(v));
}

// fmtDuration shows ms as "2 d 3 h", "3 h 12 min", "4 min 5 s".
function fmtDuration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = d ? [d + ' d', hh + ' h'] : hh ? [hh + ' h', m + ' min'] : [m + ' min', s + ' s'];
  return (neg ? '−' : '') + parts.join(' ');
}

// fmtNum shows a count with the console language's digit grouping.
export function fmtNum(v) {
  return Number(v).toLocaleString(lang() === 'nb' ? 'nb-NO' : 'en-GB');
}

// num is a count as a right-aligned figure ('' when missing).
export function num(v) {
  return h('span', { class: 'num' }, v === undefined || v === null ? '' : fmtNum(v));
}

// SEVERITIES are the alert and incident severities (event.Severity), most severe first.
export const SEVERITIES = ['critical', 'high', 'medium', 'low'];

// severityBadge is the coloured badge of a severity, in the console's language.
export function severityBadge(s) {
  const v = String(s || '').toLowerCase();
  return h('span', { class: 'badge sev-' + (SEVERITIES.includes(v) ? v : 'unknown') }, SEVERITIES.includes(v) ? t('severity.' + v) : String(s || ''));
}

const DAY = 24 * 3600 * 1000;

// timeLeft is the time from now to deadline for people: {text: "2 d 3 h left" or "overdue
// by …", cls: 'overdue', 'due-soon' (within 24 hours) or ''}; text '' when deadline is not a
// time.
export function timeLeft(deadline, now) {
  const left = new Date(deadline).getTime() - now;
  if (isNaN(left)) return { text: '', cls: '' };
  if (left < 0) return { text: t('core.overdue', { d: fmtDuration(-left) }), cls: 'overdue' };
  return { text: t('core.left', { d: fmtDuration(left) }), cls: left < DAY ? 'due-soon' : '' };
}

// localInput is a Date as the value of <input type="datetime-local"> (the browser's zone).
export function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// localInputOf is the datetime-local value of the RFC 3339 time v (a link's query), or of
// the time def (ms since the epoch) when v is missing or not a time ('' without def).
export function localInputOf(v, def) {
  const d = v ? new Date(v) : null;
  if (d && !isNaN(d)) return localInput(d);
  return def === undefined ? '' : localInput(new Date(def));
}

// fromLocalInput is the RFC 3339 (UTC) time of a datetime-local value, or '' if empty.
export function fromLocalInput(v) {
  return v ? new Date(v).toISOString() : '';
}

// ---- tables, errors, downloads -----------------------------------------------------------

// table renders rows ({column: value}) under columns. opts: id and class of the <table>,
// caption, label(col) → header text (default t('col.'+col)), cell(col, value, row) → node or
// text (default: times as <time>, the rest as text), rowAttrs(row) → the <tr>'s attributes.
export function table(columns, rows, opts = {}) {
  const label = opts.label || ((c) => t('col.' + c));
  const cell = opts.cell || cellText;
  return h('div', { class: 'table-wrap' },
    h('table', { id: opts.id || null, class: opts.class || null },
      opts.caption ? h('caption', {}, opts.caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, label(c))))),
      h('tbody', {}, rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {},
        columns.map((c) => h('td', {}, cell(c, r[c], r))))))));
}

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
  if (isTime(v)) return timeEl(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// errorBox shows an error for people: the API's message, with its code.
export function errorBox(err) {
  const msg = err instanceof ApiError ? `${err.message} (${err.code})` : String((err && err.message) || err);
  return h('div', { class: 'error', role: 'alert' }, msg);
}

// toCSV is rows ({column: value}) under columns as RFC 4180 CSV. A cell that a spreadsheet
// would run as a formula (a text starting with = + - @ tab CR) is prefixed with ' (CSV
// injection); numbers are left as they are.
export function toCSV(columns, rows) {
  const q = (v) => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
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
    'core.left': '{d} left', 'core.overdue': 'overdue by {d}',
    'severity.critical': 'critical', 'severity.high': 'high', 'severity.medium': 'medium', 'severity.low': 'low',
  },
  nb: {
    'core.network': 'Får ikke kontakt med serveren. Sjekk tilkoblingen og prøv igjen.',
    'core.left': '{d} igjen', 'core.overdue': 'overskredet med {d}',
    'severity.critical': 'kritisk', 'severity.high': 'høy', 'severity.medium': 'middels', 'severity.low': 'lav',
  },
});

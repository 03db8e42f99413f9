// pages/incidents.js — the live list of incidents: GET /api/incidents?all=true, kept current
// by the INCIDENTS stream (GET /api/incidents/stream, Server-Sent Events), filtered and sorted
// in the browser, the filters kept in the URL so that a filtered view is a link.
import { h, fill, t, api, url, announce, link, fmtDuration, fmtTime, timeEl, field, errorBox, toSignin, ApiError } from '../core.js';

// The lifecycle states (notify/lifecycle.go) and severities (event.Severity), in order.
export const STATES = ['detected', 'contained', 'investigating', 'reported', 'not_reportable', 'remediated', 'closed'];
export const SEVERITIES = ['critical', 'high', 'medium', 'low'];
// SETTLED are the states in which the reporting duty is settled (reported, documented, done).
const SETTLED = ['reported', 'not_reportable', 'remediated', 'closed'];
const DUE = ['overdue', 'soon', 'later', 'settled'];
const DAY = 24 * 3600 * 1000;

export const messages = {
  en: {
    'incidents.title': 'Incidents', 'incidents.filters': 'Filters', 'incidents.any': 'Any',
    'incidents.f.org': 'Organisation', 'incidents.f.severity': 'Severity', 'incidents.f.state': 'State',
    'incidents.f.rule': 'Rule', 'incidents.f.due': 'Time to deadline', 'incidents.sort': 'Sort by',
    'incidents.sort.deadline': 'Deadline (soonest first)', 'incidents.sort.opened': 'Opened (newest first)',
    'incidents.due.overdue': 'Overdue', 'incidents.due.soon': 'Due within 24 hours', 'incidents.due.later': 'Due later',
    'incidents.due.settled': 'Reported or closed',
    'incidents.caption': '{shown} of {total} incidents', 'incidents.empty': 'No incident matches these filters.',
    'incidents.none': 'There are no incidents. New ones appear here as soon as they are detected.',
    'incidents.live': 'live', 'incidents.reconnecting': 'reconnecting', 'incidents.stream': 'Updates',
    'incidents.new': 'New incident {id}: {summary}', 'incidents.left': '{d} left', 'incidents.overdue': 'overdue by {d}',
    'incidents.settled': 'settled', 'incidents.clear': 'Clear filters',
    'incidents.state.detected': 'detected', 'incidents.state.contained': 'contained', 'incidents.state.investigating': 'investigating',
    'incidents.state.reported': 'reported', 'incidents.state.not_reportable': 'not reportable', 'incidents.state.remediated': 'remediated',
    'incidents.state.closed': 'closed',
    'incidents.severity.critical': 'critical', 'incidents.severity.high': 'high', 'incidents.severity.medium': 'medium', 'incidents.severity.low': 'low',
    'col.id': 'Incident', 'col.org': 'Organisation', 'col.account': 'Account', 'col.state': 'State',
    'col.severity': 'Severity', 'col.opened': 'Opened', 'col.deadline': 'Deadline', 'col.due': 'Time left',
    'col.alerts': 'Alerts', 'col.summary': 'Summary', 'col.rules': 'Rules', 'col.updated': 'Updated',
  },
  nb: {
    'incidents.title': 'Hendelser', 'incidents.filters': 'Filtre', 'incidents.any': 'Alle',
    'incidents.f.org': 'Organisasjon', 'incidents.f.severity': 'Alvorlighet', 'incidents.f.state': 'Status',
    'incidents.f.rule': 'Regel', 'incidents.f.due': 'Tid til fristen', 'incidents.sort': 'Sorter etter',
    'incidents.sort.deadline': 'Frist (nærmeste først)', 'incidents.sort.opened': 'Opprettet (nyeste først)',
    'incidents.due.overdue': 'Fristen er overskredet', 'incidents.due.soon': 'Frist innen 24 timer', 'incidents.due.later': 'Frist senere',
    'incidents.due.settled': 'Meldt eller lukket',
    'incidents.caption': '{shown} av {total} hendelser', 'incidents.empty': 'Ingen hendelser passer med disse filtrene.',
    'incidents.none': 'Det finnes ingen hendelser. Nye vises her så snart de oppdages.',
    'incidents.live': 'direkte', 'incidents.reconnecting': 'kobler til igjen', 'incidents.stream': 'Oppdateringer',
    'incidents.new': 'Ny hendelse {id}: {summary}', 'incidents.left': '{d} igjen', 'incidents.overdue': 'overskredet med {d}',
    'incidents.settled': 'avklart', 'incidents.clear': 'Nullstill filtrene',
    'incidents.state.detected': 'oppdaget', 'incidents.state.contained': 'begrenset', 'incidents.state.investigating': 'under undersøkelse',
    'incidents.state.reported': 'meldt', 'incidents.state.not_reportable': 'ikke meldepliktig', 'incidents.state.remediated': 'utbedret',
    'incidents.state.closed': 'lukket',
    'incidents.severity.critical': 'kritisk', 'incidents.severity.high': 'høy', 'incidents.severity.medium': 'middels', 'incidents.severity.low': 'lav',
    'col.id': 'Hendelse', 'col.org': 'Organisasjon', 'col.account': 'Konto', 'col.state': 'Status',
    'col.severity': 'Alvorlighet', 'col.opened': 'Opprettet', 'col.deadline': 'Frist', 'col.due': 'Tid igjen',
    'col.alerts': 'Varsler', 'col.summary': 'Sammendrag', 'col.rules': 'Regler', 'col.updated': 'Oppdatert',
  },
};

// severityBadge is the coloured badge of a severity.
export function severityBadge(s) {
  return h('span', { class: 'badge sev-' + (SEVERITIES.includes(s) ? s : 'unknown') }, t('incidents.severity.' + s));
}

// stateText is a lifecycle state for people.
export function stateText(s) { return t('incidents.state.' + s); }

// settled says whether the reporting duty of an incident in state is settled.
export function settled(state) { return SETTLED.includes(state); }

// countdown is the text and class of the time to deadline at now: "2 d 3 h left" or
// "overdue by …" (class overdue), due-soon within 24 hours.
export function countdown(deadline, state, now) {
  if (settled(state)) return { text: t('incidents.settled'), cls: 'muted' };
  const left = new Date(deadline).getTime() - now;
  if (isNaN(left)) return { text: '', cls: '' };
  if (left < 0) return { text: t('incidents.overdue', { d: fmtDuration(-left) }), cls: 'overdue' };
  return { text: t('incidents.left', { d: fmtDuration(left) }), cls: left < DAY ? 'due-soon' : '' };
}

// dueOf is the time-to-deadline filter value of a row.
function dueOf(r, now) {
  if (settled(r.state)) return 'settled';
  const left = new Date(r.deadline).getTime() - now;
  return left < 0 ? 'overdue' : left < DAY ? 'soon' : 'later';
}

// openStream follows GET /api/incidents/stream: onIncident(data) per `incident` event,
// onReconnect() on every open after the first (the caller reloads, so nothing is missed),
// onStatus('live'|'reconnecting'). An error checks the session (401 → sign-in); a stream the
// browser gave up on is opened again after a pause. It returns the function that closes it.
export function openStream({ onIncident, onReconnect, onStatus }) {
  let es = null, opened = false, closed = false, retry = null, pause = 3000;
  const start = () => {
    if (closed) return;
    es = new EventSource('/api/incidents/stream');
    es.addEventListener('open', () => {
      onStatus('live');
      pause = 3000;
      if (opened) onReconnect();
      opened = true;
    });
    es.addEventListener('incident', (e) => {
      let d;
      try { d = JSON.parse(e.data); } catch { return; }
      if (d && d.row && d.row.id) onIncident(d);
    });
    es.addEventListener('error', async () => {
      if (closed) return;
      onStatus('reconnecting');
      let signedOut = false;
      try {
        const me = await api('GET', '/api/me', undefined, { allow401: true });
        signedOut = !me || me.principal === null;
      } catch (err) {
        signedOut = err instanceof ApiError && err.status === 401;
      }
      if (closed) return; // the page was left meanwhile
      if (signedOut) { stop(); toSignin(); return; }
      if (es && es.readyState === EventSource.CLOSED) {
        // The browser does not retry after an error status: open it again ourselves.
        opened = true;
        clearTimeout(retry);
        retry = setTimeout(start, pause);
        pause = Math.min(pause * 2, 60000);
      }
    });
  };
  const stop = () => {
    closed = true;
    clearTimeout(retry);
    if (es) es.close();
  };
  start();
  return stop;
}

// streamStatus is the #stream-status element, set by its returned function.
export function streamStatus() {
  const el = h('span', { id: 'stream-status', class: 'stream-status', 'data-state': 'reconnecting', role: 'status' }, t('incidents.reconnecting'));
  return [el, (s) => { el.dataset.state = s; el.textContent = t('incidents.' + s); }];
}

// The columns shown (the deadline itself is the countdown's title; rows also carry updated).
const COLUMNS = ['id', 'severity', 'state', 'org', 'account', 'rules', 'opened', 'due', 'alerts', 'summary'];

// render draws the list and keeps it live; it returns the cleanup that closes the stream.
export async function render(main, _params, ctx) {
  const q = ctx.query;
  const rows = new Map(); // id → row as GET /api/incidents gives it
  const trs = new Map(); // id → its <tr>
  const filter = { org: q.get('org') || '', severity: q.get('severity') || '', state: q.get('state') || '',
    rule: q.get('rule') || '', due: q.get('due') || '' };
  let sort = q.get('sort') === 'opened' ? 'opened' : 'deadline';
  const ac = new AbortController();

  const option = (value, text, selected) => h('option', { value, selected: value === selected }, text);
  const select = (id, key, values, text) => h('select', { id, name: key, onchange: (e) => { filter[key] = e.target.value; changed(); } },
    option('', t('incidents.any'), filter[key]), values.map((v) => option(v, text ? text(v) : v, filter[key])));
  const fOrg = select('f-org', 'org', filter.org ? [filter.org] : []);
  const fSev = select('f-severity', 'severity', SEVERITIES, (v) => t('incidents.severity.' + v));
  const fState = select('f-state', 'state', STATES, stateText);
  const fRule = select('f-rule', 'rule', filter.rule ? [filter.rule] : []);
  const fDue = select('f-due', 'due', DUE, (v) => t('incidents.due.' + v));
  const fSort = h('select', { id: 'f-sort', name: 'sort', onchange: (e) => { sort = e.target.value; changed(); } },
    ['deadline', 'opened'].map((v) => option(v, t('incidents.sort.' + v), sort)));
  const clear = h('button', { type: 'button', class: 'secondary', onclick: () => {
    for (const k of Object.keys(filter)) filter[k] = '';
    for (const s of [fOrg, fSev, fState, fRule, fDue]) s.value = '';
    changed();
  } }, t('incidents.clear'));
  const [status, setStatus] = streamStatus();
  const errors = h('div', { id: 'incidents-error' });
  const caption = h('caption', {});
  const tbody = h('tbody', {});
  const empty = h('p', { id: 'incidents-empty', class: 'notice', hidden: true });
  const tableEl = h('table', { id: 'incidents', class: 'incidents' }, caption,
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, t('col.' + c))))), tbody);

  fill(main,
    h('div', { class: 'page-head' }, h('h1', {}, t('incidents.title')),
      h('p', { class: 'stream' }, t('incidents.stream') + ': ', status)),
    h('form', { class: 'filters', 'aria-label': t('incidents.filters'), onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'fields' },
        field(t('incidents.f.org'), fOrg), field(t('incidents.f.severity'), fSev), field(t('incidents.f.state'), fState),
        field(t('incidents.f.rule'), fRule), field(t('incidents.f.due'), fDue), field(t('incidents.sort'), fSort), clear)),
    errors, empty, h('div', { class: 'table-wrap' }, tableEl));

  // addOptions adds the values a select does not list yet (in order), keeping its choice.
  const addOptions = (sel, values) => {
    const have = new Set([...sel.options].map((o) => o.value));
    for (const v of [...values].sort()) if (!have.has(v)) sel.appendChild(option(v, v, sel.value));
  };

  const rowEl = (r, isChanged) => {
    const cd = countdown(r.deadline, r.state, Date.now());
    const cell = {
      id: link('/incidents/' + encodeURIComponent(r.id), r.id),
      severity: severityBadge(r.severity),
      state: h('span', { class: 'state', 'data-state': r.state }, stateText(r.state)),
      rules: (r.rules || []).join(', '),
      opened: timeEl(r.opened),
      deadline: timeEl(r.deadline),
      due: h('span', { class: 'countdown ' + cd.cls, 'data-deadline': r.deadline, 'data-state': r.state,
        title: t('col.deadline') + ': ' + fmtTime(r.deadline) }, cd.text),
    };
    return h('tr', { 'data-id': r.id, class: isChanged ? 'changed' : null,
      // the highlight plays once (moving the row in a later draw would start it again)
      onanimationend: (e) => e.currentTarget.classList.remove('changed') },
      COLUMNS.map((c) => h('td', { class: 'c-' + c + (c === 'alerts' ? ' num' : '') }, c in cell ? cell[c] : String(r[c] ?? ''))));
  };

  const visible = () => {
    const now = Date.now();
    const out = [...rows.values()].filter((r) =>
      (!filter.org || r.org === filter.org) && (!filter.severity || r.severity === filter.severity) &&
      (!filter.state || r.state === filter.state) && (!filter.rule || (r.rules || []).includes(filter.rule)) &&
      (!filter.due || dueOf(r, now) === filter.due));
    const by = sort === 'opened'
      ? (a, b) => String(b.opened).localeCompare(String(a.opened))
      : (a, b) => (settled(a.state) - settled(b.state)) || String(a.deadline).localeCompare(String(b.deadline));
    return out.sort((a, b) => by(a, b) || a.id.localeCompare(b.id));
  };

  const draw = () => {
    const list = visible();
    fill(tbody, list.map((r) => trs.get(r.id) || trs.set(r.id, rowEl(r, false)).get(r.id)));
    fill(caption, t('incidents.caption', { shown: list.length, total: rows.size }));
    empty.hidden = list.length > 0;
    fill(empty, rows.size ? t('incidents.empty') : t('incidents.none'));
  };

  // changed: the filters or the sort changed; the URL says so (replaceState: no new page).
  const changed = () => {
    history.replaceState(null, '', url('/incidents', { ...filter, sort: sort === 'deadline' ? '' : sort }));
    draw();
  };

  const load = async () => {
    const all = [];
    let cursor = '';
    do {
      const page = await api('GET', url('/api/incidents', { all: true, limit: 1000, cursor }), undefined, { signal: ac.signal });
      all.push(...(page.rows || []));
      cursor = page.next || '';
    } while (cursor);
    rows.clear();
    trs.clear();
    for (const r of all) rows.set(r.id, r);
    addOptions(fOrg, new Set(all.map((r) => r.org)));
    addOptions(fRule, new Set(all.flatMap((r) => r.rules || [])));
    fill(errors);
    draw();
  };

  const upsert = (d) => {
    const r = d.row;
    const isNew = !rows.has(r.id);
    rows.set(r.id, r);
    trs.set(r.id, rowEl(r, true));
    addOptions(fOrg, [r.org]);
    addOptions(fRule, r.rules || []);
    draw();
    if (isNew) announce(t('incidents.new', { id: r.id, summary: r.summary || '' }));
  };

  const reload = () => load().catch((e) => { if (e.name !== 'AbortError') fill(errors, errorBox(e)); });

  try {
    await load();
  } catch (e) {
    if (e.name === 'AbortError') return null;
    fill(errors, errorBox(e));
  }
  const closeStream = openStream({ onIncident: upsert, onReconnect: reload, onStatus: setStatus });
  // The countdowns tick every 30 s; a due filter moves rows between its classes.
  const tick = setInterval(() => {
    const now = Date.now();
    for (const el of tbody.querySelectorAll('.countdown')) {
      const cd = countdown(el.dataset.deadline, el.dataset.state, now);
      el.textContent = cd.text;
      el.className = 'countdown ' + cd.cls;
    }
    if (filter.due) draw();
  }, 30000);
  return () => {
    closeStream();
    clearInterval(tick);
    ac.abort();
  };
}

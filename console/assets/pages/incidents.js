// pages/incidents.js — the live list of incidents: GET /api/incidents?all=true, kept current
// by the INCIDENTS stream (GET /api/incidents/stream, Server-Sent Events), filtered and sorted
// in the browser, the filters kept in the URL so that a filtered view is a link.
import {
  h, fill, t, api, url, allRows, replaceQuery, announce, link, fmtTime, timeEl, timeLeft, field, errorBox, toSignin, ApiError, SEVERITIES, severityBadge,
} from '../core.js';

// The lifecycle states (notify/lifecycle.go) and severities (event.Severity), in order.
const STATES = ['detected', 'contained', 'investigating', 'reported', 'not_reportable', 'remediated', 'closed'];
// SETTLED are the states in which the reporting duty is settled (reported, documented, done).
const SETTLED = ['reported', 'not_reportable', 'remediated', 'closed'];
const DUE = ['overdue', 'soon', 'later', 'settled'];

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
    'incidents.new': 'New incident {id}: {summary}',
    'incidents.settled': 'settled', 'incidents.clear': 'Clear filters',
    'incidents.state.detected': 'detected', 'incidents.state.contained': 'contained', 'incidents.state.investigating': 'investigating',
    'incidents.state.reported': 'reported', 'incidents.state.not_reportable': 'not reportable', 'incidents.state.remediated': 'remediated',
    'incidents.state.closed': 'closed',
    'incidents.col.id': 'Incident', 'incidents.col.org': 'Organisation', 'incidents.col.account': 'Account', 'incidents.col.state': 'State',
    'incidents.col.severity': 'Severity', 'incidents.col.opened': 'Opened', 'incidents.col.deadline': 'Deadline', 'incidents.col.due': 'Time left',
    'incidents.col.alerts': 'Alerts', 'incidents.col.summary': 'Summary', 'incidents.col.rules': 'Rules', 'incidents.col.updated': 'Updated',
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
    'incidents.new': 'Ny hendelse {id}: {summary}',
    'incidents.settled': 'avklart', 'incidents.clear': 'Nullstill filtrene',
    'incidents.state.detected': 'oppdaget', 'incidents.state.contained': 'begrenset', 'incidents.state.investigating': 'under undersøkelse',
    'incidents.state.reported': 'meldt', 'incidents.state.not_reportable': 'ikke meldepliktig', 'incidents.state.remediated': 'utbedret',
    'incidents.state.closed': 'lukket',
    'incidents.col.id': 'Hendelse', 'incidents.col.org': 'Organisasjon', 'incidents.col.account': 'Konto', 'incidents.col.state': 'Status',
    'incidents.col.severity': 'Alvorlighet', 'incidents.col.opened': 'Opprettet', 'incidents.col.deadline': 'Frist', 'incidents.col.due': 'Tid igjen',
    'incidents.col.alerts': 'Varsler', 'incidents.col.summary': 'Sammendrag', 'incidents.col.rules': 'Regler', 'incidents.col.updated': 'Oppdatert',
  },
};

// stateText is a lifecycle state for people.
export function stateText(s) { return t('incidents.state.' + s); }

// settled says whether the reporting duty of an incident in state is settled.
export function settled(state) { return SETTLED.includes(state); }

// countdown is the text and class of the time to deadline at now (core timeLeft), or
// "settled" once the reporting duty is.
function countdown(deadline, state, now) {
  return settled(state) ? { text: t('incidents.settled'), cls: 'muted' } : timeLeft(deadline, now);
}

// dueOf is the time-to-deadline filter value of a row.
function dueOf(r, now) {
  if (settled(r.state)) return 'settled';
  const cls = timeLeft(r.deadline, now).cls;
  return cls === 'overdue' ? 'overdue' : cls === 'due-soon' ? 'soon' : 'later';
}

// openStream follows GET /api/incidents/stream: onIncident(data) per `incident` event,
// onReconnect(first) on every open, first true on the first (the stream sends only changes
// made after it opened: the caller reads again what may have changed since it last read),
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
      onReconnect(!opened);
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

// streamStatus is the #stream-status element, set by its returned function. Screen readers
// hear of an interruption only when it lasts (the server ends every stream after 5 minutes
// and the browser reconnects at once), and then of its end.
export function streamStatus() {
  const el = h('span', { id: 'stream-status', class: 'stream-status', 'data-state': 'reconnecting' }, t('incidents.reconnecting'));
  let lasting = null;
  let told = false;
  const tell = (s) => announce(t('incidents.stream') + ': ' + t('incidents.' + s));
  return [el, (s) => {
    el.dataset.state = s;
    el.textContent = t('incidents.' + s);
    clearTimeout(lasting);
    if (s === 'reconnecting') {
      lasting = setTimeout(() => { if (el.isConnected && el.dataset.state === s) { told = true; tell(s); } }, 5000);
    } else if (told) {
      told = false;
      tell(s);
    }
  }];
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

  const option = (value, text, selected) => h('option', { value, selected: value === selected }, text);
  const select = (id, key, values, text) => h('select', { id, name: key, onchange: (e) => { filter[key] = e.target.value; changed(); } },
    option('', t('incidents.any'), filter[key]), values.map((v) => option(v, text ? text(v) : v, filter[key])));
  const fOrg = select('f-org', 'org', filter.org ? [filter.org] : []);
  const fSev = select('f-severity', 'severity', SEVERITIES, (v) => t('severity.' + v));
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
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, t('incidents.col.' + c))))), tbody);

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
        title: t('incidents.col.deadline') + ': ' + fmtTime(r.deadline) }, cd.text),
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
    replaceQuery(url('/incidents', { ...filter, sort: sort === 'deadline' ? '' : sort }));
    draw();
  };

  // load reads the whole list again. Changes streamed meanwhile are held and applied after it
  // (where not older than what it read), so none is lost; of loads that overlap, the last wins.
  let held = null; // the stream's changes while a load runs
  let loads = 0;
  const load = async () => {
    const my = ++loads;
    held = held || [];
    let all = null;
    try {
      all = await allRows('/api/incidents', { all: true }, { signal: ctx.signal });
    } finally {
      if (my === loads) {
        if (all) {
          rows.clear();
          trs.clear();
          for (const r of all) rows.set(r.id, r);
          addOptions(fOrg, new Set(all.map((r) => r.org)));
          addOptions(fRule, new Set(all.flatMap((r) => r.rules || [])));
          fill(errors);
        }
        const later = held;
        held = null;
        for (const d of later) upsert(d, false);
        if (!ctx.signal.aborted) draw();
      }
    }
  };

  // upsert applies a streamed change unless a newer row is shown (and announces a new
  // incident); redraw false leaves drawing to the caller.
  const upsert = (d, redraw = true) => {
    if (held) { held.push(d); return; }
    const r = d.row;
    const old = rows.get(r.id);
    if (old && new Date(old.updated) > new Date(r.updated)) return;
    const isNew = !old;
    rows.set(r.id, r);
    trs.set(r.id, rowEl(r, true));
    addOptions(fOrg, [r.org]);
    addOptions(fRule, r.rules || []);
    if (redraw) draw();
    if (isNew) announce(t('incidents.new', { id: r.id, summary: r.summary || '' }));
  };

  const reload = () => load().catch((e) => { if (e.name !== 'AbortError') fill(errors, errorBox(e)); });

  try {
    await load();
  } catch (e) {
    if (e.name === 'AbortError') return null;
    fill(errors, errorBox(e));
  }
  if (ctx.signal.aborted) return null;
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
  };
}

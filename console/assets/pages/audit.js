// The audit page (DPO): who looked up whose history, when, why, with which roles, of the
// organisations of the signed-in user (GET /api/audit), a page at a time, with CSV export of
// the page shown. Reading the audit log is not itself a lookup of someone's history, so the
// page loads as soon as it opens.
import {
  h, fill, t, api, url, replaceQuery, field, table, scrollable, errorBox, announce, toCSV, download, fmtTime, cellText, localInputOf, fromLocalInput, listsAsText,
} from '../core.js';

export const messages = {
  en: {
    'audit.title': 'Audit log of lookups',
    'audit.intro': 'Every lookup of an account’s or a person’s history in your organisations: who asked, with which roles, when and why. Lookups of accounts outside the asker’s organisations are logged as refused.',
    'audit.from': 'From', 'audit.to': 'To', 'audit.needed': 'Give both From and To.',
    'audit.limit': 'Rows per page', 'audit.show': 'Show', 'audit.busy': 'Loading…',
    'audit.pages': 'Pages', 'audit.prev': 'Previous page', 'audit.next': 'Next page', 'audit.page': 'Page {n} · rows {first}–{last}',
    'audit.none': 'Nobody looked anything up in this window.', 'audit.export-csv': 'Export CSV',
    'audit.caption': 'Lookups from {from} to {to}', 'audit.loaded': '{n} lookups shown.',
    'audit.a.history.logins': 'Logins', 'audit.a.history.access': 'Whose data',
    'audit.a.history.subject': "Who saw a person's data", 'audit.a.history.timeline': 'Timeline',
    'audit.a.history.sql': 'SQL statement', 'audit.a.rules.backtest': 'Backtest',
    'audit.refused': '{action} (refused: outside the asker’s organisations)',
    'audit.col.time': 'Time', 'audit.col.actor': 'Who', 'audit.col.roles': 'Roles', 'audit.col.action': 'Lookup',
    'audit.col.target': 'Account or person', 'audit.col.org': 'Organisation', 'audit.col.reason': 'Reason', 'audit.col.detail': 'Detail',
  },
  nb: {
    'audit.title': 'Innsynslogg for oppslag',
    'audit.intro': 'Alle oppslag i historikken til en konto eller en person i organisasjonene dine: hvem som spurte, med hvilke roller, når og hvorfor. Oppslag på kontoer utenfor spørrerens organisasjoner logges som avvist.',
    'audit.from': 'Fra', 'audit.to': 'Til', 'audit.needed': 'Fyll inn både Fra og Til.',
    'audit.limit': 'Rader per side', 'audit.show': 'Vis', 'audit.busy': 'Laster …',
    'audit.pages': 'Sider', 'audit.prev': 'Forrige side', 'audit.next': 'Neste side', 'audit.page': 'Side {n} · rad {first}–{last}',
    'audit.none': 'Ingen har slått opp noe i dette tidsrommet.', 'audit.export-csv': 'Eksporter CSV',
    'audit.caption': 'Oppslag fra {from} til {to}', 'audit.loaded': '{n} oppslag vist.',
    'audit.a.history.logins': 'Innlogginger', 'audit.a.history.access': 'Hvem sine data',
    'audit.a.history.subject': 'Hvem har sett en persons data', 'audit.a.history.timeline': 'Tidslinje',
    'audit.a.history.sql': 'SQL-spørring', 'audit.a.rules.backtest': 'Tilbaketesting',
    'audit.refused': '{action} (avvist: utenfor spørrerens organisasjoner)',
    'audit.col.time': 'Tid', 'audit.col.actor': 'Hvem', 'audit.col.roles': 'Roller', 'audit.col.action': 'Oppslag',
    'audit.col.target': 'Konto eller person', 'audit.col.org': 'Organisasjon', 'audit.col.reason': 'Begrunnelse', 'audit.col.detail': 'Detaljer',
  },
};

const day = 24 * 3600 * 1000;
// shownColumns are the columns the table shows: the actor's issuer and subject are in its
// name already (the CSV export has every column of the log).
const shownColumns = ['time', 'actor', 'roles', 'action', 'target', 'org', 'reason', 'detail'];
const limits = [50, 100, 500, 1000];

// render draws the filters and the first page of the window in ctx.query (default: the last
// 30 days up to the next whole minute, so that a lookup made a moment ago is in it).
export async function render(main, _params, ctx) {
  const q = ctx.query;
  const now = Date.now();
  const from = h('input', { id: 'audit-from', name: 'from', type: 'datetime-local', required: true, value: localInputOf(q.get('from'), now - 30 * day) });
  const to = h('input', { id: 'audit-to', name: 'to', type: 'datetime-local', required: true, value: localInputOf(q.get('to'), now + 60 * 1000) });
  const want = Number(q.get('limit'));
  const limit = h('select', { id: 'audit-limit', name: 'limit' },
    limits.map((n) => h('option', { value: n, selected: n === (limits.includes(want) ? want : 100) }, String(n))));
  const status = h('div', { id: 'audit-status', role: 'alert' });
  const busy = h('p', { class: 'loading', hidden: true }, t('audit.busy'));
  const out = h('section', { id: 'audit-results' });
  const ctl = { abort: null };
  // The pages seen: cursors[i] is the cursor of page i+1 ('' for the first).
  let cursors = [''];
  let shown = null; // {columns, rows} of the page shown, for the export
  let params = null; // the window asked for: the pages are of it, whatever the inputs say now

  // load shows page (0: the first) of the window in params.
  const load = async (page) => {
    if (ctl.abort) ctl.abort.abort();
    ctl.abort = new AbortController();
    const mine = ctl.abort;
    fill(status);
    busy.hidden = false;
    try {
      const res = await api('GET', url('/api/audit', { ...params, cursor: cursors[page] }), undefined,
        { signal: AbortSignal.any([ctx.signal, mine.signal]) });
      if (res.next) cursors[page + 1] = res.next;
      else cursors = cursors.slice(0, page + 1);
      shown = { columns: res.columns, rows: res.rows.map(listsAsText) };
      draw(page, res);
    } catch (err) {
      if (err.name !== 'AbortError') fill(status, errorBox(err));
    } finally {
      if (ctl.abort === mine) busy.hidden = true;
    }
  };

  const draw = (page, res) => {
    const p = params;
    const first = page * Number(p.limit) + 1;
    const last = first + res.rows.length - 1;
    const wrap = table(shownColumns.filter((c) => res.columns.includes(c)), shown.rows, {
      id: 'audit',
      caption: t('audit.caption', { from: fmtTime(p.from), to: fmtTime(p.to) }),
      label: (c) => t('audit.col.' + c),
      cell: (c, v) => cell(c, v),
    });
    scrollable(wrap, t('audit.title'));
    const prev = h('button', { type: 'button', class: 'secondary', id: 'audit-prev', disabled: page === 0, onclick: () => load(page - 1) }, t('audit.prev'));
    const next = h('button', { type: 'button', class: 'secondary', id: 'audit-next', disabled: !res.next, onclick: () => load(page + 1) }, t('audit.next'));
    const csv = h('button', {
      type: 'button', class: 'secondary', id: 'audit-export-csv',
      onclick: () => download(`audit-${p.from.slice(0, 10)}-${p.to.slice(0, 10)}-p${page + 1}.csv`, 'text/csv;charset=utf-8',
        toCSV(shown.columns, shown.rows)),
    }, t('audit.export-csv'));
    fill(out,
      h('div', { class: 'actions' }, csv),
      wrap,
      res.rows.length ? null : h('p', { class: 'muted' }, t('audit.none')),
      res.rows.length || page > 0
        ? h('nav', { class: 'pager actions', 'aria-label': t('audit.pages') },
          prev, h('span', { class: 'muted' }, t('audit.page', { n: page + 1, first, last })), next)
        : null);
    announce(t('audit.loaded', { n: res.rows.length }));
  };

  // ask takes the window from the inputs (into the link too) and shows its first page.
  const ask = () => {
    if (!from.value || !to.value) {
      fill(status, h('div', { class: 'error' }, t('audit.needed')));
      return;
    }
    params = { from: fromLocalInput(from.value), to: fromLocalInput(to.value), limit: limit.value };
    replaceQuery(url('/audit', params));
    cursors = [''];
    load(0);
  };
  const form = h('form', { id: 'audit-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); ask(); } },
    h('div', { class: 'fields' },
      field(t('audit.from'), from), field(t('audit.to'), to), field(t('audit.limit'), limit),
      h('button', { type: 'submit', class: 'fields-button' }, t('audit.show'))),
    busy, status);
  fill(main, h('h1', {}, t('audit.title')), h('p', { class: 'muted' }, t('audit.intro')), form, out);
  ask();
}

// cell shows the action as people name it (the stored action in its title), the rest as
// tables do.
function cell(c, v) {
  if (c === 'action' && v) {
    const refused = String(v).endsWith('.refused');
    const base = refused ? String(v).slice(0, -'.refused'.length) : String(v);
    const name = t('audit.a.' + base) === 'audit.a.' + base ? base : t('audit.a.' + base);
    return h('span', { title: String(v), class: refused ? 'refused' : null }, refused ? t('audit.refused', { action: name }) : name);
  }
  return cellText(c, v);
}

// The investigate page: the breach procedure's questions about an account (or a person) as
// forms over GET /api/history/{lookup}. Every run is an audited lookup with the reason given,
// so a lookup runs only when the form is submitted, never when the page loads: the form's
// state (but not the reason, which is each person's own purpose) goes into the URL so a link
// can be shared, and opening it fills the form.
import {
  h, fill, t, api, url, replaceQuery, field, table, scrollable, cellText, errorBox, announce, toCSV, download, fmtTime, localInputOf, fromLocalInput, listsAsText, ApiError,
} from '../core.js';

export const messages = {
  en: {
    'investigate.title': 'Investigate an account',
    'investigate.intro': 'Answer the questions of the breach procedure from the history of your organisations. Each lookup is written to the audit log with your name and your reason.',
    'investigate.question': 'Question',
    'investigate.q.logins': 'Which services did this account log into between T1 and T2?',
    'investigate.q.access': 'Whose data did this account see, change, delete or export? (people and records by category)',
    'investigate.q.subject': "Who saw this person's data?",
    'investigate.q.timeline': "The account's timeline",
    'investigate.account': 'Account', 'investigate.person': 'Person (whose data)',
    'investigate.account.hint': 'The user name, e.g. kari.nordmann@bergen.kommune.no',
    'investigate.from': 'From (T1)', 'investigate.to': 'To (T2)',
    'investigate.window.hint': 'In your time zone; at most 400 days.',
    'investigate.reason': 'Reason', 'investigate.reason.hint': 'Required. Why you look: it is written to the audit log with your name, and your data protection officer sees it.',
    'investigate.incident': 'Incident (optional)', 'investigate.incident.hint': 'The incident this lookup belongs to, e.g. INC-20261102-0000abcd; it is written to the audit log too.',
    'investigate.summary': 'Only the totals per category (no people)',
    'investigate.limit': 'At most this many rows', 'investigate.limit.hint': '1 to 100 000.',
    'investigate.submit': 'Look up', 'investigate.busy': 'Looking up…',
    'investigate.needed': 'Fill in {fields}.',
    'investigate.notfound': 'No such account in your organisations. It does not exist, or it belongs to an organisation you may not see.',
    'investigate.auditfailed': 'The lookup could not be written to the audit log, so nothing was read. Try again shortly; if it persists, tell the operator.',
    'investigate.results': 'Results', 'investigate.meta': '{who} · {from} – {to} · asked {at}',
    'investigate.t.logins': 'Services logged into', 'investigate.t.access': 'People and records',
    'investigate.t.categories': 'By category', 'investigate.t.totals': 'Totals by category',
    'investigate.t.subject': "Who accessed the person's data", 'investigate.t.timeline': 'Timeline',
    'investigate.rows': '{n} rows', 'investigate.none': 'Nothing found in this window.',
    'investigate.all': '(all)',
    'investigate.export-csv': 'Export CSV', 'investigate.export-csv-n': 'Export “{name}” as CSV', 'investigate.export-json': 'Export JSON',
    'investigate.done': '{n} rows found.',
    'investigate.follow.subject': "Ask who saw this person's data (fills the form)",
    'investigate.follow.access': 'Ask whose data this account saw (fills the form)',
    'investigate.filled': 'The form asks: {question} ({who}). Check the reason and look up.',
    'investigate.col.service': 'Service', 'investigate.col.service_name': 'Service name', 'investigate.col.first': 'First', 'investigate.col.last': 'Last',
    'investigate.col.successes': 'Successes', 'investigate.col.failures': 'Failures', 'investigate.col.ips': 'IP addresses', 'investigate.col.countries': 'Countries',
    'investigate.col.subject': 'Person', 'investigate.col.resource': 'Category', 'investigate.col.action': 'Action', 'investigate.col.events': 'Events',
    'investigate.col.records': 'Records', 'investigate.col.people': 'People', 'investigate.col.actor': 'Actor', 'investigate.col.actor_role': 'Actor role',
    'investigate.col.time': 'Time', 'investigate.col.kind': 'Kind', 'investigate.col.id': 'Id', 'investigate.col.target': 'Target', 'investigate.col.ip': 'IP address', 'investigate.col.country': 'Country',
  },
  nb: {
    'investigate.title': 'Undersøk en konto',
    'investigate.intro': 'Svar på spørsmålene i avviksrutinen ut fra historikken til organisasjonene dine. Hvert oppslag skrives i innsynsloggen med navnet ditt og begrunnelsen din.',
    'investigate.question': 'Spørsmål',
    'investigate.q.logins': 'Hvilke tjenester logget denne kontoen inn på mellom T1 og T2?',
    'investigate.q.access': 'Hvem sine data så, endret, slettet eller eksporterte denne kontoen? (personer og poster per kategori)',
    'investigate.q.subject': 'Hvem har sett denne personens data?',
    'investigate.q.timeline': 'Kontoens tidslinje',
    'investigate.account': 'Konto', 'investigate.person': 'Person (hvis data)',
    'investigate.account.hint': 'Brukernavnet, f.eks. kari.nordmann@bergen.kommune.no',
    'investigate.from': 'Fra (T1)', 'investigate.to': 'Til (T2)',
    'investigate.window.hint': 'I din tidssone; høyst 400 dager.',
    'investigate.reason': 'Begrunnelse', 'investigate.reason.hint': 'Påkrevd. Hvorfor du slår opp: det skrives i innsynsloggen med navnet ditt, og personvernombudet ser det.',
    'investigate.incident': 'Hendelse (valgfritt)', 'investigate.incident.hint': 'Hendelsen oppslaget hører til, f.eks. INC-20261102-0000abcd; den skrives også i innsynsloggen.',
    'investigate.summary': 'Bare summene per kategori (ingen personer)',
    'investigate.limit': 'Høyst så mange rader', 'investigate.limit.hint': '1 til 100 000.',
    'investigate.submit': 'Slå opp', 'investigate.busy': 'Slår opp …',
    'investigate.needed': 'Fyll inn {fields}.',
    'investigate.notfound': 'Finner ingen slik konto i organisasjonene dine. Den finnes ikke, eller den hører til en organisasjon du ikke har tilgang til.',
    'investigate.auditfailed': 'Oppslaget kunne ikke skrives i innsynsloggen, så ingenting ble lest. Prøv igjen om litt; si fra til driftsansvarlig hvis det vedvarer.',
    'investigate.results': 'Resultat', 'investigate.meta': '{who} · {from} – {to} · spurt {at}',
    'investigate.t.logins': 'Tjenester det er logget inn på', 'investigate.t.access': 'Personer og poster',
    'investigate.t.categories': 'Per kategori', 'investigate.t.totals': 'Summer per kategori',
    'investigate.t.subject': 'Hvem som har brukt personens data', 'investigate.t.timeline': 'Tidslinje',
    'investigate.rows': '{n} rader', 'investigate.none': 'Ingenting funnet i dette tidsrommet.',
    'investigate.all': '(alle)',
    'investigate.export-csv': 'Eksporter CSV', 'investigate.export-csv-n': 'Eksporter «{name}» som CSV', 'investigate.export-json': 'Eksporter JSON',
    'investigate.done': '{n} rader funnet.',
    'investigate.follow.subject': 'Spør hvem som har sett denne personens data (fyller ut skjemaet)',
    'investigate.follow.access': 'Spør hvem sine data denne kontoen har sett (fyller ut skjemaet)',
    'investigate.filled': 'Skjemaet spør: {question} ({who}). Sjekk begrunnelsen og slå opp.',
    'investigate.col.service': 'Tjeneste', 'investigate.col.service_name': 'Tjenestenavn', 'investigate.col.first': 'Første', 'investigate.col.last': 'Siste',
    'investigate.col.successes': 'Vellykkede', 'investigate.col.failures': 'Mislykkede', 'investigate.col.ips': 'IP-adresser', 'investigate.col.countries': 'Land',
    'investigate.col.subject': 'Person', 'investigate.col.resource': 'Kategori', 'investigate.col.action': 'Handling', 'investigate.col.events': 'Hendelser',
    'investigate.col.records': 'Poster', 'investigate.col.people': 'Personer', 'investigate.col.actor': 'Aktør', 'investigate.col.actor_role': 'Aktørens rolle',
    'investigate.col.time': 'Tid', 'investigate.col.kind': 'Type', 'investigate.col.id': 'Id', 'investigate.col.target': 'Mål', 'investigate.col.ip': 'IP-adresse', 'investigate.col.country': 'Land',
  },
};

const lookups = ['logins', 'access', 'subject', 'timeline'];
// followUp is, per lookup and column, the next question a value of it leads to: who else saw
// a person's data; whose data an actor saw.
const followUp = { access: { subject: 'subject' }, subject: { actor: 'access' } };
const day = 24 * 3600 * 1000;

// render draws the form, filled from ctx.query (a shared link); nothing is looked up until
// the form is submitted.
export async function render(main, _params, ctx) {
  const q = ctx.query;
  const ctl = { abort: null };
  const now = Date.now();
  const lookup = h('select', { id: 'lookup', name: 'lookup' },
    lookups.map((l) => h('option', { value: l, selected: l === q.get('lookup') }, t('investigate.q.' + l))));
  const account = h('input', { id: 'account', name: 'account', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 256, value: q.get('account') || '' });
  const from = h('input', { id: 'from', name: 'from', type: 'datetime-local', required: true, value: localInputOf(q.get('from'), now - 7 * day) });
  // T2 defaults to the next whole minute: a datetime-local has minutes, and the last minute's
  // events must be in the window.
  const to = h('input', { id: 'to', name: 'to', type: 'datetime-local', required: true, value: localInputOf(q.get('to'), now + 60 * 1000) });
  const reason = h('input', { id: 'reason', name: 'reason', required: true, maxlength: 1000, autocomplete: 'off' });
  const incident = h('input', { id: 'incident', name: 'incident', autocomplete: 'off', pattern: '[A-Za-z0-9_\\-]{1,64}', value: q.get('incident') || '' });
  const summary = h('input', { id: 'summary', name: 'summary', type: 'checkbox', checked: q.get('summary') === 'true' });
  const limit = h('input', { id: 'limit', name: 'limit', type: 'number', min: 1, max: 100000, step: 1, inputmode: 'numeric', value: q.get('limit') || '' });
  const accountField = field(t('investigate.account'), account, t('investigate.account.hint'));
  const summaryField = h('div', { class: 'field check' }, h('label', { for: 'summary' }, summary, ' ', t('investigate.summary')));
  const limitField = field(t('investigate.limit'), limit, t('investigate.limit.hint'));
  const submit = h('button', { type: 'submit' }, t('investigate.submit'));
  const status = h('div', { id: 'lookup-status', role: 'alert' });
  const busy = h('p', { class: 'loading', hidden: true }, t('investigate.busy'));
  const results = h('section', { id: 'lookup-results', 'aria-labelledby': 'results-heading' });
  results.hidden = true;

  // The form shows what the chosen question takes.
  const adapt = () => {
    const l = lookup.value;
    accountField.querySelector('label').textContent = t(l === 'subject' ? 'investigate.person' : 'investigate.account');
    summaryField.hidden = l !== 'access';
    limitField.hidden = l !== 'timeline';
  };
  lookup.addEventListener('change', adapt);
  adapt();

  // follow fills the form with the next question about who (a person or account of the
  // results), in the same window and for the same reason; it runs when submitted.
  const follow = (next, who) => {
    lookup.value = next;
    account.value = who;
    adapt();
    form.scrollIntoView();
    submit.focus();
    announce(t('investigate.filled', { question: t('investigate.q.' + next), who }));
  };

  const form = h('form', { id: 'lookup-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const required = [[account, 'investigate.account'], [from, 'investigate.from'], [to, 'investigate.to'], [reason, 'investigate.reason']];
    for (const [el] of required) el.setAttribute('aria-invalid', String(!el.value.trim()));
    const missing = required.filter(([el]) => !el.value.trim());
    if (missing.length) {
      if (missing[0][0] === account && lookup.value === 'subject') missing[0][1] = 'investigate.person';
      fill(status, h('div', { class: 'error' }, t('investigate.needed', { fields: missing.map(([, k]) => t(k)).join(', ') })));
      missing[0][0].focus();
      return;
    }
    const l = lookup.value;
    const params = {
      account: account.value.trim(), from: fromLocalInput(from.value), to: fromLocalInput(to.value),
      incident: incident.value.trim(),
      summary: l === 'access' && summary.checked ? 'true' : '',
      limit: l === 'timeline' ? limit.value.trim() : '',
    };
    // The link of this question, without the reason (each person gives their own).
    replaceQuery(url('/investigate', { lookup: l, ...params }));
    if (ctl.abort) ctl.abort.abort();
    ctl.abort = new AbortController();
    submit.disabled = true;
    fill(status);
    busy.hidden = false;
    try {
      const res = await api('GET', url('/api/history/' + l, { ...params, reason: reason.value.trim() }), undefined,
        { signal: AbortSignal.any([ctx.signal, ctl.abort.signal]) });
      show(results, l, params, res, follow);
    } catch (err) {
      if (err.name === 'AbortError') return;
      results.hidden = true;
      fill(status, lookupError(err));
    } finally {
      busy.hidden = true;
      submit.disabled = false;
    }
  } },
  h('div', { class: 'wide' }, field(t('investigate.question'), lookup)),
  h('div', { class: 'fields top' }, accountField, field(t('investigate.from'), from), field(t('investigate.to'), to, t('investigate.window.hint'))),
  field(t('investigate.reason'), reason, t('investigate.reason.hint')),
  h('div', { class: 'fields top' }, field(t('investigate.incident'), incident, t('investigate.incident.hint')), summaryField, limitField),
  h('div', { class: 'actions' }, submit),
  busy, status);

  fill(main, h('h1', {}, t('investigate.title')), h('p', { class: 'muted' }, t('investigate.intro')), form, results);
}

// colLabel is the header of a result column (the column's own name when it has no text).
function colLabel(c) {
  const k = 'investigate.col.' + c;
  return messages.en[k] ? t(k) : c;
}

// lookupError is the message of a failed lookup: one text for an account that does not exist
// and one of another organisation (the API answers 404 for both).
function lookupError(err) {
  if (err instanceof ApiError && err.status === 404) return h('div', { class: 'error' }, t('investigate.notfound'));
  if (err instanceof ApiError && err.code === 'audit_failed') return h('div', { class: 'error' }, t('investigate.auditfailed'));
  return errorBox(err);
}

// show renders the answer res of lookup l: its tables (the access rows also by category),
// their row counts, the footer and the exports of exactly what is shown.
function show(results, l, params, res, follow) {
  const at = new Date();
  const rows = (res.rows || []).map(listsAsText);
  const tables = [{ name: params.summary ? 'totals' : l, columns: res.columns || [], rows, footer: res.footer || '' }];
  if (l === 'access' && !params.summary) tables.push(byCategory(rows));
  const stem = `${l}-${params.account}-${at.toISOString().slice(0, 10)}`;
  const tableEls = tables.map((tb, i) => {
    const wrap = table(tb.columns, tb.rows, {
      id: i === 0 ? 'results' : 'results-' + (i + 1),
      label: colLabel,
      caption: t('investigate.t.' + tb.name) + ' — ' + t('investigate.rows', { n: tb.rows.length }),
      cell: (c, v, r) => {
        const next = i === 0 && v && followUp[l] && followUp[l][c];
        return next ? h('button', { type: 'button', class: 'link', title: t('investigate.follow.' + next), onclick: () => follow(next, v) }, v)
          : cellText(c, v, r);
      },
    });
    scrollable(wrap, t('investigate.t.' + tb.name));
    return h('div', { class: 'result-table' },
      wrap,
      tb.rows.length ? null : h('p', { class: 'muted' }, t('investigate.none')),
      tb.footer ? h('p', { class: 'footer' }, tb.footer) : null);
  });
  const csvButtons = tables.map((tb, i) => h('button', {
    type: 'button', class: 'secondary', id: i === 0 ? 'export-csv' : 'export-csv-' + (i + 1),
    onclick: () => download(i === 0 ? stem + '.csv' : `${stem}-${tb.name}.csv`, 'text/csv;charset=utf-8', toCSV(tb.columns, tb.rows)),
  }, tables.length === 1 ? t('investigate.export-csv') : t('investigate.export-csv-n', { name: t('investigate.t.' + tb.name) })));
  const json = h('button', {
    type: 'button', class: 'secondary', id: 'export-json',
    onclick: () => download(stem + '.json', 'application/json',
      JSON.stringify({ lookup: l, question: t('investigate.q.' + l), ...given(params), asked: at.toISOString(), tables }, null, 2) + '\n'),
  }, t('investigate.export-json'));
  results.hidden = false;
  fill(results,
    h('h2', { id: 'results-heading' }, t('investigate.results'), ': ', t('investigate.q.' + l)),
    h('p', { class: 'muted' }, t('investigate.meta', {
      who: params.account, from: fmtTime(params.from), to: fmtTime(params.to), at: fmtTime(at.toISOString()),
    })),
    h('div', { class: 'actions' }, csvButtons, json),
    tableEls);
  announce(t('investigate.done', { n: rows.length }));
}

// byCategory groups access rows (one per person, category and action) by category: the
// people (distinct persons), records and events of each, and of all together, as the access
// lookup's totals count them.
function byCategory(rows) {
  const cats = new Map();
  const all = { resource: t('investigate.all'), people: new Set(), records: 0, events: 0 };
  for (const r of rows) {
    if (!cats.has(r.resource)) cats.set(r.resource, { resource: r.resource, people: new Set(), records: 0, events: 0 });
    for (const c of [cats.get(r.resource), all]) {
      c.people.add(r.subject);
      c.records += Number(r.records) || 0;
      c.events += Number(r.events) || 0;
    }
  }
  const out = [...cats.values()].sort((a, b) => String(a.resource).localeCompare(String(b.resource)));
  if (rows.length) out.push(all);
  return {
    name: 'categories', columns: ['resource', 'people', 'records', 'events'], footer: '',
    rows: out.map((c) => ({ ...c, people: c.people.size })),
  };
}

// given is params without the empty ones (the parameters the lookup was asked with).
function given(params) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== ''));
}

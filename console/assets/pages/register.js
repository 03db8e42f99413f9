// pages/register.js — the breach register (GDPR Art. 33(5)): every incident of the user's
// organisations opened in a window, reported or not, with CSV and JSON export.
import {
  h, fill, t, url, allRows, replaceQuery, link, table, scrollable, cellText, field, errorBox, toCSV, download, localInputOf, fromLocalInput, severityBadge,
} from '../core.js';
import { messages as listMessages, stateText } from './incidents.js';

const COLUMNS = ['id', 'org', 'account', 'severity', 'state', 'opened', 'aware', 'deadline', 'reported', 'reported_at', 'late',
  'reason', 'reference', 'art34', 'subjects', 'evidence', 'closed', 'summary'];

export const messages = {
  en: {
    ...listMessages.en,
    'register.title': 'Breach register', 'register.intro': 'Every incident opened in the window, reported to Datatilsynet or not, with why (GDPR Art. 33(5)).',
    'register.from': 'Opened from', 'register.to': 'Opened before', 'register.show': 'Show',
    'register.csv': 'Export CSV', 'register.json': 'Export JSON', 'register.caption': '{n} incidents',
    'register.empty': 'No incident was opened in this window.', 'register.yes': 'yes', 'register.no': 'no',
    'register.reported.yes': 'reported', 'register.reported.not reportable': 'not reportable',
    'register.reported.pending': 'pending', 'register.reported.OVERDUE': 'OVERDUE',
    'register.art34.': 'not decided', 'register.art34.notify': 'notify', 'register.art34.not_required': 'not required',
    'register.col.aware': 'Aware', 'register.col.reported': 'Reported', 'register.col.reported_at': 'Reported at', 'register.col.late': 'Late',
    'register.col.reason': 'Reason (not reported)', 'register.col.reference': 'Datatilsynet reference', 'register.col.art34': 'Art. 34',
    'register.col.subjects': 'People', 'register.col.evidence': 'Evidence', 'register.col.closed': 'Closed',
  },
  nb: {
    ...listMessages.nb,
    'register.title': 'Avviksprotokoll', 'register.intro': 'Alle hendelser opprettet i tidsrommet, meldt til Datatilsynet eller ikke, med begrunnelse (personvernforordningen art. 33 nr. 5).',
    'register.from': 'Opprettet fra', 'register.to': 'Opprettet før', 'register.show': 'Vis',
    'register.csv': 'Eksporter CSV', 'register.json': 'Eksporter JSON', 'register.caption': '{n} hendelser',
    'register.empty': 'Ingen hendelser ble opprettet i dette tidsrommet.', 'register.yes': 'ja', 'register.no': 'nei',
    'register.reported.yes': 'meldt', 'register.reported.not reportable': 'ikke meldepliktig',
    'register.reported.pending': 'venter', 'register.reported.OVERDUE': 'FRISTEN ER OVERSKREDET',
    'register.art34.': 'ikke avgjort', 'register.art34.notify': 'underrettes', 'register.art34.not_required': 'ikke nødvendig',
    'register.col.aware': 'Kjent', 'register.col.reported': 'Meldt', 'register.col.reported_at': 'Meldt tidspunkt', 'register.col.late': 'For sent',
    'register.col.reason': 'Begrunnelse (ikke meldt)', 'register.col.reference': 'Datatilsynets saksnummer', 'register.col.art34': 'Art. 34',
    'register.col.subjects': 'Personer', 'register.col.evidence': 'Bevis', 'register.col.closed': 'Lukket',
  },
};

// label is a column's header: the register's own, else the incident list's.
const label = (c) => t(messages.en['register.col.' + c] ? 'register.col.' + c : 'incidents.col.' + c);

export async function render(main, _params, ctx) {
  const q = ctx.query;
  const from = h('input', { id: 'register-from', name: 'from', type: 'datetime-local', value: localInputOf(q.get('from')) });
  const to = h('input', { id: 'register-to', name: 'to', type: 'datetime-local', value: localInputOf(q.get('to')) });
  const out = h('div', {});
  const result = h('div', {});
  const submit = h('button', { type: 'submit' }, t('register.show'));
  let rows = [];
  const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const csvBtn = h('button', { type: 'button', id: 'register-export-csv', class: 'secondary', disabled: true,
    onclick: () => download('breach-register-' + stamp() + '.csv', 'text/csv;charset=utf-8', toCSV(COLUMNS, rows)) }, t('register.csv'));
  const jsonBtn = h('button', { type: 'button', id: 'register-export-json', class: 'secondary', disabled: true,
    onclick: () => download('breach-register-' + stamp() + '.json', 'application/json', JSON.stringify(rows, null, 2) + '\n') }, t('register.json'));

  // load shows the window in the inputs; a newer load aborts an older one (one AbortController
  // per load), so an older answer never replaces a newer one.
  let loading = null;
  const load = async () => {
    const params = { from: fromLocalInput(from.value), to: fromLocalInput(to.value) };
    replaceQuery(url('/register', params));
    if (loading) loading.abort();
    const mine = new AbortController();
    loading = mine;
    const all = await allRows('/api/register', params, { signal: AbortSignal.any([ctx.signal, mine.signal]) });
    if (loading !== mine) return;
    rows = all;
    csvBtn.disabled = jsonBtn.disabled = false;
    const yesNo = (v) => t(v ? 'register.yes' : 'register.no');
    const tbl = table(COLUMNS, rows, {
      id: 'register',
      caption: t('register.caption', { n: rows.length }),
      class: 'register',
      label,
      rowAttrs: (r) => ({ 'data-id': r.id }),
      cell: (c, v, r) => {
        switch (c) {
          case 'id': return link('/incidents/' + encodeURIComponent(r.id), r.id);
          case 'severity': return severityBadge(v);
          case 'state': return stateText(v);
          case 'reported': return h('span', { class: v === 'OVERDUE' ? 'overdue' : null }, t('register.reported.' + v));
          case 'late': return v ? h('span', { class: 'overdue' }, t('register.yes')) : '';
          case 'art34': return t('register.art34.' + (v === 'not decided' ? '' : v || ''));
          case 'subjects': case 'evidence': return String(v ?? '');
          default: return typeof v === 'boolean' ? yesNo(v) : cellText(c, v);
        }
      },
    });
    scrollable(tbl, t('register.title'));
    fill(result, tbl, rows.length ? null : h('p', { class: 'notice' }, t('register.empty')));
  };

  const form = h('form', { id: 'register-form', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(out);
    try {
      await load();
    } catch (err) {
      if (err.name !== 'AbortError') fill(out, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  } }, h('div', { class: 'fields' }, field(t('register.from'), from), field(t('register.to'), to), submit));

  fill(main, h('h1', {}, t('register.title')), h('p', {}, t('register.intro')), form,
    h('div', { class: 'actions' }, csvBtn, jsonBtn), out, result);
  try {
    await load();
  } catch (e) {
    if (e.name !== 'AbortError') fill(out, errorBox(e));
  }
}

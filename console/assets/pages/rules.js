// pages/rules.js: the rules page of rule authors and the SOC: the loaded rules with what the
// detector did with each since it started, the last reload, alerts per rule over time, a
// check (lint and fixtures) of a rule file, and a backtest over stored history with its
// progress streamed (NDJSON) and results per rule and account.
import {
  h, fill, t, api, request, allRows, may, announce, table, scrollable, errorBox, field, fmtTime, fmtNum, num, timeEl, severityBadge, localInputOf, fromLocalInput, ApiError,
} from '../core.js';
import { chart } from '../chart.js';

export const messages = {
  en: {
    'rules.title': 'Rules', 'rules.ok': 'OK',
    'rules.loaded': 'Loaded rules',
    'rules.loading': 'Loading…',
    'rules.caption': 'Rules the server runs, with what the detector did with each since it started',
    'rules.col.id': 'Rule', 'rules.col.severity': 'Severity', 'rules.col.when': 'Events', 'rules.col.respond': 'Response',
    'rules.col.file': 'File', 'rules.col.evaluated': 'Evaluated', 'rules.col.hits': 'Hits', 'rules.col.excepted': 'Excepted',
    'rules.col.suppressed': 'Suppressed', 'rules.col.alerts': 'Alerts', 'rules.col.errors': 'Errors', 'rules.col.title': 'Title', 'rules.col.tests': 'Fixtures',
    'rules.col.accounts': 'Accounts', 'rules.col.first': 'First alert', 'rules.col.last': 'Last alert', 'rules.col.rule': 'Rule',
    'rules.col.bucket': 'From', 'rules.col.account': 'Account', 'rules.col.folded': 'Folded hits', 'rules.col.name': 'Test',
    'rules.col.line': 'Line', 'rules.col.want': 'Expected', 'rules.col.got': 'Got', 'rules.col.result': 'Result',
    'rules.reload.title': 'Last reload',
    'rules.reload.ok': 'Loaded {rules} rules at {at} ({cause}).',
    'rules.reload.error': 'The reload at {at} ({cause}) failed: the detector keeps its previous {rules} rules. Fix these errors and save the file again:',
    'rules.cause.start': 'at start', 'rules.cause.signal': 'SIGHUP', 'rules.cause.file change': 'a rule file changed',
    'rules.status.unavailable': 'The detector runs in another process, so its figures per rule are not shown here.',
    'rules.hits.title': 'Alerts per rule over time',
    'rules.hits.window': 'Window',
    'rules.hits.w24h': 'Last 24 hours', 'rules.hits.w7d': 'Last 7 days', 'rules.hits.w30d': 'Last 30 days',
    'rules.hits.w90d': 'Last 90 days', 'rules.hits.w365d': 'Last year',
    'rules.hits.label': 'Chart: stored alerts per rule, {window}, one line per rule. The same figures are in the table below the chart.',
    'rules.hits.none': 'No alerts were stored in this window.',
    'rules.hits.noseries': 'no alerts',
    'rules.hits.astable': 'Show the figures as a table',
    'rules.hits.caption': 'Alerts per rule and period ({bucket} each)',
    'rules.check.title': 'Check a rule file',
    'rules.check.intro': 'Compiles the file and runs its fixtures (tests:), as breachd rules lint and breachd rules test do. Nothing is stored or loaded.',
    'rules.check.file': 'File name',
    'rules.check.text': 'Rule file (YAML)',
    'rules.check.run': 'Check',
    'rules.check.running': 'Checking…',
    'rules.check.empty': 'Paste a rule file first.',
    'rules.check.errors': 'The file does not compile:',
    'rules.check.ok': '{rules} rules compile; {passed} of {tests} fixtures passed.',
    'rules.check.failed': '{rules} rules compile, but {failed} of {tests} fixtures failed.',
    'rules.check.warnings': 'Warnings',
    'rules.check.tests': 'Fixtures',
    'rules.check.pass': 'passed', 'rules.check.fail': 'FAILED',
    'rules.bt.title': 'Backtest',
    'rules.bt.intro': 'Replays stored events through the rules and reports what they would have raised. Nothing is alerted or stored.',
    'rules.bt.rule': 'Rule',
    'rules.bt.all': 'All loaded rules',
    'rules.bt.from': 'From',
    'rules.bt.to': 'To',
    'rules.bt.text': 'Edited rule file (optional)',
    'rules.bt.texthint': 'Leave empty to backtest the loaded rules. A rule file pasted here is backtested instead (every rule in it); the backtest of an edited rule is recorded in the audit log.',
    'rules.bt.run': 'Run backtest',
    'rules.bt.cancel': 'Cancel',
    'rules.bt.cancelled': 'The backtest was cancelled.',
    'rules.bt.progress': 'Progress',
    'rules.bt.starting': 'Starting…',
    'rules.bt.phase.directory': 'Rebuilding the directory', 'rules.bt.phase.warm-up': 'Warming up the windows', 'rules.bt.phase.replay': 'Replaying events',
    'rules.bt.step': '{phase}: {events} events{of}',
    'rules.bt.of': ' of about {planned}',
    'rules.bt.done': 'Backtest done: {events} events replayed, {alerts} alerts, in {seconds} s.',
    'rules.bt.needfrom': 'Choose when the backtest starts.',
    'rules.bt.rules': 'Alerts per rule',
    'rules.bt.accounts': 'Accounts with the most alerts',
    'rules.bt.noaccounts': 'No accounts to show: none alerted, or they belong to organisations your roles do not let you look up (their counts are in the table above).',
    'rules.bt.truncated': 'More rule and account pairs alerted than were tallied: account counts are lower bounds.',
    'rules.bt.chart': 'Chart: alerts per rule in the backtest, one bar per rule. The same figures are in the table below.',
    'rules.bt.series': 'Alerts',
    'rules.nocheck': 'Your roles may read rules but not check or backtest them (rules.test).',
  },
  nb: {
    'rules.title': 'Regler', 'rules.ok': 'OK',
    'rules.loaded': 'Innlastede regler',
    'rules.loading': 'Laster …',
    'rules.caption': 'Reglene serveren kjører, med hva detektoren har gjort med hver siden start',
    'rules.col.id': 'Regel', 'rules.col.severity': 'Alvorlighet', 'rules.col.when': 'Hendelser', 'rules.col.respond': 'Tiltak',
    'rules.col.file': 'Fil', 'rules.col.evaluated': 'Vurdert', 'rules.col.hits': 'Treff', 'rules.col.excepted': 'Unntatt',
    'rules.col.suppressed': 'Undertrykt', 'rules.col.alerts': 'Varsler', 'rules.col.errors': 'Feil', 'rules.col.title': 'Tittel', 'rules.col.tests': 'Tester',
    'rules.col.accounts': 'Kontoer', 'rules.col.first': 'Første varsel', 'rules.col.last': 'Siste varsel', 'rules.col.rule': 'Regel',
    'rules.col.bucket': 'Fra', 'rules.col.account': 'Konto', 'rules.col.folded': 'Sammenslåtte treff', 'rules.col.name': 'Test',
    'rules.col.line': 'Linje', 'rules.col.want': 'Forventet', 'rules.col.got': 'Fikk', 'rules.col.result': 'Resultat',
    'rules.reload.title': 'Siste innlasting',
    'rules.reload.ok': '{rules} regler lastet inn {at} ({cause}).',
    'rules.reload.error': 'Innlastingen {at} ({cause}) feilet: detektoren beholder de {rules} reglene den hadde. Rett feilene og lagre filen på nytt:',
    'rules.cause.start': 'ved oppstart', 'rules.cause.signal': 'SIGHUP', 'rules.cause.file change': 'en regelfil ble endret',
    'rules.status.unavailable': 'Detektoren kjører i en annen prosess, så tallene per regel vises ikke her.',
    'rules.hits.title': 'Varsler per regel over tid',
    'rules.hits.window': 'Periode',
    'rules.hits.w24h': 'Siste døgn', 'rules.hits.w7d': 'Siste 7 dager', 'rules.hits.w30d': 'Siste 30 dager',
    'rules.hits.w90d': 'Siste 90 dager', 'rules.hits.w365d': 'Siste år',
    'rules.hits.label': 'Diagram: lagrede varsler per regel, {window}, én linje per regel. De samme tallene står i tabellen under diagrammet.',
    'rules.hits.none': 'Ingen varsler ble lagret i denne perioden.',
    'rules.hits.noseries': 'ingen varsler',
    'rules.hits.astable': 'Vis tallene som tabell',
    'rules.hits.caption': 'Varsler per regel og periode ({bucket} hver)',
    'rules.check.title': 'Kontroller en regelfil',
    'rules.check.intro': 'Kompilerer filen og kjører testene i den (tests:), slik breachd rules lint og breachd rules test gjør. Ingenting lagres eller lastes inn.',
    'rules.check.file': 'Filnavn',
    'rules.check.text': 'Regelfil (YAML)',
    'rules.check.run': 'Kontroller',
    'rules.check.running': 'Kontrollerer …',
    'rules.check.empty': 'Lim inn en regelfil først.',
    'rules.check.errors': 'Filen kompilerer ikke:',
    'rules.check.ok': '{rules} regler kompilerer; {passed} av {tests} tester bestått.',
    'rules.check.failed': '{rules} regler kompilerer, men {failed} av {tests} tester feilet.',
    'rules.check.warnings': 'Advarsler',
    'rules.check.tests': 'Tester',
    'rules.check.pass': 'bestått', 'rules.check.fail': 'FEILET',
    'rules.bt.title': 'Tilbaketest',
    'rules.bt.intro': 'Spiller lagrede hendelser gjennom reglene og viser hva de ville ha varslet. Ingenting varsles eller lagres.',
    'rules.bt.rule': 'Regel',
    'rules.bt.all': 'Alle innlastede regler',
    'rules.bt.from': 'Fra',
    'rules.bt.to': 'Til',
    'rules.bt.text': 'Endret regelfil (valgfritt)',
    'rules.bt.texthint': 'La feltet stå tomt for å teste de innlastede reglene. En regelfil limt inn her testes i stedet (alle reglene i den); tilbaketest av en endret regel føres i innsynsloggen.',
    'rules.bt.run': 'Kjør tilbaketest',
    'rules.bt.cancel': 'Avbryt',
    'rules.bt.cancelled': 'Tilbaketesten ble avbrutt.',
    'rules.bt.progress': 'Fremdrift',
    'rules.bt.starting': 'Starter …',
    'rules.bt.phase.directory': 'Bygger katalogen', 'rules.bt.phase.warm-up': 'Fyller tidsvinduene', 'rules.bt.phase.replay': 'Spiller av hendelser',
    'rules.bt.step': '{phase}: {events} hendelser{of}',
    'rules.bt.of': ' av omtrent {planned}',
    'rules.bt.done': 'Tilbaketest ferdig: {events} hendelser spilt av, {alerts} varsler, på {seconds} s.',
    'rules.bt.needfrom': 'Velg når tilbaketesten skal starte.',
    'rules.bt.rules': 'Varsler per regel',
    'rules.bt.accounts': 'Kontoene med flest varsler',
    'rules.bt.noaccounts': 'Ingen kontoer å vise: ingen ga varsel, eller de hører til organisasjoner rollene dine ikke gir innsyn i (antallene står i tabellen over).',
    'rules.bt.truncated': 'Flere par av regel og konto ga varsel enn det ble talt opp: antall kontoer er et minimum.',
    'rules.bt.chart': 'Diagram: varsler per regel i tilbaketesten, én søyle per regel. De samme tallene står i tabellen under.',
    'rules.bt.series': 'Varsler',
    'rules.nocheck': 'Rollene dine gir lesetilgang til regler, men ikke til å kontrollere eller tilbaketeste dem (rules.test).',
  },
};

// windows of the hits chart: the span and the bucket asked of GET /api/rules/hits.
const windows = {
  '24h': { ms: 864e5, bucket: '1h', sec: 3600 },
  '7d': { ms: 7 * 864e5, bucket: '6h', sec: 6 * 3600 },
  '30d': { ms: 30 * 864e5, bucket: '24h', sec: 86400 },
  '90d': { ms: 90 * 864e5, bucket: '24h', sec: 86400 },
  '365d': { ms: 365 * 864e5, bucket: '168h', sec: 7 * 86400 },
};
const defaultWindow = '90d';

// statusCols are the detector's counters per rule (GET /api/rules/status).
const statusCols = ['evaluated', 'hits', 'excepted', 'suppressed', 'alerts', 'errors'];

const label = (c) => t('rules.col.' + c);

// posText is a compile error as file:line:col: [rule] message.
function posText(e) {
  const pos = e.line ? `${e.file}:${e.line}:${e.column}` : e.file;
  return (pos ? pos + ': ' : '') + (e.rule ? `rule ${e.rule}: ` : '') + e.message;
}

// render draws the page. The query may choose the chart's window (?window=7d) and prefill the
// backtest's range (?from=…&to=…, RFC 3339 or dates), so a link can show a past period.
export async function render(main, _params, ctx) {
  const q = ctx.query;
  const initialWindow = windows[q.get('window')] ? q.get('window') : defaultWindow;
  const charts = { hits: null, backtest: null };
  let backtestRun = null; // the running backtest's AbortController
  const canTest = may('rules.test');

  const reloadBox = h('div', { id: 'reload-status', class: 'panel' }, h('p', { class: 'loading' }, t('rules.loading')));
  const rulesBox = h('div', {}, h('p', { class: 'loading' }, t('rules.loading')));

  // ---- hits over time ----
  const hitsSel = h('select', { id: 'hits-window', onchange: () => loadHits() },
    Object.keys(windows).map((w) => h('option', { value: w, selected: w === initialWindow }, t('rules.hits.w' + w))));
  const hitsChart = h('div', { id: 'hits-chart', class: 'chart' });
  const hitsNote = h('p', { class: 'muted', role: 'status' });
  const hitsTable = h('div', { id: 'hits-table' });
  const hitsSection = h('section', { 'aria-labelledby': 'hits-h' },
    h('h2', { id: 'hits-h' }, t('rules.hits.title')),
    h('div', { class: 'fields' }, field(t('rules.hits.window'), hitsSel)),
    hitsChart, hitsNote,
    h('details', { class: 'chart-table' }, h('summary', {}, t('rules.hits.astable')), hitsTable));

  fill(main,
    h('h1', {}, t('rules.title')),
    h('section', { 'aria-labelledby': 'reload-h' }, h('h2', { id: 'reload-h' }, t('rules.reload.title')), reloadBox),
    h('section', { 'aria-labelledby': 'loaded-h' }, h('h2', { id: 'loaded-h' }, t('rules.loaded')), rulesBox),
    hitsSection,
    canTest ? checkSection() : h('p', { class: 'notice' }, t('rules.nocheck')),
    canTest ? backtestSection() : null);

  async function loadRules() {
    try {
      const [rows, st] = await Promise.all([
        allRows('/api/rules', {}, { signal: ctx.signal }),
        api('GET', '/api/rules/status', undefined, { signal: ctx.signal }),
      ]);
      showReload(st);
      const byRule = new Map((st.rules || []).map((r) => [r.rule, r]));
      const data = rows.map((r) => Object.assign({ id: r.ID, title: r.TITLE, severity: r.SEVERITY, when: r.WHEN, respond: r.RESPOND,
        tests: r.TESTS, file: r.FILE }, byRule.get(r.ID) || {}));
      const cols = ['id', 'severity', 'when', 'respond', 'tests', 'file'].concat(st.available ? statusCols : []);
      fill(rulesBox, scrollable(table(cols, data, { id: 'rules', label,
        caption: t('rules.caption'),
        rowAttrs: (r) => ({ 'data-rule': r.id }),
        cell: (c, v, r) => (c === 'severity' ? severityBadge(v) : statusCols.includes(c) || c === 'tests' ? num(v)
          : c === 'id' ? [h('code', {}, v), h('div', { class: 'muted' }, r.title || '')] : String(v ?? '')),
      }), t('rules.loaded')));
      const sel = document.getElementById('backtest-rule');
      if (sel) {
        fill(sel, h('option', { value: '' }, t('rules.bt.all')), data.map((r) => h('option', { value: r.id }, r.id)));
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(rulesBox, errorBox(e));
      fill(reloadBox, errorBox(e));
    }
  }

  function showReload(st) {
    if (!st.available || !st.reload) {
      fill(reloadBox, h('p', {}, t('rules.status.unavailable')), st.message ? h('p', { class: 'muted' }, st.message) : null);
      reloadBox.dataset.result = 'unavailable';
      return;
    }
    const rl = st.reload;
    const vars = { rules: rl.rules, at: '', cause: t('rules.cause.' + rl.cause) };
    const at = timeEl(rl.at);
    const sentence = (key) => {
      const [before, after] = t(key, Object.assign({}, vars, { at: '\u0000' })).split('\u0000');
      return [before, at, after];
    };
    reloadBox.dataset.result = rl.result;
    if (rl.result === 'ok') {
      fill(reloadBox, h('p', {}, h('span', { class: 'badge state-ok' }, t('rules.ok')), ' ', sentence('rules.reload.ok')));
      return;
    }
    fill(reloadBox,
      h('div', { role: 'alert' },
        h('p', {}, h('span', { class: 'badge state-error' }, t('rules.col.errors')), ' ', sentence('rules.reload.error')),
        rl.message ? h('p', {}, rl.message) : null,
        h('ul', { class: 'errors' }, (rl.errors || []).map((e) => h('li', {}, h('code', {}, posText(e)))))));
  }

  // loadHits draws the chart of the window chosen; choosing another aborts the read of the
  // one before (one AbortController per read), so an older answer never replaces it.
  let hitsRead = null;
  async function loadHits() {
    const w = windows[hitsSel.value] || windows[defaultWindow];
    const to = new Date();
    const from = new Date(to.getTime() - w.ms);
    if (hitsRead) hitsRead.abort();
    const mine = new AbortController();
    hitsRead = mine;
    fill(hitsNote, t('rules.loading'));
    let rows;
    try {
      rows = await allRows('/api/rules/hits', { from: from.toISOString(), to: to.toISOString(), bucket: w.bucket },
        { signal: AbortSignal.any([ctx.signal, mine.signal]) });
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(hitsNote, errorBox(e));
      return;
    }
    // x: every bucket of the window (buckets are aligned to the Unix epoch), so a quiet
    // period draws as zero, not as a line across it.
    const first = Math.floor(from.getTime() / 1000 / w.sec) * w.sec;
    const xs = [];
    for (let x = first; x < to.getTime() / 1000; x += w.sec) xs.push(x);
    const at = new Map(xs.map((x, i) => [x, i]));
    const ruleIds = [...new Set(rows.map((r) => r.rule))].sort();
    const ys = ruleIds.map(() => new Array(xs.length).fill(0));
    for (const r of rows) {
      const i = at.get(Math.floor(new Date(r.bucket).getTime() / 1000));
      if (i !== undefined) ys[ruleIds.indexOf(r.rule)][i] = r.alerts;
    }
    if (charts.hits) charts.hits.destroy();
    const names = ruleIds.length ? ruleIds : [t('rules.hits.noseries')];
    const data = [xs].concat(ruleIds.length ? ys : [new Array(xs.length).fill(0)]);
    charts.hits = chart(hitsChart, names, data, {
      label: t('rules.hits.label', { window: t('rules.hits.w' + hitsSel.value).toLowerCase() }),
      yLabel: label('alerts'),
    });
    fill(hitsNote, rows.length ? '' : t('rules.hits.none'));
    fill(hitsTable, table(['bucket', 'rule', 'alerts', 'accounts', 'suppressed'], rows, { id: 'hits', label,
      caption: t('rules.hits.caption', { bucket: w.bucket }),
      cell: (c, v) => (c === 'bucket' ? timeEl(v) : c === 'rule' ? h('code', {}, v) : num(v)),
    }));
  }

  // ---- check ----
  function checkSection() {
    const file = h('input', { id: 'check-file', type: 'text', value: 'rule.yaml', maxlength: 128, autocomplete: 'off', spellcheck: 'false' });
    const text = h('textarea', { id: 'check-text', rows: 14, spellcheck: 'false' });
    const run = h('button', { id: 'check-run', type: 'submit' }, t('rules.check.run'));
    const result = h('div', { id: 'check-result' });
    const form = h('form', { id: 'check-form', novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) {
        fill(result, h('div', { class: 'error', role: 'alert' }, t('rules.check.empty')));
        text.focus();
        return;
      }
      run.disabled = true;
      fill(result, h('p', { class: 'loading' }, t('rules.check.running')));
      try {
        const name = file.value.trim() || 'rule.yaml';
        const res = await api('POST', '/api/rules/check', { files: { [name]: text.value } }, { signal: ctx.signal });
        showCheck(result, res);
      } catch (err) {
        if (err.name !== 'AbortError') fill(result, errorBox(err));
      } finally {
        run.disabled = false;
      }
    } },
    h('div', { class: 'fields' }, field(t('rules.check.file'), file)),
    field(t('rules.check.text'), text),
    h('div', { class: 'actions' }, run));
    return h('section', { 'aria-labelledby': 'check-h' },
      h('h2', { id: 'check-h' }, t('rules.check.title')),
      h('p', { class: 'muted' }, t('rules.check.intro')),
      form, result);
  }

  function showCheck(box, res) {
    if (res.errors && res.errors.length) {
      fill(box, h('div', { class: 'error', role: 'alert' },
        h('p', {}, t('rules.check.errors')),
        h('ul', { class: 'errors' }, res.errors.map((e) => h('li', {}, h('code', {}, posText(e)))))));
      box.dataset.ok = 'false';
      return;
    }
    const results = (res.tests && res.tests.results) || [];
    const failed = (res.tests && res.tests.failed) || 0;
    const vars = { rules: res.rules, tests: results.length, passed: results.length - failed, failed };
    const summary = failed ? t('rules.check.failed', vars) : t('rules.check.ok', vars);
    box.dataset.ok = String(!!res.ok);
    fill(box,
      h('div', { class: failed ? 'error' : 'notice' }, summary),
      res.warnings && res.warnings.length ? [h('h3', {}, t('rules.check.warnings')), h('ul', {}, res.warnings.map((w) => h('li', {}, w)))] : null,
      results.length ? table(['rule', 'name', 'line', 'want', 'got', 'result'], results.map((r) => Object.assign({}, r, {
        result: r.passed ? t('rules.check.pass') : t('rules.check.fail') + (r.error ? ': ' + r.error : ''),
      })), {
        id: 'check-tests', label,
        caption: t('rules.check.tests'),
        cell: (c, v, r) => (c === 'result' ? h('span', { class: r.passed ? 'pass' : 'fail' }, v) : c === 'rule' ? h('code', {}, v) : String(v ?? '')),
      }) : null);
    announce(summary);
  }

  // ---- backtest ----
  function backtestSection() {
    const end = localInputOf(q.get('to'), Date.now());
    const start = localInputOf(q.get('from'), new Date(end).getTime() - windows[initialWindow].ms);
    const rule = h('select', { id: 'backtest-rule' }, h('option', { value: '' }, t('rules.bt.all')));
    const from = h('input', { id: 'backtest-from', type: 'datetime-local', required: true, value: start });
    const to = h('input', { id: 'backtest-to', type: 'datetime-local', value: end });
    const text = h('textarea', { id: 'backtest-text', rows: 8, spellcheck: 'false' });
    const run = h('button', { id: 'backtest-run', type: 'submit' }, t('rules.bt.run'));
    const cancel = h('button', { id: 'backtest-cancel', type: 'button', class: 'secondary', disabled: true, onclick: () => backtestRun && backtestRun.abort() }, t('rules.bt.cancel'));
    const progress = h('progress', { id: 'backtest-progress', max: 100, value: 0, 'aria-describedby': 'backtest-step' });
    const step = h('span', { id: 'backtest-step' });
    const errBox = h('div', { id: 'backtest-error' });
    const result = h('div', { id: 'backtest-result' });

    const form = h('form', { id: 'backtest-form', novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      fill(errBox);
      if (!from.value) {
        fill(errBox, h('div', { class: 'error', role: 'alert' }, t('rules.bt.needfrom')));
        from.focus();
        return;
      }
      const body = { from: fromLocalInput(from.value) };
      if (to.value) body.to = fromLocalInput(to.value);
      if (text.value.trim()) body.rule_text = text.value;
      else if (rule.value) body.rules = [rule.value];
      if (backtestRun) backtestRun.abort();
      const ctl = new AbortController();
      backtestRun = ctl;
      run.disabled = true;
      cancel.disabled = false;
      progress.value = 0;
      progress.removeAttribute('data-done');
      fill(step, t('rules.bt.starting'));
      if (charts.backtest) { charts.backtest.destroy(); charts.backtest = null; }
      fill(result);
      try {
        const rep = await streamBacktest(body, ctl.signal, (p) => showProgress(progress, step, p));
        progress.value = 100;
        progress.dataset.done = 'true';
        const done = t('rules.bt.done', { events: fmtNum(rep.events), alerts: rep.alerts, seconds: Number(rep.duration_seconds || 0).toFixed(1) });
        fill(step, done);
        showBacktest(result, rep);
        announce(done);
      } catch (err) {
        if (err.name === 'AbortError') {
          fill(step, t('rules.bt.cancelled'));
          announce(t('rules.bt.cancelled'));
        } else {
          fill(step);
          fill(errBox, errorBox(err));
        }
      } finally {
        if (backtestRun === ctl) backtestRun = null;
        run.disabled = false;
        cancel.disabled = true;
      }
    } },
    h('div', { class: 'fields' }, field(t('rules.bt.rule'), rule), field(t('rules.bt.from'), from), field(t('rules.bt.to'), to)),
    field(t('rules.bt.text'), text, t('rules.bt.texthint')),
    h('div', { class: 'actions' }, run, cancel));
    return h('section', { 'aria-labelledby': 'backtest-h' },
      h('h2', { id: 'backtest-h' }, t('rules.bt.title')),
      h('p', { class: 'muted' }, t('rules.bt.intro')),
      form,
      h('div', { class: 'progress-line' }, h('label', { for: 'backtest-progress' }, t('rules.bt.progress')), progress, step),
      errBox, result);
  }

  function showBacktest(box, rep) {
    const rules = rep.rules || [];
    const chartEl = h('div', { id: 'backtest-chart', class: 'chart' });
    const top = rep.top || [];
    fill(box,
      h('h3', {}, t('rules.bt.rules')),
      chartEl,
      scrollable(table(['rule', 'title', 'severity', 'evaluated', 'hits', 'excepted', 'suppressed', 'alerts', 'accounts', 'first', 'last'], rules, { id: 'backtest-rules', label,
        caption: `${fmtTime(rep.from)} – ${fmtTime(rep.to)}`,
        rowAttrs: (r) => ({ 'data-rule': r.rule }),
        cell: (c, v) => (c === 'severity' ? severityBadge(v) : c === 'rule' ? h('code', {}, v) : c === 'first' || c === 'last' ? timeEl(v)
          : c === 'title' ? String(v ?? '') : num(v)),
      }), t('rules.bt.rules')),
      rep.keys_truncated ? h('p', { class: 'notice' }, t('rules.bt.truncated')) : null,
      h('h3', {}, t('rules.bt.accounts')),
      table(['rule', 'account', 'alerts', 'folded', 'first', 'last'], top, { id: 'backtest-accounts', label,
        cell: (c, v) => (c === 'rule' ? h('code', {}, v) : c === 'account' ? String(v ?? '') : c === 'first' || c === 'last' ? timeEl(v) : num(v)),
      }),
      top.length ? null : h('p', { class: 'muted' }, t('rules.bt.noaccounts')));
    // The report has no time buckets: a bar per rule of its alerts.
    charts.backtest = chart(chartEl, [t('rules.bt.series')], [rules.map((_, i) => i), rules.map((r) => r.alerts)], {
      label: t('rules.bt.chart'), categories: rules.map((r) => r.rule), yLabel: label('alerts'),
    });
  }

  await Promise.all([loadRules(), loadHits()]);
  return () => {
    if (backtestRun) backtestRun.abort();
    for (const c of Object.values(charts)) if (c) c.destroy();
  };
}

// showProgress shows a progress line of the backtest: the phase and its events, and the bar
// (the directory and the warm-up take the first fifth, the replay the rest).
function showProgress(bar, step, p) {
  const share = { directory: [0, 10], 'warm-up': [10, 20], replay: [20, 100] }[p.phase] || [0, 100];
  const frac = p.done ? 1 : p.planned > 0 ? Math.min(1, p.events / p.planned) : 0;
  bar.value = Math.round(share[0] + (share[1] - share[0]) * frac);
  fill(step, t('rules.bt.step', {
    phase: t('rules.bt.phase.' + p.phase),
    events: fmtNum(p.events),
    of: p.planned > 0 ? t('rules.bt.of', { planned: fmtNum(p.planned) }) : '',
  }));
}

// streamBacktest posts body to /api/rules/backtest asking for NDJSON, calls onProgress with
// each progress line and returns the report of the result line. An error line, or an error
// answer before the run, throws ApiError; signal aborts it (AbortError).
async function streamBacktest(body, signal, onProgress) {
  const res = await request('POST', '/api/rules/backtest', body, { signal, accept: 'application/x-ndjson' });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let report = null;
  const handle = (line) => {
    if (!line.trim()) return;
    const m = JSON.parse(line);
    if (m.progress) onProgress(m.progress);
    else if (m.result) report = m.result;
    else if (m.error) throw new ApiError(res.status, m.error.code, m.error.message);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  handle(buf);
  if (!report) throw new ApiError(res.status, 'incomplete', t('core.network'));
  return report;
}

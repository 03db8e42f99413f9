// pages/health.js: pipeline health: the streams, the consumers' lag (highlighted while it
// grows), the dead letters and the ingest, detect and alert rates, sampled from GET
// /api/pipeline every 5 s (rates are counter differences between samples; the last 10 minutes
// are kept in memory while the page is open).
import { h, fill, t, lang, api, announce, table, scrollable, errorBox, timeEl, fmtNum, num } from '../core.js';
import { chart } from '../chart.js';

export const messages = {
  en: {
    'health.title': 'Pipeline health',
    'health.pause': 'Pause updates', 'health.resume': 'Resume updates',
    'health.updated': 'Updated {time}, every 5 seconds.', 'health.paused': 'Updates paused.',
    'health.rates': 'Rates',
    'health.rates.label': 'Chart: events ingested, events evaluated by the detector and alerts raised per second over the last 10 minutes. The latest rates are in the table below.',
    'health.rates.wait': 'Rates appear after the second sample (5 seconds).',
    'health.rates.none': 'This process has no pipeline counters (the API runs apart from the pipeline): see the pipeline\u2019s /metrics for its rates.',
    'health.rate.ingest': 'Ingested events/s', 'health.rate.detect': 'Evaluated events/s', 'health.rate.alerts': 'Alerts/s',
    'health.rates.caption': 'Latest rates per second',
    'health.streams': 'Streams', 'health.consumers': 'Consumers',
    'health.consumers.caption': 'Lag is the messages a consumer has not yet received; a growing lag is marked.',
    'health.growing': 'growing',
    'health.missing': 'not created yet',
    'health.dlq': 'Dead letters',
    'health.dlq.total': '{n} dead letters',
    'health.dlq.help': 'Input that could not be read as events is kept in the DEADLETTER stream with the reason. On the server, list them with breachd dlq list, look at one with breachd dlq show <seq>, and after fixing the cause submit them again with breachd dlq replay.',
    'health.dlq.bysource': 'By source',
    'health.col.name': 'Name', 'health.col.messages': 'Messages', 'health.col.bytes': 'Size', 'health.col.first_seq': 'First seq',
    'health.col.last_seq': 'Last seq', 'health.col.last_time': 'Last message', 'health.col.stream': 'Stream',
    'health.col.consumer': 'Consumer', 'health.col.pending': 'Lag', 'health.col.ack_pending': 'Awaiting ack',
    'health.col.redelivered': 'Redelivered', 'health.col.waiting': 'Waiting pulls', 'health.col.last_active': 'Last delivery',
    'health.col.rate': 'Rate', 'health.col.value': 'Per second', 'health.col.source': 'Source', 'health.col.count': 'Letters',
  },
  nb: {
    'health.title': 'Driftsstatus',
    'health.pause': 'Stopp oppdatering', 'health.resume': 'Fortsett oppdatering',
    'health.updated': 'Oppdatert {time}, hvert 5. sekund.', 'health.paused': 'Oppdatering stoppet.',
    'health.rates': 'Rater',
    'health.rates.label': 'Diagram: hendelser mottatt, hendelser vurdert av detektoren og varsler per sekund de siste 10 minuttene. De siste ratene står i tabellen under.',
    'health.rates.wait': 'Ratene vises etter den andre målingen (5 sekunder).',
    'health.rates.none': 'Denne prosessen har ingen tellere for rørledningen (API-et kjører atskilt fra den): se rørledningens /metrics for ratene.',
    'health.rate.ingest': 'Mottatte hendelser/s', 'health.rate.detect': 'Vurderte hendelser/s', 'health.rate.alerts': 'Varsler/s',
    'health.rates.caption': 'Siste rater per sekund',
    'health.streams': 'Strømmer', 'health.consumers': 'Konsumenter',
    'health.consumers.caption': 'Etterslep er meldingene en konsument ennå ikke har fått; et voksende etterslep er merket.',
    'health.growing': 'voksende',
    'health.missing': 'ikke opprettet ennå',
    'health.dlq': 'Avviste meldinger',
    'health.dlq.total': '{n} avviste meldinger',
    'health.dlq.help': 'Inndata som ikke kunne leses som hendelser, ligger i strømmen DEADLETTER med årsaken. På serveren viser breachd dlq list dem, breachd dlq show <seq> viser én, og når årsaken er rettet, sender breachd dlq replay dem inn på nytt.',
    'health.dlq.bysource': 'Per kilde',
    'health.col.name': 'Navn', 'health.col.messages': 'Meldinger', 'health.col.bytes': 'Størrelse', 'health.col.first_seq': 'Første sekv.',
    'health.col.last_seq': 'Siste sekv.', 'health.col.last_time': 'Siste melding', 'health.col.stream': 'Strøm',
    'health.col.consumer': 'Konsument', 'health.col.pending': 'Etterslep', 'health.col.ack_pending': 'Venter på kvittering',
    'health.col.redelivered': 'Levert på nytt', 'health.col.waiting': 'Ventende forespørsler', 'health.col.last_active': 'Siste levering',
    'health.col.rate': 'Rate', 'health.col.value': 'Per sekund', 'health.col.source': 'Kilde', 'health.col.count': 'Meldinger',
  },
};

const every = 5000; // ms between samples
const keep = 10 * 60; // seconds of rates kept

// rates are the counters whose rates the chart shows: the sum over their labels.
const rates = [
  { key: 'ingest', metric: 'breach_ingest_events_accepted_total' },
  { key: 'detect', metric: 'breach_detect_events_total' },
  { key: 'alerts', metric: 'breach_detect_alerts_total' },
];

const label = (c) => t('health.col.' + c);

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
}

// sums are the rates' counters in a sample (undefined when the process has none of one).
function sums(sample) {
  const out = {};
  for (const r of rates) {
    const ms = (sample.metrics || []).filter((m) => m.name === r.metric);
    out[r.key] = ms.length ? ms.reduce((a, m) => a + m.value, 0) : undefined;
  }
  return out;
}

export async function render(main, _params, ctx) {
  let timer = null;
  let paused = false;
  let inflight = null;
  let prev = null; // the previous sample: time (s), sums, pending by consumer
  const points = { xs: [], ingest: [], detect: [], alerts: [] };
  let rateChart = null;

  const pause = h('button', { id: 'health-pause', type: 'button', class: 'secondary', 'aria-pressed': 'false', onclick: () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    fill(pause, paused ? t('health.resume') : t('health.pause'));
    if (paused) {
      clearTimeout(timer);
      fill(updated, t('health.paused'));
      announce(t('health.paused'));
    } else {
      poll();
    }
  } }, t('health.pause'));
  const updated = h('span', { id: 'health-updated', class: 'muted' });
  const errBox = h('div');
  const ratesChart = h('div', { id: 'rates-chart', class: 'chart' });
  const ratesNote = h('p', { class: 'muted' }, t('health.rates.wait'));
  const ratesTable = h('div');
  const streamsBox = h('div');
  const consumersBox = h('div');
  const dlqTotal = h('p', { id: 'dlq-total', class: 'big' });
  const dlqSources = h('div');

  fill(main,
    h('h1', {}, t('health.title')),
    h('div', { class: 'actions' }, pause, updated),
    errBox,
    h('section', { 'aria-labelledby': 'rates-h' }, h('h2', { id: 'rates-h' }, t('health.rates')), ratesChart, ratesNote, ratesTable),
    h('section', { 'aria-labelledby': 'consumers-h' }, h('h2', { id: 'consumers-h' }, t('health.consumers')), consumersBox),
    h('section', { 'aria-labelledby': 'streams-h' }, h('h2', { id: 'streams-h' }, t('health.streams')), streamsBox),
    h('section', { 'aria-labelledby': 'dlq-h' }, h('h2', { id: 'dlq-h' }, t('health.dlq')), dlqTotal,
      h('p', { class: 'muted' }, t('health.dlq.help')), dlqSources));

  async function poll() {
    clearTimeout(timer);
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    try {
      const s = await api('GET', '/api/pipeline', undefined, { signal: AbortSignal.any([ctx.signal, ctl.signal]) });
      fill(errBox);
      show(s);
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(errBox, errorBox(e));
    } finally {
      if (inflight === ctl) inflight = null;
    }
    if (!paused) timer = setTimeout(poll, every);
  }

  function show(s) {
    const at = new Date(s.time).getTime() / 1000;
    const now = sums(s);
    const pending = new Map();
    const consumers = [];
    for (const st of s.streams || []) {
      for (const c of st.consumers || []) {
        const k = st.name + '/' + c.name;
        pending.set(k, c.pending);
        const before = prev && prev.pending.get(k);
        consumers.push(Object.assign({ stream: st.name, consumer: c.name, growing: before !== undefined && c.pending > before }, c));
      }
    }
    fill(consumersBox, scrollable(table(['stream', 'consumer', 'pending', 'ack_pending', 'redelivered', 'waiting', 'last_active'], consumers, { id: 'consumers', label,
      caption: t('health.consumers.caption'),
      rowAttrs: (r) => ({ class: r.growing ? 'lag-growing' : null, 'data-consumer': r.stream + '/' + r.consumer }),
      cell: (c, v, r) => (c === 'pending'
        ? h('span', { class: 'num' }, fmtNum(v), r.growing ? h('span', { class: 'growing' }, ' \u2191 ', t('health.growing')) : null)
        : c === 'last_active' ? timeEl(v) : c === 'stream' || c === 'consumer' ? String(v) : num(v)),
    }), t('health.consumers')));
    fill(streamsBox, scrollable(table(['name', 'messages', 'bytes', 'first_seq', 'last_seq', 'last_time'], s.streams || [], { id: 'streams', label,
      rowAttrs: (r) => ({ 'data-stream': r.name }),
      cell: (c, v, r) => (c === 'name' ? [String(v), r.exists ? null : h('span', { class: 'muted' }, ' (' + t('health.missing') + ')')]
        : c === 'bytes' ? fmtBytes(v) : c === 'last_time' ? timeEl(v) : num(v)),
    }), t('health.streams')));
    const dl = s.dead_letters || { total: 0, by_source: {} };
    fill(dlqTotal, t('health.dlq.total', { n: fmtNum(dl.total) }));
    dlqTotal.dataset.total = String(dl.total);
    const bySource = Object.entries(dl.by_source || {}).sort((a, b) => b[1] - a[1]).map(([source, count]) => ({ source, count }));
    fill(dlqSources, bySource.length ? table(['source', 'count'], bySource, { id: 'dlq-sources', label,
      caption: t('health.dlq.bysource'), cell: (c, v) => (c === 'count' ? num(v) : String(v)),
    }) : null);

    if (rates.every((r) => now[r.key] === undefined)) {
      fill(ratesNote, t('health.rates.none'));
    } else if (prev && at > prev.at) {
      const dt = at - prev.at;
      const r = {};
      for (const { key } of rates) {
        const d = (now[key] ?? 0) - (prev.sums[key] ?? 0);
        r[key] = d >= 0 ? d / dt : null; // a counter that went down: the process restarted
      }
      points.xs.push(at);
      for (const { key } of rates) points[key].push(r[key]);
      while (points.xs.length && points.xs[0] < at - keep) {
        points.xs.shift();
        for (const { key } of rates) points[key].shift();
      }
      drawRates(r);
    }
    prev = { at, sums: now, pending };
    fill(updated, t('health.updated', { time: new Date(s.time).toLocaleTimeString(lang() === 'nb' ? 'nb-NO' : 'en-GB') }));
  }

  function drawRates(latest) {
    fill(ratesNote);
    const data = [points.xs.slice()].concat(rates.map((r) => points[r.key].slice()));
    rateChart.setData(data);
    fill(ratesTable, table(['rate', 'value'], rates.map((r) => ({ rate: t('health.rate.' + r.key), value: latest[r.key] })), { id: 'rates', label,
      caption: t('health.rates.caption'),
      cell: (c, v) => (c === 'value' ? h('span', { class: 'num' }, v === null ? '' : Number(v).toFixed(2)) : String(v)),
    }));
  }

  // The chart exists from the start (empty until two samples give a rate).
  rateChart = chart(ratesChart, rates.map((r) => t('health.rate.' + r.key)), [[], [], [], []], { label: t('health.rates.label'), height: 220, span: keep });
  await poll();
  return () => {
    paused = true;
    clearTimeout(timer);
    if (inflight) inflight.abort();
    if (rateChart) rateChart.destroy();
  };
}

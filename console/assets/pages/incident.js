// pages/incident.js — one incident, worked through the breach procedure: its summary, the
// 72-hour countdown, steps 1–8, timeline, alerts with their events, evidence, the
// deactivation of the account, the lifecycle actions and the Art. 33 notice. The page follows
// the INCIDENTS stream, so two people working one incident see each other's changes.
import {
  h, fill, t, api, url, lang, may, session, link, timeEl, timeLeft, table, field, errorBox, localInput, fromLocalInput, announce, severityBadge,
} from '../core.js';
import { messages as listMessages, stateText, settled, openStream, streamStatus } from './incidents.js';

const STEPS = [1, 2, 3, 4, 5, 6, 7, 8];
// DRAFT_CHANGES are the changes (Breachd-Change) after which the draft notice reads differently.
const DRAFT_CHANGES = ['report', 'evidence', 'transition', 'ack', 'deactivation', 'comment'];
const REPORT_FIELDS = ['reference', 'dpo', 'consequences', 'measures', 'art34', 'art34_reason', 'delay_reasons'];

export const messages = {
  en: {
    ...listMessages.en,
    'incident.title': 'Incident {id}', 'incident.back': 'All incidents', 'incident.summary': 'Summary',
    'incident.state': 'State', 'incident.severity': 'Severity', 'incident.org': 'Organisation', 'incident.account': 'Account',
    'incident.opened': 'Opened', 'incident.aware': 'Aware since (Art. 33(1))', 'incident.seen': 'Seen',
    'incident.alertcount': 'Alerts', 'incident.rules': 'Rules', 'incident.version': 'Version', 'incident.updated': 'Updated',
    'incident.subjects': 'People named in the alerts', 'incident.more': '(list truncated)',
    'incident.deadline': '72-hour deadline', 'incident.due': 'Report to Datatilsynet due',
    'incident.reported': 'Reported to Datatilsynet',
    'incident.notreportable': 'Documented as not reportable: {reason}',
    'incident.actions': 'Actions', 'incident.ack': 'Acknowledge', 'incident.ack.aware': 'Aware since (empty: now)',
    'incident.ack.hint': 'The moment the organisation became aware of the breach; the deadline is 72 hours after it.',
    'incident.transition.to': 'Move to state', 'incident.transition': 'Change state', 'incident.transition.comment': 'Comment on the change',
    'incident.transition.hint': 'Required for not reportable (the reason) and for closing an incident that was never worked.',
    'incident.transition.none': 'No further state: the incident is closed.',
    'incident.comment.text': 'Comment', 'incident.comment': 'Add comment', 'incident.comment.step': 'Records procedure step',
    'incident.comment.nostep': 'none (a note only)',
    'incident.steps': 'Procedure steps', 'incident.step.done': 'done by {actor},', 'incident.step.open': 'not done',
    'incident.step.1': 'Deactivate the account', 'incident.step.2': 'Tell the data protection officer',
    'incident.step.3': "Get the account's login log", 'incident.step.4': "Get the services' logs: whose data it saw, changed or deleted",
    'incident.step.5': 'Report to Datatilsynet (or document why not)', 'incident.step.6': 'Fix the directory data and remove local rights',
    'incident.step.7': 'Reactivate the account', 'incident.step.8': 'Measures against recurrence',
    'incident.timeline': 'Timeline', 'incident.omitted': '{n} further alerts without an entry',
    'incident.alerts': 'Alerts and their events', 'incident.alerts.none': 'No alerts recorded in history for this incident.',
    'incident.alerts.recent': 'The latest alerts (their events are not available):', 'incident.alerts.truncated': 'Only the first {n} alerts are shown.',
    'incident.event.none': 'event not in history',
    'incident.evidence': 'Evidence', 'incident.evidence.refresh': 'Collect new evidence',
    'incident.evidence.none': 'No evidence collected yet.', 'incident.evidence.hint': 'Looks up the logins and data access of the account (audited as your lookup).',
    'incident.snapshot': 'Snapshot', 'incident.verified.yes': 'verified',
    'incident.evidence.content': 'What the latest snapshots hold', 'incident.evidence.services': 'Services the account logged into',
    'incident.evidence.data': 'Personal data it touched, by category', 'incident.evidence.nonumbers': 'No access evidence yet.',
    'incident.evidence.numbers': 'About {people} people and {records} records ({events} access events).',
    'incident.svc.id': 'Service', 'incident.svc.name': 'Name', 'incident.svc.first': 'First', 'incident.svc.last': 'Last',
    'incident.svc.successes': 'Successful logins', 'incident.svc.failures': 'Failed logins',
    'incident.data.category': 'Category', 'incident.data.people': 'People', 'incident.data.records': 'Records',
    'incident.data.events': 'Events', 'incident.data.sensitivity': 'Sensitivity', 'incident.verified.no': 'NOT VERIFIED',
    'incident.deactivation': 'Deactivation of the account', 'incident.deact.state': 'State: {state}',
    'incident.deact.none': 'not requested', 'incident.deact.requested': 'A rule asked for the account to be deactivated.',
    'incident.deactivate': 'Deactivate account…', 'incident.deact.confirm': 'Deactivate {account} now? The person is signed out of every service.',
    'incident.deact.yes': 'Yes, deactivate', 'incident.deact.no': 'Keep it active', 'incident.approve': 'Approve deactivation',
    'incident.cancel': 'Cancel deactivation', 'incident.reactivate': 'Reactivate account', 'incident.deact.comment': 'Comment (required to approve or cancel)',
    'incident.force': 'Reactivate although steps 2–6 are not all done (the comment is the reason)',
    'incident.deact.commentneeded': 'Write a comment first: it is stored with the decision and audited.',
    'incident.deact.request': 'Request: {state} via {adapter}',
    'incident.report': 'Art. 33 notice to Datatilsynet', 'incident.report.save': 'Save notice fields',
    'incident.report.mark': 'Mark reported to Datatilsynet', 'incident.report.mark.hint': 'Needs Datatilsynet\u2019s reference (case number).',
    'incident.report.needref': 'Give Datatilsynet\u2019s reference first.', 'incident.report.nothing': 'Fill in at least one field.',
    'incident.report.saved': 'Notice fields saved.', 'incident.report.preview': 'Draft notice ({lang})',
    'incident.report.refresh': 'Refresh draft', 'incident.download.nb': 'Download draft in Norwegian (Markdown)',
    'incident.download.en': 'Download draft in English (Markdown)', 'incident.report.readonly': 'Your roles may read the notice but not edit it.',
    'incident.f.reference': 'Datatilsynet\u2019s reference', 'incident.f.dpo': 'Data protection officer (name and contact)',
    'incident.f.consequences': 'Likely consequences for the people concerned', 'incident.f.measures': 'Measures taken or proposed',
    'incident.f.art34': 'Tell the people concerned (Art. 34)?', 'incident.f.art34_reason': 'Reason for the Art. 34 decision',
    'incident.f.delay_reasons': 'Reasons for a late report', 'incident.art34.': 'not decided',
    'incident.art34.notify': 'yes, notify them', 'incident.art34.not_required': 'not required',
    'incident.changed': 'Incident {id} was changed by {actor}.', 'incident.done': 'Done.',
    'incident.kind.opened': 'opened', 'incident.kind.alert': 'alert', 'incident.kind.action': 'action',
    'incident.kind.transition': 'state change', 'incident.kind.comment': 'comment',
    'incident.col.at': 'Time', 'incident.col.actor': 'Who', 'incident.col.kind': 'Kind', 'incident.col.text': 'What', 'incident.col.rule': 'Rule',
    'incident.col.event': 'Event', 'incident.col.taken': 'Taken', 'incident.col.from': 'From', 'incident.col.to': 'To', 'incident.col.rows': 'Rows',
    'incident.col.sha256': 'SHA-256', 'incident.col.verified': 'Verified', 'incident.col.time': 'Event time', 'incident.col.subject': 'Whose data',
    'incident.col.severity': 'Severity', 'incident.col.summary': 'Summary',
    'incident.deact.s.requested': 'requested', 'incident.deact.s.refused': 'refused (allow-listed)',
    'incident.deact.s.awaiting_approval': 'awaiting approval', 'incident.deact.s.in_progress': 'in progress',
    'incident.deact.s.retrying': 'retrying', 'incident.deact.s.done': 'done: the account is deactivated', 'incident.deact.s.failed': 'failed',
    'incident.deact.s.reactivating': 'reactivating', 'incident.deact.s.reactivated': 'reactivated', 'incident.deact.s.cancelled': 'cancelled',
    'incident.deact.s.dry-run': 'dry run: nothing was changed',
    'incident.ack.future': 'The time of awareness cannot be in the future.', 'incident.deact.confirm.label': 'Confirm the deactivation',
  },
  nb: {
    ...listMessages.nb,
    'incident.title': 'Hendelse {id}', 'incident.back': 'Alle hendelser', 'incident.summary': 'Sammendrag',
    'incident.state': 'Status', 'incident.severity': 'Alvorlighet', 'incident.org': 'Organisasjon', 'incident.account': 'Konto',
    'incident.opened': 'Opprettet', 'incident.aware': 'Kjent siden (art. 33 nr. 1)', 'incident.seen': 'Sett',
    'incident.alertcount': 'Varsler', 'incident.rules': 'Regler', 'incident.version': 'Versjon', 'incident.updated': 'Oppdatert',
    'incident.subjects': 'Personer nevnt i varslene', 'incident.more': '(listen er avkortet)',
    'incident.deadline': 'Fristen på 72 timer', 'incident.due': 'Melding til Datatilsynet innen',
    'incident.reported': 'Meldt til Datatilsynet',
    'incident.notreportable': 'Dokumentert som ikke meldepliktig: {reason}',
    'incident.actions': 'Handlinger', 'incident.ack': 'Bekreft', 'incident.ack.aware': 'Kjent siden (tomt: nå)',
    'incident.ack.hint': 'Tidspunktet virksomheten fikk kjennskap til bruddet; fristen er 72 timer etter det.',
    'incident.transition.to': 'Flytt til status', 'incident.transition': 'Endre status', 'incident.transition.comment': 'Kommentar til endringen',
    'incident.transition.hint': 'Påkrevd for ikke meldepliktig (begrunnelsen) og for å lukke en hendelse som aldri ble behandlet.',
    'incident.transition.none': 'Ingen videre status: hendelsen er lukket.',
    'incident.comment.text': 'Kommentar', 'incident.comment': 'Legg til kommentar', 'incident.comment.step': 'Registrerer trinn i rutinen',
    'incident.comment.nostep': 'ingen (bare et notat)',
    'incident.steps': 'Trinn i avviksrutinen', 'incident.step.done': 'utført av {actor},', 'incident.step.open': 'ikke utført',
    'incident.step.1': 'Deaktiver brukerkontoen', 'incident.step.2': 'Varsle personvernombudet',
    'incident.step.3': 'Hent innloggingsloggen til kontoen', 'incident.step.4': 'Hent loggene til tjenestene: hvem sine opplysninger kontoen så, endret eller slettet',
    'incident.step.5': 'Meld til Datatilsynet (eller dokumenter hvorfor ikke)', 'incident.step.6': 'Rett opp katalogdataene og fjern lokale rettigheter',
    'incident.step.7': 'Reaktiver brukerkontoen', 'incident.step.8': 'Tiltak mot gjentakelse',
    'incident.timeline': 'Tidslinje', 'incident.omitted': '{n} flere varsler uten egen linje',
    'incident.alerts': 'Varsler og hendelsene bak dem', 'incident.alerts.none': 'Ingen varsler for denne hendelsen i historikken.',
    'incident.alerts.recent': 'De siste varslene (hendelsene bak dem er ikke tilgjengelige):', 'incident.alerts.truncated': 'Bare de første {n} varslene vises.',
    'incident.event.none': 'hendelsen finnes ikke i historikken',
    'incident.evidence': 'Bevis', 'incident.evidence.refresh': 'Hent nye bevis',
    'incident.evidence.none': 'Ingen bevis er hentet ennå.', 'incident.evidence.hint': 'Slår opp innlogginger og tilgang til opplysninger for kontoen (logges som ditt oppslag).',
    'incident.snapshot': 'Uttrekk', 'incident.verified.yes': 'kontrollert',
    'incident.evidence.content': 'Hva de siste uttrekkene inneholder', 'incident.evidence.services': 'Tjenester kontoen logget inn i',
    'incident.evidence.data': 'Personopplysninger kontoen var borti, etter kategori', 'incident.evidence.nonumbers': 'Ingen bevis for tilgang ennå.',
    'incident.evidence.numbers': 'Omtrent {people} personer og {records} registreringer ({events} tilgangshendelser).',
    'incident.svc.id': 'Tjeneste', 'incident.svc.name': 'Navn', 'incident.svc.first': 'Første', 'incident.svc.last': 'Siste',
    'incident.svc.successes': 'Vellykkede innlogginger', 'incident.svc.failures': 'Mislykkede innlogginger',
    'incident.data.category': 'Kategori', 'incident.data.people': 'Personer', 'incident.data.records': 'Registreringer',
    'incident.data.events': 'Hendelser', 'incident.data.sensitivity': 'Sensitivitet', 'incident.verified.no': 'IKKE KONTROLLERT',
    'incident.deactivation': 'Deaktivering av kontoen', 'incident.deact.state': 'Status: {state}',
    'incident.deact.none': 'ikke bedt om', 'incident.deact.requested': 'En regel ba om at kontoen deaktiveres.',
    'incident.deactivate': 'Deaktiver kontoen …', 'incident.deact.confirm': 'Deaktivere {account} nå? Personen logges ut av alle tjenester.',
    'incident.deact.yes': 'Ja, deaktiver', 'incident.deact.no': 'Behold den aktiv', 'incident.approve': 'Godkjenn deaktivering',
    'incident.cancel': 'Avbryt deaktivering', 'incident.reactivate': 'Reaktiver kontoen', 'incident.deact.comment': 'Kommentar (påkrevd for å godkjenne eller avbryte)',
    'incident.force': 'Reaktiver selv om trinn 2–6 ikke er utført (kommentaren er begrunnelsen)',
    'incident.deact.commentneeded': 'Skriv en kommentar først: den lagres med beslutningen og logges.',
    'incident.deact.request': 'Forespørsel: {state} via {adapter}',
    'incident.report': 'Melding til Datatilsynet (art. 33)', 'incident.report.save': 'Lagre feltene i meldingen',
    'incident.report.mark': 'Marker som meldt til Datatilsynet', 'incident.report.mark.hint': 'Krever Datatilsynets saksnummer.',
    'incident.report.needref': 'Oppgi Datatilsynets saksnummer først.', 'incident.report.nothing': 'Fyll ut minst ett felt.',
    'incident.report.saved': 'Feltene i meldingen er lagret.', 'incident.report.preview': 'Utkast til melding ({lang})',
    'incident.report.refresh': 'Oppdater utkastet', 'incident.download.nb': 'Last ned utkastet på norsk (Markdown)',
    'incident.download.en': 'Last ned utkastet på engelsk (Markdown)', 'incident.report.readonly': 'Rollene dine kan lese meldingen, men ikke endre den.',
    'incident.f.reference': 'Datatilsynets saksnummer', 'incident.f.dpo': 'Personvernombud (navn og kontaktopplysninger)',
    'incident.f.consequences': 'Sannsynlige konsekvenser for de registrerte', 'incident.f.measures': 'Tiltak som er gjennomført eller foreslått',
    'incident.f.art34': 'Underrette de registrerte (art. 34)?', 'incident.f.art34_reason': 'Begrunnelse for beslutningen etter art. 34',
    'incident.f.delay_reasons': 'Grunner til for sen melding', 'incident.art34.': 'ikke avgjort',
    'incident.art34.notify': 'ja, underrett dem', 'incident.art34.not_required': 'ikke nødvendig',
    'incident.changed': 'Hendelse {id} ble endret av {actor}.', 'incident.done': 'Utført.',
    'incident.kind.opened': 'opprettet', 'incident.kind.alert': 'varsel', 'incident.kind.action': 'handling',
    'incident.kind.transition': 'statusendring', 'incident.kind.comment': 'kommentar',
    'incident.col.at': 'Tid', 'incident.col.actor': 'Hvem', 'incident.col.kind': 'Type', 'incident.col.text': 'Hva', 'incident.col.rule': 'Regel',
    'incident.col.event': 'Hendelse', 'incident.col.taken': 'Tatt', 'incident.col.from': 'Fra', 'incident.col.to': 'Til', 'incident.col.rows': 'Rader',
    'incident.col.sha256': 'SHA-256', 'incident.col.verified': 'Kontrollert', 'incident.col.time': 'Tidspunkt', 'incident.col.subject': 'Hvem sine opplysninger',
    'incident.col.severity': 'Alvorlighet', 'incident.col.summary': 'Sammendrag',
    'incident.deact.s.requested': 'bedt om', 'incident.deact.s.refused': 'avvist (på unntakslisten)',
    'incident.deact.s.awaiting_approval': 'venter på godkjenning', 'incident.deact.s.in_progress': 'pågår',
    'incident.deact.s.retrying': 'prøves på nytt', 'incident.deact.s.done': 'utført: kontoen er deaktivert', 'incident.deact.s.failed': 'mislyktes',
    'incident.deact.s.reactivating': 'reaktiveres', 'incident.deact.s.reactivated': 'reaktivert', 'incident.deact.s.cancelled': 'avbrutt',
    'incident.deact.s.dry-run': 'prøvekjøring: ingenting ble endret',
    'incident.ack.future': 'Tidspunktet for kjennskap kan ikke være i fremtiden.', 'incident.deact.confirm.label': 'Bekreft deaktiveringen',
  },
};

// deactText is a deactivation state for people (an unknown one as it is).
const deactText = (s) => (!s ? t('incident.deact.none') : messages.en['incident.deact.s.' + s] ? t('incident.deact.s.' + s) : s);

// busy runs fn with the buttons disabled and its error (or nothing) in the alert box out.
async function busy(buttons, out, fn) {
  for (const b of buttons) b.disabled = true;
  fill(out);
  try {
    await fn();
    return true;
  } catch (e) {
    if (e.name !== 'AbortError') fill(out, errorBox(e));
    return false;
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

export async function render(main, params, ctx) {
  const id = params[0];
  const base = '/api/incidents/' + encodeURIComponent(id);
  const get = (path, signal = ctx.signal) => api('GET', path, undefined, { signal });
  // side runs a request whose failure shows in out (not in the page's error box).
  const side = (p, out) => p.catch((e) => { if (e.name !== 'AbortError') fill(out, errorBox(e)); });
  let inc = null; // GET /api/incidents/{id} (notify.Shown)
  let alertCount = -1;
  const work = may('incidents.work');
  const reporter = may('incidents.report');

  // ---- the skeleton: built once, its sections filled by load() -----------------------
  const loadError = h('div', { id: 'incident-error' });
  const stateEl = h('span', { id: 'state', class: 'state' });
  const summary = h('dl', { class: 'facts' });
  const deadline = h('section', { id: 'deadline', 'aria-labelledby': 'deadline-h', class: 'panel deadline' });
  const deadlineText = h('p', { class: 'countdown', 'aria-live': 'off' });
  const stepsEl = h('section', { id: 'steps', 'aria-labelledby': 'steps-h' });
  const timelineEl = h('section', { id: 'timeline', 'aria-labelledby': 'timeline-h' });
  const alertsEl = h('section', { id: 'alerts', 'aria-labelledby': 'alerts-h' });
  const evidenceBody = h('div', {});
  const evidenceOut = h('div', {});
  const deactBody = h('div', {});
  const deactOut = h('div', {});
  const [status, setStatus] = streamStatus();

  // ---- actions: acknowledge, transition, comment ---------------------------------------
  const actionsOut = h('div', {});
  const ackAware = h('input', { id: 'ack-aware', type: 'datetime-local', max: localInput(new Date()) });
  const ackBtn = h('button', { type: 'button', id: 'ack', onclick: () => busy([ackBtn], actionsOut, async () => {
    if (ackAware.value && new Date(ackAware.value) > new Date()) throw new Error(t('incident.ack.future'));
    const body = ackAware.value ? { aware_at: fromLocalInput(ackAware.value) } : {};
    await api('POST', base + '/ack', body);
    ackAware.value = '';
    await load();
  }) }, t('incident.ack'));
  const transTo = h('select', { id: 'transition-to', name: 'to' });
  const transComment = h('input', { id: 'transition-comment', name: 'comment', maxlength: 2000 });
  const transBtn = h('button', { type: 'button', id: 'transition', onclick: () => busy([transBtn], actionsOut, async () => {
    await api('POST', base + '/transition', { to: transTo.value, comment: transComment.value });
    transComment.value = '';
    await load();
    announce(t('incident.done'));
  }) }, t('incident.transition'));
  const commentText = h('textarea', { id: 'comment-text', name: 'text', rows: 3, maxlength: 4000 });
  const commentStep = h('select', { id: 'comment-step', name: 'step' },
    h('option', { value: '0' }, t('incident.comment.nostep')), STEPS.map((n) => h('option', { value: String(n) }, n + '. ' + t('incident.step.' + n))));
  const commentBtn = h('button', { type: 'button', id: 'comment', onclick: () => busy([commentBtn], actionsOut, async () => {
    await api('POST', base + '/comment', { text: commentText.value, step: Number(commentStep.value) });
    commentText.value = '';
    commentStep.value = '0';
    await load();
    announce(t('incident.done'));
  }) }, t('incident.comment'));
  const actions = work ? h('section', { id: 'actions', 'aria-labelledby': 'actions-h', class: 'panel' },
    h('h2', { id: 'actions-h' }, t('incident.actions')),
    h('div', { class: 'fields' }, field(t('incident.ack.aware'), ackAware, t('incident.ack.hint')), ackBtn),
    h('div', { class: 'fields' }, field(t('incident.transition.to'), transTo), field(t('incident.transition.comment'), transComment, t('incident.transition.hint')), transBtn),
    h('div', { class: 'fields' }, field(t('incident.comment.text'), commentText), field(t('incident.comment.step'), commentStep), commentBtn),
    actionsOut) : null;

  // ---- evidence --------------------------------------------------------------------------
  const evidenceBtn = h('button', { type: 'button', id: 'evidence-refresh', class: 'secondary', onclick: () => busy([evidenceBtn], evidenceOut, async () => {
    const rows = await api('POST', base + '/evidence', {});
    drawEvidence(rows);
    delete content.dataset.loaded;
    content.open = false;
    await load();
  }) }, t('incident.evidence.refresh'));
  // What the latest snapshots hold (the draft notice's services, data categories and
  // numbers), read when the reader opens it: building it is an audited lookup.
  const contentBody = h('div', {});
  const content = h('details', { id: 'evidence-content', ontoggle: () => {
    if (!content.open || content.dataset.loaded) return;
    content.dataset.loaded = '1';
    side(get(base + '/report').then(drawContent), contentBody);
  } }, h('summary', {}, t('incident.evidence.content')), contentBody);
  const drawContent = (rep) => {
    const n = rep.approximate_numbers || {};
    fill(contentBody,
      h('p', {}, n.known ? t('incident.evidence.numbers', { people: n.people, records: n.records, events: n.events }) : t('incident.evidence.nonumbers')),
      table(['id', 'name', 'first', 'last', 'successes', 'failures'], rep.services || [],
        { caption: t('incident.evidence.services'), label: (c) => t('incident.svc.' + c) }),
      table(['category', 'people', 'records', 'events', 'sensitivity'], rep.data_categories || [],
        { caption: t('incident.evidence.data'), label: (c) => t('incident.data.' + c) }));
  };
  const evidenceEl = h('section', { id: 'evidence', 'aria-labelledby': 'evidence-h' },
    h('h2', { id: 'evidence-h' }, t('incident.evidence')),
    work ? h('div', { class: 'actions' }, evidenceBtn, h('span', { class: 'hint' }, t('incident.evidence.hint'))) : null,
    evidenceOut, evidenceBody, content);
  const drawEvidence = (page) => {
    const rows = (page && page.rows) || [];
    if (!rows.length) { fill(evidenceBody, h('p', { class: 'muted' }, t('incident.evidence.none'))); return; }
    fill(evidenceBody, table(['id', 'kind', 'taken', 'from', 'to', 'rows', 'sha256', 'verified'], rows, {
      label: (c) => t(c === 'id' ? 'incident.snapshot' : 'incident.col.' + c),
      cell: (c, v) => c === 'sha256' ? h('code', { class: 'hash' }, v)
        : c === 'verified' ? h('span', { class: v ? 'ok' : 'overdue' }, t(v ? 'incident.verified.yes' : 'incident.verified.no'))
          : c === 'taken' || c === 'from' || c === 'to' ? timeEl(v) : String(v ?? ''),
    }));
  };

  // ---- deactivation ------------------------------------------------------------------------
  const deactComment = h('textarea', { id: 'deactivation-comment', name: 'comment', rows: 2, maxlength: 2000 });
  const force = h('input', { id: 'reactivate-force', type: 'checkbox' });
  const needComment = () => {
    if (deactComment.value.trim()) return true;
    fill(deactOut, errorBox(new Error(t('incident.deact.commentneeded'))));
    deactComment.focus();
    return false;
  };
  let lastRequest = null;
  const deactCall = (btn, path, body) => busy([btn], deactOut, async () => {
    const d = await api('POST', base + path, body);
    lastRequest = d && d.request;
    deactComment.value = '';
    force.checked = false;
    await load();
    announce(t('incident.done'));
  });
  const confirmBox = h('div', { class: 'confirm', id: 'deactivate-confirm-box', hidden: true, role: 'group',
    'aria-label': t('incident.deact.confirm.label'), 'aria-describedby': 'deactivate-confirm-text',
    onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); confirmNo.click(); } } });
  const deactivateBtn = h('button', { type: 'button', id: 'deactivate', class: 'danger', onclick: () => {
    fill(confirmBox.firstChild, t('incident.deact.confirm', { account: inc.account }));
    confirmBox.hidden = false;
    confirmYes.focus();
  } }, t('incident.deactivate'));
  const confirmYes = h('button', { type: 'button', id: 'deactivate-confirm', class: 'danger', onclick: async () => {
    confirmBox.hidden = true;
    await deactCall(deactivateBtn, '/deactivate', { comment: deactComment.value });
  } }, t('incident.deact.yes'));
  const confirmNo = h('button', { type: 'button', class: 'secondary', onclick: () => { confirmBox.hidden = true; deactivateBtn.focus(); } }, t('incident.deact.no'));
  const approveBtn = h('button', { type: 'button', id: 'approve', onclick: () => needComment() && deactCall(approveBtn, '/approve', { comment: deactComment.value }) }, t('incident.approve'));
  const cancelBtn = h('button', { type: 'button', id: 'cancel-deactivation', class: 'secondary', onclick: () => needComment() && deactCall(cancelBtn, '/cancel', { comment: deactComment.value }) }, t('incident.cancel'));
  const reactivateBtn = h('button', { type: 'button', id: 'reactivate', onclick: () => (!force.checked || needComment()) &&
    deactCall(reactivateBtn, '/reactivate', { force: force.checked, reason: deactComment.value }) }, t('incident.reactivate'));
  const deactControls = work ? h('div', { class: 'deact-controls' },
    field(t('incident.deact.comment'), deactComment),
    h('div', { class: 'actions' }, deactivateBtn, approveBtn, cancelBtn, reactivateBtn),
    h('div', { class: 'check' }, force, h('label', { for: 'reactivate-force' }, t('incident.force'))),
    confirmBox) : null;
  const deactEl = h('section', { id: 'deactivation', 'aria-labelledby': 'deactivation-h' },
    h('h2', { id: 'deactivation-h' }, t('incident.deactivation')), deactBody, deactControls, deactOut);
  const drawDeactivation = () => {
    const s = inc.deactivation || '';
    deactEl.dataset.state = s || 'none';
    fill(deactBody,
      h('p', {}, t('incident.deact.state', { state: deactText(s) })),
      inc.respond_requested && !s ? h('p', { class: 'notice' }, t('incident.deact.requested')) : null,
      lastRequest && lastRequest.incident === id ? h('p', { class: 'muted' }, t('incident.deact.request', { state: deactText(lastRequest.state), adapter: lastRequest.adapter || '' }),
        lastRequest.refusal || lastRequest.last_error ? ' — ' + (lastRequest.refusal || lastRequest.last_error) : '') : null);
    if (!work) return;
    deactivateBtn.hidden = !!s && s !== 'cancelled';
    approveBtn.hidden = s !== 'awaiting_approval';
    cancelBtn.hidden = !['awaiting_approval', 'requested', 'retrying'].includes(s);
    reactivateBtn.hidden = !['done', 'dry-run'].includes(s);
    force.parentElement.hidden = reactivateBtn.hidden;
    if (deactivateBtn.hidden) confirmBox.hidden = true;
  };
  fill(confirmBox, h('p', { id: 'deactivate-confirm-text' }, ''), h('div', { class: 'actions' }, confirmYes, confirmNo));

  // ---- the Art. 33 notice ----------------------------------------------------------------------
  const reportOut = h('div', {});
  const preview = h('pre', { id: 'report-preview', class: 'report-preview', tabindex: '0', 'aria-labelledby': 'report-preview-h' });
  const previewHead = h('h3', { id: 'report-preview-h' });
  const inputs = {
    reference: h('input', { name: 'reference', id: 'report-reference', maxlength: 100 }),
    dpo: h('input', { name: 'dpo', id: 'report-dpo', maxlength: 300 }),
    consequences: h('textarea', { name: 'consequences', id: 'report-consequences', rows: 3, maxlength: 4000 }),
    measures: h('textarea', { name: 'measures', id: 'report-measures', rows: 3, maxlength: 4000 }),
    art34: h('select', { name: 'art34', id: 'report-art34' }, ['', 'notify', 'not_required'].map((v) => h('option', { value: v }, t('incident.art34.' + v)))),
    art34_reason: h('textarea', { name: 'art34_reason', id: 'report-art34_reason', rows: 2, maxlength: 2000 }),
    delay_reasons: h('textarea', { name: 'delay_reasons', id: 'report-delay_reasons', rows: 2, maxlength: 2000 }),
  };
  const fillForm = () => {
    const r = inc.report || {};
    for (const f of REPORT_FIELDS) inputs[f].value = r[f] || '';
  };
  const changedFields = () => {
    const r = inc.report || {};
    const body = {};
    for (const f of REPORT_FIELDS) {
      const v = inputs[f].value.trim();
      if (v && v !== (r[f] || '')) body[f] = v;
    }
    if (body.art34 && !body.art34_reason && inputs.art34_reason.value.trim()) body.art34_reason = inputs.art34_reason.value.trim();
    if (body.art34_reason && !body.art34 && inputs.art34.value) body.art34 = inputs.art34.value;
    return body;
  };
  const saveBtn = h('button', { type: 'submit', id: 'report-save' }, t('incident.report.save'));
  const markBtn = h('button', { type: 'button', id: 'mark-reported', class: 'secondary', onclick: () => busy([markBtn, saveBtn], reportOut, async () => {
    const body = changedFields();
    if (!inputs.reference.value.trim()) throw new Error(t('incident.report.needref'));
    await api('PATCH', base + '/report', { ...body, reported: true });
    await load();
    fillForm();
    await loadPreview();
    announce(t('incident.done'));
  }) }, t('incident.report.mark'));
  const form = h('form', { id: 'report-form', class: 'report-form', onsubmit: (e) => {
    e.preventDefault();
    busy([saveBtn, markBtn], reportOut, async () => {
      const body = changedFields();
      if (!Object.keys(body).length) throw new Error(t('incident.report.nothing'));
      await api('PATCH', base + '/report', body);
      await load();
      fillForm();
      await loadPreview();
      fill(reportOut, h('p', { class: 'notice', role: 'status' }, t('incident.report.saved')));
    });
  } },
  h('div', { class: 'grid' },
    h('div', {}, field(t('incident.f.dpo'), inputs.dpo), field(t('incident.f.consequences'), inputs.consequences),
      field(t('incident.f.measures'), inputs.measures), field(t('incident.f.delay_reasons'), inputs.delay_reasons)),
    h('div', {}, field(t('incident.f.art34'), inputs.art34), field(t('incident.f.art34_reason'), inputs.art34_reason),
      field(t('incident.f.reference'), inputs.reference, t('incident.report.mark.hint')))),
  h('div', { class: 'actions' }, saveBtn, markBtn));
  const refreshPreview = h('button', { type: 'button', id: 'report-refresh', class: 'secondary', onclick: () => busy([refreshPreview], reportOut, loadPreview) }, t('incident.report.refresh'));
  const download = (l) => h('a', { id: 'download-' + l, class: 'button secondary', download: 'art33-' + id + (l === 'en' ? '' : '.' + l) + '.md',
    href: url(base + '/report', { format: 'markdown', lang: l }) }, t('incident.download.' + l));
  const reportEl = h('section', { id: 'report', 'aria-labelledby': 'report-h' },
    h('h2', { id: 'report-h' }, t('incident.report')),
    reporter ? form : h('p', { class: 'muted' }, t('incident.report.readonly')),
    reportOut,
    h('div', { class: 'actions' }, download('nb'), download('en'), refreshPreview),
    previewHead, preview);
  const loadPreview = async () => {
    const md = await get(url(base + '/report', { format: 'markdown', lang: lang() }));
    fill(previewHead, t('incident.report.preview', { lang: lang() === 'nb' ? 'norsk' : 'English' }));
    fill(preview, typeof md === 'string' ? md : JSON.stringify(md, null, 2));
  };

  fill(main,
    h('p', {}, link('/incidents', '← ' + t('incident.back'))),
    h('h1', {}, t('incident.title', { id })),
    h('p', { class: 'stream' }, t('incidents.stream') + ': ', status),
    loadError,
    h('section', { id: 'overview', 'aria-labelledby': 'overview-h', class: 'grid' },
      h('div', {}, h('h2', { id: 'overview-h', class: 'visually-hidden' }, t('incident.summary')), summary),
      h('div', {}, deadline)),
    actions,
    stepsEl, deactEl, timelineEl, alertsEl, evidenceEl, reportEl);

  // ---- drawing from the incident -----------------------------------------------------------
  const drawSummary = () => {
    stateEl.dataset.state = inc.state;
    fill(stateEl, stateText(inc.state));
    const rules = Object.entries(inc.rules || {}).sort().map(([r, n]) => r + ' (' + n + ')').join(', ');
    const item = (k, ...v) => [h('dt', {}, t(k)), h('dd', {}, ...v)];
    fill(summary,
      item('incident.summary', inc.summary || ''),
      item('incident.state', stateEl),
      item('incident.severity', severityBadge(inc.severity)),
      item('incident.org', inc.org),
      item('incident.account', h('span', { class: 'account' }, inc.account)),
      item('incident.opened', timeEl(inc.opened)),
      item('incident.aware', timeEl(inc.aware)),
      item('incident.seen', timeEl(inc.first_seen), ' – ', timeEl(inc.last_seen)),
      item('incident.alertcount', String(inc.alert_count ?? 0)),
      item('incident.rules', rules),
      (inc.subjects || []).length ? item('incident.subjects', inc.subjects.join(', '), inc.subjects_truncated ? ' ' + t('incident.more') : '') : null,
      item('incident.updated', timeEl(inc.updated), ' (' + t('incident.version') + ' ' + inc.version + ')'));
  };
  const drawDeadline = () => {
    deadline.dataset.deadline = inc.deadline;
    fill(deadline, h('h2', { id: 'deadline-h' }, t('incident.deadline')),
      h('p', {}, t('incident.due'), ' ', timeEl(inc.deadline)), deadlineText);
    tickDeadline();
  };
  const tickDeadline = () => {
    if (!inc) return;
    const r = inc.report || {};
    deadlineText.className = 'countdown';
    if (r.reported_at) { fill(deadlineText, t('incident.reported'), ' ', timeEl(r.reported_at)); return; }
    if (r.not_reportable_reason) { fill(deadlineText, t('incident.notreportable', { reason: r.not_reportable_reason })); return; }
    if (settled(inc.state)) { fill(deadlineText, stateText(inc.state)); return; }
    const cd = timeLeft(inc.deadline, Date.now());
    deadlineText.classList.add(cd.cls || 'ok');
    fill(deadlineText, cd.text);
  };
  const drawSteps = () => {
    const steps = inc.steps || {};
    fill(stepsEl, h('h2', { id: 'steps-h' }, t('incident.steps')),
      h('ol', { class: 'steps' }, STEPS.map((n) => {
        const s = steps[n] || steps[String(n)];
        return h('li', { 'data-step': n, class: s ? 'done' : 'open' },
          h('span', { class: 'step-name' }, t('incident.step.' + n)), ' — ',
          s ? [t('incident.step.done', { actor: s.actor }), ' ', timeEl(s.at), s.note ? h('span', { class: 'muted' }, ' (' + s.note + ')') : null]
            : h('span', { class: 'muted' }, t('incident.step.open')));
      })));
  };
  const drawTimeline = () => {
    const entries = (inc.timeline || []).slice().reverse();
    fill(timelineEl, h('h2', { id: 'timeline-h' }, t('incident.timeline')),
      table(['at', 'actor', 'kind', 'text'], entries, { class: 'timeline', label: (c) => t('incident.col.' + c),
        cell: (c, v) => c === 'at' ? timeEl(v) : c === 'kind' ? h('span', { 'data-kind': v }, t('incident.kind.' + v)) : String(v ?? '') }),
      inc.timeline_omitted ? h('p', { class: 'muted' }, t('incident.omitted', { n: inc.timeline_omitted })) : null);
  };
  const drawTransitions = () => {
    if (!work) return;
    const keep = transTo.value;
    const next = inc.next_states || [];
    fill(transTo, next.map((s) => h('option', { value: s, selected: s === keep }, stateText(s))));
    transTo.disabled = transBtn.hidden = next.length === 0;
    transTo.title = next.length ? '' : t('incident.transition.none');
  };
  // drawAlerts reads the alerts again; a newer read aborts an older one (one AbortController
  // per read), so an older answer never replaces a newer one.
  let alertsRead = null;
  const drawAlerts = async () => {
    const head = h('h2', { id: 'alerts-h' }, t('incident.alerts'));
    if (alertsRead) alertsRead.abort();
    const mine = new AbortController();
    alertsRead = mine;
    let res;
    try {
      res = await get(base + '/alerts', AbortSignal.any([ctx.signal, mine.signal]));
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.status !== 404 || !(inc.recent_alerts || []).length) { fill(alertsEl, head, errorBox(e)); return; }
      // An older server without the alerts route: the incident's own list of recent alerts.
      fill(alertsEl, head, h('p', { class: 'muted' }, t('incident.alerts.recent')),
        h('ul', {}, inc.recent_alerts.map((a) => h('li', {}, a.id))));
      return;
    }
    const alerts = (res && res.alerts) || [];
    if (!alerts.length) { fill(alertsEl, head, h('p', { class: 'muted' }, t('incident.alerts.none'))); return; }
    fill(alertsEl, head,
      res.truncated ? h('p', { class: 'notice' }, t('incident.alerts.truncated', { n: alerts.length })) : null,
      table(['time', 'rule', 'severity', 'summary', 'subject', 'event'], alerts, {
        label: (c) => t('incident.col.' + c),
        rowAttrs: (a) => ({ 'data-alert': a.id }),
        cell: (c, _v, a) => {
          switch (c) {
            case 'time': return timeEl(a.event_time);
            case 'rule': return h('span', { title: a.title || '' }, a.rule_id);
            case 'severity': return severityBadge(a.severity);
            case 'summary': return a.summary + (a.suppressed ? ' (+' + a.suppressed + ')' : '');
            case 'subject': return a.subject || '';
            default: return eventText(a);
          }
        },
      }));
  };
  const eventText = (a) => {
    const e = a.event;
    if (!e) return h('span', { class: 'muted' }, a.event_kind + ' ' + a.event_id + ' — ' + t('incident.event.none'));
    const shown = ['id', 'time', 'org', 'subject'];
    const parts = Object.entries(e).filter(([k, v]) => !shown.includes(k) && v !== '' && v !== null && v !== 0)
      .map(([k, v]) => k + '=' + (Array.isArray(v) ? v.join(' ') : String(v)));
    return h('span', { class: 'event' }, h('code', {}, parts.join(' · ')));
  };

  // load reads the incident and redraws what depends on it (the report form keeps what is
  // being typed; the alerts are read again only when their number changed).
  async function load() {
    const next = await get(base);
    if (inc && next.version < inc.version) return; // an older answer that arrived late
    inc = next;
    fill(loadError);
    drawSummary();
    drawDeadline();
    drawSteps();
    drawTimeline();
    drawTransitions();
    drawDeactivation();
    if (inc.alert_count !== alertCount) {
      alertCount = inc.alert_count;
      drawAlerts();
    }
  }

  try {
    await load();
  } catch (e) {
    if (e.name === 'AbortError' || ctx.signal.aborted) return null;
    fill(main, h('p', {}, link('/incidents', '← ' + t('incident.back'))), h('h1', {}, t('incident.title', { id })), errorBox(e));
    return null;
  }
  if (ctx.signal.aborted) return null;
  if (reporter) fillForm();
  // loadEvidence reads the snapshots again; a newer read aborts an older one.
  let evidenceRead = null;
  const loadEvidence = () => {
    if (evidenceRead) evidenceRead.abort();
    evidenceRead = new AbortController();
    return side(get(base + '/evidence?limit=1000', AbortSignal.any([ctx.signal, evidenceRead.signal])).then(drawEvidence), evidenceOut);
  };
  loadEvidence();
  side(loadPreview(), reportOut);

  // The draft is built again (an audited lookup of the people concerned) at most once per
  // burst of changes that alter it.
  let previewTimer = null;
  const previewSoon = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => side(loadPreview(), reportOut), 1000);
  };
  const refresh = () => load().catch((e) => { if (e.name !== 'AbortError') fill(loadError, errorBox(e)); });
  const closeStream = openStream({
    onIncident: (d) => {
      if (d.row.id !== id) return;
      refresh();
      if (d.change === 'evidence') loadEvidence();
      if (DRAFT_CHANGES.includes(d.change)) previewSoon();
      if (d.actor && d.actor !== (session.me && session.me.actor)) announce(t('incident.changed', { id, actor: d.actor }));
    },
    // Changes may have been missed before the stream opened: the incident is read again, and
    // after an interruption also the evidence and the draft (an audited lookup, so not on
    // the first open, just after the page read it).
    onReconnect: (first) => {
      refresh();
      if (!first) { loadEvidence(); previewSoon(); }
    },
    onStatus: setStatus,
  });
  const tick = setInterval(tickDeadline, 1000);
  return () => {
    closeStream();
    clearInterval(tick);
    clearTimeout(previewTimer);
  };
}

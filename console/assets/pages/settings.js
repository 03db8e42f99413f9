// The settings page: the console's language for the signed-in user (stored with PUT
// /api/me/prefs through core.js saveLang, the same path as the header's switch), who is signed
// in (actor, roles, organisations, issuer, how) and what their roles allow, and the ways to
// sign in.
import { h, fill, t, api, field, errorBox, session, saveLang, announce, lang, browserLang } from '../core.js';

export const messages = {
  en: {
    'settings.title': 'Settings',
    'settings.language': 'Language', 'settings.lang': 'Language of the console',
    'settings.lang.hint': 'Saved for your user: every browser you sign in with uses it. The breach notification draft downloads in either language whatever you choose.',
    'settings.lang.browser': 'The browser’s language ({lang})', 'settings.lang.nb': 'Norsk (bokmål)', 'settings.lang.en': 'English',
    'settings.saved': 'Language saved.',
    'settings.identity': 'Signed in as', 'settings.actor': 'Name in logs', 'settings.name': 'Name',
    'settings.subject': 'Subject', 'settings.issuer': 'Issuer', 'settings.via': 'Signed in with',
    'settings.roles': 'Roles', 'settings.orgs': 'Organisations', 'settings.orgs.all': 'Every organisation (your roles are not limited to some)',
    'settings.orgs.none': 'None',
    'settings.actions': 'What your roles allow', 'settings.actions.none': 'Your roles allow nothing in the console.',
    'settings.methods': 'Ways to sign in',
    'settings.via.session': 'a browser session', 'settings.via.token': 'an API token', 'settings.via.bearer': 'an ID token of the identity provider', 'settings.via.direct': 'the command line on the server',
    'settings.issuer.local': 'breachd’s own users', 'settings.issuer.os': 'the operating system',
    'settings.role.soc': 'Security operations (every organisation)', 'settings.role.org-admin': 'Organisation administrator (Feide)',
    'settings.role.dpo': 'Data protection officer', 'settings.role.rule-author': 'Rule author', 'settings.role.admin': 'Administrator',
    'settings.method.local': 'A local user name and password', 'settings.method.oidc': 'Your organisation’s sign-in (Feide / OpenID Connect)',
    'settings.action.incidents.read': 'See incidents, their evidence and the breach notification draft',
    'settings.action.incidents.work': 'Work incidents: acknowledge, move through the steps, comment, deactivate accounts',
    'settings.action.incidents.report': 'Fill in and mark the breach notification to Datatilsynet (Art. 33, 34)',
    'settings.action.register.read': 'See the breach register (Art. 33(5))',
    'settings.action.history.lookup': 'Look up the history of accounts and people (audited)',
    'settings.action.history.sql': 'Run read-only SQL over the history (audited)',
    'settings.action.audit.read': 'See who looked up whose history, and why',
    'settings.action.rules.read': 'See the rules and their hits', 'settings.action.rules.test': 'Check and backtest rules',
    'settings.action.dlq.read': 'See dead letters', 'settings.action.dlq.replay': 'Replay dead letters',
    'settings.action.users.admin': 'Manage users and API tokens', 'settings.action.status.read': 'See the pipeline’s health and configuration',
  },
  nb: {
    'settings.title': 'Innstillinger',
    'settings.language': 'Språk', 'settings.lang': 'Språk i konsollet',
    'settings.lang.hint': 'Lagres på brukeren din: alle nettlesere du logger inn med, bruker det. Utkastet til avviksmelding kan lastes ned på begge språk uansett hva du velger.',
    'settings.lang.browser': 'Nettleserens språk ({lang})', 'settings.lang.nb': 'Norsk (bokmål)', 'settings.lang.en': 'English',
    'settings.saved': 'Språket er lagret.',
    'settings.identity': 'Innlogget som', 'settings.actor': 'Navn i logger', 'settings.name': 'Navn',
    'settings.subject': 'Subjekt', 'settings.issuer': 'Utsteder', 'settings.via': 'Innlogget med',
    'settings.roles': 'Roller', 'settings.orgs': 'Organisasjoner', 'settings.orgs.all': 'Alle organisasjoner (rollene dine er ikke begrenset til noen)',
    'settings.orgs.none': 'Ingen',
    'settings.actions': 'Hva rollene dine gir tilgang til', 'settings.actions.none': 'Rollene dine gir ikke tilgang til noe i konsollet.',
    'settings.methods': 'Måter å logge inn på',
    'settings.via.session': 'en nettleserøkt', 'settings.via.token': 'et API-token', 'settings.via.bearer': 'et ID-token fra identitetsleverandøren', 'settings.via.direct': 'kommandolinjen på serveren',
    'settings.issuer.local': 'breachds egne brukere', 'settings.issuer.os': 'operativsystemet',
    'settings.role.soc': 'Sikkerhetssenter (alle organisasjoner)', 'settings.role.org-admin': 'Organisasjonsadministrator (Feide)',
    'settings.role.dpo': 'Personvernombud', 'settings.role.rule-author': 'Regelforfatter', 'settings.role.admin': 'Administrator',
    'settings.method.local': 'Lokalt brukernavn og passord', 'settings.method.oidc': 'Organisasjonens innlogging (Feide / OpenID Connect)',
    'settings.action.incidents.read': 'Se hendelser, bevis og utkastet til avviksmelding',
    'settings.action.incidents.work': 'Behandle hendelser: kvittere, gå gjennom stegene, kommentere, deaktivere kontoer',
    'settings.action.incidents.report': 'Fylle ut og markere avviksmeldingen til Datatilsynet som sendt (art. 33, 34)',
    'settings.action.register.read': 'Se avviksprotokollen (art. 33 nr. 5)',
    'settings.action.history.lookup': 'Slå opp historikken til kontoer og personer (logges)',
    'settings.action.history.sql': 'Kjøre lesende SQL mot historikken (logges)',
    'settings.action.audit.read': 'Se hvem som har slått opp hvem sin historikk, og hvorfor',
    'settings.action.rules.read': 'Se reglene og treffene deres', 'settings.action.rules.test': 'Sjekke og tilbaketeste regler',
    'settings.action.dlq.read': 'Se avviste meldinger', 'settings.action.dlq.replay': 'Sende avviste meldinger på nytt',
    'settings.action.users.admin': 'Administrere brukere og API-tokens', 'settings.action.status.read': 'Se driftsstatus og oppsett',
  },
};

// render draws the language setting (as stored: '' is the browser's language), the identity
// and the sign-in methods.
export async function render(main, _params, ctx) {
  const me = session.me;
  const p = me.principal || {};
  let stored = '';
  let loadErr = null;
  try {
    stored = ((await api('GET', '/api/me/prefs', undefined, { signal: ctx.signal })) || {}).lang || '';
  } catch (e) {
    loadErr = e;
    stored = lang();
  }
  if (ctx.signal.aborted) return;
  const status = h('div', { id: 'settings-status', role: 'status' });
  const browser = t('settings.lang.' + browserLang());
  const sel = h('select', { id: 'settings-lang', name: 'lang' },
    ['', 'nb', 'en'].map((l) => h('option', { value: l, selected: l === stored },
      l ? t('settings.lang.' + l) : t('settings.lang.browser', { lang: browser }))));
  sel.addEventListener('change', async () => {
    sel.disabled = true;
    try {
      await saveLang(sel.value); // draws this page again, in the language chosen
      announce(t('settings.saved'));
    } catch (err) {
      sel.value = stored;
      sel.disabled = false;
      fill(status, errorBox(err));
    }
  });

  const roles = p.roles || [];
  const everywhere = roles.includes('soc') || roles.includes('admin');
  const orgs = p.orgs && p.orgs.length ? p.orgs.join(', ') : everywhere ? t('settings.orgs.all') : t('settings.orgs.none');
  const issuer = p.issuer === 'breachd:local' ? `${t('settings.issuer.local')} (${p.issuer})`
    : p.issuer === 'breachd:os' ? `${t('settings.issuer.os')} (${p.issuer})` : p.issuer;
  const row = (k, v) => [h('dt', {}, t(k)), h('dd', {}, v)];
  const actions = me.actions || [];

  fill(main,
    h('h1', {}, t('settings.title')),
    h('section', { 'aria-labelledby': 'settings-language' },
      h('h2', { id: 'settings-language' }, t('settings.language')),
      loadErr ? errorBox(loadErr) : null,
      field(t('settings.lang'), sel, t('settings.lang.hint')),
      status),
    h('section', { 'aria-labelledby': 'settings-identity' },
      h('h2', { id: 'settings-identity' }, t('settings.identity')),
      h('dl', { class: 'facts', id: 'identity' },
        row('settings.actor', me.actor),
        p.name && p.name !== p.subject ? row('settings.name', p.name) : null,
        row('settings.subject', p.subject),
        row('settings.issuer', issuer),
        row('settings.via', t('settings.via.' + p.via)),
        row('settings.roles', roles.length ? h('ul', { class: 'plain' }, roles.map((r) => h('li', {}, t('settings.role.' + r), ' ', h('code', { class: 'muted' }, r)))) : t('settings.orgs.none')),
        row('settings.orgs', orgs))),
    h('section', { 'aria-labelledby': 'settings-actions' },
      h('h2', { id: 'settings-actions' }, t('settings.actions')),
      actions.length
        ? h('ul', { id: 'actions' }, actions.map((a) => h('li', { 'data-action': a }, described(a), h('code', { class: 'muted' }, a))))
        : h('p', {}, t('settings.actions.none'))),
    h('section', { 'aria-labelledby': 'settings-methods' },
      h('h2', { id: 'settings-methods' }, t('settings.methods')),
      h('ul', { id: 'methods' }, (me.methods || []).map((m) => h('li', {}, t('settings.method.' + m))))));
}

// described is what action a lets one do, followed by a space ('' for an action this page
// has no words for: its code alone says it).
function described(a) {
  const k = 'settings.action.' + a;
  return t(k) === k ? '' : t(k) + ' ';
}

// app.js: the console's shell: who is signed in (/api/me), the language, the navigation and
// the router that renders one page module into <main>.
import { h, fill, t, api, url, session, may, setRouter, navigate, link, addMessages, setLang, saveLang, browserLang, lang, languages, errorBox, ApiError } from './core.js';
import * as signin from './pages/signin.js';

addMessages(signin.messages); // the sign-in page is loaded with the shell, not by the router

// routes: path pattern → the page module (loaded on first use) and the action it needs.
const routes = [
  { path: '/incidents', re: /^\/incidents$/, mod: () => import('./pages/incidents.js'), action: 'incidents.read', nav: 'nav.incidents' },
  { re: /^\/incidents\/(INC-[0-9A-Za-z-]+)$/, mod: () => import('./pages/incident.js'), action: 'incidents.read' },
  { path: '/investigate', re: /^\/investigate$/, mod: () => import('./pages/investigate.js'), action: 'history.lookup', nav: 'nav.investigate' },
  { path: '/audit', re: /^\/audit$/, mod: () => import('./pages/audit.js'), action: 'audit.read', nav: 'nav.audit' },
  { path: '/rules', re: /^\/rules$/, mod: () => import('./pages/rules.js'), action: 'rules.read', nav: 'nav.rules' },
  { path: '/register', re: /^\/register$/, mod: () => import('./pages/register.js'), action: 'register.read', nav: 'nav.register' },
  { path: '/health', re: /^\/health$/, mod: () => import('./pages/health.js'), action: 'status.read', nav: 'nav.health' },
  { path: '/settings', re: /^\/settings$/, mod: () => import('./pages/settings.js'), action: '', nav: 'nav.settings' },
];

addMessages({
  en: {
    'app.title': 'breachd', 'app.skip': 'Skip to content', 'app.nav': 'Main',
    'nav.incidents': 'Incidents', 'nav.investigate': 'Investigate', 'nav.audit': 'Audit',
    'nav.rules': 'Rules', 'nav.register': 'Breach register', 'nav.health': 'Pipeline health',
    'nav.settings': 'Settings', 'app.signout': 'Sign out', 'app.signedin': 'Signed in as {name}',
    'app.notfound': 'There is no such page.', 'app.forbidden': 'Your roles do not allow this page.',
    'app.home': 'Go to the start page', 'app.language': 'Language',
  },
  nb: {
    'app.title': 'breachd', 'app.skip': 'Hopp til innholdet', 'app.nav': 'Hovedmeny',
    'nav.incidents': 'Hendelser', 'nav.investigate': 'Undersøk', 'nav.audit': 'Innsynslogg',
    'nav.rules': 'Regler', 'nav.register': 'Avviksprotokoll', 'nav.health': 'Driftsstatus',
    'nav.settings': 'Innstillinger', 'app.signout': 'Logg ut', 'app.signedin': 'Innlogget som {name}',
    'app.notfound': 'Siden finnes ikke.', 'app.forbidden': 'Rollene dine gir ikke tilgang til denne siden.',
    'app.home': 'Gå til startsiden', 'app.language': 'Språk',
  },
});

let cleanup = null; // the current page's cleanup (closes its EventSource, timers)
let seq = 0; // render generation: a slow page load that was navigated away from draws nothing
let life = null; // the current page's AbortController, aborted when the next page renders

// home is the first page the user's roles allow.
function home() {
  const r = routes.find((r) => r.nav && (!r.action || may(r.action)));
  return r ? r.path : '/settings';
}

// loadMe asks who is signed in; null when nobody is.
async function loadMe() {
  try {
    session.me = await api('GET', '/api/me', undefined, { allow401: true });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) session.me = null;
    else throw e;
  }
  if (session.me && session.me.principal === null) session.me = null;
  return session.me;
}

// loadLang: the user's setting (/api/me/prefs) first, then the browser's languages.
async function loadLang() {
  let l = '';
  if (session.me) {
    try {
      const p = await api('GET', '/api/me/prefs');
      l = (p && p.lang) || '';
    } catch { /* no preferences stored: the browser decides */ }
  }
  setLang(l || browserLang());
}

function header() {
  const top = document.getElementById('top');
  document.querySelector('.skip').textContent = t('app.skip');
  if (!session.me) {
    fill(top, h('div', { class: 'brand' }, t('app.title')));
    return;
  }
  const here = location.pathname;
  const items = routes.filter((r) => r.nav && (!r.action || may(r.action))).map((r) => {
    const a = link(r.path, t(r.nav));
    if (here === r.path || here.startsWith(r.path + '/')) a.setAttribute('aria-current', 'page');
    return h('li', {}, a);
  });
  const nav = h('nav', { 'aria-label': t('app.nav') }, h('ul', {}, items));
  const langSel = h('select', { id: 'lang', 'aria-label': t('app.language'), onchange: async (e) => {
    try {
      await saveLang(e.target.value);
    } catch (err) {
      e.target.value = lang();
      document.getElementById('main').prepend(errorBox(err));
    }
  } }, languages.map((l) => h('option', { value: l, selected: l === lang() }, l === 'nb' ? 'Norsk (bokmål)' : 'English')));
  const out = h('button', { type: 'button', class: 'link', onclick: signout }, t('app.signout'));
  fill(top,
    h('div', { class: 'brand' }, link(home(), t('app.title'))),
    nav,
    h('div', { class: 'who' }, h('span', {}, t('app.signedin', { name: session.me.actor })), langSel, out));
}

async function signout() {
  try { await api('POST', '/auth/logout'); } catch { /* the session may be gone already */ }
  session.me = null;
  navigate('/signin', { replace: true });
}

// leave ends the current page: its requests are aborted and its cleanup runs.
function leave() {
  if (life) life.abort();
  life = null;
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
}

// show runs a page's render with ctx (ctx.signal is aborted when the next page renders); a
// page that was navigated away from while it loaded is ended at once.
async function show(my, fn, ctx) {
  const ac = new AbortController();
  life = ac;
  let done = null;
  try {
    done = (await fn({ ...ctx, signal: ac.signal })) || null;
  } catch (e) {
    if (my === seq && e.name !== 'AbortError') fill(document.getElementById('main'), errorBox(e));
  }
  if (my !== seq) {
    if (done) { try { done(); } catch { /* ignore */ } }
    return false;
  }
  cleanup = done;
  return true;
}

// render draws the page of the current location.
async function render() {
  const my = ++seq;
  leave();
  const main = document.getElementById('main');
  const path = location.pathname;
  if (path === '/signin') {
    header();
    if (await show(my, (ctx) => signin.render(main, [], ctx), { next: new URLSearchParams(location.search).get('next') || '', done: signedIn })) titled(main);
    return;
  }
  if (!session.me) {
    toSigninHere();
    return;
  }
  if (path === '/' || path === '') {
    navigate(home(), { replace: true });
    return;
  }
  header();
  const route = routes.find((r) => r.re.test(path));
  if (!route) {
    fill(main, h('h1', {}, t('app.notfound')), link(home(), t('app.home')));
    document.title = t('app.notfound') + ' — breachd';
    return;
  }
  if (route.action && !may(route.action)) {
    fill(main, h('h1', {}, t('app.forbidden')), link(home(), t('app.home')));
    return;
  }
  let mod;
  try {
    mod = await route.mod();
  } catch (e) {
    fill(main, errorBox(e));
    return;
  }
  if (my !== seq) return;
  addMessages(mod.messages);
  header();
  const params = path.match(route.re).slice(1);
  fill(main);
  if (await show(my, (ctx) => mod.render(main, params, ctx), { query: new URLSearchParams(location.search) })) titled(main);
}

// titled names the document after the page's <h1> and moves the focus to the page (unless
// the page focused one of its controls).
function titled(main) {
  const h1 = main.querySelector('h1');
  document.title = (h1 ? h1.textContent + ' — ' : '') + 'breachd';
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function toSigninHere() {
  const here = location.pathname + location.search;
  navigate(url('/signin', { next: here === '/' ? '' : here }), { replace: true });
}

// signedIn is what the sign-in page calls after a successful sign-in.
async function signedIn(next) {
  await loadMe();
  await loadLang();
  navigate(inConsole(next) || home(), { replace: true });
}

// inConsole is next (the page asked for before signing in) when it is a page of this console,
// else ''. Resolved as the browser would: '/\\host' and '//host' are other sites.
function inConsole(next) {
  if (!next || !next.startsWith('/')) return '';
  try {
    const u = new URL(next, location.origin);
    return u.origin === location.origin ? u.pathname + u.search + u.hash : '';
  } catch {
    return '';
  }
}

async function boot() {
  const route = setRouter(render);
  try {
    await loadMe();
  } catch (e) {
    setLang(browserLang());
    fill(document.getElementById('main'), errorBox(e));
    return;
  }
  await loadLang();
  route();
}

boot();

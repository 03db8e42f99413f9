// The sign-in page: a local user name and password (POST /auth/login), or the OpenID Connect
// provider (GET /auth/oidc/login), whichever /auth/methods offers.
import { h, fill, t, api, url, field, errorBox, ApiError } from '../core.js';

export const messages = {
  en: {
    'signin.title': 'Sign in to breachd', 'signin.user': 'User name', 'signin.password': 'Password',
    'signin.submit': 'Sign in', 'signin.oidc': 'Sign in with your organisation (Feide / OpenID Connect)',
    'signin.or': 'or with a local user', 'signin.wrong': 'Wrong user name or password.',
    'signin.busy': 'Signing in…', 'signin.expired': 'Sign in to continue.',
  },
  nb: {
    'signin.title': 'Logg inn i breachd', 'signin.user': 'Brukernavn', 'signin.password': 'Passord',
    'signin.submit': 'Logg inn', 'signin.oidc': 'Logg inn med organisasjonen din (Feide / OpenID Connect)',
    'signin.or': 'eller med en lokal bruker', 'signin.wrong': 'Feil brukernavn eller passord.',
    'signin.busy': 'Logger inn …', 'signin.expired': 'Logg inn for å fortsette.',
  },
};

// render draws the form; ctx.next is where to go after, ctx.done(next) what to call then.
export async function render(main, _params, ctx) {
  let methods = ['local'];
  try {
    methods = ((await api('GET', '/auth/methods', undefined, { signal: ctx.signal, allow401: true })) || {}).methods || methods;
  } catch { /* the local form still works if the server answers it */ }
  if (ctx.signal.aborted) return;
  const status = h('div', { id: 'signin-status', role: 'alert' });
  const busy = h('p', { class: 'loading', hidden: true }, t('signin.busy'));
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, t('signin.submit'));
  const form = h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(status);
    busy.hidden = false;
    try {
      await api('POST', '/auth/login', { username: user.value, password: pass.value }, { allow401: true });
      pass.value = '';
      await ctx.done(ctx.next);
    } catch (err) {
      busy.hidden = true;
      fill(status, errorBox(err instanceof ApiError && err.status === 401 ? new ApiError(401, err.code, t('signin.wrong')) : err));
      submit.disabled = false;
      pass.focus();
    }
  } },
  field(t('signin.user'), user), field(t('signin.password'), pass), submit, busy, status);
  fill(main,
    h('h1', {}, t('signin.title')),
    ctx.next ? h('p', {}, t('signin.expired')) : null,
    methods.includes('oidc')
      ? [h('p', {}, h('a', { class: 'button', href: url('/auth/oidc/login', { next: ctx.next || '/' }) }, t('signin.oidc'))),
        h('p', {}, t('signin.or'))]
      : null,
    form);
  user.focus();
}

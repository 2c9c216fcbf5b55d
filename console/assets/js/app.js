// The console's shell: sign-in, navigation by role, and the pages (hash routes).
import { h, mount } from './dom.js';
import { get, request, setCSRF, Problem } from './api.js';
import { t, language, setLanguage } from './fmt.js';
import { problemText } from './ui.js';
import * as overview from './pages/overview.js';
import * as payments from './pages/payments.js';
import * as payment from './pages/payment.js';
import * as attention from './pages/attention.js';
import * as health from './pages/health.js';

const main = document.getElementById('main');
let session = null;
let cleanup = null;

const pages = {
  overview: { mod: overview, roles: ['operator'] },
  payments: { mod: payments, roles: ['operator', 'auditor'] },
  payment: { mod: payment, roles: ['operator', 'auditor'] },
  attention: { mod: attention, roles: ['operator'] },
  health: { mod: health, roles: ['operator'] },
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const [name, ...rest] = path.split('/');
  return { name: name || '', arg: rest.map(decodeURIComponent).join('/'), params: new URLSearchParams(query || '') };
}

function home() { return session?.role === 'operator' ? 'overview' : 'payments'; }

function renderNav(active) {
  const nav = document.getElementById('nav');
  const items = Object.entries(pages).filter(([n, p]) => n !== 'payment' && p.roles.includes(session.role));
  mount(nav, items.map(([n]) => h('a', { href: `#/${n}`, 'aria-current': n === active || (active === 'payment' && n === 'payments') ? 'page' : null }, t(n))));
  mount(document.getElementById('whoami'), h('span', { class: `role r-${session.role}` }, session.role), ' ', session.name);
  document.getElementById('signout').textContent = t('signOut');
  document.getElementById('lang').textContent = language() === 'ko' ? 'English' : '한국어';
}

async function route(focus = true) {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!session) return showSignIn();
  document.getElementById('top').hidden = false;
  const r = parseHash();
  const name = pages[r.name] ? r.name : home();
  const page = pages[name];
  renderNav(name);
  document.title = `${t(name)} · paystream`;
  // A page outside the role's navigation is still asked for: the server decides, and the
  // page shows what it answered.
  mount(main, h('p', { class: 'muted' }, t('loading')));
  try {
    cleanup = (await page.mod.render(main, { session, arg: r.arg, params: r.params })) || null;
  } catch (err) {
    mount(main, h('section', { class: 'card refused', id: 'refused' }, h('h1', {}, t(name)), h('p', { class: 'error' }, problemText(err))));
  }
  if (focus) main.focus({ preventScroll: true });
}

function showSignIn(message) {
  document.getElementById('top').hidden = true;
  document.title = `${t('signIn')} · paystream`;
  const key = h('input', { id: 'apikey', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', placeholder: 'psk_…' });
  const error = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'card signin', id: 'signin', method: 'post', action: '#' },
    h('h1', {}, 'paystream console'),
    h('p', { class: 'muted' }, t('signInHint')),
    h('label', { for: 'apikey' }, h('span', {}, t('apiKey')), key),
    error,
    h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'ghost', onclick: () => { setLanguage(language() === 'ko' ? 'en' : 'ko'); showSignIn(); } },
        language() === 'ko' ? 'English' : '한국어'),
      h('button', { type: 'submit', class: 'primary' }, t('signIn'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const s = await request('POST', '/console/session', { key: key.value });
      key.value = '';
      signedIn(s);
    } catch (err) {
      error.textContent = problemText(err);
      key.select();
    }
  });
  mount(main, form);
  key.focus();
}

function signedIn(s) {
  session = s;
  setCSRF(s.csrfToken);
  route();
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await request('DELETE', '/console/session'); } catch { /* signed out anyway */ }
  session = null;
  setCSRF('');
  location.hash = '';
  showSignIn();
});
document.getElementById('lang').addEventListener('click', () => { setLanguage(language() === 'ko' ? 'en' : 'ko'); route(); });
window.addEventListener('hashchange', () => route(true));
window.addEventListener('paystream:reload', () => route(false));
window.addEventListener('paystream:signed-out', () => { if (session) { session = null; showSignIn(t('signIn')); } });

setLanguage(language());
get('/console/session').then(signedIn, (err) => {
  if (!(err instanceof Problem) || err.status !== 401) console.error(err);
  showSignIn();
});

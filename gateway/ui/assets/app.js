// dq admin UI: the session, the page shell and the router (History API under /ui/).
// Pages live in page-*.js; each exports functions render(ctx) that fill ctx.main.

import { api, setCsrf, whenSignedOut, health } from './api.js';
import { h, clear, button, errorBox, toast, loading, badge, fill } from './dom.js';
import * as dashboard from './page-dashboard.js';
import * as topics from './page-topics.js';
import * as subscriptions from './page-subscriptions.js';
import * as messages from './page-messages.js';
import * as dead from './page-dead.js';
import * as xa from './page-xa.js';
import * as outbox from './page-outbox.js';

const BASE = '/ui';

// [pattern, nav item, page function]; captured groups are URL-decoded into ctx.params.
const ROUTES = [
  [/^\/?$/, 'dashboard', dashboard.render],
  [/^\/topics\/?$/, 'topics', topics.list],
  [/^\/topics\/new$/, 'topics', topics.create],
  [/^\/topics\/([^/]+)\/edit$/, 'topics', topics.edit],
  [/^\/topics\/([^/]+)$/, 'topics', topics.show],
  [/^\/subscriptions\/?$/, 'subscriptions', subscriptions.list],
  [/^\/subscriptions\/new$/, 'subscriptions', subscriptions.create],
  [/^\/subscriptions\/([^/]+)\/edit$/, 'subscriptions', subscriptions.edit],
  [/^\/subscriptions\/([^/]+)$/, 'subscriptions', subscriptions.show],
  [/^\/messages\/?$/, 'messages', messages.render],
  [/^\/dead\/?$/, 'dead', dead.render],
  [/^\/xa\/?$/, 'xa', xa.render],
  [/^\/outbox\/?$/, 'outbox', outbox.render],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const menuToggle = document.getElementById('menu-toggle');
let session = null;
let leave = null; // cleanup of the page shown
let firstRender = true;

// ------------------------------------------------------------------ session

async function boot() {
  wireShell();
  whenSignedOut(() => {
    if (session) toast('Your session ended: sign in again.', 'error');
    session = null;
    showSignIn();
  });
  try {
    session = await api('GET', '/ui/session');
  } catch (e) {
    if (e.status === 401) return showSignIn();
    fill(main, h('h1', {}, 'dq admin'), errorBox(e), button('Try again', () => location.reload()));
    return;
  }
  signedIn();
}

function signedIn() {
  setCsrf(session.csrf);
  document.body.classList.toggle('readonly', session.role !== 'admin');
  nav.hidden = false;
  menuToggle.hidden = false;
  fill(document.getElementById('session-box'),
    session.role === 'admin' ? badge('admin', 'ok') : badge('read-only', 'warn'),
    session.auth ? button('Sign out', signOut, { kind: 'btn-small', name: 'sign-out' }) : null,
  );
  const banner = document.getElementById('banner');
  if (!session.auth) {
    banner.replaceChildren('No token configured: the UI is served on loopback only, and anyone who can reach it is an admin. Set ', h('code', {}, 'token'), ' in the gateway\'s configuration to require a sign-in.');
    banner.hidden = false;
  } else if (session.role !== 'admin') {
    banner.textContent = 'Read-only session: you can look at everything and change nothing. Sign in with the gateway\'s token to make changes.';
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  pollHealth();
  render();
}

async function signOut() {
  try {
    await api('DELETE', '/ui/session');
  } catch (e) {
    if (e.status !== 401) return toast(`Sign-out failed: ${e.message}`, 'error');
  }
  session = null;
  setCsrf('');
  toast('Signed out.');
  showSignIn();
}

function showSignIn() {
  if (leave) leave();
  leave = null;
  nav.hidden = true;
  menuToggle.hidden = true;
  document.body.classList.remove('readonly');
  clear(document.getElementById('session-box'));
  document.getElementById('banner').hidden = true;
  document.getElementById('gw-status').textContent = '';
  document.title = 'Sign in · dq admin';
  const err = h('p', { class: 'field-error', id: 'token-error', hidden: true });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-hint token-error' });
  const form = h('form', { class: 'form signin', novalidate: true },
    h('div', { class: 'field', dataset: { field: 'token' } },
      h('label', { for: 'token' }, 'Token'), input,
      h('p', { class: 'hint', id: 'token-hint' }, 'The gateway\'s ', h('code', {}, 'token'), ' for an admin session, or its ', h('code', {}, 'ui_readonly_token'), ' to look without changing anything.'),
      err),
    h('div', { class: 'form-buttons' }, button('Sign in', null, { kind: 'btn-primary', type: 'submit', name: 'sign-in' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    if (!input.value) return showErr('Enter the token.');
    try {
      session = await api('POST', '/ui/session', { token: input.value });
    } catch (ex) {
      return showErr(ex.status === 401 ? `That token is not accepted: ${ex.message}` : ex.message);
    }
    signedIn();
  });
  function showErr(text) {
    err.textContent = text;
    err.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  fill(main, h('section', { class: 'signin-box' }, h('h1', {}, 'Sign in to dq'), form));
  input.focus();
}

// ------------------------------------------------------------------ health line in the top bar

let healthTimer = null;
async function pollHealth() {
  clearTimeout(healthTimer);
  if (!session) return;
  const el = document.getElementById('gw-status');
  try {
    const hz = await health();
    fill(el, badge(hz.status), h('span', { class: 'gw-version' }, ` dq ${hz.version}`));
  } catch (e) {
    fill(el, badge('unreachable', 'bad'));
  }
  healthTimer = setTimeout(pollHealth, 15000);
}

// ------------------------------------------------------------------ router

function wireShell() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`)) || url.pathname.startsWith(`${BASE}/assets/`)) return;
    if (a.classList.contains('skip-link')) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener('popstate', () => session && render());
  menuToggle.addEventListener('click', () => {
    const open = menuToggle.getAttribute('aria-expanded') !== 'true';
    menuToggle.setAttribute('aria-expanded', String(open));
    nav.classList.toggle('open', open);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && session) pollHealth();
  });
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function render() {
  if (!session) return;
  if (leave) leave();
  const controller = new AbortController();
  const timers = new Set();
  const later = (fn, ms) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  leave = () => {
    controller.abort();
    timers.forEach(clearTimeout);
    timers.clear();
  };
  const rel = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  let found = null;
  for (const [re, item, fn] of ROUTES) {
    const m = re.exec(rel);
    if (m) {
      found = { item, fn, params: m.slice(1).map(decodeURIComponent) };
      break;
    }
  }
  for (const a of nav.querySelectorAll('a')) {
    if (found && a.dataset.nav === found.item) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  nav.classList.remove('open');
  menuToggle.setAttribute('aria-expanded', 'false');
  fill(main, loading());
  const ctx = {
    main,
    params: found ? found.params : [],
    query: new URLSearchParams(location.search),
    session,
    readonly: session.role !== 'admin',
    signal: controller.signal,
    navigate,
    /** Runs fn every ms while this page is shown (skipped while the tab is hidden). */
    every(ms, fn) {
      const tick = async () => {
        if (controller.signal.aborted) return;
        if (!document.hidden) {
          try {
            await fn();
          } catch (e) {
            if (e.name !== 'AbortError') console.warn(e);
          }
        }
        if (!controller.signal.aborted) later(tick, ms);
      };
      later(tick, ms);
    },
    title(text) {
      document.title = `${text} · dq admin`;
    },
    /** Replaces the page's content; the first heading gets the focus after a navigation. */
    show(...nodes) {
      fill(main, ...nodes.flat());
      if (!firstRender) {
        const h1 = main.querySelector('h1');
        if (h1) {
          h1.tabIndex = -1;
          h1.focus({ preventScroll: true });
        }
      }
      firstRender = false;
    },
  };
  if (!found) {
    ctx.title('Not found');
    ctx.show(h('h1', {}, 'Not found'), h('p', {}, `Nothing lives at ${location.pathname}. `, h('a', { href: '/ui/' }, 'Back to the dashboard')));
    return;
  }
  Promise.resolve(found.fn(ctx)).catch((e) => {
    if (e.name === 'AbortError' || controller.signal.aborted) return;
    if (e.status === 401) return;
    ctx.show(h('h1', {}, 'Something went wrong'), errorBox(e), h('p', {}, button('Try again', () => render())));
  });
}

boot();

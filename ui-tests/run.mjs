// Browser tests of dq-gateway's admin UI: Debian's chromium driven by playwright-core.
// Run through scripts/ui-tests.sh, which starts what they need. They read:
//   DQ_UI_URL              where /ui/ is served (the gateway, or the dev proxy in front of one)
//   DQ_UI_TOKEN            the admin token (the gateway's `token`)
//   DQ_UI_READONLY_TOKEN   the read-only token (`ui_readonly_token`)
//   DQ_UI_SINK             base URL of an endpoint answering /ok with 200 and /gone with 410
//   DQ_UI_SHOTS            folder for the screenshots (default target/ui-shots)
//   DQ_UI_XA_ID            optional: an XA transaction left in doubt, for the XA page's test
//   DQ_UI_NOAUTH_URL       optional: the UI of a gateway without a token (on loopback)
// Fixtures are made through the same origin's JSON API with the bearer token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run scripts/ui-tests.sh)`);
  return v;
};
const BASE = env('DQ_UI_URL').replace(/\/+$/, '');
const TOKEN = env('DQ_UI_TOKEN');
const RO_TOKEN = env('DQ_UI_READONLY_TOKEN');
const SINK = env('DQ_UI_SINK').replace(/\/+$/, '');
const SHOTS = process.env.DQ_UI_SHOTS || 'target/ui-shots';
const XA_ID = process.env.DQ_UI_XA_ID;
const NOAUTH_URL = (process.env.DQ_UI_NOAUTH_URL || '').replace(/\/+$/, '');
const RUN = Math.random().toString(36).slice(2, 8);
const name = (what) => `ui.${what}.${RUN}`;

let browser;
let admin; // a page signed in as admin, shared by the tests in order
const problems = []; // page errors and CSP refusals seen by any page

// ------------------------------------------------------------------ helpers

async function call(method, path, body) {
  const resp = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // 4xx answers the tests provoke are logged by Chromium as failed loads: those are expected.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function signIn(page, token) {
  await page.goto(`${BASE}/ui/`);
  await page.fill('#token', token);
  await page.click('button[data-action="sign-in"]');
  await page.locator('#session-box .badge').waitFor();
}

async function go(page, path) {
  await page.goto(BASE + path);
  await page.locator('main h1').first().waitFor();
  await page.locator('main .loading').first().waitFor({ state: 'detached' }).catch(() => {});
}

async function shoot(page, label) {
  const size = page.viewportSize();
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 1280 ? 900 : 844 });
    await page.waitForTimeout(150);
    await page.screenshot({ path: `${SHOTS}/${label}-${width}.png`, fullPage: true });
  }
  await page.setViewportSize(size);
}

// Buttons and links that change something: none may show in a read-only session.
const CHANGE_CONTROLS = [
  'button[data-action="pause"]', 'button[data-action="resume"]', 'button[data-action="delete"]',
  'button[data-action="requeue"]', 'button[data-action="deliver-now"]', 'button[data-action="requeue-all"]',
  'button[data-action="delete-all"]', 'button[data-action="requeue-selected"]', 'button[data-action="delete-selected"]',
  'button[data-action="commit"]', 'button[data-action="rollback"]', 'a[href="/ui/topics/new"]',
  'a[href="/ui/subscriptions/new"]', 'a[href$="/edit"]', 'input[type="checkbox"]',
].join(', ');

// ------------------------------------------------------------------ fixtures

const T_OK = name('ok');
const T_GONE = name('gone');
const T_NEW = name('new');
const SUB = name('sub');
const QUEUE = name('queue');

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.DQ_UI_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const put = async (path, body) => {
    const r = await call('PUT', path, body);
    assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await put(`/v1/topics/${T_OK}`, { callback: `${SINK}/ok`, retry: [1] });
  await put(`/v1/topics/${T_GONE}`, { callback: `${SINK}/gone` });
  await put(`/v1/subscriptions/${SUB}`, { queue: QUEUE, callback: `${SINK}/gone` });
  admin = await newPage();
});

after(async () => {
  for (const path of [`/v1/topics/${T_OK}`, `/v1/topics/${T_GONE}`, `/v1/topics/${T_NEW}`, `/v1/subscriptions/${SUB}`]) {
    await call('DELETE', path).catch(() => {});
  }
  if (browser) await browser.close();
});

// ------------------------------------------------------------------ tests

test('a wrong token is refused beside the field, and nothing else shows', async () => {
  const page = await newPage();
  await page.goto(`${BASE}/ui/`);
  await page.locator('#token').waitFor();
  await shoot(page, 'signin');
  await page.fill('#token', `${TOKEN}-wrong`);
  await page.click('button[data-action="sign-in"]');
  const err = page.locator('[data-field="token"] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /not accepted/);
  assert.equal(await page.getAttribute('#token', 'aria-invalid'), 'true');
  assert.equal(await page.locator('#nav').isVisible(), false);
  const session = await page.evaluate(async () => (await fetch('/ui/session')).status);
  assert.equal(session, 401);
  await page.context().close();
});

test('the admin token signs in to the dashboard', async () => {
  await signIn(admin, TOKEN);
  assert.equal(await admin.locator('main h1').innerText(), 'Dashboard');
  assert.equal(await admin.locator('#session-box .badge').innerText(), 'admin');
  await admin.locator(`main a[href="/ui/topics/${T_OK}"]`).waitFor();
});

test('keyboard: Tab from the top reaches the skip link, then the main nav, and Enter follows a link', async () => {
  await go(admin, '/ui/');
  await admin.evaluate(() => document.activeElement && document.activeElement.blur());
  await admin.keyboard.press('Tab');
  assert.equal(await admin.evaluate(() => document.activeElement.textContent), 'Skip to content');
  let inNav = false;
  for (let i = 0; i < 8 && !inNav; i++) {
    await admin.keyboard.press('Tab');
    inNav = await admin.evaluate(() => !!document.activeElement.closest('nav[aria-label="Main"]'));
  }
  assert.ok(inNav, 'Tab never reached the main nav');
  assert.equal(await admin.evaluate(() => document.activeElement.textContent), 'Dashboard');
  await admin.keyboard.press('Tab');
  assert.equal(await admin.evaluate(() => document.activeElement.textContent), 'Topics');
  await admin.keyboard.press('Enter');
  await admin.waitForURL(`${BASE}/ui/topics`);
  await admin.locator('main h1', { hasText: 'Topics' }).waitFor();
  // The new page's heading takes the focus, so the next Tab goes on from the content.
  assert.equal(await admin.evaluate(() => document.activeElement.tagName), 'H1');
});

test('create a topic: the API\'s 422 shows beside the field it names, then the fixed form is saved', async () => {
  await go(admin, '/ui/topics/new');
  await admin.fill('#topic-name', T_NEW);
  await admin.fill('#topic-callback', 'ftp://x');
  await admin.fill('#topic-concurrency', '0');
  await admin.click('button[data-action="submit"]');
  const callbackError = admin.locator('[data-field="callback"] .field-error');
  await callbackError.waitFor();
  assert.match(await callbackError.innerText(), /callback "ftp:\/\/x" is not an http:\/\/ or https:\/\/ URL/);
  assert.equal(await admin.getAttribute('#topic-callback', 'aria-invalid'), 'true');
  assert.equal(await admin.evaluate(() => document.activeElement.id), 'topic-callback');
  await shoot(admin, 'topic-new-error');

  await admin.fill('#topic-callback', `${SINK}/ok`);
  assert.equal(await callbackError.isVisible(), false, 'typing in the field clears its error');
  await admin.click('button[data-action="submit"]');
  const concurrencyError = admin.locator('[data-field="concurrency"] .field-error');
  await concurrencyError.waitFor();
  assert.match(await concurrencyError.innerText(), /^concurrency 0 is out of range/);

  await admin.fill('#topic-concurrency', '');
  await admin.click('button[data-action="submit"]');
  await admin.waitForURL(`${BASE}/ui/topics/${T_NEW}`);
  await admin.locator('main h1', { hasText: T_NEW }).waitFor();
  const t = await call('GET', `/v1/topics/${T_NEW}`);
  assert.equal(t.status, 200);
  assert.equal(t.body.callback, `${SINK}/ok`);
});

test('create a topic whose name the API refuses: the message shows beside the name', async () => {
  await go(admin, '/ui/topics/new');
  await admin.fill('#topic-name', 'a b');
  await admin.fill('#topic-callback', `${SINK}/ok`);
  await admin.click('button[data-action="submit"]');
  const err = admin.locator('[data-field="name"] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /^topic "a b" is invalid/);
});

test('edit a topic: a bad value is caught beside its field, and only the changed fields are sent (PATCH)', async () => {
  await go(admin, `/ui/topics/${T_NEW}/edit`);
  await admin.fill('#topic-retry', '2, soon');
  await admin.click('button[data-action="submit"]');
  const err = admin.locator('[data-field="retry"] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /^retry "soon" is not a number of seconds/);
  await admin.fill('#topic-retry', '2, 4');
  const sent = admin.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/v1/topics/${T_NEW}`));
  await admin.click('button[data-action="submit"]');
  assert.deepEqual(JSON.parse((await sent).postData()), { retry: [2, 4] });
  await admin.waitForURL(`${BASE}/ui/topics/${T_NEW}`);
  const t = (await call('GET', `/v1/topics/${T_NEW}`)).body;
  assert.deepEqual(t.retry, [2, 4]);
  assert.equal(t.callback, `${SINK}/ok`);
});

test('create a subscription: prefetch below concurrency is shown beside prefetch', async () => {
  const sub = name('sub2');
  await go(admin, '/ui/subscriptions/new');
  await admin.fill('#sub-name', sub);
  await admin.fill('#sub-queue', name('queue2'));
  await admin.fill('#sub-callback', `${SINK}/ok`);
  await admin.fill('#sub-concurrency', '5');
  await admin.fill('#sub-prefetch', '1');
  await admin.click('button[data-action="submit"]');
  const err = admin.locator('[data-field="prefetch"] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /^prefetch 1 is below concurrency 5/);
  await admin.fill('#sub-prefetch', '10');
  await admin.click('button[data-action="submit"]');
  await admin.waitForURL(`${BASE}/ui/subscriptions/${sub}`);
  const s = await call('GET', `/v1/subscriptions/${sub}`);
  assert.equal(s.body.prefetch, 10);
  assert.equal((await call('DELETE', `/v1/subscriptions/${sub}`)).status, 204);
});

test('pause and resume a topic', async () => {
  await go(admin, `/ui/topics/${T_NEW}`);
  await admin.click('main .page-head button[data-action="pause"]');
  await admin.locator('main h1 .badge', { hasText: 'paused' }).waitFor();
  assert.equal((await call('GET', `/v1/topics/${T_NEW}`)).body.status, 'paused');
  await shoot(admin, 'topic');
  await admin.click('main .page-head button[data-action="resume"]');
  await admin.locator('main h1 .badge', { hasText: 'active' }).waitFor();
  assert.equal((await call('GET', `/v1/topics/${T_NEW}`)).body.status, 'active');

  // The same from the list.
  await go(admin, '/ui/topics');
  const row = admin.locator(`tr[data-topic="${T_NEW}"]`);
  await row.locator('button[data-action="pause"]').click();
  await admin.locator(`tr[data-topic="${T_NEW}"] button[data-action="resume"]`).waitFor();
  assert.equal((await call('GET', `/v1/topics/${T_NEW}`)).body.status, 'paused');
  await shoot(admin, 'topics');
  await admin.locator(`tr[data-topic="${T_NEW}"] button[data-action="resume"]`).click();
  await admin.locator(`tr[data-topic="${T_NEW}"] button[data-action="pause"]`).waitFor();
  assert.equal((await call('GET', `/v1/topics/${T_NEW}`)).body.status, 'active');
});

test('find a message by topic and id, then deliver it now', async () => {
  const id = `order-${RUN}`;
  const added = await call('POST', `/v1/topics/${T_OK}/messages`, { id, body: { order: 42, note: 'from the UI test' }, delay: 3600 });
  assert.equal(added.status, 201);
  await go(admin, '/ui/messages');
  await admin.fill('#msg-topic', T_OK);
  await admin.fill('#msg-id', id);
  await admin.click('button[data-action="lookup"]');
  const card = admin.locator('.lookup-result .message');
  await card.waitFor();
  assert.match(await card.locator('h2').innerText(), new RegExp(`${id}\\s+delayed`));
  assert.match(await card.locator('pre').innerText(), /"note": "from the UI test"/);
  assert.equal(new URL(admin.url()).search, `?topic=${encodeURIComponent(T_OK)}&id=${encodeURIComponent(id)}`);
  await shoot(admin, 'message');

  await card.locator('button[data-action="deliver-now"]').click();
  await admin.locator('dialog button[data-action="ok"]').click();
  // Due now: the sink answers 200, so the message is delivered and removed.
  await until('the message to be delivered', async () => (await call('GET', `/v1/topics/${T_OK}/messages/${id}`)).status === 404);
});

test('requeue a dead letter of a topic', async () => {
  const id = `dead-${RUN}`;
  await call('POST', `/v1/topics/${T_GONE}/messages`, { id, body: { why: 'the callback answers 410' } });
  await until('the message to die', async () => (await call('GET', `/v1/topics/${T_GONE}/messages/${id}`)).body?.state === 'dead');
  for (let i = 0; i < 3; i++) await call('POST', `/v1/topics/${T_GONE}/messages`, { id: `${id}-${i}`, body: i });
  await until('more dead letters', async () => (await call('GET', `/v1/topics/${T_GONE}/stats`)).body.dead >= 4);
  // Paused, the requeued message waits instead of dying again at once.
  await call('PATCH', `/v1/topics/${T_GONE}`, { status: 'paused' });

  await go(admin, `/ui/dead?topic=${T_GONE}`);
  const row = admin.locator(`tr[data-id="${id}"]`);
  await row.waitFor();
  await admin.selectOption('#dead-reason', '410');
  await admin.fill('#dead-q', id);
  // Filtered by the server: this letter and its three namesakes (`${id}-0`..).
  await admin.locator('main .sub[role="status"]', { hasText: /^4 of 4 dead letters that match the filter/ }).waitFor();
  await row.locator('button[data-action="view"]').click();
  const dlg = admin.locator('dialog');
  await dlg.waitFor();
  assert.match(await dlg.innerText(), /HTTP 410/);
  assert.match(await dlg.innerText(), /the callback answers 410/);
  await shoot(admin, 'dead-letter');
  await dlg.locator('button[data-action="close"]').click();
  await admin.fill('#dead-q', '');
  await admin.selectOption('#dead-reason', '');
  await admin.locator('main .sub[role="status"]', { hasText: /dead letters loaded/ }).waitFor();
  await shoot(admin, 'dead-letters');

  await row.locator('button[data-action="requeue"]').click();
  await row.waitFor({ state: 'detached' });
  const m = await call('GET', `/v1/topics/${T_GONE}/messages/${id}`);
  assert.equal(m.status, 200);
  assert.ok(['ready', 'delayed'].includes(m.body.state), `requeued message is ${m.body.state}`);
  assert.equal(m.body.attempts, 0);
});

test('requeue the selected dead letters of a subscription', async () => {
  for (let i = 0; i < 2; i++) {
    const r = await call('POST', '/v1/exchanges/amq.default/publish', { routing_key: QUEUE, body: { n: i }, properties: { message_id: `sub-${RUN}-${i}` } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await until('two dead letters', async () => (await call('GET', `/v1/subscriptions/${SUB}/dead`)).body?.total >= 2);
  await call('PATCH', `/v1/subscriptions/${SUB}`, { status: 'paused' });
  await go(admin, `/ui/dead?subscription=${SUB}`);
  await admin.locator('tbody tr').first().waitFor();
  await admin.check('thead input[type="checkbox"]');
  await admin.click('button[data-action="requeue-selected"]');
  await admin.locator('dialog button[data-action="ok"]').click();
  await admin.locator('main .empty h2', { hasText: 'No dead letters' }).waitFor();
  assert.equal((await call('GET', `/v1/subscriptions/${SUB}/dead`)).body.total, 0);
});

test('dead letters page from the server: "load more" fetches the next page, the filter is the server\'s', async () => {
  await call('PATCH', `/v1/topics/${T_GONE}`, { status: 'active' });
  const before = (await call('GET', `/v1/topics/${T_GONE}/stats`)).body.dead;
  for (let i = 0; i < 120; i++) await call('POST', `/v1/topics/${T_GONE}/messages`, { id: `bulk-${RUN}-${i}`, body: { i } });
  // Settled: 120 more dead letters and nothing of the topic on its way (a letter requeued by an
  // earlier test is not dead again yet while it is delivered), so the total holds still.
  await until('120 more dead letters, none on the way', async () => {
    const s = (await call('GET', `/v1/topics/${T_GONE}/stats`)).body;
    return s.dead >= before + 120 && s.delayed + s.ready + s.inflight === 0;
  });
  const total = (await call('GET', `/v1/topics/${T_GONE}/dead?limit=1`)).body.total;
  await go(admin, `/ui/dead?topic=${T_GONE}`);
  const summary = admin.locator('main .sub[role="status"]');
  await admin.locator('tbody tr').first().waitFor();
  assert.match(await summary.innerText(), new RegExp(`^100 of ${total} dead letters loaded`));
  assert.equal(await admin.locator('tbody tr').count(), 100);
  // -1, -10..-19, -100..-119: 31 in all, found by the server beyond the 100 loaded.
  await admin.fill('#dead-q', `bulk-${RUN}-1`);
  await admin.locator('main .sub[role="status"]', { hasText: /^31 of 31 dead letters that match the filter/ }).waitFor();
  assert.equal(await admin.locator('tbody tr').count(), 31);
  await admin.fill('#dead-q', '');
  await admin.locator('main .sub[role="status"]', { hasText: new RegExp(`^100 of ${total} dead letters loaded`) }).waitFor();
  await admin.click('button[data-action="load-more"]');
  await admin.locator(`tbody tr >> nth=${total - 1}`).waitFor();
  assert.match(await summary.innerText(), new RegExp(`^${total} of ${total} dead letters loaded`));
  assert.equal(await admin.locator('button[data-action="load-more"]').count(), 0);
});

test('on a phone the menu button opens the main nav', async () => {
  const page = await newPage(390);
  await signIn(page, TOKEN);
  const nav = page.locator('nav[aria-label="Main"]');
  assert.equal(await nav.isVisible(), false);
  await page.click('#menu-toggle');
  assert.equal(await page.getAttribute('#menu-toggle', 'aria-expanded'), 'true');
  await nav.locator('a', { hasText: 'Dead letters' }).click();
  await page.locator('main h1', { hasText: 'Dead letters' }).waitFor();
  assert.equal(await nav.isVisible(), false, 'the menu closes after a choice');
  await page.context().close();
});

test('a change request without the CSRF header is refused (403)', async () => {
  const answer = await admin.evaluate(async (topic) => {
    const r = await fetch(`/v1/topics/${encodeURIComponent(topic)}`, {
      method: 'PATCH', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{"status":"disabled"}',
    });
    return { status: r.status, body: await r.json() };
  }, T_NEW);
  assert.equal(answer.status, 403);
  assert.equal(answer.body.error.code, 'FORBIDDEN');
  assert.equal((await call('GET', `/v1/topics/${T_NEW}`)).body.status, 'active');
});

test('an XA transaction in doubt is listed with its branch, and committed', { skip: !XA_ID && 'DQ_UI_XA_ID is not set' }, async () => {
  await go(admin, '/ui/xa');
  const row = admin.locator(`tr[data-id="${XA_ID}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /app\s+127\.0\.0\.1:3306/);
  assert.match(await row.innerText(), /none yet/);
  await shoot(admin, 'xa-in-doubt');
  await row.locator('button[data-action="commit"]').click();
  await admin.locator('dialog button[data-action="ok"]').click();
  await row.waitFor({ state: 'detached' });
  await admin.locator('main .empty h2', { hasText: 'No transaction in doubt' }).waitFor();
  const list = (await call('GET', '/v1/xa?state=in_doubt')).body.transactions;
  assert.ok(!list.some((t) => t.id === XA_ID), JSON.stringify(list));
});

test('screenshots of every page', async () => {
  // Traffic while the dashboard samples, so that its charts have rates to draw.
  await call('PATCH', `/v1/topics/${T_GONE}`, { status: 'active' });
  await go(admin, '/ui/');
  for (let i = 0; i < 12; i++) {
    await call('POST', `/v1/topics/${T_OK}/messages`, { id: `shot-${RUN}-${i}`, body: i });
    if (i % 3 === 0) await call('POST', `/v1/topics/${T_GONE}/messages`, { id: `shot-${RUN}-${i}`, body: i });
    await new Promise((r) => setTimeout(r, 1000));
  }
  await admin.locator('.chart-line').first().waitFor();
  await shoot(admin, 'dashboard');
  for (const [label, path] of [
    ['topic-edit', `/ui/topics/${T_OK}/edit`], ['subscriptions', '/ui/subscriptions'],
    ['subscription', `/ui/subscriptions/${SUB}`], ['subscription-new', '/ui/subscriptions/new'],
    ['dead-sources', '/ui/dead'], ['xa', '/ui/xa'], ['outbox', '/ui/outbox'],
  ]) {
    await go(admin, path);
    await shoot(admin, label);
  }
});

test('a read-only session shows no change buttons, and its forged change gets 403', async () => {
  const page = await newPage();
  await signIn(page, RO_TOKEN);
  assert.equal(await page.locator('#session-box .badge').innerText(), 'read-only');
  assert.match(await page.locator('#banner').innerText(), /Read-only session/);
  for (const path of ['/ui/', '/ui/topics', `/ui/topics/${T_GONE}`, '/ui/subscriptions', `/ui/subscriptions/${SUB}`,
    `/ui/dead?topic=${T_GONE}`, `/ui/dead?subscription=${SUB}`, `/ui/messages?topic=${T_GONE}&id=dead-${RUN}`, '/ui/xa', '/ui/outbox']) {
    await go(page, path);
    await page.waitForTimeout(300);
    const found = await page.locator(CHANGE_CONTROLS).count();
    assert.equal(found, 0, `${path} shows ${found} change control(s) to a read-only session`);
  }
  await go(page, `/ui/dead?topic=${T_GONE}`);
  await shoot(page, 'readonly-dead-letters');
  const answer = await page.evaluate(async (topic) => {
    const { csrf } = await (await fetch('/ui/session')).json();
    const r = await fetch(`/v1/topics/${encodeURIComponent(topic)}`, {
      method: 'PATCH', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-Dq-Csrf': csrf }, body: '{"status":"paused"}',
    });
    return { status: r.status, body: await r.json() };
  }, T_OK);
  assert.equal(answer.status, 403);
  assert.equal(answer.body.error.code, 'FORBIDDEN');
  assert.equal((await call('GET', `/v1/topics/${T_OK}`)).body.status, 'active');
  await page.context().close();
});

test('without a token configured the UI needs no sign-in and says it is served on loopback only', { skip: !NOAUTH_URL && 'DQ_UI_NOAUTH_URL is not set' }, async () => {
  const page = await newPage();
  await page.goto(`${NOAUTH_URL}/ui/`);
  await page.locator('main h1', { hasText: 'Dashboard' }).waitFor();
  assert.match(await page.locator('#banner').innerText(), /no token configured: the UI is served on loopback only/i);
  assert.equal(await page.locator('#session-box .badge').innerText(), 'admin');
  assert.equal(await page.locator('button[data-action="sign-out"]').count(), 0);
  const session = await page.evaluate(async () => (await fetch('/ui/session')).json());
  assert.equal(session.auth, false);
  await shoot(page, 'no-token-banner');
  await page.context().close();
});

test('sign out ends the session', async () => {
  await go(admin, '/ui/');
  await admin.click('button[data-action="sign-out"]');
  await admin.locator('#token').waitFor();
  assert.equal(await admin.evaluate(async () => (await fetch('/ui/session')).status), 401);
  assert.equal(await admin.evaluate(async () => (await fetch('/v1/topics')).status), 401);
});

test('no page error and no Content-Security-Policy refusal on any page', () => {
  assert.deepEqual(problems, []);
});

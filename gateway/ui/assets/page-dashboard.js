// Dashboard: /v1/overview sampled every few seconds; rates are the difference of the counters
// between two samples over the time between them. The samples stay in memory while the page
// is open (they survive navigating away and back), never stored anywhere else.

import { get } from './api.js';
import { h, badge, fmtInt, fmtRate, fmtMs, fmtDuration, table, emptyState, linkButton, plural, errorBox, fill } from './dom.js';
import { sparkline, stateBar, lineChart } from './charts.js';

export const SAMPLE_MS = 5000;
const KEEP = 72; // six minutes of samples
const samples = [];

function addSample(ov) {
  const last = samples[samples.length - 1];
  if (last && ov.at <= last.at) return;
  samples.push({
    at: ov.at,
    topics: new Map(ov.topics.map((t) => [t.name, t])),
    subs: new Map(ov.subscriptions.map((s) => [s.name, s])),
  });
  if (samples.length > KEEP) samples.shift();
}

/** Per-second rate of `field` of one topic or subscription, for each sample (null: unknown). */
function rates(kind, name, field) {
  return samples.map((cur, i) => {
    const prev = samples[i - 1];
    if (!prev || cur.at - prev.at > (SAMPLE_MS / 1000) * 4) return null;
    const a = prev[kind].get(name);
    const b = cur[kind].get(name);
    if (!a || !b || b[field] < a[field]) return null; // new, gone, or the gateway restarted
    return (b[field] - a[field]) / (cur.at - prev.at);
  });
}

function sumRates(kind, field) {
  const names = new Set(samples.flatMap((s) => [...s[kind].keys()]));
  const out = samples.map(() => null);
  for (const name of names) {
    rates(kind, name, field).forEach((v, i) => {
      if (v != null) out[i] = (out[i] || 0) + v;
    });
  }
  return out.map((v, i) => (i === 0 ? null : v == null ? 0 : v));
}

const last = (values) => [...values].reverse().find((v) => v != null);

export async function render(ctx) {
  ctx.title('Dashboard');
  const status = h('p', { class: 'sub', role: 'status' });
  const body = h('div', { class: 'dash' });
  ctx.show(h('div', { class: 'page-head' }, h('h1', {}, 'Dashboard'), status), body);

  let shown = null;
  let resizing = null;
  // The line chart is drawn to the width it has: draw again when that changes.
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => shown && draw(ctx, body, shown), 150);
  }, { signal: ctx.signal });
  const sample = async () => {
    const ov = await get('/v1/overview', { signal: ctx.signal });
    addSample(ov);
    shown = ov;
    draw(ctx, body, ov);
    status.textContent = `Sampled every ${SAMPLE_MS / 1000} s · last at ${new Date(ov.at * 1000).toLocaleTimeString()} · rates over the last ${samples.length > 1 ? fmtDuration(samples[samples.length - 1].at - samples[0].at) : 'sample'}`;
  };
  try {
    await sample();
  } catch (e) {
    if (e.name === 'AbortError') return;
    fill(body, errorBox(e));
  }
  ctx.every(SAMPLE_MS, sample);
}

function draw(ctx, body, ov) {
  // Redrawn whole each sample: keep the keyboard focus where it was.
  const focusKey = document.activeElement && body.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  fill(body,
    healthSection(ov.health),
    ov.topics.length || ov.subscriptions.length ? throughputSection(body.clientWidth) : null,
    topicsSection(ctx, ov.topics),
    subscriptionsSection(ctx, ov.subscriptions),
  );
  if (focusKey) {
    const el = body.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (el) el.focus();
  }
}

function card(title, ...content) {
  return h('section', { class: 'card' }, h('h3', { class: 'card-title' }, title), content);
}

function healthSection(hz) {
  const up = hz.redis.filter((r) => r.state === 'up').length;
  const rabbit = hz.rabbitmq || {};
  const cards = [
    card('Gateway', h('p', { class: 'big' }, badge(hz.status)), h('p', { class: 'muted' }, `dq ${hz.version} · up ${fmtDuration(hz.uptime_s)} · ${plural(hz.topics, 'topic')}`)),
    card('Redis',
      h('p', { class: 'big' }, badge(up === hz.redis.length ? 'up' : 'down'), ` ${up} of ${plural(hz.redis.length, 'shard')} up`),
      h('ul', { class: 'plain small' }, hz.redis.map((r) => h('li', {},
        r.state === 'up' ? null : [badge(r.state), ' '], h('span', { class: 'mono break' }, r.server),
        r.latency_ms != null ? ` · ${fmtMs(r.latency_ms)}` : '',
        r.persistence && r.persistence.durable === false ? h('span', { class: 'warn-text' }, ' · keeps nothing on disk') : '',
        r.error ? h('span', { class: 'bad-text' }, ` · ${r.error}`) : '')))),
    card('RabbitMQ',
      h('p', { class: 'big' }, badge(rabbit.state || 'unused')),
      h('p', { class: 'muted small' }, h('span', { class: 'mono break' }, rabbit.server || ''), rabbit.latency_ms != null ? ` · ${fmtMs(rabbit.latency_ms)}` : ''),
      rabbit.error ? h('p', { class: 'bad-text small' }, rabbit.error) : null,
      rabbit.note ? h('p', { class: 'muted small' }, rabbit.note) : null),
  ];
  if (hz.xa) {
    const n = hz.xa.in_doubt;
    cards.push(card('XA transactions',
      h('p', { class: 'big' }, n ? h('a', { href: '/ui/xa', 'data-key': 'xa' }, badge(`${n} in doubt`, 'warn')) : badge('none in doubt', 'ok')),
      h('p', { class: 'muted small' }, `recovery ${hz.xa.recovery} · ${hz.xa.databases.join(', ')}`),
      hz.xa.last_error ? h('p', { class: 'bad-text small' }, hz.xa.last_error) : null));
  }
  if (hz.outbox) {
    const dbs = Object.entries(hz.outbox);
    const unsent = dbs.reduce((s, [, o]) => s + (o.unsent || 0), 0);
    const oldest = Math.max(0, ...dbs.map(([, o]) => o.oldest_unsent_s || 0));
    cards.push(card('Outbox',
      h('p', { class: 'big' }, h('a', { href: '/ui/outbox', 'data-key': 'outbox' }, unsent ? badge(`${fmtInt(unsent)} unsent`, 'warn') : badge('all relayed', 'ok'))),
      h('p', { class: 'muted small' }, `${plural(dbs.length, 'database')}${oldest ? ` · oldest ${fmtDuration(oldest)}` : ''}`)));
  }
  return h('section', { class: 'section', 'aria-labelledby': 'h-health' },
    h('h2', { id: 'h-health' }, 'Health'),
    h('div', { class: 'cards' }, cards),
    hz.warnings && hz.warnings.length ? h('ul', { class: 'warnings' }, hz.warnings.map((w) => h('li', {}, w))) : null);
}

function throughputSection(available) {
  const delivered = sumRates('topics', 'delivered_total').map((v, i) => addNull(v, sumRates('subs', 'delivered_total')[i]));
  const failed = sumRates('topics', 'failed_total').map((v, i) => addNull(v, sumRates('subs', 'failed_total')[i]));
  const deadR = sumRates('topics', 'dead_total').map((v, i) => addNull(v, sumRates('subs', 'dead_total')[i]));
  return h('section', { class: 'section', 'aria-labelledby': 'h-throughput' },
    h('h2', { id: 'h-throughput' }, 'Deliveries, all topics and subscriptions'),
    h('div', { class: 'card' },
      h('p', { class: 'kpis' },
        kpi('delivered', fmtRate(last(delivered))), kpi('failed attempts', fmtRate(last(failed))), kpi('dead letters', fmtRate(last(deadR)))),
      lineChart(samples.map((s) => s.at), [
        { label: 'delivered/s', kind: 'ok', values: delivered },
        { label: 'failed attempts/s', kind: 'warn', values: failed },
        { label: 'dead letters/s', kind: 'bad', values: deadR },
      ], { title: 'Deliveries per second', width: Math.max(260, Math.min(1200, available - 40)) })));
}

const addNull = (a, b) => (a == null && b == null ? null : (a || 0) + (b || 0));
const kpi = (label, value) => h('span', { class: 'kpi' }, h('strong', {}, value), ` ${label}`);

function topicsSection(ctx, topics) {
  const head = h('div', { class: 'section-head' }, h('h2', { id: 'h-topics' }, 'Topics'),
    ctx.readonly ? null : linkButton('New topic', '/ui/topics/new', 'btn-small'));
  if (!topics.length) {
    return h('section', { class: 'section', 'aria-labelledby': 'h-topics' }, head,
      emptyState('No topics yet', ctx.readonly
        ? 'Nothing is queued here until an admin registers a topic (in the UI, with PUT /v1/topics/{name}, or [[topic]] in the gateway\'s file).'
        : 'A topic is a delay queue with a callback: register one, then add messages to it from PHP or over HTTP.',
      ctx.readonly ? null : linkButton('Create a topic', '/ui/topics/new', 'btn-primary')));
  }
  const rows = [...topics].sort((a, b) => a.name.localeCompare(b.name));
  return h('section', { class: 'section', 'aria-labelledby': 'h-topics' }, head, table([
    ['Topic', (t) => h('a', { href: `/ui/topics/${encodeURIComponent(t.name)}`, 'data-key': `t:${t.name}` }, t.name)],
    ['Status', (t) => [badge(t.status), t.mode === 'pull' ? [' ', badge('pull', 'info')] : null]],
    ['Messages', (t) => h('div', { class: 'counts' },
      stateBar([['delayed', t.delayed], ['ready', t.ready], ['inflight', t.inflight], ['dead', t.dead]]),
      h('span', { class: 'small' }, `${fmtInt(t.delayed)} delayed · ${fmtInt(t.ready)} ready · ${fmtInt(t.inflight)} in flight · `,
        t.dead ? h('a', { href: `/ui/dead?topic=${encodeURIComponent(t.name)}`, class: 'bad-text', 'data-key': `td:${t.name}` }, `${fmtInt(t.dead)} dead`) : '0 dead'))],
    ['Delivered', (t) => rateCell(rates('topics', t.name, 'delivered_total'), 'ok', 'delivered', t.delivered_total)],
    ['Failures', (t) => rateCell(rates('topics', t.name, 'failed_total'), 'warn', 'failed attempts', t.failed_total), 'col-opt'],
    ['Lateness p50 / p99', (t) => t.lateness_p50_ms == null && t.lateness_p99_ms == null
      ? h('span', { class: 'muted', title: 'no delivery measured yet' }, '—')
      : `${fmtMs(t.lateness_p50_ms)} / ${fmtMs(t.lateness_p99_ms)}`, 'col-opt'],
  ], rows, { caption: 'Topics: counts per state, rates and lateness' }));
}

function rateCell(values, kind, label, total) {
  return h('div', { class: 'rate' }, sparkline(values, { kind, label }),
    h('span', { class: 'rate-num' }, fmtRate(last(values))),
    h('span', { class: 'muted small' }, `${fmtInt(total)} since start`));
}

function subscriptionsSection(ctx, subs) {
  const head = h('div', { class: 'section-head' }, h('h2', { id: 'h-subs' }, 'Subscriptions'),
    ctx.readonly ? null : linkButton('New subscription', '/ui/subscriptions/new', 'btn-small'));
  if (!subs.length) {
    return h('section', { class: 'section', 'aria-labelledby': 'h-subs' }, head,
      emptyState('No subscriptions', ctx.readonly
        ? 'A subscription makes the gateway consume a RabbitMQ queue and POST each message to an endpoint; an admin can add one.'
        : 'A subscription makes the gateway consume a RabbitMQ queue and POST each message to your endpoint: no consumer daemon to supervise.',
      ctx.readonly ? null : linkButton('Create a subscription', '/ui/subscriptions/new', 'btn-primary')));
  }
  const rows = [...subs].sort((a, b) => a.name.localeCompare(b.name));
  return h('section', { class: 'section', 'aria-labelledby': 'h-subs' }, head, table([
    ['Subscription', (s) => [h('a', { href: `/ui/subscriptions/${encodeURIComponent(s.name)}`, 'data-key': `s:${s.name}` }, s.name), h('div', { class: 'muted small mono' }, s.queue)]],
    ['State', (s) => [badge(s.state), s.error ? h('div', { class: 'bad-text small clamp', title: s.error }, s.error) : null]],
    ['In flight', (s) => fmtInt(s.in_flight), 'num'],
    ['Delivered', (s) => rateCell(rates('subs', s.name, 'delivered_total'), 'ok', 'delivered', s.delivered_total)],
    ['Failures', (s) => rateCell(rates('subs', s.name, 'failed_total'), 'warn', 'failed attempts', s.failed_total), 'col-opt'],
    ['Dead letters', (s) => h('a', { href: `/ui/dead?subscription=${encodeURIComponent(s.name)}`, 'data-key': `sd:${s.name}`, class: s.dead ? 'bad-text' : null },
      s.dead == null ? `${fmtInt(s.dead_total)} since start` : `${fmtInt(s.dead)} dead`), 'col-opt'],
  ], rows, { caption: 'Subscriptions: state, rates and dead letters' }));
}

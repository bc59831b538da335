// Subscriptions (a RabbitMQ queue pushed to an HTTP endpoint): list, one subscription, create,
// edit, pause, resume, delete. The consumer's state comes from /healthz.

import { api, get, health, enc } from './api.js';
import { h, badge, button, linkButton, table, emptyState, facts, fmtInt, fmtTime, confirm, toast, errorBox } from './dom.js';
import { definitionForm } from './forms.js';

const SUB_FIELDS = [
  { name: 'name', label: 'Name', type: 'text', createOnly: true, hint: '1 to 128 characters of A-Z a-z 0-9 _ . : -, e.g. credits', placeholder: 'credits' },
  { name: 'queue', label: 'Queue', type: 'text', placeholder: 'transfer.credit', hint: 'The RabbitMQ queue consumed; declared (durable) when missing.' },
  { name: 'exchange', label: 'Exchange to bind', type: 'text', optional: true, hint: 'An existing exchange the queue is bound to, with the routing keys below.' },
  { name: 'routing_keys', label: 'Routing keys', type: 'list-text', optional: true, placeholder: 'credit.*', hint: 'Separated by commas; only with an exchange.' },
  { name: 'callback', label: 'Callback URL', type: 'url', placeholder: 'https://shop.example/hooks/credit' },
  { name: 'method', label: 'Method', type: 'select', options: ['POST', 'GET'], default: 'POST' },
  { name: 'timeout_ms', label: 'Timeout (milliseconds)', type: 'int', default: '5000', hint: 'How long the endpoint may take before the attempt counts as failed.' },
  { name: 'retry', label: 'Retry ladder (seconds)', type: 'list-number', default: '1, 3, 5, 15, 30', hint: 'Seconds before each further attempt, separated by commas; the last rung repeats.' },
  { name: 'max_attempts', label: 'Attempts in all', type: 'int', optional: true, hint: 'Empty: one more than the rungs of the ladder.' },
  { name: 'concurrency', label: 'Concurrency', type: 'int', optional: true, hint: '1 delivers strictly in order. Empty: 10.' },
  { name: 'prefetch', label: 'Prefetch', type: 'int', optional: true, hint: 'Messages held from the broker; at least the concurrency. Empty: twice the concurrency.' },
  { name: 'secret', label: 'Secret', type: 'secret', optional: true, hint: 'Signs each delivery (X-Dq-Signature); never shown again.' },
  { name: 'status', label: 'Status', type: 'select', options: ['active', 'paused'], default: 'active', hint: 'paused: its messages wait in the queue.' },
];

const subPath = (name) => `/v1/subscriptions/${enc(name)}`;
const subUrl = (name) => `/ui/subscriptions/${enc(name)}`;

function actions(ctx, s, after) {
  if (ctx.readonly) return null;
  const paused = s.status === 'paused';
  return h('div', { class: 'row-actions' },
    button(paused ? 'Resume' : 'Pause', async () => {
      try {
        await api('PATCH', subPath(s.name), { status: paused ? 'active' : 'paused' });
        toast(`Subscription ${s.name} ${paused ? 'resumed' : 'paused'}.`);
        after();
      } catch (e) {
        toast(e.message, 'error');
      }
    }, { kind: 'btn-small', name: paused ? 'resume' : 'pause' }),
    linkButton('Edit', `${subUrl(s.name)}/edit`, 'btn-small'),
    button('Delete', async () => {
      if (!await confirm(`Delete subscription ${s.name}?`, `Its consumers stop on every gateway. The queue ${s.queue} and its messages stay in RabbitMQ.`, 'Delete subscription', true)) return;
      try {
        await api('DELETE', subPath(s.name));
        toast(`Subscription ${s.name} deleted.`);
        after(true);
      } catch (e) {
        toast(e.message, 'error');
      }
    }, { kind: 'btn-small btn-danger-quiet', name: 'delete' }));
}

function consumerState(consumers, name) {
  const c = consumers[name];
  if (!c) return badge('starting', 'info');
  return [badge(c.status), c.error ? h('div', { class: 'bad-text small clamp', title: c.error }, c.error) : null];
}

export async function list(ctx) {
  ctx.title('Subscriptions');
  const [{ subscriptions }, hz] = await Promise.all([
    get('/v1/subscriptions', { signal: ctx.signal }),
    health({ signal: ctx.signal }).catch(() => ({})),
  ]);
  const consumers = hz.subscriptions || {};
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Subscriptions'),
    ctx.readonly ? null : linkButton('New subscription', '/ui/subscriptions/new', 'btn-primary'));
  if (!subscriptions.length) {
    return ctx.show(head, emptyState('No subscriptions yet', ctx.readonly
      ? 'An admin can add one here, with PUT /v1/subscriptions/{name}, or as [[subscription]] in the gateway\'s file.'
      : 'Name a RabbitMQ queue and an endpoint: the gateway consumes the queue and POSTs each message to the endpoint, with retries and dead letters.',
    ctx.readonly ? null : linkButton('Create a subscription', '/ui/subscriptions/new', 'btn-primary')));
  }
  ctx.show(head, table([
    ['Subscription', (s) => h('a', { href: subUrl(s.name) }, s.name)],
    ['Status', (s) => badge(s.status)],
    ['Consumer', (s) => consumerState(consumers, s.name)],
    ['Queue → endpoint', (s) => h('span', { class: 'mono break small' }, `${s.queue} → ${s.method} ${s.callback}`), 'col-opt'],
    ['', (s) => h('div', { class: 'row-actions' }, linkButton('Dead letters', `/ui/dead?subscription=${enc(s.name)}`, 'btn-small btn-quiet'), actions(ctx, s, () => list(ctx))), 'col-actions'],
  ], subscriptions, { caption: 'Subscriptions', rowAttrs: (s) => ({ 'data-subscription': s.name }) }));
}

export async function show(ctx) {
  const [name] = ctx.params;
  ctx.title(`Subscription ${name}`);
  let s;
  try {
    s = await get(subPath(name), { signal: ctx.signal });
  } catch (e) {
    if (e.status !== 404) throw e;
    return ctx.show(h('h1', {}, `Subscription ${name}`), errorBox(e), h('p', {}, h('a', { href: '/ui/subscriptions' }, 'All subscriptions')));
  }
  const hz = await health({ signal: ctx.signal }).catch(() => ({}));
  const c = (hz.subscriptions || {})[name];
  ctx.show(
    h('p', { class: 'crumbs' }, h('a', { href: '/ui/subscriptions' }, 'Subscriptions'), ' / '),
    h('div', { class: 'page-head' }, h('h1', {}, s.name, ' ', badge(s.status)), actions(ctx, s, (deleted) => (deleted ? ctx.navigate('/ui/subscriptions') : show(ctx)))),
    h('div', { class: 'cards' },
      h('div', { class: 'card stat' }, h('span', { class: 'stat-num' }, consumerState(hz.subscriptions || {}, name)), h('span', { class: 'stat-label' }, 'consumer on this gateway')),
      h('div', { class: 'card stat' }, h('span', { class: 'stat-num' }, c ? fmtInt(c.in_flight) : '—'), h('span', { class: 'stat-label' }, 'in flight'))),
    h('p', { class: 'actions' }, linkButton('Dead letters', `/ui/dead?subscription=${enc(name)}`)),
    h('section', { class: 'section' }, h('h2', {}, 'Definition'), facts([
      ['Queue', h('span', { class: 'mono' }, s.queue)],
      ['Bound to', s.exchange ? h('span', { class: 'mono' }, `${s.exchange} (${(s.routing_keys || ['']).map((k) => k || '""').join(', ')})`) : 'nothing (the queue only)'],
      ['Endpoint', h('span', { class: 'mono break' }, `${s.method} ${s.callback}`)],
      ['Timeout', `${fmtInt(s.timeout_ms)} ms`],
      ['Retry ladder', s.retry.length ? `${s.retry.join(', ')} s` : 'none'],
      ['Attempts in all', fmtInt(s.max_attempts)],
      ['Concurrency', s.concurrency != null ? fmtInt(s.concurrency) : '10 (default)'],
      ['Prefetch', s.prefetch != null ? fmtInt(s.prefetch) : 'twice the concurrency (default)'],
      ['Secret', s.secret_set ? 'set (deliveries are signed)' : 'none'],
      ['Updated', fmtTime(s.updated_at)],
    ])),
  );
}

export async function create(ctx) {
  ctx.title('New subscription');
  if (ctx.readonly) return ctx.show(h('h1', {}, 'New subscription'), errorBox({ message: 'A read-only session cannot create subscriptions.' }));
  const { form, setError } = definitionForm({
    spec: SUB_FIELDS,
    creating: true,
    submitLabel: 'Create subscription',
    idPrefix: 'sub',
    onCancel: () => ctx.navigate('/ui/subscriptions'),
    async onSubmit(body, values) {
      const name = values.name.trim();
      if (!name) {
        setError('name', 'name is missing: give the subscription a name, e.g. credits');
        throw Object.assign(new Error(''), { name: 'AbortError' });
      }
      const exists = await get(subPath(name)).then(() => true, (e) => (e.status === 404 ? false : Promise.reject(e)));
      if (exists) {
        setError('name', `subscription "${name}" already exists: edit it instead`);
        throw Object.assign(new Error(''), { name: 'AbortError' });
      }
      await api('PUT', subPath(name), body);
      toast(`Subscription ${name} created.`);
      ctx.navigate(subUrl(name));
    },
  });
  ctx.show(h('p', { class: 'crumbs' }, h('a', { href: '/ui/subscriptions' }, 'Subscriptions'), ' / '), h('h1', {}, 'New subscription'), form);
}

export async function edit(ctx) {
  const [name] = ctx.params;
  ctx.title(`Edit ${name}`);
  const s = await get(subPath(name), { signal: ctx.signal });
  if (ctx.readonly) return ctx.navigate(subUrl(name), { replace: true });
  const { form } = definitionForm({
    spec: SUB_FIELDS,
    initial: s,
    creating: false,
    submitLabel: 'Save changes',
    idPrefix: 'sub',
    onCancel: () => ctx.navigate(subUrl(name)),
    async onSubmit(body) {
      if (!Object.keys(body).length) {
        toast('Nothing changed.');
        return ctx.navigate(subUrl(name));
      }
      await api('PATCH', subPath(name), body);
      toast(`Subscription ${name} saved.`);
      ctx.navigate(subUrl(name));
    },
  });
  ctx.show(h('p', { class: 'crumbs' }, h('a', { href: '/ui/subscriptions' }, 'Subscriptions'), ' / ', h('a', { href: subUrl(name) }, name), ' / '),
    h('h1', {}, `Edit ${name}`), h('p', { class: 'sub' }, 'Only the fields you change are sent (PATCH).'), form);
}

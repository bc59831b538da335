// Topics: list, one topic, create and edit (PUT to create, PATCH of the changed fields to edit),
// pause, resume, delete.

import { api, get, enc } from './api.js';
import { h, badge, button, linkButton, table, emptyState, facts, fmtInt, fmtTime, fmtDuration, confirm, toast, errorBox } from './dom.js';
import { stateBar } from './charts.js';
import { definitionForm } from './forms.js';

const push = (v) => v.mode !== 'pull';
const TOPIC_FIELDS = [
  { name: 'name', label: 'Name', type: 'text', createOnly: true, hint: '1 to 128 characters of A-Z a-z 0-9 _ . : -, e.g. order.timeout', placeholder: 'order.timeout' },
  { name: 'mode', label: 'Mode', type: 'radio', default: 'push', options: [['push', 'Push: the gateway delivers each due message'], ['pull', 'Pull: your workers reserve due messages']] },
  {
    name: 'target', label: 'Deliver to', type: 'radio', virtual: true, showIf: push,
    initial: (t) => (t.exchange != null ? 'exchange' : 'callback'),
    options: [['callback', 'An HTTP callback'], ['exchange', 'A RabbitMQ exchange']],
  },
  { name: 'callback', label: 'Callback URL', type: 'url', clearWhenHidden: true, placeholder: 'https://shop.example/hooks/order-timeout', showIf: (v) => push(v) && v.target !== 'exchange' },
  { name: 'method', label: 'Method', type: 'select', options: ['POST', 'GET'], default: 'POST', showIf: (v) => push(v) && v.target !== 'exchange' },
  { name: 'exchange', label: 'Exchange', type: 'text', clearWhenHidden: true, keepEmpty: true, hint: 'Empty: the default exchange, with the routing key naming the queue.', showIf: (v) => push(v) && v.target === 'exchange' },
  { name: 'routing_key', label: 'Routing key', type: 'text', optional: true, clearWhenHidden: true, showIf: (v) => push(v) && v.target === 'exchange' },
  { name: 'delay', label: 'Default delay (seconds)', type: 'number', default: '0', hint: 'From add to due, for a message that gives neither delay nor fix_time.' },
  { name: 'timeout_ms', label: 'Timeout (milliseconds)', type: 'int', default: '5000', unit: 'milliseconds', hint: 'How long a callback may take (push), or a reserved job\'s lease (pull).' },
  { name: 'retry', label: 'Retry ladder (seconds)', type: 'list-number', default: '1, 3, 5, 15, 30', hint: 'Seconds before each further attempt, separated by commas; the last rung repeats.' },
  { name: 'max_attempts', label: 'Attempts in all', type: 'int', optional: true, hint: 'Empty: one more than the rungs of the ladder.' },
  { name: 'concurrency', label: 'Concurrency', type: 'int', optional: true, hint: 'Deliveries in flight at once per gateway. Empty: the gateway\'s topic_concurrency.' },
  { name: 'secret', label: 'Secret', type: 'secret', optional: true, hint: 'Signs each delivery (X-Dq-Signature); never shown again.' },
  { name: 'alert_webhook', label: 'Alert webhook', type: 'url', optional: true, placeholder: 'https://ops.example/dq-alerts', hint: 'POSTed each dead letter.' },
  { name: 'alert_email', label: 'Alert e-mail', type: 'list-text', optional: true, placeholder: 'owner@shop.example, ops@shop.example', hint: 'Mailed each dead letter (at most one mail per alert interval), beside the gateway\'s [alerts] to; separated by commas.' },
  { name: 'status', label: 'Status', type: 'select', options: ['active', 'paused', 'disabled'], default: 'active', hint: 'paused: takes messages, delivers later; disabled: refuses new messages.' },
];

const topicPath = (name) => `/v1/topics/${enc(name)}`;
const topicUrl = (name) => `/ui/topics/${enc(name)}`;

function target(t) {
  if (t.mode === 'pull') return h('span', { class: 'muted' }, 'pulled by workers');
  if (t.exchange != null) return h('span', { class: 'mono' }, `exchange ${t.exchange || '(default)'} → ${t.routing_key || '""'}`);
  return h('span', { class: 'mono break' }, `${t.method} ${t.callback}`);
}

/** Pause / Resume / Edit / Delete for one topic (none in a read-only session). */
function actions(ctx, t, after) {
  if (ctx.readonly) return null;
  const paused = t.status !== 'active';
  return h('div', { class: 'row-actions' },
    button(paused ? 'Resume' : 'Pause', async () => {
      try {
        await api('PATCH', topicPath(t.name), { status: paused ? 'active' : 'paused' });
        toast(`Topic ${t.name} ${paused ? 'resumed' : 'paused'}.`);
        after();
      } catch (e) {
        toast(e.message, 'error');
      }
    }, { kind: 'btn-small', name: paused ? 'resume' : 'pause' }),
    linkButton('Edit', `${topicUrl(t.name)}/edit`, 'btn-small'),
    button('Delete', async () => {
      if (!await confirm(`Delete topic ${t.name}?`, 'Messages already queued stay in Redis, but the topic stops taking new ones and nothing is delivered for it until it is registered again.', 'Delete topic', true)) return;
      try {
        await api('DELETE', topicPath(t.name));
        toast(`Topic ${t.name} deleted.`);
        after(true);
      } catch (e) {
        toast(e.message, 'error');
      }
    }, { kind: 'btn-small btn-danger-quiet', name: 'delete' }));
}

export async function list(ctx) {
  ctx.title('Topics');
  const [{ topics }, ov] = await Promise.all([
    get('/v1/topics', { signal: ctx.signal }),
    get('/v1/overview', { signal: ctx.signal }).catch(() => null),
  ]);
  const counts = new Map(((ov && ov.topics) || []).map((t) => [t.name, t]));
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Topics'),
    ctx.readonly ? null : linkButton('New topic', '/ui/topics/new', 'btn-primary'));
  if (!topics.length) {
    return ctx.show(head, emptyState('No topics yet', ctx.readonly
      ? 'An admin registers topics here, with PUT /v1/topics/{name}, or as [[topic]] in the gateway\'s file.'
      : 'Register a topic with its callback; then add messages from PHP (Dq\\Client::add) or with POST /v1/topics/{name}/messages.',
    ctx.readonly ? null : linkButton('Create a topic', '/ui/topics/new', 'btn-primary')));
  }
  const reload = () => list(ctx);
  ctx.show(head, table([
    ['Topic', (t) => h('a', { href: topicUrl(t.name) }, t.name)],
    ['Status', (t) => badge(t.status)],
    ['Delivers to', (t) => target(t), 'col-opt'],
    ['Messages', (t) => {
      const c = counts.get(t.name);
      if (!c) return h('span', { class: 'muted' }, '—');
      return h('div', { class: 'counts' }, stateBar([['delayed', c.delayed], ['ready', c.ready], ['inflight', c.inflight], ['dead', c.dead]]),
        h('span', { class: 'small' }, `${fmtInt(c.delayed + c.ready + c.inflight)} waiting · `,
          c.dead ? h('a', { href: `/ui/dead?topic=${enc(t.name)}` }, `${fmtInt(c.dead)} dead`) : '0 dead'));
    }],
    ['', (t) => actions(ctx, t, reload), 'col-actions'],
  ], topics, { caption: 'Topics', rowAttrs: (t) => ({ 'data-topic': t.name }) }));
}

export async function show(ctx) {
  const [name] = ctx.params;
  ctx.title(`Topic ${name}`);
  let t;
  let stats;
  try {
    [t, stats] = await Promise.all([get(topicPath(name), { signal: ctx.signal }), get(`${topicPath(name)}/stats`, { signal: ctx.signal })]);
  } catch (e) {
    if (e.status !== 404) throw e;
    return ctx.show(h('h1', {}, `Topic ${name}`), errorBox(e), h('p', {}, h('a', { href: '/ui/topics' }, 'All topics')));
  }
  const after = (deleted) => (deleted ? ctx.navigate('/ui/topics') : show(ctx));
  ctx.show(
    h('p', { class: 'crumbs' }, h('a', { href: '/ui/topics' }, 'Topics'), ' / '),
    h('div', { class: 'page-head' }, h('h1', {}, t.name, ' ', badge(t.status)), actions(ctx, t, after)),
    h('div', { class: 'cards' },
      ['delayed', 'ready', 'inflight', 'dead'].map((s) => h('div', { class: 'card stat' },
        h('span', { class: 'stat-num' }, s === 'dead' && stats.dead ? h('a', { href: `/ui/dead?topic=${enc(name)}` }, fmtInt(stats.dead)) : fmtInt(stats[s])),
        h('span', { class: 'stat-label' }, s === 'inflight' ? 'in flight' : s)))),
    h('p', { class: 'actions' },
      linkButton('Look up a message', `/ui/messages?topic=${enc(name)}`),
      linkButton(`Dead letters (${fmtInt(stats.dead)})`, `/ui/dead?topic=${enc(name)}`)),
    h('section', { class: 'section' }, h('h2', {}, 'Definition'), facts([
      ['Mode', t.mode],
      ['Delivers to', target(t)],
      ['Default delay', `${t.delay} s`],
      ['Timeout', `${fmtInt(t.timeout_ms)} ms`],
      ['Retry ladder', t.retry.length ? `${t.retry.join(', ')} s` : 'none'],
      ['Attempts in all', fmtInt(t.max_attempts)],
      ['Concurrency', t.concurrency != null ? fmtInt(t.concurrency) : 'the gateway\'s topic_concurrency'],
      ['Secret', t.secret_set ? 'set (deliveries are signed)' : 'none'],
      ['Alert webhook', t.alert_webhook ? h('span', { class: 'mono break' }, t.alert_webhook) : 'none'],
      ['Alert e-mail', t.alert_email && t.alert_email.length ? t.alert_email.join(', ') : 'none'],
      ['Updated', `${fmtTime(t.updated_at)} (${fmtDuration(Date.now() / 1000 - t.updated_at)} ago)`],
    ])),
  );
}

export async function create(ctx) {
  ctx.title('New topic');
  if (ctx.readonly) return ctx.show(h('h1', {}, 'New topic'), errorBox({ message: 'A read-only session cannot create topics.' }));
  const { form, setError } = definitionForm({
    spec: TOPIC_FIELDS,
    creating: true,
    submitLabel: 'Create topic',
    idPrefix: 'topic',
    onCancel: () => ctx.navigate('/ui/topics'),
    async onSubmit(body, values) {
      const name = values.name.trim();
      if (!name) {
        setError('name', 'name is missing: give the topic a name, e.g. order.timeout');
        throw Object.assign(new Error(''), { name: 'AbortError' });
      }
      // PUT replaces: ask first so that "create" never overwrites a topic by accident.
      const exists = await get(topicPath(name)).then(() => true, (e) => (e.status === 404 ? false : Promise.reject(e)));
      if (exists) {
        setError('name', `topic "${name}" already exists: edit it instead`);
        throw Object.assign(new Error(''), { name: 'AbortError' });
      }
      await api('PUT', topicPath(name), body);
      toast(`Topic ${name} created.`);
      ctx.navigate(topicUrl(name));
    },
  });
  ctx.show(h('p', { class: 'crumbs' }, h('a', { href: '/ui/topics' }, 'Topics'), ' / '), h('h1', {}, 'New topic'), form);
}

export async function edit(ctx) {
  const [name] = ctx.params;
  ctx.title(`Edit ${name}`);
  const t = await get(topicPath(name), { signal: ctx.signal });
  if (ctx.readonly) return ctx.navigate(topicUrl(name), { replace: true });
  const { form } = definitionForm({
    spec: TOPIC_FIELDS,
    initial: t,
    creating: false,
    submitLabel: 'Save changes',
    idPrefix: 'topic',
    onCancel: () => ctx.navigate(topicUrl(name)),
    async onSubmit(body) {
      if (!Object.keys(body).length) {
        toast('Nothing changed.');
        return ctx.navigate(topicUrl(name));
      }
      await api('PATCH', topicPath(name), body);
      toast(`Topic ${name} saved.`);
      ctx.navigate(topicUrl(name));
    },
  });
  ctx.show(h('p', { class: 'crumbs' }, h('a', { href: '/ui/topics' }, 'Topics'), ' / ', h('a', { href: topicUrl(name) }, name), ' / '),
    h('h1', {}, `Edit ${name}`), h('p', { class: 'sub' }, 'Only the fields you change are sent (PATCH).'), form);
}

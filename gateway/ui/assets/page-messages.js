// Message lookup by topic and id: view, delete, deliver now. "Deliver now" makes the waiting
// message due in one step on the server (POST .../messages/{id}/deliver: its body and attempts
// unchanged). A dead message is requeued instead.

import { api, get, enc } from './api.js';
import { h, badge, button, facts, fmtInt, timeEl, pretty, confirm, toast, errorBox, emptyState, linkButton } from './dom.js';

export async function render(ctx) {
  ctx.title('Messages');
  const topic = ctx.query.get('topic') || '';
  const id = ctx.query.get('id') || '';
  const topics = await get('/v1/topics', { signal: ctx.signal }).then((r) => r.topics, () => []);
  const result = h('div', { class: 'lookup-result', 'aria-live': 'polite' });
  const topicInput = h('input', { id: 'msg-topic', name: 'topic', list: 'msg-topics', value: topic, autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'order.timeout' });
  const idInput = h('input', { id: 'msg-id', name: 'id', value: id, autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'order-1001' });
  const form = h('form', { class: 'form form-inline', role: 'search', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'msg-topic' }, 'Topic'), topicInput,
      h('datalist', { id: 'msg-topics' }, topics.map((t) => h('option', { value: t.name })))),
    h('div', { class: 'field' }, h('label', { for: 'msg-id' }, 'Message id'), idInput),
    h('div', { class: 'form-buttons' }, button('Look up', null, { kind: 'btn-primary', type: 'submit', name: 'lookup' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = topicInput.value.trim();
    const i = idInput.value;
    if (!t) return topicInput.focus();
    if (!i) return idInput.focus();
    history.replaceState(null, '', `/ui/messages?topic=${enc(t)}&id=${enc(i)}`);
    lookup(ctx, result, t, i);
  });
  ctx.show(h('h1', {}, 'Messages'), h('p', { class: 'sub' }, 'Find a message by its topic and id, in whichever state it is.'), form, result);
  if (topic && id) await lookup(ctx, result, topic, id);
  else if (!topics.length) {
    result.append(emptyState('No topics yet', 'Messages belong to topics: register one first.', ctx.readonly ? null : linkButton('Create a topic', '/ui/topics/new', 'btn-primary')));
  } else {
    (topic ? idInput : topicInput).focus();
  }
}

async function lookup(ctx, result, topic, id) {
  const path = `/v1/topics/${enc(topic)}/messages/${enc(id)}`;
  result.replaceChildren(h('p', { class: 'loading' }, 'Looking…'));
  let m;
  try {
    m = await get(path, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    result.replaceChildren(e.status === 404
      ? emptyState('No such message', `${e.message}. It may have been delivered already (a delivered message is removed), or the id is spelled differently.`)
      : errorBox(e));
    return;
  }
  const again = () => lookup(ctx, result, topic, id);
  const buttons = [];
  if (!ctx.readonly) {
    if (m.state === 'delayed' || m.state === 'ready') {
      buttons.push(button('Deliver now', async () => {
        if (!await confirm(`Deliver ${id} now?`, 'It becomes due at once, its body and attempts as they are.', 'Deliver now')) return;
        try {
          await api('POST', `/v1/topics/${enc(topic)}/messages/${enc(id)}/deliver`);
          toast(`Message ${id} is due now.`);
          again();
        } catch (e) {
          toast(e.message, 'error');
        }
      }, { kind: 'btn-primary', name: 'deliver-now' }));
    }
    if (m.state === 'dead') {
      buttons.push(button('Requeue', async () => {
        try {
          await api('POST', `/v1/topics/${enc(topic)}/dead/${enc(id)}/requeue`);
          toast(`Message ${id} requeued.`);
          again();
        } catch (e) {
          toast(e.message, 'error');
        }
      }, { kind: 'btn-primary', name: 'requeue' }));
    }
    buttons.push(button('Delete', async () => {
      if (!await confirm(`Delete message ${id}?`, `It is removed from topic ${topic} and never delivered.`, 'Delete message', true)) return;
      try {
        await api('DELETE', m.state === 'dead' ? `/v1/topics/${enc(topic)}/dead/${enc(id)}` : path);
        toast(`Message ${id} deleted.`);
        again();
      } catch (e) {
        toast(e.message, 'error');
      }
    }, { kind: 'btn-danger-quiet', name: 'delete' }));
  }
  result.replaceChildren(h('section', { class: 'card message' },
    h('div', { class: 'page-head' }, h('h2', {}, h('span', { class: 'mono' }, m.id), ' ', badge(m.state)), h('div', { class: 'row-actions' }, buttons)),
    m.state === 'inflight' ? h('p', { class: 'muted' }, 'Being delivered right now: it can be deleted, not re-scheduled.') : null,
    facts([
      ['Topic', h('a', { href: `/ui/topics/${enc(topic)}` }, m.topic)],
      [m.state === 'dead' ? 'Was due' : 'Due', timeEl(m.due_at)],
      ['Attempts', fmtInt(m.attempts)],
      ['Last status', m.last_status != null ? String(m.last_status) : null],
      ['Last error', m.last_error ? h('span', { class: 'bad-text' }, m.last_error) : null],
    ]),
    h('h3', {}, 'Body'),
    h('pre', { class: 'code', tabindex: '0' }, pretty(m.body))));
}

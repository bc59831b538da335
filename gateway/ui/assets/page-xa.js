// XA transactions in doubt (prepared branches without a decision applied): commit or roll back.

import { api, get, enc } from './api.js';
import { h, badge, button, table, emptyState, fmtDuration, confirm, toast, plural } from './dom.js';

export async function render(ctx) {
  ctx.title('XA in doubt');
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'XA transactions in doubt'));
  const intro = h('p', { class: 'sub' }, 'Transactions with a prepared branch and no decision applied yet. The gateway\'s xa worker applies a logged decision on its next pass and rolls back undecided ones older than xa_timeout; decide here to settle one sooner.');
  const body = h('div', { 'aria-live': 'polite' });
  ctx.show(head, intro, body);
  const load = async () => {
    let list;
    try {
      list = await get('/v1/xa?state=in_doubt', { signal: ctx.signal });
    } catch (e) {
      if (e.status !== 404) throw e;
      body.replaceChildren(emptyState('XA is not set up on this gateway', `${e.message}. Set mysql (dq's own database) and [databases] in the gateway's configuration to use cross-database transactions.`));
      return false;
    }
    if (!list.transactions.length) {
      body.replaceChildren(emptyState('No transaction in doubt', 'Every XA transaction finished. One that shows up here for a moment is one committing now; one that stays needs a decision.'));
      return true;
    }
    body.replaceChildren(table([
      ['Transaction', (t) => h('span', { class: 'mono break' }, t.id)],
      ['Age', (t) => fmtDuration(t.age)],
      ['Decision logged', (t) => (t.decision ? badge(t.decision, t.decision === 'commit' ? 'ok' : 'warn') : h('span', { class: 'muted' }, 'none yet'))],
      ['Branches', (t) => h('ul', { class: 'plain small' }, t.branches.map((b) => h('li', {}, h('strong', {}, b.database), ' ', h('span', { class: 'mono muted' }, b.server))))],
      ['', (t) => (ctx.readonly ? null : h('div', { class: 'row-actions' },
        button('Commit', () => decide(t, 'commit'), { kind: 'btn-small', name: 'commit' }),
        button('Roll back', () => decide(t, 'rollback'), { kind: 'btn-small btn-danger-quiet', name: 'rollback' }))), 'col-actions'],
    ], list.transactions, { caption: 'Transactions in doubt', rowAttrs: (t) => ({ 'data-id': t.id }) }));
    return true;
  };
  const decide = async (t, decision) => {
    const logged = t.decision && t.decision !== decision
      ? ` The log already holds "${t.decision}": the gateway will refuse (409).` : '';
    const ok = await confirm(`${decision === 'commit' ? 'Commit' : 'Roll back'} ${t.id}?`,
      `Applies "${decision}" to its ${plural(t.branches.length, 'prepared branch', 'prepared branches')} (${t.branches.map((b) => b.database).join(', ')}).${logged}`,
      decision === 'commit' ? 'Commit' : 'Roll back', decision === 'rollback');
    if (!ok) return;
    try {
      const r = await api('POST', `/v1/xa/${enc(t.id)}/${decision}`);
      const failed = r.branches.filter((b) => b.action === 'failed');
      toast(failed.length
        ? `${t.id}: decision logged; ${failed.map((b) => `${b.database}: ${b.error || 'failed'}`).join('; ')} (retried by the xa worker)`
        : `${t.id}: ${r.branches.map((b) => `${b.database} ${b.action.replace('_', ' ')}`).join(', ')}.`, failed.length ? 'error' : 'ok');
    } catch (e) {
      toast(e.message, 'error');
    }
    await load();
  };
  if (await load()) ctx.every(10000, load);
}

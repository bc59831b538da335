// Outbox backlog: each relayed database as the gateway's /healthz reports it (the relay counts
// the unsent rows every second; MySQL is not asked by this page).

import { health } from './api.js';
import { h, badge, table, emptyState, fmtInt, fmtDuration, timeEl } from './dom.js';

export async function render(ctx) {
  ctx.title('Outbox');
  const body = h('div', { 'aria-live': 'polite' });
  ctx.show(h('div', { class: 'page-head' }, h('h1', {}, 'Outbox backlog')),
    h('p', { class: 'sub' }, 'Rows written by Dq\\Outbox in your transactions and not yet published by the relay. Refreshed every 5 s.'), body);
  const load = async () => {
    const hz = await health({ signal: ctx.signal });
    const dbs = Object.entries(hz.outbox || {});
    if (!dbs.length) {
      body.replaceChildren(emptyState('No outbox relayed by this gateway', 'Name databases in [outbox] databases (from [databases]) and run dq-gateway migrate: the relay then publishes the committed rows of each dq_outbox.'));
      return;
    }
    const warnings = (hz.warnings || []).filter((w) => /outbox/i.test(w));
    body.replaceChildren(...[
      table([
        ['Database', ([name]) => h('strong', {}, name)],
        ['Relay', ([, o]) => badge(o.relay)],
        ['Unsent rows', ([, o]) => (o.unsent == null ? h('span', { class: 'muted' }, 'not counted yet') : o.unsent ? badge(fmtInt(o.unsent), 'warn') : '0'), 'num'],
        ['Oldest unsent', ([, o]) => (o.oldest_unsent_s == null ? h('span', { class: 'muted' }, '—') : fmtDuration(o.oldest_unsent_s))],
        ['Counted', ([, o]) => timeEl(o.checked_at), 'col-opt'],
        ['Problems', ([, o]) => [
          o.error ? h('div', { class: 'bad-text small' }, o.error) : null,
          o.last_refused ? h('div', { class: 'warn-text small' }, `last refused: ${o.last_refused}`) : null,
          !o.error && !o.last_refused ? h('span', { class: 'muted' }, 'none') : null], 'wide'],
      ], dbs, { caption: 'Outbox relays' }),
      warnings.length ? h('ul', { class: 'warnings' }, warnings.map((w) => h('li', {}, w))) : null].filter(Boolean));
  };
  await load();
  ctx.every(5000, load);
}

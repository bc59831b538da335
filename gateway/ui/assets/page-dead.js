// Dead letters of a topic or of a subscription, paged and filtered by the server (`?q=` text in
// the id, body or last error; `?status=` the last answer): "Load more" fetches the next page of
// those that match, and the page says how many match in all. Requeue or delete one, the selected
// ones, or all that match.

import { api, get, enc } from './api.js';
import { h, clear, badge, button, table, emptyState, facts, fmtInt, timeEl, pretty, plural, confirm, dialog, toast, errorBox, fill } from './dom.js';

const PAGE = 100;
// A subscription's dead letters are read from the front of its queue: the API pages through the
// first 10,000 (a topic's have no such bound).
const reachOf = (src) => (src.kind === 'subscription' ? 10000 : Infinity);
const REASONS = [['', 'Any answer'], ['410', '410 Gone'], ['4xx', 'A 4xx status'], ['5xx', 'A 5xx status'], ['none', 'No answer (timeout, refused)']];

function sourceOf(query) {
  if (query.get('topic')) return { kind: 'topic', name: query.get('topic') };
  if (query.get('subscription')) return { kind: 'subscription', name: query.get('subscription') };
  return null;
}

const base = (src) => `/v1/${src.kind === 'topic' ? 'topics' : 'subscriptions'}/${enc(src.name)}/dead`;
const pageUrl = (src) => `/ui/dead?${src.kind}=${enc(src.name)}`;

export async function render(ctx) {
  const src = sourceOf(ctx.query);
  const [topics, subs, ov] = await Promise.all([
    get('/v1/topics', { signal: ctx.signal }).then((r) => r.topics),
    get('/v1/subscriptions', { signal: ctx.signal }).then((r) => r.subscriptions),
    get('/v1/overview', { signal: ctx.signal }).catch(() => null),
  ]);
  const picker = sourcePicker(ctx, src, topics, subs);
  if (!src) return landing(ctx, picker, topics, subs, ov);
  ctx.title(`Dead letters of ${src.name}`);
  const view = new DeadView(ctx, src);
  ctx.show(
    h('p', { class: 'crumbs' }, h('a', { href: '/ui/dead' }, 'Dead letters'), ' / '),
    h('div', { class: 'page-head' }, h('h1', {}, `Dead letters of ${src.kind} `, h('span', { class: 'mono' }, src.name)), picker),
    view.el);
  await view.loadMore();
}

function sourcePicker(ctx, src, topics, subs) {
  const value = src ? `${src.kind}:${src.name}` : '';
  const select = h('select', { id: 'dead-source', 'aria-label': 'Topic or subscription' },
    h('option', { value: '' }, 'Choose a topic or subscription…'),
    topics.length ? h('optgroup', { label: 'Topics' }, topics.map((t) => h('option', { value: `topic:${t.name}`, selected: value === `topic:${t.name}` }, t.name))) : null,
    subs.length ? h('optgroup', { label: 'Subscriptions' }, subs.map((s) => h('option', { value: `subscription:${s.name}`, selected: value === `subscription:${s.name}` }, s.name))) : null);
  select.addEventListener('change', () => {
    const [kind, ...rest] = select.value.split(':');
    if (kind) ctx.navigate(pageUrl({ kind, name: rest.join(':') }));
  });
  return h('div', { class: 'field field-inline' }, h('label', { for: 'dead-source' }, 'Show'), select);
}

function landing(ctx, picker, topics, subs, ov) {
  ctx.title('Dead letters');
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Dead letters'), picker);
  if (!topics.length && !subs.length) {
    return ctx.show(head, emptyState('Nothing can have dead letters yet', 'Dead letters are the messages of a topic or subscription that were given up after their last attempt (or answered 410). Register a topic or a subscription first.'));
  }
  const tc = new Map(((ov && ov.topics) || []).map((t) => [t.name, t.dead]));
  const sc = new Map(((ov && ov.subscriptions) || []).map((s) => [s.name, s.dead_total]));
  const rows = [
    ...topics.map((t) => ({ kind: 'topic', name: t.name, n: tc.get(t.name), what: 'in the topic now' })),
    ...subs.map((s) => ({ kind: 'subscription', name: s.name, n: sc.get(s.name), what: 'since the gateway started' })),
  ].sort((a, b) => (b.n || 0) - (a.n || 0) || a.name.localeCompare(b.name));
  ctx.show(head, h('p', { class: 'sub' }, 'Messages given up after their last attempt, or answered 410 by their endpoint. Choose where to look:'),
    table([
      ['Where', (r) => h('a', { href: pageUrl(r) }, `${r.kind} `, h('span', { class: 'mono' }, r.name))],
      ['Dead letters', (r) => (r.n == null ? h('span', { class: 'muted' }, '—') : [r.n ? badge(fmtInt(r.n), 'bad') : '0', h('span', { class: 'muted small' }, ` ${r.what}`)])],
    ], rows, { caption: 'Topics and subscriptions' }));
}

class DeadView {
  constructor(ctx, src) {
    this.ctx = ctx;
    this.src = src;
    this.letters = [];
    this.total = null;
    this.selected = new Set();
    this.busy = false;
    this.q = h('input', { id: 'dead-q', type: 'search', placeholder: 'id, body or error', autocomplete: 'off' });
    this.reason = h('select', { id: 'dead-reason' }, REASONS.map(([v, label]) => h('option', { value: v }, label)));
    this.reach = reachOf(src);
    this.summary = h('p', { class: 'sub', role: 'status' });
    this.progress = h('p', { class: 'progress', role: 'status', hidden: true });
    this.bulk = h('div', { class: 'bulk' });
    this.list = h('div', {});
    this.more = h('div', { class: 'more' });
    // Each change asks the server again, once typing pauses.
    let timer = null;
    for (const input of [this.q, this.reason]) {
      input.addEventListener(input === this.q ? 'input' : 'change', () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.reload(), input === this.q ? 300 : 0);
      });
    }
    this.el = h('div', {},
      h('form', { class: 'form form-inline filters', role: 'search', onsubmit: (e) => e.preventDefault() },
        h('div', { class: 'field' }, h('label', { for: 'dead-q' }, 'Filter'), this.q),
        h('div', { class: 'field' }, h('label', { for: 'dead-reason' }, 'Last answer'), this.reason)),
      this.summary, this.progress, ctx.readonly ? null : this.bulk, this.list, this.more);
  }

  filtering() {
    return Boolean(this.q.value.trim() || this.reason.value);
  }

  async fetchPage(offset, limit) {
    const q = this.q.value.trim();
    const status = this.reason.value;
    const filter = `${q ? `&q=${enc(q)}` : ''}${status ? `&status=${enc(status)}` : ''}`;
    return get(`${base(this.src)}?offset=${offset}&limit=${limit}${filter}`, { signal: this.ctx.signal });
  }

  async loadMore() {
    const offset = this.letters.length;
    const limit = Math.min(PAGE, this.reach - offset);
    if (limit <= 0) return;
    fill(this.more, h('p', { class: 'loading' }, 'Loading…'));
    let page;
    try {
      page = await this.fetchPage(offset, limit);
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(this.more, errorBox(e));
      return;
    }
    // A filter changed while this page came: the newer request's answer is the one shown.
    if (offset !== this.letters.length) return;
    const seen = new Set(this.letters.map((l) => l.id));
    this.letters.push(...page.dead.filter((l) => !seen.has(l.id)));
    this.total = page.total;
    this.draw();
  }

  async reload() {
    this.letters = [];
    this.selected.clear();
    await this.loadMore();
  }

  draw() {
    const { ctx, src } = this;
    const shown = this.letters;
    const filtering = this.filtering();
    const order = src.kind === 'topic' ? 'newest first' : 'oldest first';
    const scope = src.kind === 'subscription' ? ' (among the first 100,000)' : '';
    this.summary.textContent = this.total === 0 ? ''
      : filtering
        ? `${fmtInt(this.letters.length)} of ${plural(this.total, 'dead letter')} that match the filter${scope} loaded (${order}).`
        : `${fmtInt(this.letters.length)} of ${plural(this.total, 'dead letter')} loaded (${order}).`;
    this.drawBulk(shown);
    if (this.total === 0 && filtering) {
      fill(this.list, emptyState('Nothing matches', `No dead letter of ${src.kind} ${src.name} matches the filter: change it, or clear it to see them all.`));
    } else if (this.total === 0) {
      fill(this.list, emptyState('No dead letters', `Every message of ${src.kind} ${src.name} was delivered or is still on its way. Letters land here after their last attempt, or at once when the endpoint answers 410.`));
    } else {
      fill(this.list, this.table(shown));
    }
    clear(this.more);
    const left = this.total - this.letters.length;
    if (left > 0) {
      if (this.letters.length >= this.reach) {
        this.more.append(h('p', { class: 'muted' }, `A subscription's dead letters are read from the front of its queue: the first ${fmtInt(this.reach)} are listed. Filter them, or requeue or delete some to reach the other ${fmtInt(left)}.`));
      } else {
        this.more.append(button(`Load ${fmtInt(Math.min(PAGE, left))} more (${fmtInt(left)} not loaded)`, () => this.loadMore(), { name: 'load-more' }));
      }
    }
  }

  drawBulk(shown) {
    const n = this.selected.size;
    const all = this.total || 0;
    const busy = this.busy;
    fill(this.bulk,
      h('span', { class: 'muted' }, n ? `${plural(n, 'letter')} selected` : 'Select letters to act on several at once.'),
      button(`Requeue selected`, () => this.run('requeue', [...this.selected]), { kind: 'btn-small', disabled: !n || busy, name: 'requeue-selected' }),
      button(`Delete selected`, () => this.run('delete', [...this.selected]), { kind: 'btn-small btn-danger-quiet', disabled: !n || busy, name: 'delete-selected' }),
      h('span', { class: 'sep', 'aria-hidden': 'true' }),
      button(`Requeue all ${fmtInt(all)}${this.filtering() ? ' that match' : ''}`, () => this.runAll('requeue'), { kind: 'btn-small', disabled: !all || busy, name: 'requeue-all' }),
      button(`Delete all ${fmtInt(all)}${this.filtering() ? ' that match' : ''}`, () => this.runAll('delete'), { kind: 'btn-small btn-danger-quiet', disabled: !all || busy, name: 'delete-all' }));
    this.shown = shown;
  }

  table(shown) {
    const { ctx } = this;
    const cols = [];
    if (!ctx.readonly) {
      const allBox = h('input', { type: 'checkbox', 'aria-label': 'Select all shown', checked: shown.every((l) => this.selected.has(l.id)) });
      allBox.addEventListener('change', () => {
        for (const l of shown) (allBox.checked ? this.selected.add(l.id) : this.selected.delete(l.id));
        this.draw();
      });
      cols.push([allBox, (l) => {
        const box = h('input', { type: 'checkbox', 'aria-label': `Select ${l.id}`, checked: this.selected.has(l.id) });
        box.addEventListener('change', () => {
          if (box.checked) this.selected.add(l.id);
          else this.selected.delete(l.id);
          this.drawBulk(this.shown);
        });
        return box;
      }, 'col-check']);
    }
    cols.push(
      ['Id', (l) => h('button', { type: 'button', class: 'linkish mono', onclick: () => this.details(l), 'data-action': 'view' }, l.id)],
      ['Died', (l) => timeEl(l.died_at)],
      ['Attempts', (l) => fmtInt(l.attempts), 'num col-opt'],
      ['Status', (l) => (l.last_status != null ? badge(String(l.last_status), 'bad') : h('span', { class: 'muted' }, 'no answer'))],
      ['Last error', (l) => h('span', { class: 'clamp small', title: l.last_error || '' }, l.last_error || '—'), 'col-opt wide'],
    );
    if (!ctx.readonly) {
      cols.push(['', (l) => h('div', { class: 'row-actions' },
        button('Requeue', () => this.run('requeue', [l.id]), { kind: 'btn-small', name: 'requeue' }),
        button('Delete', () => this.run('delete', [l.id]), { kind: 'btn-small btn-danger-quiet', name: 'delete' })), 'col-actions']);
    }
    return table(cols, shown, { caption: 'Dead letters', rowAttrs: (l) => ({ 'data-id': l.id }) });
  }

  async details(l) {
    const body = l.body_base64 != null
      ? [h('p', { class: 'muted' }, `Not UTF-8 text: ${fmtInt(Math.floor((l.body_base64.length * 3) / 4))} bytes, shown as base64.`), h('pre', { class: 'code' }, l.body_base64)]
      : h('pre', { class: 'code', tabindex: '0' }, pretty(l.body));
    const answer = await dialog({
      title: `Dead letter ${l.id}`,
      wide: true,
      body: [
        facts([
          ['Died', timeEl(l.died_at)],
          ['Was due', l.due_at != null ? timeEl(l.due_at) : null],
          ['Attempts', fmtInt(l.attempts)],
          ['Last status', l.last_status != null ? String(l.last_status) : 'no answer'],
          ['Last error', h('span', { class: 'bad-text' }, l.last_error || '—')],
          ['Exchange', l.exchange != null ? h('span', { class: 'mono' }, l.exchange || '(default)') : null],
          ['Routing key', l.routing_key != null ? h('span', { class: 'mono' }, l.routing_key) : null],
        ]),
        l.properties ? [h('h3', {}, 'Properties'), h('pre', { class: 'code' }, pretty(l.properties))] : null,
        h('h3', {}, 'Body'), body,
      ],
      buttons: this.ctx.readonly ? [['Close', 'close']]
        : [['Close', 'close'], ['Delete', 'delete', 'btn-danger'], ['Requeue', 'requeue', 'btn-primary']],
    });
    // Requeue from here is the button's own meaning; a delete still asks.
    if (answer === 'requeue' || answer === 'delete') await this.run(answer, [l.id], answer === 'requeue');
  }

  one(op, id) {
    const path = `${base(this.src)}/${enc(id)}`;
    return op === 'requeue' ? api('POST', `${path}/requeue`) : api('DELETE', path);
  }

  /** Requeues or deletes the given letters; asks first unless it is one letter's own button. */
  async run(op, ids, confirmed = false) {
    const verb = op === 'requeue' ? 'Requeue' : 'Delete';
    if (!ids.length) return;
    if (!confirmed && (ids.length > 1 || op === 'delete')) {
      const what = ids.length === 1 ? `dead letter ${ids[0]}` : plural(ids.length, 'dead letter');
      const text = op === 'requeue' ? `${what} go back to be delivered again, attempts counted from zero.` : `${what} are removed for good.`;
      if (!await confirm(`${verb} ${what}?`, text, verb, op === 'delete')) return;
    }
    this.setBusy(true);
    let done = 0;
    const failures = [];
    if (op === 'requeue' && this.src.kind === 'subscription' && ids.length > 1) {
      for (let i = 0; i < ids.length; i += 1000) {
        try {
          done += (await api('POST', `${base(this.src)}/requeue`, { ids: ids.slice(i, i + 1000) })).requeued;
        } catch (e) {
          failures.push(e.message);
        }
      }
    } else {
      await pool(ids, 4, async (id) => {
        try {
          await this.one(op, id);
          done += 1;
        } catch (e) {
          failures.push(`${id}: ${e.message}`);
        }
        this.showProgress(`${verb}: ${done + failures.length} of ${ids.length}…`);
      });
    }
    this.setBusy(false);
    this.report(op, done, failures);
    if (ids.length === 1 && !failures.length) {
      // One letter: take it out here instead of reloading the pages loaded so far.
      this.letters = this.letters.filter((l) => l.id !== ids[0]);
      this.selected.delete(ids[0]);
      this.total = Math.max(0, this.total - 1);
      this.draw();
    } else {
      await this.reload();
    }
  }

  /** Every dead letter, page by page from the start (each one done leaves the list). */
  async runAll(op) {
    const verb = op === 'requeue' ? 'Requeue' : 'Delete';
    const target = this.total;
    const which = this.filtering() ? ' that match the filter' : '';
    const text = op === 'requeue'
      ? `All ${plural(target, 'dead letter')} of ${this.src.kind} ${this.src.name}${which} go back to be delivered again.`
      : `All ${plural(target, 'dead letter')} of ${this.src.kind} ${this.src.name}${which} are removed for good.`;
    if (!await confirm(`${verb} all ${plural(target, 'dead letter')}?`, text, `${verb} all`, op === 'delete')) return;
    this.setBusy(true);
    let done = 0;
    const failures = [];
    if (op === 'requeue' && this.src.kind === 'subscription' && !this.filtering()) {
      try {
        done = (await api('POST', `${base(this.src)}/requeue`)).requeued;
      } catch (e) {
        failures.push(e.message);
      }
    } else {
      this.stopRequested = false;
      while (!this.stopRequested && done + failures.length < target) {
        let page;
        try {
          page = await this.fetchPage(Math.min(failures.length, this.reach - 500), 500);
        } catch (e) {
          failures.push(e.message);
          break;
        }
        if (!page.dead.length) break;
        const batch = page.dead.slice(0, target - done - failures.length);
        const before = done;
        await pool(batch.map((l) => l.id), 4, async (id) => {
          try {
            await this.one(op, id);
            done += 1;
          } catch (e) {
            failures.push(`${id}: ${e.message}`);
          }
          this.showProgress(`${verb}: ${fmtInt(done + failures.length)} of ${fmtInt(target)}…`, true);
        });
        if (done === before) break; // nothing went through: stop rather than spin
      }
    }
    this.setBusy(false);
    this.report(op, done, failures);
    await this.reload();
  }

  showProgress(text, stoppable = false) {
    this.progress.hidden = false;
    fill(this.progress, text, stoppable ? [' ', button('Stop', () => {
      this.stopRequested = true;
    }, { kind: 'btn-small', name: 'stop' })] : null);
  }

  setBusy(busy) {
    this.busy = busy;
    if (!busy) this.progress.hidden = true;
    this.drawBulk(this.shown || []);
  }

  report(op, done, failures) {
    const verbed = op === 'requeue' ? 'requeued' : 'deleted';
    if (done) toast(`${plural(done, 'dead letter')} ${verbed}.`);
    if (failures.length) toast(`${plural(failures.length, 'letter')} not ${verbed}: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? ' …' : ''}`, 'error');
  }
}

/** Runs fn over items, at most `width` at once. */
async function pool(items, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

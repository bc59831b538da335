// DOM building, formatting and the few widgets every page shares (toasts, dialogs, empty states).
// No framework: pages build elements with h() and replace what changed.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('button', {class: 'btn', onclick}, 'Save'); 'svg:path' makes an SVG element. */
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && !svg) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replaces el's children; null and false are skipped, arrays flattened. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ------------------------------------------------------------------ formatting

export function fmtInt(n) {
  return n == null ? '—' : Number(n).toLocaleString('en-US');
}

export function fmtRate(perSecond) {
  if (perSecond == null || !Number.isFinite(perSecond)) return '—';
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${perSecond.toFixed(2)}/s`;
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${Math.round(perSecond).toLocaleString('en-US')}/s`;
}

export function fmtMs(ms) {
  if (ms == null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** Seconds as "42 s", "5 min", "2 h 3 min", "3 d 4 h". */
export function fmtDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const s = Math.abs(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const hrs = Math.floor((s % 86400) / 3600);
  return `${Math.floor(s / 86400)} d${hrs ? ` ${hrs} h` : ''}`;
}

/** Unix seconds as local "YYYY-MM-DD HH:MM:SS". */
export function fmtTime(unix) {
  if (unix == null) return '—';
  const d = new Date(unix * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Unix seconds relative to now: "in 5 min", "3 s ago". */
export function fmtRelative(unix) {
  if (unix == null) return '—';
  const delta = unix - Date.now() / 1000;
  if (Math.abs(delta) < 1) return 'now';
  return delta > 0 ? `in ${fmtDuration(delta)}` : `${fmtDuration(-delta)} ago`;
}

/** A <time> showing the relative time, the exact one on hover. */
export function timeEl(unix) {
  if (unix == null) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: new Date(unix * 1000).toISOString(), title: fmtTime(unix) }, fmtRelative(unix));
}

export function pretty(value) {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

export function plural(n, one, many = `${one}s`) {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

// ------------------------------------------------------------------ small widgets

const BADGE_KIND = {
  active: 'ok', consuming: 'ok', ok: 'ok', up: 'ok', running: 'ok', committed: 'ok',
  paused: 'warn', warn: 'warn', starting: 'info', backing_off: 'warn', delayed: 'info', ready: 'info',
  inflight: 'info', unused: 'muted', off: 'muted', disabled: 'muted',
  failing: 'bad', degraded: 'bad', down: 'bad', dead: 'bad', failed: 'bad',
};

export function badge(text, kind = BADGE_KIND[text] || 'muted') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

export function emptyState(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('h2', {}, title), h('p', {}, text), actions.length ? h('p', { class: 'actions' }, actions) : null);
}

export function button(label, onclick, { kind = '', title, disabled, type = 'button', name } = {}) {
  return h('button', { type, class: `btn ${kind}`.trim(), onclick, title, disabled, 'data-action': name }, label);
}

export function linkButton(label, href, kind = '') {
  return h('a', { class: `btn ${kind}`.trim(), href }, label);
}

export function errorBox(err) {
  return h('div', { class: 'alert alert-error', role: 'alert' }, err.message || String(err));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

// ------------------------------------------------------------------ toasts

export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 4500);
}

// ------------------------------------------------------------------ dialogs

/** A modal dialog; resolves with the name of the button pressed (null when dismissed). */
export function dialog({ title, body, buttons = [['Close', 'close']], wide = false }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dlg = h('dialog', { class: `dialog${wide ? ' dialog-wide' : ''}`, 'aria-labelledby': titleId });
    const close = (value) => {
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    const footer = h('div', { class: 'dialog-buttons' },
      buttons.map(([label, value, kind]) => button(label, () => close(value), { kind, name: value })));
    dlg.append(
      h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title),
        button('×', () => close(null), { kind: 'btn-icon', title: 'Close (Esc)' })),
      h('div', { class: 'dialog-body' }, body),
      footer,
    );
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(null);
    });
    document.body.append(dlg);
    dlg.showModal();
    // The safe choice (Cancel) takes the focus, so Enter never deletes by accident.
    const first = footer.querySelector('button');
    if (first) first.focus();
  });
}

/** Asks before a change; true when confirmed. */
export async function confirm(title, text, confirmLabel, danger = false) {
  const answer = await dialog({
    title,
    body: h('p', {}, text),
    buttons: [['Cancel', 'cancel'], [confirmLabel, 'ok', danger ? 'btn-danger' : 'btn-primary']],
  });
  return answer === 'ok';
}

/** A table inside a scrolling box; columns = [[header, cellFn, className?]]. */
export function table(columns, rows, { caption, rowAttrs } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table' },
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(([label, , cls]) => h('th', { scope: 'col', class: cls }, label)))),
      h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
        columns.map(([label, cell, cls]) => h('td', { class: cls, 'data-label': typeof label === 'string' ? label : null }, h('div', { class: 'cell' }, cell(row)))))))));
}

/** A definition list from [[term, value]]; null values are left out. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v != null).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

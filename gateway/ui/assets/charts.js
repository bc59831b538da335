// Small inline SVG charts drawn from the samples the dashboard keeps. Colours come from
// app.css (classes), so the charts follow the light and dark themes.

import { h, fmtRate } from './dom.js';

/** Runs of consecutive non-null points: a gap in the samples breaks the line. */
function runs(values) {
  const out = [];
  let cur = [];
  values.forEach((v, i) => {
    if (v == null || !Number.isFinite(v)) {
      if (cur.length) out.push(cur);
      cur = [];
    } else {
      cur.push([i, v]);
    }
  });
  if (cur.length) out.push(cur);
  return out;
}

function path(points, x, y) {
  return points.map(([i, v], n) => `${n ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
}

/** A sparkline of per-second rates; its label says the latest value. */
export function sparkline(values, { width = 96, height = 24, kind = 'ok', label = 'rate' } = {}) {
  const last = [...values].reverse().find((v) => v != null);
  const max = Math.max(1e-9, ...values.filter((v) => v != null));
  const n = Math.max(values.length - 1, 1);
  const x = (i) => 1 + (i / n) * (width - 2);
  const y = (v) => height - 2 - (v / max) * (height - 4);
  const text = `${label}: ${fmtRate(last)} now, ${fmtRate(max === 1e-9 ? 0 : max)} at most over the samples shown`;
  const svg = h('svg:svg', { class: `spark spark-${kind}`, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': text },
    h('svg:title', {}, text),
    h('svg:line', { class: 'spark-base', x1: 0, x2: width, y1: height - 1.5, y2: height - 1.5 }));
  for (const run of runs(values)) {
    if (run.length === 1) {
      svg.append(h('svg:circle', { class: 'spark-dot', cx: x(run[0][0]), cy: y(run[0][1]), r: 1.5 }));
      continue;
    }
    const line = path(run, x, y);
    const area = `${line}L${x(run[run.length - 1][0]).toFixed(1)},${height - 1.5}L${x(run[0][0]).toFixed(1)},${height - 1.5}Z`;
    svg.append(h('svg:path', { class: 'spark-area', d: area }), h('svg:path', { class: 'spark-line', d: line }));
  }
  return svg;
}

/** A horizontal bar split by state counts: [[state, count]]. */
export function stateBar(parts, { width = 120, height = 10 } = {}) {
  const total = parts.reduce((s, [, n]) => s + n, 0);
  const text = total ? parts.filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') : 'no messages';
  const svg = h('svg:svg', { class: 'statebar', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': text },
    h('svg:title', {}, text),
    h('svg:rect', { class: 'statebar-bg', x: 0, y: 0, width, height, rx: 3 }));
  let x = 0;
  for (const [state, n] of parts) {
    if (!n) continue;
    const w = Math.max(2, (n / total) * width);
    svg.append(h('svg:rect', { class: `statebar-${state}`, x: x.toFixed(1), y: 0, width: w.toFixed(1), height }));
    x += w;
  }
  return svg;
}

/**
 * A line chart of several series over the same sample times (unix seconds).
 * series: [{label, kind, values}]; the y axis is per second.
 */
export function lineChart(times, series, { width = 640, height = 160, title = 'chart' } = {}) {
  const pad = { l: 44, r: 8, t: 10, b: 22 };
  const all = series.flatMap((s) => s.values.filter((v) => v != null));
  const max = niceMax(Math.max(0, ...all));
  const n = Math.max(times.length - 1, 1);
  const x = (i) => pad.l + (i / n) * (width - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / max) * (height - pad.t - pad.b);
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
  const summary = series.map((s) => `${s.label} ${fmtRate([...s.values].reverse().find((v) => v != null))}`).join(', ');
  const svg = h('svg:svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${summary} now` },
    h('svg:title', {}, `${title}: ${summary} now`));
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    svg.append(
      h('svg:line', { class: 'chart-grid', x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }),
      h('svg:text', { class: 'chart-label', x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtRate(v)),
    );
  }
  svg.append(
    h('svg:text', { class: 'chart-label', x: pad.l, y: height - 6 }, span ? `${Math.round(span)} s ago` : 'waiting for a second sample…'),
    h('svg:text', { class: 'chart-label', x: width - pad.r, y: height - 6, 'text-anchor': 'end' }, 'now'),
  );
  for (const s of series) {
    for (const run of runs(s.values)) {
      if (run.length === 1) {
        svg.append(h('svg:circle', { class: `chart-dot chart-${s.kind}`, cx: x(run[0][0]), cy: y(run[0][1]), r: 2.5 }));
      } else {
        svg.append(h('svg:path', { class: `chart-line chart-${s.kind}`, d: path(run, x, y) }));
      }
    }
  }
  const legend = h('ul', { class: 'legend' }, series.map((s) => h('li', {}, h('span', { class: `swatch chart-${s.kind}` }), `${s.label}`)));
  return h('figure', { class: 'chart-figure' }, svg, legend);
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Small line charts in SVG: series [{label, points: [[t, v|null]…], cls}].
import { h } from './dom.js';

export function lineChart(series, { height = 90, width = 320, unit = '', format = (v) => String(v) } = {}) {
  const all = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  const ts = all.map((p) => p[0]);
  const max = Math.max(1e-9, ...all.map((p) => p[1]));
  const t1 = Math.max(...ts, 0) || Date.now(), t0 = Math.min(...ts, t1 - 30e3);
  const x = (t) => ((t - t0) / Math.max(t1 - t0, 1)) * (width - 4) + 2;
  const y = (v) => height - 4 - (v / max) * (height - 20);
  const lines = series.map((s) => {
    const pts = s.points.filter((p) => p[1] !== null).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    const shown = s.points.filter((p) => p[1] !== null);
    if (shown.length === 1) return h('circle', { cx: x(shown[0][0]), cy: y(shown[0][1]), r: 2.5, class: 'dot ' + (s.cls || '') });
    return h('polyline', { points: pts, class: 'line ' + (s.cls || '') });
  });
  const svg = h('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': series.map((s) => s.label).join(', ') },
    h('line', { x1: 0, x2: width, y1: height - 4, y2: height - 4, class: 'axis' }),
    h('text', { x: 2, y: 10, class: 'max' }, format(max) + unit),
    h('text', { x: width - 2, y: 10, class: 'max end' }, since(t1 - t0)),
    lines);
  const legend = h('ul', { class: 'legend' }, series.map((s) => {
    const last = [...s.points].reverse().find((p) => p[1] !== null);
    return h('li', { class: s.cls || '' }, h('span', { class: 'swatch' }), `${s.label} `, h('b', {}, last ? format(last[1]) + unit : '–'));
  }));
  return h('div', { class: 'chartbox' }, svg, legend);
}

// since names the window a chart spans ("last 45 s", "last 6 min").
function since(ms) {
  const s = Math.round(ms / 1000);
  return s < 120 ? `last ${s} s` : `last ${Math.round(s / 60)} min`;
}

// Reads GET /metrics (Prometheus text format) into samples: [{name, labels, value}].
import { get } from './api.js';

export function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function scrape() {
  const text = await get('/metrics');
  return { at: Date.now(), samples: parse(text) };
}

// pick sums the samples of name whose labels match want.
export function pick(samples, name, want = {}) {
  let sum = 0, found = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) { sum += s.value; found = true; }
  }
  return found ? sum : null;
}

// byLabel maps each value of label to the sample of name carrying it.
export function byLabel(samples, name, label) {
  const out = {};
  for (const s of samples) if (s.name === name && label in s.labels) out[s.labels[label]] = (out[s.labels[label]] || 0) + s.value;
  return out;
}

// quantile estimates the q-quantile (seconds) of a histogram's observations between two
// scrapes, from the difference of its cumulative buckets; null when nothing was observed.
export function quantile(prev, cur, name, q, want = {}) {
  const buckets = {};
  const collect = (samples, sign) => {
    for (const s of samples) {
      if (s.name !== name + '_bucket') continue;
      if (!Object.entries(want).every(([k, v]) => s.labels[k] === v)) continue;
      buckets[s.labels.le] = (buckets[s.labels.le] || 0) + sign * s.value;
    }
  };
  collect(cur, 1);
  if (prev) collect(prev, -1);
  const les = Object.keys(buckets).map((le) => [le === '+Inf' ? Infinity : Number(le), buckets[le]]).sort((a, b) => a[0] - b[0]);
  const total = les.length ? les[les.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, count] of les) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(count - below, 1e-9));
    }
    lower = le; below = count;
  }
  return lower;
}

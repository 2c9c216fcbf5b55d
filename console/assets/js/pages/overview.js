// Overview: what an operator watches, live from /metrics — payments per minute by outcome,
// confirm latency, open and escalated payments, projection and forwarder lag, the Kafka
// downstream, HTTP traffic.
import { h, mount } from '../dom.js';
import { t } from '../fmt.js';
import { lineChart } from '../chart.js';
import { scrape, pick, byLabel, quantile } from '../metrics.js';
import { problemText } from '../ui.js';

const KEEP = 200; // scrapes kept (10 minutes at 3 s)
const history = []; // survives page changes within the session's tab

export async function render(main) {
  const grid = h('div', { class: 'grid', id: 'overview' });
  const note = h('p', { class: 'muted small', role: 'status' });
  mount(main, h('section', { class: 'card' }, h('div', { class: 'head' }, h('h1', {}, t('overview')),
    h('span', { class: 'live' }, '● ', t('live'))), note), grid);
  const tick = async () => {
    try {
      const s = await scrape();
      history.push(s);
      if (history.length > KEEP) history.shift();
      draw(grid);
      note.textContent = '';
    } catch (err) {
      note.textContent = problemText(err);
    }
  };
  await tick();
  const timer = setInterval(tick, 3000);
  return () => clearInterval(timer);
}

// perMinute: the counter's increase between consecutive scrapes, per minute.
function perMinute(name, want) {
  const pts = [];
  for (let i = 1; i < history.length; i++) {
    const a = pick(history[i - 1].samples, name, want), b = pick(history[i].samples, name, want);
    const dt = (history[i].at - history[i - 1].at) / 60e3;
    pts.push([history[i].at, a === null || b === null || dt <= 0 ? null : Math.max(0, b - a) / dt]);
  }
  return pts;
}

function gauge(name, want) { return history.map((s) => [s.at, pick(s.samples, name, want)]); }

function latency(q) {
  const pts = [];
  for (let i = 1; i < history.length; i++) {
    const v = quantile(history[i - 1].samples, history[i].samples, 'paystream_confirm_duration_seconds', q);
    pts.push([history[i].at, v === null ? null : v * 1000]);
  }
  return pts;
}

function httpErrors() {
  const pts = [];
  for (let i = 1; i < history.length; i++) {
    const sum = (samples) => samples.filter((s) => s.name === 'paystream_http_requests_total' && /^5/.test(s.labels.code)).reduce((a, s) => a + s.value, 0);
    const dt = (history[i].at - history[i - 1].at) / 60e3;
    pts.push([history[i].at, Math.max(0, sum(history[i].samples) - sum(history[i - 1].samples)) / dt]);
  }
  return pts;
}

const round = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function draw(grid) {
  const last = history[history.length - 1].samples;
  const followers = Object.keys(byLabel(last, 'paystream_follower_stalled', 'follower')).sort();
  const lagged = Object.keys(byLabel(last, 'paystream_follower_behind', 'follower'));
  const downstream = followers.filter((f) => !['projector', 'forwarder'].includes(f));
  const escalated = pick(last, 'paystream_payments_escalated') ?? 0, open = pick(last, 'paystream_payments_open') ?? 0;
  mount(grid,
    panel('paymentsPerMin', lineChart([
      { label: 'SUCCESS', cls: 'c-ok', points: perMinute('paystream_psp_outcomes_total', { status: 'SUCCESS' }) },
      { label: 'FAILURE', cls: 'c-bad', points: perMinute('paystream_psp_outcomes_total', { status: 'FAILURE' }) },
      { label: 'UNKNOWN', cls: 'c-warn', points: perMinute('paystream_psp_outcomes_total', { status: 'UNKNOWN' }) },
    ], { format: round })),
    panel('confirmLatency', lineChart([
      { label: 'p50', cls: 'c-ok', points: latency(0.5) },
      { label: 'p95', cls: 'c-warn', points: latency(0.95) },
    ], { unit: ' ms', format: round })),
    panel('openEscalated', [
      h('div', { class: 'big' }, h('a', { href: '#/attention', class: open ? 'warn' : '' }, String(open)), ' / ',
        h('a', { href: '#/attention', class: escalated ? 'bad' : '' }, String(escalated))),
      lineChart([
        { label: t('open'), cls: 'c-warn', points: gauge('paystream_payments_open') },
        { label: t('escalated'), cls: 'c-bad', points: gauge('paystream_payments_escalated') },
      ], { format: round })]),
    panel('followerLag', lineChart(['projector', 'forwarder'].filter((f) => lagged.includes(f)).map((f, i) => ({
      label: f, cls: i ? 'c-alt' : 'c-ok', points: gauge('paystream_follower_behind', { follower: f }) })), { format: round })),
    panel('downstreamBacklog', [
      lineChart(downstream.map((f, i) => lagged.includes(f) ?
        { label: `${f} (${t('behind')})`, cls: ['c-ok', 'c-alt', 'c-warn'][i % 3], points: gauge('paystream_follower_behind', { follower: f }) } :
        { label: `${f} /min`, cls: ['c-ok', 'c-alt', 'c-warn'][i % 3], points: perMinute('paystream_follower_position', { follower: f }) }), { format: round }),
      h('ul', { class: 'followers' }, followers.map((f) => {
        const stalled = pick(last, 'paystream_follower_stalled', { follower: f });
        return h('li', { class: stalled ? 'bad' : 'ok' }, stalled ? '■ ' : '● ', f);
      }))]),
    panel('httpRate', lineChart([
      { label: 'all', cls: 'c-alt', points: perMinute('paystream_http_requests_total') },
      { label: '5xx', cls: 'c-bad', points: httpErrors() },
    ], { format: round })));
}

function panel(key, body) { return h('section', { class: 'card panel' }, h('h2', {}, t(key)), body); }

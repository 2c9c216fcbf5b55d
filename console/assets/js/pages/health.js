// Health: readiness, the followers (projector, forwarder, Kafka consumers), the read
// model's checkpoint and dead letters; verify and rebuild for operators.
import { h, mount } from '../dom.js';
import { get, request } from '../api.js';
import { t } from '../fmt.js';
import { time, toast, problemText, ask } from '../ui.js';
import { scrape, byLabel } from '../metrics.js';

export async function render(main, { session }) {
  const operator = session.role === 'operator';
  const [status, m, ready] = await Promise.all([
    request('GET', '/admin/v1/readmodel/status').catch((err) => (err.status === 503 ? err.body : Promise.reject(err))),
    scrape(),
    fetch('/readyz').then((r) => r.json().then((b) => ({ code: r.status, body: b }))),
  ]);
  const stalled = byLabel(m.samples, 'paystream_follower_stalled', 'follower');
  const age = byLabel(m.samples, 'paystream_follower_last_progress_age_seconds', 'follower');
  const pos = byLabel(m.samples, 'paystream_follower_position', 'follower');
  const behind = byLabel(m.samples, 'paystream_follower_behind', 'follower');
  const report = h('div', { id: 'verify-report' });
  const verify = async () => {
    mount(report, h('p', { class: 'muted' }, t('loading')));
    try {
      const rep = await request('POST', '/admin/v1/readmodel/verify', {});
      const drift = rep.drift || [];
      mount(report, h('p', { id: 'verify-summary' }, h('span', { class: `badge ${drift.length ? 's-failure' : 's-success'}` }, drift.length ? `${drift.length} drifted` : 'no drift'),
        ` ${rep.payments} payments · ${rep.events} events · ${t('checkpoint')} ${rep.checkpoint}`),
      drift.length ? h('pre', { class: 'evidence' }, JSON.stringify(drift, null, 2)) : '');
    } catch (err) { mount(report, h('p', { class: 'error' }, problemText(err))); }
  };
  const rebuild = async () => {
    const ok = await ask({ title: t('rebuild'), intro: h('p', {}, 'The read model is rebuilt from the event store; reads wait meanwhile.'), danger: true, submitLabel: t('rebuild') });
    if (!ok) return;
    try {
      const res = await request('POST', '/admin/v1/readmodel/rebuild', {}, { raw: true });
      mount(report, h('pre', { class: 'evidence' }, await res.text()));
    } catch (err) { toast(problemText(err), 'error'); }
  };
  mount(main,
    h('section', { class: 'card' },
      h('div', { class: 'head' }, h('h1', {}, t('health')),
        h('span', { class: `badge ${ready.code === 200 && ready.body.status === 'ready' ? 's-success' : ready.code === 200 ? 's-unknown' : 's-failure'}`, id: 'ready' },
          `${t('readyz')}: ${ready.body.status || ready.body.detail || ready.code}`)),
      ready.body.alerts ? h('dl', { class: 'facts' }, Object.entries(ready.body.alerts).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : ''),
    h('section', { class: 'card' }, h('h2', {}, t('followers')),
      h('div', { class: 'scroll' }, h('table', { id: 'followers' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, t('status')), h('th', { class: 'num' }, t('position')),
          h('th', { class: 'num' }, t('behind')), h('th', { class: 'num' }, t('lastProgress')))),
        h('tbody', {}, Object.keys(stalled).sort().map((f) => h('tr', {},
          h('td', {}, f),
          h('td', {}, h('span', { class: `badge ${stalled[f] ? 's-failure' : 's-success'}` }, stalled[f] ? t('stalled') : t('ok'))),
          h('td', { class: 'num' }, pos[f] ?? '–'), h('td', { class: 'num' }, behind[f] ?? '–'),
          h('td', { class: 'num' }, age[f] !== undefined ? `${age[f].toFixed(1)} s` : '–'))))))),
    h('section', { class: 'card' }, h('h2', {}, `${t('projector')} · ${t('checkpoint')}`),
      h('dl', { class: 'facts', id: 'readmodel' },
        [h('dt', {}, t('mode')), h('dd', {}, status.mode)],
        [h('dt', {}, t('status')), h('dd', {}, h('span', { class: `badge ${status.healthy ? 's-success' : 's-failure'}` }, status.healthy ? t('ok') : t('stalled')))],
        [h('dt', {}, t('checkpoint')), h('dd', {}, status.checkpoint)],
        [h('dt', {}, t('head')), h('dd', {}, status.head)],
        [h('dt', {}, t('behind')), h('dd', {}, status.behind)],
        [h('dt', {}, t('applied')), h('dd', {}, status.projector?.Applied ?? '')],
        status.projector?.Err ? [h('dt', {}, 'error'), h('dd', { class: 'error' }, status.projector.Err)] : ''),
      operator ? h('div', { class: 'buttons left' },
        h('button', { id: 'verify-rm', onclick: verify }, t('verifyReadModel')),
        status.mode === 'postgres' ? h('button', { class: 'danger', onclick: rebuild }, t('rebuild')) : '') : '',
      report),
    h('section', { class: 'card' }, h('h2', {}, t('deadLetters'), ' ', h('span', { class: 'count' }, (status.deadLetters || []).length)),
      (status.deadLetters || []).length === 0 ? h('p', { class: 'muted' }, '–') :
        h('div', { class: 'scroll' }, h('table', {}, h('tbody', {}, status.deadLetters.map((d) => h('tr', {},
          h('td', {}, d.Position), h('td', { class: 'mono' }, d.Stream), h('td', {}, d.Type), h('td', { class: 'error wrap' }, d.Error), h('td', {}, time(d.At)))))))));
  const timer = setInterval(() => { if (!document.querySelector('dialog[open]') && !report.hasChildNodes()) window.dispatchEvent(new Event('paystream:reload')); }, 10000);
  return () => clearInterval(timer);
}

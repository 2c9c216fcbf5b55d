// A payment: its orders and amounts, refunds, the timeline of its events (why each was
// recorded, Toss's evidence on demand, downstream messages, the request that caused it), the
// payment as of any event, and the check of its hash chain.
import { h, mount } from '../dom.js';
import { get, enc } from '../api.js';
import { t, eventLabel, krw } from '../fmt.js';
import { badge, escalatedBadge, time, money } from '../ui.js';
import { resolvePayment, allocateRefund, resolveRefund } from '../actions.js';

export async function render(main, { session, arg, params }) {
  const orderId = arg;
  const operator = session.role === 'operator';
  const [p, tl] = await Promise.all([get('/v1/payments/' + enc(orderId)), get(`/audit/v1/payments/${enc(orderId)}/timeline`)]);
  const timeline = tl.timeline;
  let selected = params.has('rev') ? Number(params.get('rev')) : timeline[timeline.length - 1].revision;
  let correlation = '';

  if (!timeline.some((e) => e.revision === selected)) selected = timeline[timeline.length - 1].revision;
  // After an action: the page again, the newest event selected.
  const redraw = (entry) => {
    history.replaceState(null, '', `#/payment/${enc(orderId)}?rev=${entry ? entry.revision : ''}`);
    window.dispatchEvent(new Event('paystream:reload'));
  };

  // — the payment now —
  const actions = [];
  if (operator && (p.escalated || p.status === 'UNKNOWN' || p.status === 'EXECUTING')) {
    actions.push(h('button', { class: 'primary', id: 'resolve', onclick: () => resolvePayment(orderId, redraw) }, t('resolve')));
  }
  const summary = h('section', { class: 'card' },
    h('div', { class: 'head' },
      h('div', {}, h('h1', { class: 'mono' }, orderId), h('p', { class: 'muted' }, p.orderName)),
      h('div', { class: 'actions' }, actions, operator ? '' : h('span', { class: 'muted', id: 'readonly' }, t('readOnly')))),
    h('div', { class: 'tiles' },
      tile(t('status'), [badge(p.status), p.escalated ? escalatedBadge() : '', p.operatorAlert ? h('span', { class: 'badge s-alert' }, t('operatorAlert')) : '']),
      tile(t('total'), money(p.totalAmount)),
      tile(t('refunded'), money(p.refundedAmount)),
      tile(t('balance'), money(p.balanceAmount))),
    h('dl', { class: 'facts' },
      fact(t('buyer'), p.buyerId), fact(t('paymentKey'), p.paymentKey ? h('code', {}, p.paymentKey) : '–'),
      fact(t('method'), p.method || '–'), fact(t('created'), time(p.createdAt)), fact(t('updated'), time(p.updatedAt)),
      fact(t('failedCount'), String(p.failedCount)),
      p.outcome ? fact(t('why'), `${p.outcome.rule}${p.outcome.code ? ' · ' + p.outcome.code : ''}${p.outcome.message ? ' · ' + p.outcome.message : ''}`) : '',
      p.virtualAccount ? fact(t('virtualAccount'), `${p.virtualAccount.bankCode} ${p.virtualAccount.accountNumber} · ${t('dueDate')} `, time(p.virtualAccount.dueDate)) : ''));

  const orders = h('section', { class: 'card' }, h('h2', {}, t('orders')),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('product')), h('th', {}, t('seller')), h('th', { class: 'num' }, t('qty')),
        h('th', { class: 'num' }, t('unitPrice')), h('th', { class: 'num' }, t('amount')), h('th', {}, t('status')),
        h('th', { class: 'num' }, t('refunded')), h('th', { class: 'hide-s' }, 'ledger · wallet'))),
      h('tbody', {}, p.orders.map((o) => h('tr', {},
        h('td', {}, o.seq), h('td', {}, o.productId), h('td', {}, o.sellerId), h('td', { class: 'num' }, o.quantity),
        h('td', { class: 'num' }, money(o.unitPrice)), h('td', { class: 'num' }, money(o.amount)), h('td', {}, badge(o.status)),
        h('td', { class: 'num' }, money(o.refundedAmount)),
        h('td', { class: 'hide-s' }, `${o.ledgerUpdated ? '✓' : '·'} ${o.walletUpdated ? '✓' : '·'}`)))))));

  const cancels = p.cancels.length === 0 ? '' : h('section', { class: 'card' }, h('h2', {}, t('cancels')),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, t('refundId')), h('th', {}, t('status')), h('th', { class: 'num' }, t('amount')),
        h('th', {}, t('reason')), h('th', {}, t('orders')), h('th', { class: 'hide-s' }, t('time')), h('th', {}, ''))),
      h('tbody', {}, p.cancels.map((c) => h('tr', {},
        h('td', { class: 'mono' }, c.refundId, c.external ? ' (Toss)' : ''), h('td', {}, badge(c.status), c.escalated ? escalatedBadge() : ''),
        h('td', { class: 'num' }, money(c.cancelAmount)), h('td', { class: 'wrap' }, c.cancelReason || ''),
        h('td', {}, c.orders.length ? c.orders.map((s) => `#${s.seq} ${krw(s.amount)}`).join(', ') : '–'),
        h('td', { class: 'hide-s' }, time(c.canceledAt)),
        h('td', {}, operator && c.orders.length === 0 && c.status === 'SUCCESS' ?
          h('button', { class: 'small', onclick: () => allocateRefund(p, c, redraw) }, t('allocate')) : '',
        operator && (c.escalated || c.status === 'UNKNOWN') ?
          h('button', { class: 'small', onclick: () => resolveRefund(p, c, redraw) }, t('resolveRefund')) : '')))))));

  // — the timeline and the payment as of the selected event —
  const list = h('ol', { class: 'timeline', id: 'timeline', 'aria-label': t('timeline') });
  const asOf = h('aside', { class: 'card asof', id: 'asof', 'aria-live': 'polite' });
  const verify = h('section', { class: 'card', id: 'verify' }, h('h2', {}, t('verify')), h('p', { class: 'muted' }, t('loading')));

  const drawTimeline = () => mount(list, timeline.map((e) => {
    const evidence = h('pre', { class: 'evidence', hidden: true }, e.why?.evidence ? JSON.stringify(e.why.evidence, null, 2) : '');
    const same = correlation && e.correlationId === correlation;
    return h('li', { class: `event ${e.revision === selected ? 'selected' : ''} ${same ? 'same' : ''} ${correlation && !same ? 'dim' : ''}`, dataset: { rev: e.revision } },
      h('button', { class: 'pick', 'aria-pressed': String(e.revision === selected), onclick: () => select(e.revision) },
        h('span', { class: 'rev' }, 'r' + e.revision), ' ', h('span', { class: 'etype' }, eventLabel(e.type))),
      h('div', { class: 'meta' },
        time(e.recordedAt), e.actor ? h('span', { class: 'actor' }, e.actor) : '',
        e.why?.rule ? h('span', { class: 'rule' }, e.why.rule) : '',
        e.why?.code ? h('span', { class: 'code' }, e.why.code) : ''),
      e.why?.message || e.why?.reason ? h('p', { class: 'whytext' }, e.why.reason ? `${t('reason')}: ${e.why.reason}` : e.why.message) : '',
      h('div', { class: 'links' },
        e.correlationId ? h('button', { class: 'link', title: t('correlation'), onclick: () => { correlation = correlation === e.correlationId ? '' : e.correlationId; drawTimeline(); } },
          '⇄ ', e.correlationId) : '',
        (e.downstreamMessageIds || []).map((id) => h('span', { class: 'down', title: t('downstream') }, '→ kafka ', h('code', {}, id.slice(0, 13) + '…'))),
        e.why?.evidence ? h('button', { class: 'link evtoggle', 'aria-expanded': 'false', onclick: (ev) => {
          evidence.hidden = !evidence.hidden;
          ev.currentTarget.setAttribute('aria-expanded', String(!evidence.hidden));
          ev.currentTarget.textContent = evidence.hidden ? t('showEvidence') : t('hideEvidence');
        } }, t('showEvidence')) : ''),
      evidence);
  }));

  let drawn = 0; // the latest drawing wins when steps come quickly
  const drawAsOf = async () => {
    const mine = ++drawn;
    const i = timeline.findIndex((e) => e.revision === selected);
    const e = timeline[i];
    asOf.setAttribute('aria-busy', 'true');
    const at = await get(`/audit/v1/payments/${enc(orderId)}?asOf=${selected}`);
    if (mine !== drawn) return;
    asOf.removeAttribute('aria-busy');
    const s = at.payment;
    mount(asOf,
      h('h2', {}, `${t('asOf')} r${at.asOf.revision}`),
      h('p', {}, h('code', {}, e.type), ' · ', time(at.asOf.recordedAt)),
      h('div', { class: 'stepper' },
        h('button', { id: 'earlier', disabled: i === 0, onclick: () => select(timeline[i - 1].revision) }, '← ', t('earlier')),
        h('button', { id: 'later', disabled: i === timeline.length - 1, onclick: () => select(timeline[i + 1].revision) }, t('later'), ' →')),
      h('dl', { class: 'facts', id: 'asof-state' },
        fact(t('status'), badge(s.status), s.escalated ? escalatedBadge() : ''),
        fact(t('total'), money(s.totalAmount)), fact(t('refunded'), money(s.refundedAmount)), fact(t('balance'), money(s.balanceAmount)),
        fact(t('failedCount'), String(s.failedCount)),
        s.outcome ? fact(t('why'), `${s.outcome.rule}${s.outcome.code ? ' · ' + s.outcome.code : ''}`) : ''),
      h('ul', { class: 'plain' }, s.orders.map((o) => h('li', {}, `#${o.seq} ${o.productId} `, badge(o.status), ` ${krw(o.amount)}`))),
      h('p', { class: 'muted small' }, t('keyboard')));
  };

  const select = (rev) => {
    selected = rev;
    const q = new URLSearchParams({ rev: String(rev) });
    history.replaceState(null, '', `#/payment/${enc(orderId)}?${q}`);
    drawTimeline();
    drawAsOf();
    list.querySelector(`li[data-rev="${rev}"] .pick`)?.focus({ preventScroll: false });
  };

  drawTimeline();
  mount(main, summary, orders, cancels,
    h('div', { class: 'split' },
      h('section', { class: 'card' }, h('h2', {}, t('timeline'), h('span', { class: 'muted small' }, ` · ${timeline.length}`)), list),
      h('div', {}, asOf, verify)));
  await drawAsOf();

  get(`/audit/v1/payments/${enc(orderId)}/verify`).then((rep) => mount(verify,
    h('h2', {}, t('verify')),
    h('p', { id: 'verify-result' }, h('span', { class: `badge ${rep.intact ? 's-success' : 's-failure'}` }, rep.intact ? t('intact') : t('tampered')),
      ` ${rep.events} events · head r${rep.head.revision}`),
    rep.head.hash ? h('p', { class: 'mono small', title: 'SHA-256' }, rep.head.hash) : '',
    rep.preChain ? h('p', { class: 'muted' }, `${rep.preChain} pre-chain`) : '',
    (rep.findings || []).map((f) => h('p', { class: 'error' }, `r${f.revision} ${f.kind}: ${f.detail}`))),
  (err) => mount(verify, h('h2', {}, t('verify')), h('p', { class: 'error' }, err.message)));

  const keys = (ev) => {
    if (ev.target.closest('input, textarea, select, dialog')) return;
    const i = timeline.findIndex((e) => e.revision === selected);
    if (ev.key === 'ArrowLeft' && i > 0) { ev.preventDefault(); select(timeline[i - 1].revision); }
    if (ev.key === 'ArrowRight' && i < timeline.length - 1) { ev.preventDefault(); select(timeline[i + 1].revision); }
  };
  document.addEventListener('keydown', keys);
  return () => document.removeEventListener('keydown', keys);
}

function tile(label, value) { return h('div', { class: 'tile' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value)); }
function fact(label, ...value) { return [h('dt', {}, label), h('dd', {}, value)]; }

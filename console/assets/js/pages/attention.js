// Attention: escalated payments (waiting for an operator) and open ones (recovery is on
// them), with why; resolve from here.
import { h, mount } from '../dom.js';
import { get, enc } from '../api.js';
import { t } from '../fmt.js';
import { badge, time, money } from '../ui.js';
import { resolvePayment } from '../actions.js';

export async function render(main, { session }) {
  const att = await get('/admin/v1/payments/attention');
  const operator = session.role === 'operator';
  const reload = () => window.dispatchEvent(new Event('paystream:reload'));
  const table = (items, id) => items.length === 0 ? h('p', { class: 'muted' }, t('nothing')) :
    h('div', { class: 'scroll' }, h('table', { id },
      h('thead', {}, h('tr', {}, h('th', {}, t('orderId')), h('th', {}, t('status')), h('th', {}, t('why')),
        h('th', { class: 'num' }, t('failedCount')), h('th', { class: 'num' }, t('amount')), h('th', { class: 'hide-s' }, t('updated')), h('th', {}, ''))),
      h('tbody', {}, items.map((p) => h('tr', { dataset: { order: p.orderId } },
        h('td', {}, h('a', { href: '#/payment/' + enc(p.orderId), class: 'mono' }, p.orderId), h('div', { class: 'muted small' }, p.orderName)),
        h('td', {}, badge(p.status), p.operatorAlert ? h('span', { class: 'badge s-alert' }, t('operatorAlert')) : ''),
        h('td', { class: 'wrap' }, p.outcome ? [h('code', {}, p.outcome.rule), p.outcome.code ? ` ${p.outcome.code}` : '',
          p.outcome.message ? h('div', { class: 'muted small' }, p.outcome.message) : ''] : h('span', { class: 'muted' }, p.status)),
        h('td', { class: 'num' }, p.failedCount),
        h('td', { class: 'num' }, money(p.totalAmount)),
        h('td', { class: 'hide-s' }, time(p.updatedAt)),
        h('td', {}, operator ? h('button', { class: 'primary small resolve', onclick: () => resolvePayment(p.orderId, reload) }, t('resolve')) : ''))))));
  mount(main,
    h('section', { class: 'card' },
      h('h1', {}, t('attention')),
      h('h2', {}, t('escalated'), ' ', h('span', { class: 'count' }, att.escalated.length)),
      table(att.escalated, 'escalated')),
    h('section', { class: 'card' },
      h('h2', {}, t('open'), ' ', h('span', { class: 'count' }, att.open.length)),
      table(att.open, 'open'),
      att.truncated ? h('p', { class: 'muted' }, '…') : ''));
}

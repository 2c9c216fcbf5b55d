// Payments: the read model's list with its filters, keyset paging, and search by orderId
// (exact) or paymentKey (looked for in the newest payments: the list API has no such filter).
import { h, mount } from '../dom.js';
import { get, enc, Problem } from '../api.js';
import { t, statusLabel } from '../fmt.js';
import { badge, escalatedBadge, time, money } from '../ui.js';

const STATUSES = ['NOT_STARTED', 'EXECUTING', 'SUCCESS', 'FAILURE', 'UNKNOWN', 'PARTIAL_CANCELED', 'CANCELED'];
const SCAN_PAGES = 10;

export async function render(main, { params }) {
  const field = (name, label, attrs = {}) => {
    const input = h('input', { id: 'q-' + name, name, value: params.get(name) || '', ...attrs });
    return h('label', { for: 'q-' + name }, h('span', {}, label), input);
  };
  const status = h('select', { id: 'q-status', name: 'status' }, h('option', { value: '' }, t('all')),
    STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, `${statusLabel(s)} · ${s}`)));
  const filters = h('form', { class: 'filters', id: 'filters' },
    h('label', { for: 'q-status' }, h('span', {}, t('status')), status),
    field('sellerId', t('seller'), { placeholder: 'seller-1' }),
    field('buyerId', t('buyer'), { placeholder: 'buyer-1' }),
    field('from', t('from'), { type: 'date' }),
    field('to', t('to'), { type: 'date' }),
    h('button', { type: 'submit', class: 'primary' }, t('apply')));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of filters.elements) if (el.name && el.value) q.set(el.name, el.value);
    location.hash = '#/payments?' + q;
  });

  const searchInput = h('input', { id: 'search', type: 'search', name: 'q', placeholder: t('searchHint'), 'aria-label': t('search'), autocomplete: 'off' });
  const searchMsg = h('p', { class: 'muted', id: 'search-msg', role: 'status' });
  const search = h('form', { class: 'search', role: 'search', id: 'searchform' }, searchInput, h('button', { type: 'submit' }, t('search')));
  search.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = searchInput.value.trim();
    if (!q) return;
    searchMsg.textContent = t('loading');
    const id = await find(q);
    if (id) location.hash = '#/payment/' + enc(id);
    else searchMsg.textContent = `${t('notFound')} ${t('scanNote')}`;
  });

  const list = new URLSearchParams();
  for (const k of ['status', 'sellerId', 'buyerId', 'cursor']) if (params.get(k)) list.set(k, params.get(k));
  // Dates are days in Korea: from 00:00 KST, to the end of that day.
  if (params.get('from')) list.set('createdFrom', new Date(params.get('from') + 'T00:00:00+09:00').toISOString());
  if (params.get('to')) list.set('createdTo', new Date(new Date(params.get('to') + 'T00:00:00+09:00').getTime() + 86400e3).toISOString());
  list.set('limit', '25');
  const page = await get('/v1/payments?' + list);

  const rows = page.items.map((p) => h('tr', {},
    h('td', {}, h('a', { href: '#/payment/' + enc(p.orderId), class: 'mono' }, p.orderId)),
    h('td', { class: 'wrap' }, p.orderName),
    h('td', {}, p.buyerId),
    h('td', {}, badge(p.status), p.escalated ? escalatedBadge() : ''),
    h('td', { class: 'num' }, money(p.totalAmount)),
    h('td', { class: 'hide-s' }, time(p.createdAt))));
  const next = new URLSearchParams(params);
  next.set('cursor', page.nextCursor || '');
  const first = new URLSearchParams(params);
  first.delete('cursor');
  mount(main,
    h('section', { class: 'card' },
      h('div', { class: 'head' }, h('h1', {}, t('payments')), search),
      searchMsg,
      filters),
    h('section', { class: 'card' },
      page.items.length === 0 ? h('p', { class: 'muted' }, t('noPayments')) :
        h('div', { class: 'scroll' }, h('table', { id: 'payments' },
          h('thead', {}, h('tr', {}, h('th', {}, t('orderId')), h('th', {}, t('orderName')), h('th', {}, t('buyer')),
            h('th', {}, t('status')), h('th', { class: 'num' }, t('amount')), h('th', { class: 'hide-s' }, t('created')))),
          h('tbody', {}, rows))),
      h('nav', { class: 'pager', 'aria-label': 'pages' },
        params.get('cursor') ? h('a', { href: '#/payments?' + first, class: 'button ghost' }, t('first')) : '',
        page.nextCursor ? h('a', { href: '#/payments?' + next, class: 'button', id: 'next' }, t('next') + ' →') : '')));
}

// find returns the orderId that q names: an orderId, or a paymentKey among the newest
// payments.
async function find(q) {
  try {
    const p = await get('/v1/payments/' + enc(q));
    return p.orderId;
  } catch (err) {
    if (!(err instanceof Problem) || (err.status !== 404 && err.status !== 400)) throw err;
  }
  let cursor = '';
  for (let i = 0; i < SCAN_PAGES; i++) {
    const page = await get('/v1/payments?limit=100' + (cursor ? '&cursor=' + enc(cursor) : ''));
    const hit = page.items.find((p) => p.paymentKey === q);
    if (hit) return hit.orderId;
    if (!page.nextCursor) return null;
    cursor = page.nextCursor;
  }
  return null;
}

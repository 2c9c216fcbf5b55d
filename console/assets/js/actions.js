// Operator actions. Each records an event, asks for the reason it will carry, and shows the
// event it recorded; the server refuses what the role may not do.
import { h } from './dom.js';
import { get, post, enc, Problem } from './api.js';
import { t, krw } from './fmt.js';
import { ask, toast, problemText, time, recordedNote } from './ui.js';

// tossRecord is the last thing Toss told us about the payment, as its timeline recorded it.
export function tossRecord(timeline) {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const e = timeline[i];
    if (e.why && (e.why.evidence || e.why.code || e.why.rule)) return e;
  }
  return null;
}

function recordView(entry) {
  if (!entry) return h('p', { class: 'muted' }, t('noTossRecord'));
  const w = entry.why;
  return h('div', { class: 'tossrecord', id: 'tossrecord' },
    h('h3', {}, t('tossRecord')),
    h('p', {}, h('code', {}, entry.type), ' · ', time(entry.recordedAt)),
    h('dl', { class: 'facts' },
      w.rule ? [h('dt', {}, t('rule')), h('dd', {}, w.rule)] : '',
      w.code ? [h('dt', {}, 'code'), h('dd', {}, w.code)] : '',
      w.message ? [h('dt', {}, 'message'), h('dd', {}, w.message)] : ''),
    w.evidence ? h('pre', { class: 'evidence' }, JSON.stringify(w.evidence, null, 2)) : '');
}

async function lastEvent(orderId) {
  const tl = await get(`/audit/v1/payments/${enc(orderId)}/timeline`);
  return tl.timeline[tl.timeline.length - 1];
}

// done tells what the action recorded and calls after (to redraw).
async function done(orderId, after) {
  const entry = await lastEvent(orderId);
  toast(recordedNote(entry));
  if (after) await after(entry);
}

// resolvePayment: Toss's record first, then SUCCESS/FAILURE with a reason; a resolution that
// contradicts Toss's record is asked about again before it is forced.
export async function resolvePayment(orderId, after) {
  const tl = (await get(`/audit/v1/payments/${enc(orderId)}/timeline`)).timeline;
  const values = await ask({
    title: `${t('resolve')} · ${orderId}`,
    intro: recordView(tossRecord(tl)),
    fields: [
      { name: 'resolution', label: t('status'), type: 'select', options: [['FAILURE', 'FAILURE · 실패 (no charge)'], ['SUCCESS', 'SUCCESS · 결제 완료 (charged)']] },
      { name: 'reason', label: t('reason'), type: 'textarea', required: true, hint: t('reasonHint') },
    ],
    submitLabel: t('resolve'),
  });
  if (!values) return;
  const path = `/admin/v1/payments/${enc(orderId)}/resolve`;
  try {
    await post(path, { resolution: values.resolution, reason: values.reason });
  } catch (err) {
    if (!(err instanceof Problem) || err.body?.type !== 'urn:paystream:problem:contradicts-psp') {
      toast(problemText(err), 'error');
      return;
    }
    const again = await ask({
      title: `${t('force')} ${values.resolution} · ${orderId}`,
      intro: [h('p', { class: 'error' }, err.body.detail), h('p', {}, t('forcedAsk')), recordView(tossRecord(tl))],
      fields: [{ name: 'confirmId', label: t('orderId'), required: true, hint: orderId }],
      submitLabel: t('force'), danger: true,
    });
    if (!again || again.confirmId !== orderId) return;
    try {
      await post(path, { resolution: values.resolution, reason: values.reason, force: true });
    } catch (err2) {
      toast(problemText(err2), 'error');
      return;
    }
  }
  await done(orderId, after);
}

// allocateRefund says which orders a refund made outside paystream came from.
export async function allocateRefund(payment, refund, after) {
  const fields = payment.orders.map((o) => ({ name: 'o' + o.seq, label: `#${o.seq} ${o.productId} (${krw(o.amount)})`, type: 'number', hint: '0' }));
  fields.push({ name: 'reason', label: t('reason'), type: 'textarea', required: true, hint: t('reasonHint') });
  const values = await ask({ title: `${t('allocate')} · ${refund.refundId} (${krw(refund.cancelAmount)})`, fields, submitLabel: t('allocate') });
  if (!values) return;
  const orders = payment.orders.filter((o) => Number(values['o' + o.seq]) > 0).map((o) => ({ seq: o.seq, amount: Number(values['o' + o.seq]) }));
  try {
    await post(`/admin/v1/payments/${enc(payment.orderId)}/refunds/${enc(refund.refundId)}/allocate`, { orders, reason: values.reason });
  } catch (err) {
    toast(problemText(err), 'error');
    return;
  }
  await done(payment.orderId, after);
}

// resolveRefund settles an open refund, checked against Toss as a payment's resolution is.
export async function resolveRefund(payment, refund, after) {
  const values = await ask({
    title: `${t('resolveRefund')} · ${refund.refundId}`,
    fields: [
      { name: 'resolution', label: t('status'), type: 'select', options: [['SUCCESS', 'SUCCESS · 환불됨 (refunded)'], ['FAILURE', 'FAILURE · 실패']] },
      { name: 'reason', label: t('reason'), type: 'textarea', required: true, hint: t('reasonHint') },
    ],
    submitLabel: t('resolve'),
  });
  if (!values) return;
  const path = `/admin/v1/payments/${enc(payment.orderId)}/refunds/${enc(refund.refundId)}/resolve`;
  try {
    await post(path, { resolution: values.resolution, reason: values.reason });
  } catch (err) {
    if (!(err instanceof Problem) || err.body?.type !== 'urn:paystream:problem:contradicts-psp') {
      toast(problemText(err), 'error');
      return;
    }
    const again = await ask({ title: t('force'), intro: [h('p', { class: 'error' }, err.body.detail), h('p', {}, t('forcedAsk'))],
      fields: [{ name: 'confirmId', label: t('orderId'), required: true, hint: payment.orderId }], submitLabel: t('force'), danger: true });
    if (!again || again.confirmId !== payment.orderId) return;
    try {
      await post(path, { resolution: values.resolution, reason: values.reason, force: true });
    } catch (err2) {
      toast(problemText(err2), 'error');
      return;
    }
  }
  await done(payment.orderId, after);
}

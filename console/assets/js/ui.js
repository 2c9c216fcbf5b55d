// Shared pieces: dialogs that ask for a reason, toasts, status badges, times, amounts.
import { h, mount } from './dom.js';
import { t, statusLabel, krw, kst, utc } from './fmt.js';

export function badge(status, extra = '') {
  return h('span', { class: `badge s-${(status || '').toLowerCase()} ${extra}`, title: status }, statusLabel(status));
}

export function escalatedBadge() {
  return h('span', { class: 'badge s-alert', title: 'escalated' }, '⚑ ', t('escalated'));
}

export function time(iso) {
  return iso ? h('time', { datetime: iso, title: utc(iso) }, kst(iso)) : '';
}

export function money(amount) { return h('span', { class: 'money' }, krw(amount)); }

export function toast(message, kind = 'ok') {
  const el = document.getElementById('toast');
  const item = h('div', { class: `toast ${kind}` }, message);
  el.append(item);
  setTimeout(() => item.remove(), 8000);
}

export function problemText(err) {
  if (err?.status === 403) return `${t('forbidden')} (403): ${err.body?.detail || err.message}`;
  return err?.body?.title ? `${err.body.title}${err.body.detail ? ': ' + err.body.detail : ''} (${err.status})` : String(err?.message || err);
}

// ask shows a modal form and resolves with its values, or null when dismissed. fields:
// [{name, label, type: 'text'|'textarea'|'select'|'number', options, required, value, hint}].
export function ask({ title, intro = [], fields = [], submitLabel = t('confirm'), danger = false }) {
  const dialog = document.getElementById('dialog');
  return new Promise((resolve) => {
    const inputs = {};
    const form = h('form', { method: 'dialog', class: 'askform' },
      h('h2', {}, title),
      intro,
      fields.map((f) => {
        const id = 'f-' + f.name;
        let input;
        if (f.type === 'select') {
          input = h('select', { id, name: f.name, required: f.required }, f.options.map(([v, l]) => h('option', { value: v, selected: v === f.value }, l)));
        } else if (f.type === 'textarea') {
          input = h('textarea', { id, name: f.name, required: f.required, rows: 3, maxlength: 500, placeholder: f.hint || '' });
          input.value = f.value || '';
        } else {
          input = h('input', { id, name: f.name, type: f.type || 'text', required: f.required, placeholder: f.hint || '', autocomplete: 'off' });
          input.value = f.value || '';
        }
        inputs[f.name] = input;
        return h('label', { for: id }, h('span', {}, f.label), input);
      }),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', class: 'ghost', value: 'cancel', onclick: () => { dialog.close(); } }, t('cancel')),
        h('button', { type: 'submit', class: danger ? 'danger' : 'primary', value: 'ok' }, submitLabel)));
    let answered = false;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const values = {};
      for (const [k, el] of Object.entries(inputs)) values[k] = el.value.trim();
      for (const f of fields) if (f.required && !values[f.name]) { inputs[f.name].focus(); return; }
      answered = true;
      dialog.close();
      resolve(values);
    });
    dialog.addEventListener('close', () => { if (!answered) resolve(null); }, { once: true });
    mount(dialog, form);
    dialog.showModal();
    const first = Object.values(inputs)[0];
    if (first) first.focus();
  });
}

// recordedNote shows the event an action recorded.
export function recordedNote(entry) {
  if (!entry) return '';
  return h('div', { class: 'recorded', role: 'status' },
    h('strong', {}, `${t('recorded')}: `), h('code', {}, entry.type), ` · r${entry.revision} · ${entry.actor || ''} · `, time(entry.recordedAt),
    entry.why?.reason ? h('div', {}, `${t('reason')}: ${entry.why.reason}`) : '');
}

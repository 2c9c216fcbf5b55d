// Calls to paymentd's API with the session cookie; the CSRF token goes with every call
// that is not a read.
let csrf = '';
export function setCSRF(token) { csrf = token; }

export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function request(method, path, body, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once(method, path, body, opts);
    } catch (err) {
      // A read the read model cannot answer yet: the API says to retry shortly.
      if (!(err instanceof Problem) || err.body?.type !== 'urn:paystream:problem:read-model-lagging' || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function once(method, path, body, { raw = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin', signal,
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && path !== '/console/session') {
    window.dispatchEvent(new CustomEvent('paystream:signed-out'));
  }
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch { /* not JSON */ }
    throw new Problem(res.status, problem);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);
export const enc = encodeURIComponent;

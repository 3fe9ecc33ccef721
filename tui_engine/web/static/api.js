// HTTP calls to the portal's JSON API (docs/web-api.md is the contract).
//
// Hand-written on purpose: fetch() is all we need, and a client library would bring a build step.
// Every state-changing request carries the session's CSRF token (X-CSRF-Token). A data request
// counts as the user's activity only when the page says so (X-User-Activity: 1): background
// polling never sends it, so polling can never keep an idle session from locking.

/** The CSRF token of the current session; the session module updates it from every reply. */
let csrfToken = null;

export function setCsrf(token) {
  if (typeof token === 'string' && token !== '') csrfToken = token;
}

export function clearCsrf() {
  csrfToken = null;
}

/** One reply: HTTP status plus the parsed JSON body (null when the body is not JSON). */
export class Reply {
  constructor(status, data, text, contentType) {
    this.status = status;
    this.data = data;
    this.text = text;
    this.contentType = contentType;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** A human-readable reason for a refusal, taken from the JSON body when there is one. */
  message(fallback) {
    const d = this.data;
    if (d && typeof d === 'object') {
      for (const key of ['message', 'detail', 'error']) {
        if (typeof d[key] === 'string' && d[key] !== '') return d[key];
      }
    }
    return fallback ?? `HTTP ${this.status}`;
  }
}

/**
 * Send one request. `activity: true` marks it as the user's own doing. Rejects only on network
 * failure; HTTP errors come back as a Reply so callers can branch on the status.
 */
export async function request(method, path, { body, activity = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (activity) headers['X-User-Activity'] = '1';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'error',
    signal,
  });
  const contentType = res.headers.get('Content-Type') ?? '';
  const text = await res.text();
  let data = null;
  if (contentType.includes('json') && text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  return new Reply(res.status, data, text, contentType);
}

/** Is this 403 a CSRF refusal (as opposed to "access not permitted")? */
export function isCsrfRefusal(reply) {
  if (reply.status !== 403) return false;
  const err = reply.data && typeof reply.data === 'object' ? String(reply.data.error ?? '') : '';
  return err === '' || err.toLowerCase().includes('csrf');
}

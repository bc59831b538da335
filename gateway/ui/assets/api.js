// The gateway's JSON API, called with the session cookie. Every change (not GET/HEAD) carries
// the session's CSRF token in X-Dq-Csrf; errors become ApiError with the API's code and message.

let csrf = '';
let onSignedOut = null;

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function setCsrf(token) {
  csrf = token || '';
}

/** Called with the error when a request finds the session gone (401). */
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export const enc = encodeURIComponent;

/**
 * api('GET', '/v1/topics') -> the parsed JSON body (null for 204).
 * `accept`: statuses other than 2xx whose JSON body is an answer (503 from /healthz).
 */
export async function api(method, path, body, { signal, accept = [] } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-Dq-Csrf'] = csrf;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', `the gateway did not answer: ${e.message}`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (resp.ok || accept.includes(resp.status)) return data;
  const err = (data && data.error) || {};
  const e = new ApiError(resp.status, err.code || `HTTP_${resp.status}`,
    err.message || `${method} ${path}: HTTP ${resp.status}`, data);
  if (resp.status === 401 && !path.startsWith('/ui/session') && onSignedOut) onSignedOut(e);
  throw e;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const health = (opts) => api('GET', '/healthz', undefined, { ...opts, accept: [503] });

// The one place that talks to the Tollgate API. Every call carries the session token; writes carry
// an Idempotency-Key, so a retry after a lost answer or a 503 is answered as the first attempt
// was and never applied twice.

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Answers that changed nothing and ask to be retried shortly; the same key is sent again. */
const RETRY_STATUSES = new Set([429, 503]);
const MAX_ATTEMPTS = 4;
const MAX_WAIT_MS = 5000;

// crypto.randomUUID exists only in secure contexts; a page served over plain http on a LAN name
// still needs unique keys.
function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function retryDelay(response, attempt) {
  const seconds = Number(response.headers.get('retry-after'));
  const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 500 * 2 ** attempt;
  return Math.min(ms, MAX_WAIT_MS);
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page): described by its status below.
  }
  const error = body?.error;
  if (error && typeof error.message === 'string') {
    return new ApiError(response.status, error.code ?? 'error', error.message, error.details ?? null);
  }
  return new ApiError(response.status, 'http_error', `The billing service answered with an error (${response.status}). Please try again.`);
}

/**
 * An API client for one customer session. `onUnauthorized` is told of any 401, after which the
 * page shows only that the link expired.
 */
export function createApi(session, { onUnauthorized } = {}) {
  const customerPath = `/v1/customers/${encodeURIComponent(session.customerId)}`;

  async function send(method, url, { body, accept = 'application/json' } = {}) {
    const headers = { Authorization: `Bearer ${session.token}`, Accept: accept };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      headers['Idempotency-Key'] = newIdempotencyKey();
    }
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') init.body = JSON.stringify(body ?? {});
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, init);
      } catch {
        throw new ApiError(0, 'network_error', 'The billing service could not be reached. Check your connection and try again.');
      }
      if (response.ok) return response;
      if (RETRY_STATUSES.has(response.status) && attempt + 1 < MAX_ATTEMPTS) {
        await sleep(retryDelay(response, attempt));
        continue;
      }
      const error = await errorOf(response);
      if (response.status === 401) onUnauthorized?.(error);
      throw error;
    }
  }

  async function json(method, path, body) {
    const response = await send(method, `${customerPath}/${path}`, { body });
    return { status: response.status, body: await response.json() };
  }

  return {
    customerId: session.customerId,
    /** GET a customer route ("subscription", "credits/transactions?limit=20"); resolves to its JSON. */
    get: async (path) => (await json('GET', path)).body,
    /** POST to a customer route; resolves to { status, body } (a 202 is not a 200). */
    post: (path, body) => json('POST', path, body),
    put: (path, body) => json('PUT', path, body),
    /**
     * A file the API serves under /v1 (an invoice PDF). It needs the token, so it cannot be a
     * plain link; only same-origin API paths are fetched, so the token never leaves the origin.
     */
    async blob(path, accept) {
      if (typeof path !== 'string' || !path.startsWith('/v1/')) throw new ApiError(0, 'bad_link', 'This document link is not one the billing page can open.');
      const response = await send('GET', path, { accept });
      return response.blob();
    },
  };
}

/**
 * A link from the API (Checkout, hosted invoice, billing portal) as an href: only http(s), so a
 * stored value can never become a javascript: URL.
 */
export function safeUrl(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

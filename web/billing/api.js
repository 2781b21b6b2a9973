// The one place that talks to the Tollgate API. Every call carries the session token.
//
// Writes carry an Idempotency-Key (api/idempotency.ts) that belongs to the person's action, not
// to one HTTP request: each write route (method and path) holds at most one pending key, with the
// request it was made for. The key is used for the automatic retries of that request (a network
// error, a 503 or 429, a 409 `idempotency_request_in_progress`: a few, with growing waits) and,
// after they run out, for the same request sent again by a second click: a purchase whose answer
// was lost is then answered as the first time, never made twice. The key is dropped once the
// request has a definitive answer: a 2xx, or a 4xx other than those "retry" codes (the API keeps
// those answers, so a new attempt of the action needs a new key). A different request to the same
// route (another pack) gets a new key. Keys live as long as the page: a reload starts afresh.

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
/** The same key's first request is still running: its answer comes to a repeat once it is done. */
const IN_PROGRESS = 'idempotency_request_in_progress';
const MAX_ATTEMPTS = 4;
const MAX_WAIT_MS = 5000;

const NETWORK_MESSAGE = 'The billing service could not be reached. Check your connection and try again.';
const WRITE_NETWORK_MESSAGE = 'The billing service could not be reached, so it is not known whether this went through. '
  + 'Check your connection and try again: a request that did go through is not made twice.';

/**
 * Whether an answer settles a write, so that its key is done with: a 2xx, or a 4xx the API keeps
 * (a repeat with the key would get the same refusal). Network errors (status 0), 5xx (their
 * record is released: a repeat continues the same operation), 408, 429 and "still running" do not.
 */
function isDefinitive(error) {
  const status = error?.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return false;
  if (status === 408 || status === 429) return false;
  return !(status === 409 && error.code === IN_PROGRESS);
}

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
  const seconds = Number(response?.headers.get('retry-after'));
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
  /** "POST credits/purchases" → { request, key }: the pending key of that route's last unsettled request. */
  const pendingKeys = new Map();

  /** One request, retried with the same headers (and key) after a network error or a retry answer. */
  async function send(method, url, { body, accept = 'application/json', idempotencyKey } = {}) {
    const headers = { Authorization: `Bearer ${session.token}`, Accept: accept };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      headers['Idempotency-Key'] = idempotencyKey ?? newIdempotencyKey();
    }
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') init.body = JSON.stringify(body ?? {});
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= MAX_ATTEMPTS;
      let response;
      try {
        response = await fetch(url, init);
      } catch {
        if (last) throw new ApiError(0, 'network_error', method === 'GET' ? NETWORK_MESSAGE : WRITE_NETWORK_MESSAGE);
        await sleep(retryDelay(null, attempt));
        continue;
      }
      if (response.ok) return response;
      if (RETRY_STATUSES.has(response.status) && !last) {
        await sleep(retryDelay(response, attempt));
        continue;
      }
      const error = await errorOf(response);
      if (response.status === 409 && error.code === IN_PROGRESS && !last) {
        await sleep(retryDelay(response, attempt));
        continue;
      }
      if (response.status === 401) onUnauthorized?.(error);
      throw error;
    }
  }

  /** A write under the route's pending key (or a new one), which is dropped once the answer settles it. */
  async function write(method, path, body) {
    const route = `${method} ${path}`;
    const request = JSON.stringify(body ?? {});
    const pending = pendingKeys.get(route);
    const key = pending?.request === request ? pending.key : newIdempotencyKey();
    pendingKeys.set(route, { request, key });
    const settle = () => {
      if (pendingKeys.get(route)?.key === key) pendingKeys.delete(route);
    };
    let response;
    try {
      response = await send(method, `${customerPath}/${path}`, { body, idempotencyKey: key });
    } catch (error) {
      if (isDefinitive(error)) settle();
      throw error;
    }
    let answer;
    try {
      answer = await response.json();
    } catch {
      // The answer was cut off: what happened is not known, so the key stays for a retry.
      throw new ApiError(0, 'network_error', WRITE_NETWORK_MESSAGE);
    }
    settle();
    return { status: response.status, body: answer };
  }

  return {
    customerId: session.customerId,
    /** The customer itself (id, name, email), shown so a person sees whose account the link opened. */
    customer: async () => (await send('GET', customerPath)).json(),
    /** GET a customer route ("subscription", "credits/transactions?limit=20"); resolves to its JSON. */
    get: async (path) => (await send('GET', `${customerPath}/${path}`)).json(),
    /**
     * POST to a customer route; resolves to { status, body } (a 202 is not a 200). Sending the
     * same request again after a failure that settled nothing reuses its Idempotency-Key.
     */
    post: (path, body) => write('POST', path, body),
    put: (path, body) => write('PUT', path, body),
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

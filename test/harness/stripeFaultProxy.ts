/**
 * A fault-injecting HTTP proxy in front of stripe-mock, so tests can prove that retries after a
 * lost answer leave exactly one effective Stripe operation.
 *
 * stripe-mock is stateless and ignores `Idempotency-Key`, so on its own it cannot tell a retried
 * charge from a second one. The proxy adds what real Stripe does (API v1, docs.stripe.com/idempotency):
 * - the answer of the first request with a key that *started executing* is saved, and every later
 *   POST with that key gets it back (`Idempotent-Replayed: true`) without reaching upstream;
 * - the same key with other parameters (method, path or form params) → 400 `idempotency_error`
 *   (stripe-node: StripeIdempotencyError); nothing is saved;
 * - the same key while its first request is still running → 409 `idempotency_error` code
 *   `idempotency_key_in_use` (stripe-node retries 409s); nothing is saved;
 * - requests that fail validation never started executing, so their answers are not saved: here,
 *   upstream answers other than 2xx/402 are not saved (stripe-mock answers 400 on validation).
 * Only POSTs take part: Stripe ignores keys on GET and DELETE.
 *
 * Every request passes these stages in order; a fault rule acts at its stage, and is used up
 * (its `times` counted down) only when a request actually reaches that stage:
 *   1. edge       `{ reset: 'before' }`, `{ error: 'rate_limit' }`, `{ error: 'api_error' }` — the
 *                 request never got to Stripe's idempotency layer: nothing executes, nothing is saved.
 *                 (Real Stripe replays a 500 that happened *during* execution; the injected 500 is
 *                 the retryable kind, e.g. from a load balancer, which is what stripe-node's retries
 *                 on 5xx are for.)
 *   2. idempotency replay / mismatch / in-use, as above.
 *   3. hold       `{ hold: () => promise }` — the call is in flight (key in use) until it settles;
 *                 for concurrent-retry races and client timeouts while Stripe is still working.
 *   4. execute    `{ error: 'card_declined' | 'authentication_required' }` — answered 402 without
 *                 forwarding (the decline is Stripe's decision, so it is saved for the key); or the
 *                 request goes upstream, and `{ respond }` may rewrite the upstream answer (stripe-mock's
 *                 fixtures are static: a paid invoice still says `draft`). The rewritten answer is
 *                 the one saved.
 *   5. deliver    `{ reset: 'after' }` — the answer is decided (and saved) but the client socket is
 *                 destroyed instead: "charged, but the caller never heard". It acts on whatever
 *                 produced the answer (upstream, a replay, an injected error), so `times: 2` also
 *                 drops the replay that answers stripe-node's automatic reconnect retry.
 * A `hold` whose promise rejects answers 500 and is not logged.
 *
 * Counting: a request is *executed* when it reached stage 4 (forwarded upstream or declined), and
 * *effective* when that execution's answer (after `respond`) is 2xx. `effective()` counts distinct
 * idempotency keys of effective executions plus un-keyed effective executions.
 *
 * stripe-node (23.x) details tests must know: it sends an `Idempotency-Key` (`stripe-node-retry-…`)
 * on every POST and reuses it for its retries; it retries a closed connection (ECONNRESET/EPIPE)
 * once *even with `maxNetworkRetries: 0`*, so a single `reset` fault is survived by the SDK: use
 * `times: 2` to make one call fail; it retries 409 and 5xx (not 429) up to `maxNetworkRetries`.
 * Error classes by status: 402 → StripeCardError, 429 → StripeRateLimitError, 400 with type
 * `idempotency_error` → StripeIdempotencyError, 5xx → StripeAPIError, dropped → StripeConnectionError.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type StripeErrorFault = 'card_declined' | 'authentication_required' | 'rate_limit' | 'api_error';

/** What `respond` gets: the request, and stripe-mock's answer to it. */
export interface RespondContext {
  method: string;
  path: string;
  params: Record<string, string>;
  idempotencyKey: string | null;
  upstream: { status: number; json: unknown };
}

export interface ProxyAnswer {
  status: number;
  json: unknown;
}

export type FaultAction =
  | { error: StripeErrorFault }
  | { reset: 'before' | 'after' }
  | { hold: () => Promise<unknown> }
  | { respond: (context: RespondContext) => ProxyAnswer };

export type FaultRule = FaultAction & {
  /** HTTP method, any case. */
  method: string;
  /** Exact path (`/v1/customers`, no query) or a pattern tested against it. */
  path: string | RegExp;
  /** How many matching requests this rule acts on; default 1, `Infinity` for all. */
  times?: number;
};

export type FaultName = StripeErrorFault | 'reset:before' | 'reset:after' | 'hold' | 'respond';

/** A handle on an injected rule, to check that it fired. */
export interface InjectedFault {
  readonly fired: number;
  readonly remaining: number;
}

export interface ProxiedRequest {
  /** 1, 2, … in arrival order. */
  seq: number;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Decoded query string (GET parameters), '' when none. */
  query: string;
  idempotencyKey: string | null;
  /** The form body, percent-decoded (`email=a@b.c&metadata[plan]=pro`). */
  body: string;
  params: Record<string, string>;
  /** The status the proxy decided on; null when it dropped the request before deciding. */
  status: number | null;
  /** The JSON body of that answer (for a dropped answer: what the client would have got). */
  responseBody: unknown;
  /** The client got no answer: its connection was destroyed. */
  dropped: boolean;
  /** Answered from the idempotency memory, without reaching upstream. */
  replayed: boolean;
  /** stripe-mock's own status when the request was forwarded, else null. */
  upstreamStatus: number | null;
  executed: boolean;
  effective: boolean;
  faults: FaultName[];
}

export interface StripeFaultProxy {
  url: string;
  port: number;
  /** A copy of the log, in the order requests were answered or dropped (a held call appears once it ends). */
  readonly requests: ProxiedRequest[];
  inject(rule: FaultRule): InjectedFault;
  /** Requests that arrived with this idempotency key (every attempt, replays included). */
  countByKey(key: string): number;
  /** Distinct effective operations among matching requests (see the file comment). */
  effective(method: string, path: string | RegExp): number;
  /** Matching requests that reached stripe-mock. */
  upstreamCount(method: string, path: string | RegExp): number;
  clearFaults(): void;
  /** Forget faults, the log and the idempotency memory. */
  reset(): void;
  close(): Promise<void>;
}

interface SavedAnswer {
  fingerprint: string;
  status: number;
  json: unknown;
  requestId: string;
}

interface ActiveRule {
  rule: FaultRule;
  left: number;
  fired: number;
}

type Stage = 'edge' | 'hold' | 'execute' | 'deliver';

function stageOf(rule: FaultRule): Stage {
  if ('reset' in rule) return rule.reset === 'before' ? 'edge' : 'deliver';
  if ('error' in rule) return rule.error === 'rate_limit' || rule.error === 'api_error' ? 'edge' : 'execute';
  if ('hold' in rule) return 'hold';
  return 'execute';
}

function matches(method: string, path: string, wantMethod: string, want: string | RegExp): boolean {
  if (method !== wantMethod.toUpperCase()) return false;
  if (typeof want === 'string') return path === want;
  want.lastIndex = 0; // a /g pattern keeps state between test() calls
  return want.test(path);
}

// Bodies shaped as Stripe's API answers them (type/code/decline_code are what stripe-node reads).
const STRIPE_ERRORS: Record<StripeErrorFault, ProxyAnswer> = {
  card_declined: {
    status: 402,
    json: { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline',
      message: 'Your card was declined.', doc_url: 'https://stripe.com/docs/error-codes/card-declined' } },
  },
  authentication_required: {
    status: 402,
    json: { error: { type: 'card_error', code: 'authentication_required', decline_code: 'authentication_required',
      message: 'Your card was declined. This transaction requires authentication.',
      doc_url: 'https://stripe.com/docs/error-codes/authentication-required' } },
  },
  // Stripe has no `rate_limit_error` type today: a 429 says invalid_request_error/rate_limit, and
  // stripe-node picks StripeRateLimitError from the status alone.
  rate_limit: {
    status: 429,
    json: { error: { type: 'invalid_request_error', code: 'rate_limit',
      message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      doc_url: 'https://stripe.com/docs/error-codes/rate-limit' } },
  },
  api_error: {
    status: 500,
    json: { error: { type: 'api_error', message: 'An unknown error occurred' } },
  },
};

function formDecode(raw: string): { text: string; params: Record<string, string> } {
  const search = new URLSearchParams(raw);
  const params: Record<string, string> = {};
  const parts: string[] = [];
  for (const [key, value] of search) {
    params[key] = value;
    parts.push(`${key}=${value}`);
  }
  return { text: parts.join('&'), params };
}

// Real Stripe compares parameters, not bytes: a retry that rebuilds the same params in another
// order is the same request.
function fingerprintOf(method: string, path: string, params: Record<string, string>): string {
  return JSON.stringify([method, path, Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
    // A client that gives up mid-body never sends 'end'; without this the handler would wait forever.
    request.once('close', () => reject(new Error('connection closed before the body was complete')));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host',
  'proxy-connection', 'te', 'trailer', 'upgrade']);

function forwardableHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

export async function startStripeFaultProxy(options: { upstream: string }): Promise<StripeFaultProxy> {
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true });
  let rules: ActiveRule[] = [];
  let log: ProxiedRequest[] = [];
  let saved = new Map<string, SavedAnswer>();
  let inFlight = new Set<string>();
  let seq = 0;

  const take = (stage: Stage, method: string, path: string): ActiveRule | undefined => {
    const active = rules.find((r) => r.left > 0 && stageOf(r.rule) === stage && matches(method, path, r.rule.method, r.rule.path));
    if (active) {
      active.left -= 1;
      active.fired += 1;
    }
    return active;
  };

  const forward = (method: string, pathAndQuery: string, headers: http.IncomingHttpHeaders, body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = http.request({
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: pathAndQuery,
        agent,
        headers: { ...forwardableHeaders(headers), 'content-length': body.length },
      }, (response) => {
        readBody(response).then(
          (buffer) => resolve({ status: response.statusCode ?? 502, text: buffer.toString('utf8') }),
          reject,
        );
      });
      request.once('error', reject);
      request.end(body);
    });

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const raw = await readBody(request);
    const method = (request.method ?? 'GET').toUpperCase();
    const target = new URL(request.url ?? '/', 'http://proxy.invalid');
    const path = target.pathname;
    const headerKey = request.headers['idempotency-key'];
    const idempotencyKey = typeof headerKey === 'string' ? headerKey : null;
    const decoded = formDecode(raw.toString('utf8'));
    const entry: ProxiedRequest = {
      seq: ++seq, method, path, query: formDecode(target.search.slice(1)).text, idempotencyKey,
      body: decoded.text, params: decoded.params, status: null, responseBody: null, dropped: false,
      replayed: false, upstreamStatus: null, executed: false, effective: false, faults: [],
    };
    const requestId = `req_proxy_${entry.seq}`;
    const generation = log; // reset() swaps the log: late finishers must not write into the new state
    const drop = () => {
      entry.dropped = true;
      if (generation === log) log.push(entry);
      request.socket.destroy();
    };
    const answer = (status: number, json: unknown, extraHeaders: Record<string, string> = {}) => {
      entry.status = status;
      entry.responseBody = json;
      const deliver = take('deliver', method, path);
      if (deliver) {
        entry.faults.push('reset:after');
        drop();
        return;
      }
      if (generation === log) log.push(entry);
      const text = JSON.stringify(json);
      response.writeHead(status, {
        'content-type': 'application/json',
        'request-id': requestId,
        'content-length': Buffer.byteLength(text),
        // Stripe echoes the key (stripe-node exposes it as lastResponse.idempotencyKey); stripe-mock does not.
        ...(method === 'POST' && idempotencyKey !== null ? { 'idempotency-key': idempotencyKey } : {}),
        ...extraHeaders,
      });
      response.end(text);
    };

    // 1. edge
    const edge = take('edge', method, path);
    if (edge) {
      if ('reset' in edge.rule) {
        entry.faults.push('reset:before');
        drop();
        return;
      }
      if ('error' in edge.rule) {
        entry.faults.push(edge.rule.error);
        const fault = STRIPE_ERRORS[edge.rule.error];
        answer(fault.status, fault.json);
        return;
      }
    }

    // 2. idempotency
    const keyed = method === 'POST' && idempotencyKey !== null ? idempotencyKey : null;
    const fingerprint = fingerprintOf(method, path, decoded.params);
    if (keyed !== null) {
      const previous = saved.get(keyed);
      if (previous && previous.fingerprint !== fingerprint) {
        answer(400, { error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used ' +
          `with the same parameters they were first used with. Try using a key other than '${keyed}' if you meant ` +
          'to execute a different request.' } });
        return;
      }
      if (previous) {
        entry.replayed = true;
        answer(previous.status, previous.json, { 'idempotent-replayed': 'true', 'original-request': previous.requestId });
        return;
      }
      if (inFlight.has(keyed)) {
        answer(409, { error: { type: 'idempotency_error', code: 'idempotency_key_in_use', message: 'There is ' +
          `currently another in-progress request using this Idempotent Key (that probably means you submitted twice, ` +
          `and the other request is still going through): ${keyed}. Please try again later.` } });
        return;
      }
      inFlight.add(keyed);
    }
    const inFlightGeneration = inFlight;
    try {
      // 3. hold
      const hold = take('hold', method, path);
      if (hold && 'hold' in hold.rule) {
        entry.faults.push('hold');
        await hold.rule.hold();
      }

      // 4. execute
      let result: ProxyAnswer;
      const execute = take('execute', method, path);
      if (execute && 'error' in execute.rule) {
        entry.faults.push(execute.rule.error);
        result = STRIPE_ERRORS[execute.rule.error];
      } else {
        let upstreamAnswer: { status: number; text: string };
        try {
          upstreamAnswer = await forward(method, `${target.pathname}${target.search}`, request.headers, raw);
        } catch (error) {
          // The harness is broken, not Stripe: say so loudly rather than pose as a Stripe fault.
          answer(502, { error: { type: 'api_error', message: `stripe fault proxy: upstream ${options.upstream} ` +
            `unreachable: ${(error as Error).message}` } });
          return;
        }
        entry.upstreamStatus = upstreamAnswer.status;
        result = { status: upstreamAnswer.status, json: parseJson(upstreamAnswer.text) };
        if (execute && 'respond' in execute.rule) {
          entry.faults.push('respond');
          result = execute.rule.respond({ method, path, params: decoded.params, idempotencyKey, upstream: result });
        }
      }
      entry.executed = true;
      entry.effective = result.status >= 200 && result.status < 300;
      const started = entry.effective || result.status === 402;
      if (keyed !== null && started && generation === log) {
        saved.set(keyed, { fingerprint, status: result.status, json: result.json, requestId });
      }
      answer(result.status, result.json);
    } finally {
      if (keyed !== null) inFlightGeneration.delete(keyed);
    }
  };

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { type: 'api_error', message: `stripe fault proxy failed: ${String(error)}` } }));
      }
    });
  });
  // Outlive the SDK's idle keep-alive sockets: a server-side idle close racing a new request shows
  // up as a spurious ECONNRESET, which stripe-node would retry and the counts would not explain.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const matching = (method: string, path: string | RegExp) =>
    log.filter((entry) => matches(entry.method, entry.path, method, path));

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return [...log];
    },
    inject(rule) {
      const active: ActiveRule = { rule, left: rule.times ?? 1, fired: 0 };
      rules.push(active);
      return {
        get fired() { return active.fired; },
        get remaining() { return active.left; },
      };
    },
    countByKey: (key) => log.filter((entry) => entry.idempotencyKey === key).length,
    effective(method, path) {
      const keys = new Set<string>();
      let unkeyed = 0;
      for (const entry of matching(method, path)) {
        if (!entry.effective) continue;
        if (entry.method === 'POST' && entry.idempotencyKey !== null) keys.add(entry.idempotencyKey);
        else unkeyed += 1;
      }
      return keys.size + unkeyed;
    },
    upstreamCount: (method, path) => matching(method, path).filter((entry) => entry.upstreamStatus !== null).length,
    clearFaults() {
      rules = [];
    },
    reset() {
      rules = [];
      log = [];
      saved = new Map();
      inFlight = new Set();
      seq = 0;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }),
  };
}

/**
 * The usage routes, served by a lean node:http handler in front of Express. These routes take
 * thousands of requests a second, and Express's own per-request work (~0.2 ms of the single core
 * Node uses, ../shared/LIMITS.md) would be most of that budget. Auth, zod validation and the
 * error shape are the same functions the Express app uses.
 *
 *   POST /v1/usage/events        one event   → 200 counted/duplicate, 429 usage_limit_reached, 409 period_closed
 *   POST /v1/usage/events/batch  ≤1,000      → 200 with one result per event
 *   GET  /v1/usage/check         read-only: would this usage be allowed now? (in-process view, api/usage/usageView.ts)
 *
 * Bodies go through the same strict reader as Express's (api/http/readJsonBody.ts), and a wrong
 * method gets the same 405 with `Allow`, from the same route table (the OpenAPI document).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Catalog } from '../../billing/catalog.js';
import type { EventOutcome } from '../../store/usageLedger.js';
import { creditUnitOf, formatCredits } from '../../billing/creditPricing.js';
import type { AccessCheck } from '../access/accessCheck.js';
import { ApiError, apiErrorOf, errorBody, validationError } from '../errors.js';
import { readJsonBody } from '../http/readJsonBody.js';
import { methodNotAllowed, routeTableOf } from '../http/routeTable.js';
import { openApiDocument } from '../openapi.js';
import type { UsageRecorder, UsageEventInput } from './usageRecorder.js';
import type { UsageView } from './usageView.js';
import type { CustomerTime } from '../testClocks/customerTime.js';
import { MAX_BATCH_EVENTS, MAX_FUTURE_SKEW_MS, usageBatchSchema, usageCheckQuery, usageEventSchema, type UsageEventBody } from './usageSchemas.js';

const MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface UsageHandlerDeps {
  recorder: UsageRecorder;
  /** Answers checks, without a database round trip where it can (api/usage/usageView.ts). */
  view: UsageView;
  catalog: () => Catalog;
  access: AccessCheck;
  logger: Logger;
  now?: () => number;
  /** Customers on test clocks are judged at their clock's instant (absent: everyone on real time). */
  time?: CustomerTime;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const json = JSON.stringify(body);
  // For HEAD, node sends the headers and drops the body itself.
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readJsonBody(req, { limitBytes: MAX_BODY_BYTES });
  if (body === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  return body;
}

/** The request's path and query; undefined for a request target no URL parser accepts (`//[`). */
function urlOf(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

export function createUsageHandler(deps: UsageHandlerDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const now = deps.now ?? Date.now;

  /**
   * Checks what zod cannot: known metrics and plausible timestamps. Throws for the whole request.
   * An event of a customer on a test clock is placed on the clock's time line (issue 14).
   */
  const toInputs = async (events: UsageEventBody[]): Promise<UsageEventInput[]> => {
    const metrics = new Set(deps.catalog().metrics.map((m) => m.id));
    const at = now();
    const clocks = deps.time ? await deps.time.clocksOf(events.map((e) => e.customerId)) : undefined;
    return events.map((event, index) => {
      const where = events.length > 1 ? `events[${index}]: ` : '';
      if (!metrics.has(event.metric)) {
        throw new ApiError(422, 'unknown_metric', `${where}there is no metric "${event.metric}". Metrics: ${[...metrics].join(', ')}.`, { index });
      }
      const clock = clocks?.get(event.customerId);
      if (clock?.status === 'advancing') throw new ApiError(409, 'test_clock_advancing', `${where}the test clock of customer "${event.customerId}" is advancing; send usage once it has caught up. Nothing was recorded.`, { index });
      if (clock?.status === 'deleted') throw new ApiError(404, 'subscription_not_running', `${where}customer "${event.customerId}" ended with its test clock. Nothing was recorded.`, { index });
      const occurredAt = event.timestamp === undefined ? clock?.frozenTime ?? at : Date.parse(event.timestamp);
      if (clock && occurredAt > clock.frozenTime) throw new ApiError(422, 'invalid_timestamp', `${where}the timestamp is after the instant of the customer's test clock (${new Date(clock.frozenTime).toISOString()}).`, { index });
      if (occurredAt > at + MAX_FUTURE_SKEW_MS && !clock) throw new ApiError(422, 'invalid_timestamp', `${where}the timestamp is in the future.`, { index });
      return { customerId: event.customerId, metric: event.metric, quantity: BigInt(event.quantity), idempotencyKey: event.idempotencyKey, occurredAt };
    });
  };

  const resultView = (outcome: EventOutcome, event: UsageEventInput) => {
    if (outcome.status === 'rejected') return { idempotencyKey: event.idempotencyKey, status: outcome.status, allowed: false, code: outcome.code };
    const used = Number(outcome.used);
    const limit = Number(outcome.limit);
    return {
      idempotencyKey: event.idempotencyKey,
      status: outcome.status,
      allowed: outcome.status !== 'refused',
      ...(outcome.status === 'refused' ? { code: outcome.code } : {}),
      customerId: event.customerId,
      metric: event.metric,
      used,
      limit,
      remaining: Math.max(0, limit - used),
      overage: Math.max(0, used - limit),
      cycleEnd: new Date(outcome.cycleEnd).toISOString(),
    };
  };

  const single = async (req: IncomingMessage, res: ServerResponse) => {
    const body = parse(usageEventSchema, await readJson(req), 'body');
    const [input] = await toInputs([body]);
    const [outcome] = await deps.recorder.record([input!]);
    if (outcome!.status === 'rejected' && outcome!.code === 'customer_not_found') throw new ApiError(404, 'customer_not_found', `No customer "${body.customerId}".`);
    if (outcome!.status === 'rejected' && outcome!.code === 'plan_unavailable') {
      throw new ApiError(503, 'plan_unavailable', 'The customer\'s plan is not in this server\'s catalog yet (a catalog change is rolling out); retry shortly — nothing was recorded.');
    }
    if (outcome!.status === 'rejected' && outcome!.code === 'payment_past_due') {
      throw new ApiError(402, 'payment_past_due', 'The customer\'s subscription is past due and its plan refuses usage until the overdue invoice is paid; nothing was recorded.');
    }
    if (outcome!.status === 'rejected') throw new ApiError(409, 'period_closed', 'The event belongs to a billing cycle that has already been closed and invoiced.');
    const view = resultView(outcome!, input!);
    if (outcome!.status === 'refused' && outcome!.code === 'insufficient_credits') {
      throw new ApiError(402, 'insufficient_credits', `The customer's credit balance cannot pay for this ${body.metric} usage past the plan's ${outcome!.limit} (${outcome!.used} used); buy credits or turn on auto-recharge. Nothing was recorded.`, view);
    }
    if (outcome!.status === 'refused') {
      throw new ApiError(429, 'usage_limit_reached', `The ${body.metric} limit of the customer's plan is reached (${outcome!.used} of ${outcome!.limit}); upgrade to allow more.`, view);
    }
    send(res, 200, view);
  };

  const batch = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readJson(req);
    const count = Array.isArray((raw as { events?: unknown })?.events) ? (raw as { events: unknown[] }).events.length : 0;
    if (count > MAX_BATCH_EVENTS) throw new ApiError(413, 'batch_too_large', `A batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${count}. Split it.`);
    const body = parse(usageBatchSchema, raw, 'body');
    const inputs = await toInputs(body.events);
    const outcomes = await deps.recorder.record(inputs);
    const missing = outcomes.find((o) => o.status === 'rejected' && o.code === 'customer_not_found');
    if (missing) {
      const unknown = [...new Set(inputs.filter((_, i) => { const o = outcomes[i]!; return o.status === 'rejected' && o.code === 'customer_not_found'; }).map((e) => e.customerId))];
      throw new ApiError(404, 'customer_not_found', 'The batch names customers that do not exist; nothing was recorded.', { customerIds: unknown });
    }
    const results = outcomes.map((o, i) => resultView(o, inputs[i]!));
    const tally = (status: string) => results.filter((r) => r.status === status).length;
    send(res, 200, { counted: tally('counted'), duplicates: tally('duplicate'), refused: tally('refused'), rejected: tally('rejected'), results });
  };

  const check = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const query = parse(usageCheckQuery, Object.fromEntries(url.searchParams), 'query');
    // One catalog for the whole check, even if a reload (SIGHUP) replaces it meanwhile.
    const catalog = deps.catalog();
    if (!catalog.metrics.some((m) => m.id === query.metric)) throw new ApiError(422, 'unknown_metric', `There is no metric "${query.metric}".`);
    const instant = deps.time ? await deps.time.nowFor(query.customerId) : now();
    const answer = await deps.view.check(catalog, { customerId: query.customerId, metric: query.metric, quantity: BigInt(query.quantity), now: instant });
    if (!answer) throw new ApiError(404, 'customer_not_found', `No customer "${query.customerId}".`);
    const used = Number(answer.used);
    const limit = Number(answer.limit);
    const unit = answer.credits ? creditUnitOf(catalog) : undefined;
    send(res, 200, {
      allowed: answer.allowed, customerId: query.customerId, metric: query.metric, quantity: query.quantity, used, limit, remaining: Math.max(0, limit - used), policy: answer.policy,
      ...(answer.credits && unit ? { credits: { needed: formatCredits(answer.credits.creditsNeeded, unit, catalog.currency), balance: formatCredits(answer.credits.balance, unit, catalog.currency), unit: unit.name } } : {}),
    });
  };

  const routes: Record<string, { method: string; run: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> }> = {
    '/v1/usage/events': { method: 'POST', run: single },
    '/v1/usage/events/batch': { method: 'POST', run: batch },
    '/v1/usage/check': { method: 'GET', run: check },
  };
  // Each route's allowed methods, looked up once: requests then only compare (this is the hot path).
  const table = routeTableOf(openApiDocument().paths);
  const allowedOf = new Map(Object.entries(routes).map(([path, route]) => {
    const allowed = table.allowedMethods(path);
    if (!allowed?.includes(route.method)) throw new Error(`The OpenAPI document lacks ${route.method} ${path}.`);
    return [path, allowed] as const;
  }));

  return (req, res) => {
    const url = urlOf(req);
    const route = url && routes[url.pathname];
    if (!url || !route) return false;
    const started = process.hrtime.bigint();
    const fail = (error: unknown) => {
      const apiError = apiErrorOf(error, deps.logger, {
        unavailable: 'The database is unavailable right now. Retry shortly with the same idempotency keys: an event the database did take is answered as a duplicate, never counted twice.',
        // Bad input never gets here (it is a 4xx), so this is ours: a retry is safe, but must back off.
        internal: 'Something went wrong on our side. Retrying with the same idempotency keys is safe (nothing counts twice); back off if it keeps failing.',
      });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(res, apiError.status, errorBody(apiError), apiError.headers);
    };
    const run = async () => {
      // Before auth, as in the Express app: the allowed methods are public (GET /openapi.json).
      const refused = methodNotAllowed(allowedOf.get(url.pathname)!, req.method ?? '');
      if (refused) throw refused;
      await deps.access.check(req.method ?? '', url.pathname, req.headers.authorization, req.socket.remoteAddress);
      await route.run(req, res, url);
    };
    run().catch(fail).finally(() => {
      if (deps.logger.isLevelEnabled('debug')) {
        deps.logger.debug({ method: req.method, path: url.pathname, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
      }
    });
    return true;
  };
}

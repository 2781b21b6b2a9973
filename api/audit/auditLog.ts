/**
 * The audit log: every state-changing request to the Express routes (POST, PUT, PATCH, DELETE;
 * the usage routes are outside it: each event is its own record, keyed, in usage_events) with who
 * sent it (`key:<name>` or `session:<id>`, never a secret), what (method, route template, path, the
 * customer) and how it ended (status and error code).
 *
 * The row is written before the request runs and completed just before its answer is sent, so a
 * request whose API process died mid-way is on record with its outcome unknown (status null). If the row cannot
 * be written, the request is not run (503 while the database is down): no change goes unrecorded.
 * Requests that change nothing leave no row: bad input (400, 413, 415), an unknown resource or
 * route (404), a refusal by a rule (409, 422) and an idempotent replay; they are in the request log.
 * 402 stays: a declined payment leaves an open invoice behind. Bodies are not kept (they can hold
 * channel secrets).
 */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../../store/databaseErrors.js';
import type { Db } from '../../store/db.js';
import { principalOf } from '../access/accessCheck.js';
import { describePrincipal } from '../access/principal.js';
import { answeredErrorCode } from '../errors.js';
import type { RouteTable } from '../http/routeTable.js';
import { customerIdSchema } from '../schemas.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Answers after which nothing changed (see the module comment). */
function changedNothing(status: number, replayed: boolean): boolean {
  return replayed || (status >= 400 && status < 500 && status !== 402);
}

function customerOf(params: Readonly<Record<string, string>>, body: unknown): string | null {
  const raw = params.customerId !== undefined ? safeDecode(params.customerId) : (body as { id?: unknown } | undefined)?.id;
  const parsed = customerIdSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function auditLog(deps: { db: Db; table: RouteTable; logger: Logger; now?: () => number }): RequestHandler {
  const now = deps.now ?? Date.now;
  return (req, res, next) => {
    if (!WRITE_METHODS.has(req.method)) return next();
    const route = deps.table.match(req.path);
    // No route: the 404 follows and nothing changes.
    if (!route) return next();
    const entry = {
      at: new Date(now()),
      actor: describePrincipal(principalOf(res)),
      method: req.method,
      route: route.template,
      path: req.path,
      customerId: customerOf(route.params, req.body),
    };
    deps.db.auditEntry.create({ data: entry, select: { id: true } }).then(({ id }) => {
      // Completed before the answer leaves (end is held for one write): whoever got an answer
      // finds its entry complete, and a test's snapshot after a 400 finds no row.
      const end = res.end.bind(res) as (...args: unknown[]) => unknown;
      res.end = ((...args: unknown[]) => {
        const replayed = res.get('idempotent-replayed') === 'true';
        const done = changedNothing(res.statusCode, replayed)
          ? deps.db.auditEntry.delete({ where: { id } })
          : deps.db.auditEntry.update({ where: { id }, data: { status: res.statusCode, errorCode: answeredErrorCode(res) ?? null, completedAt: new Date(now()) } });
        // During a database outage this is expected (the request itself got its 503): a warning.
        done.catch((error: unknown) => deps.logger[isDatabaseUnavailable(error) ? 'warn' : 'error']({ err: error, auditId: String(id), ...entry }, 'could not complete an audit entry; it stays with its outcome unknown'))
          .finally(() => end(...args));
        return res;
      }) as typeof res.end;
      next();
    }, next);
  };
}

/** Reading the audit log (api/audit/auditLog.ts): newest first, per customer or all, a page at a time. */
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../store/db.js';
import { validationError } from '../errors.js';
import { customerIdSchema, decimalInteger } from '../schemas.js';

export const auditLogQuery = z.strictObject({
  customerId: customerIdSchema.optional(),
  limit: decimalInteger(1, 200).default(50),
  /** The `nextBefore` of the previous page. */
  before: z.string().regex(/^[1-9][0-9]{0,17}$/, 'must be an entry id').optional(),
});

export function auditLogRoutes(deps: { db: Db }): Router {
  const router = Router();
  router.get('/v1/audit-log', async (req, res) => {
    const query = auditLogQuery.safeParse(req.query);
    if (!query.success) throw validationError(query.error, 'query');
    const { customerId, limit, before } = query.data;
    const entries = await deps.db.auditEntry.findMany({
      where: { ...(customerId ? { customerId } : {}), ...(before ? { id: { lt: BigInt(before) } } : {}) },
      orderBy: { id: 'desc' },
      take: limit,
    });
    res.json({
      data: entries.map((entry) => ({
        id: entry.id.toString(),
        at: entry.at.toISOString(),
        actor: entry.actor,
        method: entry.method,
        route: entry.route,
        path: entry.path,
        customerId: entry.customerId,
        status: entry.status,
        errorCode: entry.errorCode,
        completedAt: entry.completedAt?.toISOString() ?? null,
      })),
      nextBefore: entries.length === limit ? entries.at(-1)!.id.toString() : null,
    });
  });
  return router;
}

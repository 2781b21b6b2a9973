/** GET /health: is the API up, and can it reach PostgreSQL and Temporal? No auth (for load balancers). */
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../store/db.js';

async function probe(check: () => Promise<unknown>, timeoutMs = 2_000): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'unavailable'>((resolve) => { timer = setTimeout(() => resolve('unavailable'), timeoutMs); });
  try {
    return await Promise.race([check().then(() => 'ok' as const, () => 'unavailable' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: { db: Db; temporal: Client }): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      probe(() => deps.db.$queryRaw`SELECT 1`),
      probe(() => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const ok = database === 'ok' && temporal === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, temporal });
  });
  return router;
}

/** GET /v1/customers/{customerId}/plans: what a customer may choose from, with their current choice marked. */
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Logger } from 'pino';
import type { LiveCatalog } from '../catalog/liveCatalog.js';
import { subscriptionCatalogOf } from '../catalog/subscriptionCatalog.js';
import type { Catalog, Interval } from '../../billing/catalog.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { planCatalogView } from '../plans/planCatalogView.js';
import { customerParams } from '../schemas.js';

/**
 * The plans are the subscription's own catalog's (what its changes are decided with, as the
 * preview's): an edited catalog reaches a customer's picker with the renewal that hands it over.
 */
export function planCatalogRoutes(deps: { db: Db; catalog: Catalog; catalogs: LiveCatalog; temporal?: Client; logger?: Logger }): Router {
  const router = Router();
  router.get('/v1/customers/:customerId/plans', async (req, res) => {
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const { customerId } = params.data;
    const row = await deps.db.subscription.findUnique({ where: { customerId }, select: { planId: true, interval: true, seats: true, catalogVersion: true } });
    if (!row) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    const own = await subscriptionCatalogOf({ catalogs: deps.catalogs, db: deps.db, customerId, version: row.catalogVersion ?? undefined, temporal: deps.temporal, logger: deps.logger });
    res.json({
      ...planCatalogView(own?.catalog ?? deps.catalog, { planId: row.planId, interval: row.interval as Interval, seats: row.seats }),
      catalogVersion: own?.version ?? null,
    });
  });
  return router;
}

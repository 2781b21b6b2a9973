/** GET /v1/customers/{customerId}/plans: what a customer may choose from, with their current choice marked. */
import { Router } from 'express';
import type { Catalog, Interval } from '../../billing/catalog.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { planCatalogView } from '../plans/planCatalogView.js';
import { customerParams } from '../schemas.js';

export function planCatalogRoutes(deps: { db: Db; catalog: Catalog }): Router {
  const router = Router();
  router.get('/v1/customers/:customerId/plans', async (req, res) => {
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const { customerId } = params.data;
    const row = await deps.db.subscription.findUnique({ where: { customerId }, select: { planId: true, interval: true, seats: true } });
    if (!row) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    res.json(planCatalogView(deps.catalog, { planId: row.planId, interval: row.interval as Interval, seats: row.seats }));
  });
  return router;
}

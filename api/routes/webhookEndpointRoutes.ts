/**
 * Outbound webhook endpoints (issue 12): register one (URL, event types; the signing secret is in
 * the answer only), list, delete, rotate the secret (the previous one keeps signing for a while),
 * read its delivery log with every attempt, and ask for a delivery again. URLs follow the alert
 * webhooks' address rules (https to public addresses unless ALERT_WEBHOOKS_ALLOW_* relax them);
 * delivery checks the address again as it connects.
 */
import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import type { WebhookEndpoint } from '../../generated/prisma/client.js';
import { DEFAULT_WEBHOOK_POLICY, webhookUrlProblem, type WebhookPolicy } from '../../notifications/destinationGuard.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { createEndpointBody, DEFAULT_PREVIOUS_SECRET_SECONDS, deliveriesQuery, deliveryParams, endpointParams, rotateSecretBody } from '../webhooks/webhookSchemas.js';
import { refuseIdempotencyKey } from './apiKeyRoutes.js';

const newSigningSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

function endpointView(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    description: endpoint.description,
    createdAt: endpoint.createdAt.toISOString(),
    previousSecretExpiresAt: endpoint.previousExpiresAt?.toISOString() ?? null,
    disabledAt: endpoint.disabledAt?.toISOString() ?? null,
  };
}

interface Deps {
  db: Db;
  webhooks?: WebhookPolicy;
  now?: () => number;
}

async function endpointOf(db: Db, raw: unknown): Promise<WebhookEndpoint> {
  const params = endpointParams.safeParse(raw);
  if (!params.success) throw validationError(params.error, 'path');
  const endpoint = await db.webhookEndpoint.findUnique({ where: { id: params.data.endpointId } });
  if (!endpoint) throw new ApiError(404, 'webhook_endpoint_not_found', `No webhook endpoint "${params.data.endpointId}".`);
  return endpoint;
}

/** The routes whose answer holds a signing secret: mounted before the Idempotency-Key store, which must never keep one. */
export function webhookSecretRoutes(deps: Deps): Router {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  router.post('/v1/webhook-endpoints', async (req, res) => {
    refuseIdempotencyKey(req);
    if (req.body === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
    const body = createEndpointBody.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'body');
    const problem = webhookUrlProblem(body.data.url, deps.webhooks ?? DEFAULT_WEBHOOK_POLICY);
    if (problem) throw new ApiError(400, 'validation_failed', `Invalid request body: url: it ${problem}`, { issues: [{ path: 'url', message: `it ${problem}` }] });
    const secret = newSigningSecret();
    const endpoint = await db.webhookEndpoint.create({ data: { url: body.data.url, eventTypes: body.data.eventTypes, description: body.data.description ?? null, secret, createdAt: new Date(now()) } });
    res.status(201).set('cache-control', 'no-store').json({ ...endpointView(endpoint), secret });
  });

  router.post('/v1/webhook-endpoints/:endpointId/rotate-secret', async (req, res) => {
    refuseIdempotencyKey(req);
    const params = endpointParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const body = rotateSecretBody.safeParse(req.body === undefined ? {} : req.body);
    if (!body.success) throw validationError(body.error, 'body');
    const endpoint = await endpointOf(db, params.data);
    if (endpoint.disabledAt) throw new ApiError(409, 'webhook_endpoint_deleted', 'This endpoint was deleted.');
    const secret = newSigningSecret();
    const keep = body.data.previousValidSeconds ?? DEFAULT_PREVIOUS_SECRET_SECONDS;
    // Only over the secret read: of two rotations at once (or a retried one) the second is refused,
    // so `previous` is always the secret the host last saw, never one it was never shown.
    const { count } = await db.webhookEndpoint.updateMany({
      where: { id: endpoint.id, secret: endpoint.secret, disabledAt: null },
      data: { secret, previousSecret: keep > 0 ? endpoint.secret : null, previousExpiresAt: keep > 0 ? new Date(now() + keep * 1000) : null },
    });
    if (count !== 1) throw new ApiError(409, 'webhook_secret_rotated', 'The secret was rotated (or the endpoint deleted) meanwhile: read the endpoint and rotate again if needed.');
    const rotated = await db.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } });
    res.set('cache-control', 'no-store').json({ ...endpointView(rotated), secret });
  });

  return router;
}

export function webhookEndpointRoutes(deps: Deps): Router {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  router.get('/v1/webhook-endpoints', async (_req, res) => {
    const endpoints = await db.webhookEndpoint.findMany({ orderBy: { createdAt: 'asc' } });
    res.json({ data: endpoints.map(endpointView) });
  });

  router.get('/v1/webhook-endpoints/:endpointId', async (req, res) => {
    res.json(endpointView(await endpointOf(db, req.params)));
  });

  router.delete('/v1/webhook-endpoints/:endpointId', async (req, res) => {
    const endpoint = await endpointOf(db, req.params);
    // Deleting twice answers the first deletion. Deliveries still retrying stop at their next attempt.
    await db.webhookEndpoint.updateMany({ where: { id: endpoint.id, disabledAt: null }, data: { disabledAt: new Date(now()) } });
    res.json(endpointView(await db.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })));
  });

  router.get('/v1/webhook-endpoints/:endpointId/deliveries', async (req, res) => {
    const params = endpointParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const query = deliveriesQuery.safeParse(req.query);
    if (!query.success) throw validationError(query.error, 'query');
    const endpoint = await endpointOf(db, params.data);
    const deliveries = await db.webhookDelivery.findMany({
      where: { endpointId: endpoint.id },
      orderBy: [{ createdAt: 'desc' }, { round: 'desc' }],
      take: query.data.limit,
      include: { event: true, attemptLog: { orderBy: { attempt: 'asc' } } },
    });
    res.json({
      data: deliveries.map((d) => ({
        id: d.id,
        eventId: d.eventId,
        type: d.event.type,
        customerId: d.event.customerId,
        sequence: Number(d.event.sequence),
        round: d.round,
        status: d.status,
        attempts: d.attempts,
        lastStatus: d.lastStatus,
        lastError: d.lastError,
        createdAt: d.createdAt.toISOString(),
        deliveredAt: d.deliveredAt?.toISOString() ?? null,
        attemptLog: d.attemptLog.map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), status: a.status, error: a.error, ms: a.ms })),
      })),
    });
  });

  router.post('/v1/webhook-endpoints/:endpointId/deliveries/:deliveryId/redeliver', async (req, res) => {
    const params = deliveryParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const endpoint = await endpointOf(db, { endpointId: params.data.endpointId });
    if (endpoint.disabledAt) throw new ApiError(409, 'webhook_endpoint_deleted', 'This endpoint was deleted.');
    const original = await db.webhookDelivery.findFirst({ where: { id: params.data.deliveryId, endpointId: endpoint.id } });
    if (!original) throw new ApiError(404, 'webhook_delivery_not_found', `No delivery "${params.data.deliveryId}" for this endpoint.`);
    // The next round of the same event to the same endpoint: a delivery of its own, with its own
    // attempts. Requests at once for the same event and endpoint wait in turn on the event's
    // first delivery row, so each takes the next round (before, a burst of them ran out of retries
    // on the unique round and answered 500).
    const delivery = await db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM webhook_deliveries WHERE event_id = ${original.eventId}::uuid AND endpoint_id = ${endpoint.id}::uuid ORDER BY round LIMIT 1 FOR UPDATE`;
      const last = await tx.webhookDelivery.aggregate({ where: { eventId: original.eventId, endpointId: endpoint.id }, _max: { round: true } });
      // The worker's relay starts its workflow (worker/webhookRelay.ts), within a moment.
      return tx.webhookDelivery.create({ data: { eventId: original.eventId, endpointId: endpoint.id, round: (last._max.round ?? 0) + 1 } });
    });
    res.status(202).json({ id: delivery.id, eventId: delivery.eventId, round: delivery.round, status: delivery.status });
  });

  return router;
}

/**
 * Alert channels (where a customer's 80%/100% alerts go), the alert history with each channel's
 * delivery report, and the overage history. Secrets are stored whole and only ever returned redacted.
 */
import { Router, type Request } from 'express';
import type { Catalog } from '../../billing/catalog.js';
import { moneyView } from '../../billing/money.js';
import { alertChannelsInputSchema, alertChannelsSchema, redactChannels } from '../../notifications/channelConfig.js';
import { DEFAULT_WEBHOOK_POLICY, type WebhookPolicy } from '../../notifications/destinationGuard.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { customerParams } from '../schemas.js';

export function alertRoutes(deps: { db: Db; catalog: Catalog; alertWebhooks?: WebhookPolicy }): Router {
  const { db } = deps;
  const router = Router();
  // Refuses at once what delivery would refuse for good (http, user info, non-public IP literals);
  // host names are checked at delivery, against the address actually connected to.
  const channelsInput = alertChannelsInputSchema(deps.alertWebhooks ?? DEFAULT_WEBHOOK_POLICY);

  const existingCustomer = async (req: Request) => {
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const customer = await db.customer.findUnique({ where: { id: params.data.customerId }, include: { alertChannels: true } });
    if (!customer) throw new ApiError(404, 'customer_not_found', `No customer "${params.data.customerId}".`);
    return customer;
  };

  router.put('/v1/customers/:customerId/alert-channels', async (req, res) => {
    const customer = await existingCustomer(req);
    if (req.body === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
    const parsed = channelsInput.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error, 'body');
    await db.alertChannels.upsert({
      where: { customerId: customer.id },
      create: { customerId: customer.id, channels: parsed.data },
      update: { channels: parsed.data },
    });
    res.json({ customerId: customer.id, channels: redactChannels(parsed.data), emailFallback: parsed.data.email ? null : customer.email });
  });

  router.get('/v1/customers/:customerId/alert-channels', async (req, res) => {
    const customer = await existingCustomer(req);
    const stored = customer.alertChannels ? alertChannelsSchema.safeParse(customer.alertChannels.channels) : undefined;
    const channels = stored?.success ? stored.data : {};
    res.json({ customerId: customer.id, channels: redactChannels(channels), emailFallback: stored?.success && stored.data.email ? null : customer.email });
  });

  router.get('/v1/customers/:customerId/alerts', async (req, res) => {
    const customer = await existingCustomer(req);
    const [alerts, deliveries] = await Promise.all([
      db.usageAlert.findMany({ where: { customerId: customer.id }, orderBy: { id: 'desc' }, take: 100 }),
      db.alertDelivery.findMany({ where: { customerId: customer.id } }),
    ]);
    res.json({
      data: alerts.map((alert) => ({
        metric: alert.metric,
        threshold: alert.threshold,
        cycle: { start: alert.cycleStart.toISOString(), end: alert.cycleEnd.toISOString() },
        used: Number(alert.used),
        limit: Number(alert.limit),
        crossedAt: alert.createdAt.toISOString(),
        deliveries: deliveries
          .filter((d) => d.metric === alert.metric && d.threshold === alert.threshold && d.limit === alert.limit && d.cycleStart.getTime() === alert.cycleStart.getTime())
          .map((d) => ({ channel: d.channel, status: d.status, attempts: d.attempts, lastError: d.lastError, deliveredAt: d.deliveredAt?.toISOString() ?? null })),
      })),
    });
  });

  router.get('/v1/customers/:customerId/overage', async (req, res) => {
    const customer = await existingCustomer(req);
    const charges = await db.overageCharge.findMany({ where: { customerId: customer.id }, orderBy: [{ cycleStart: 'desc' }, { metric: 'asc' }], include: { invoice: { select: { number: true } } } });
    res.json({
      data: charges.map((c) => ({
        cycle: { start: c.cycleStart.toISOString(), end: c.cycleEnd.toISOString() },
        metric: c.metric,
        planId: c.planId,
        included: Number(c.included),
        used: Number(c.used),
        overage: Number(c.overage),
        unitPrice: { amount: c.unitPrice, currency: c.currency },
        charge: moneyView(c.amountMinor, c.currency),
        invoiceNumber: c.invoice?.number ?? null,
      })),
    });
  });

  return router;
}

/**
 * An operator settles an open invoice out of band: `…/mark-paid` with their reference (a bank
 * transfer, a cheque) or `…/void`. The subscription workflow applies it (an Update), so it is
 * ordered with the payments the workflow itself collects, and the provider's copy follows.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../store/db.js';
import { settleInvoiceUpdate, type SettledInvoice, type SettleInvoiceRequest } from '../../workflows/messages.js';
import { ApiError, validationError } from '../errors.js';
import { customerIdSchema, safeText } from '../schemas.js';
import { ACCEPTED, executeSubscriptionUpdate, updateIdFor } from '../temporal/executeSubscriptionUpdate.js';
import { invoiceView } from '../views.js';
import { invoiceNumberSchema } from './invoiceDocumentRoutes.js';

export interface InvoiceSettlementDeps {
  db: Db;
  temporal: Client;
  logger?: Logger;
}

const settlementParams = z.strictObject({ customerId: customerIdSchema, number: invoiceNumberSchema });
export const markPaidBody = z.strictObject({
  reference: safeText().trim().min(1).max(200).describe('Your reference for the payment received out of band (bank transfer id, cheque number).'),
});
export const voidBody = z.strictObject({}).optional();

function parsed<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'path'): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

export function invoiceSettlementRoutes(deps: InvoiceSettlementDeps): Router {
  const { db, temporal } = deps;
  const router = Router();

  const settle = async (req: Request, res: Parameters<typeof updateIdFor>[0], request: (number: string) => SettleInvoiceRequest, name: string) => {
    const { customerId, number } = parsed(settlementParams, req.params, 'path');
    const exists = await db.customer.findUnique({ where: { id: customerId }, select: { id: true } });
    if (!exists) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    const settled = await executeSubscriptionUpdate<SettledInvoice>({
      logger: deps.logger,
      temporal,
      customerId,
      updateId: updateIdFor(res, name),
      start: (handle, updateId) => handle.startUpdate(settleInvoiceUpdate, { args: [request(number)], updateId, waitForStage: ACCEPTED }),
    });
    const invoice = await db.invoice.findUniqueOrThrow({ where: { id: settled.invoiceId }, include: { lines: { orderBy: { position: 'asc' } } } });
    return invoiceView(invoice);
  };

  router.post('/v1/customers/:customerId/invoices/:number/mark-paid', async (req, res) => {
    const body = req.body === undefined ? undefined : parsed(markPaidBody, req.body, 'body');
    if (!body) throw new ApiError(400, 'invalid_json', 'Send a JSON object with the payment `reference`.');
    res.json(await settle(req, res, (invoiceNumber) => ({ invoiceNumber, outcome: 'paid', reference: body.reference }), 'mark-paid'));
  });

  router.post('/v1/customers/:customerId/invoices/:number/void', async (req, res) => {
    parsed(voidBody, req.body, 'body');
    res.json(await settle(req, res, (invoiceNumber) => ({ invoiceNumber, outcome: 'void' }), 'void-invoice'));
  });
  return router;
}

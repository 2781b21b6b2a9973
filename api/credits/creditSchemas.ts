/** Credit request shapes (zod), shared by the routes and the OpenAPI document. */
import { z } from 'zod';
import { customerIdSchema, decimalInteger, returnUrlSchema, safeText } from '../schemas.js';

/**
 * Credits and money in requests: exact decimal strings, at most 15 whole digits and 9 decimals
 * (a quadrillion credits, or of a currency, is far past any real balance; the bound keeps every
 * value inside the database's NUMERIC(38,0) nanos and BIGINT minor units).
 */
const decimalString = z.string().regex(/^(0|[1-9]\d{0,14})(\.\d{1,9})?$/, 'must be a non-negative decimal string such as "50.00" or "2500000" (at most 15 whole digits and 9 decimals)');

export const creditParams = z.strictObject({ customerId: customerIdSchema });

export const purchaseCreditsBody = z.strictObject({
  packId: safeText().min(1).max(100).optional().describe('A pack of the catalog (GET …/credits lists them), e.g. "standard".'),
  amount: decimalString.optional().describe('Or a custom amount of the catalog currency, e.g. "75.00", within the catalog\'s customAmount range.'),
  checkout: z.strictObject({
    successUrl: returnUrlSchema({ sessionTemplate: true }).describe('Where Checkout sends the customer after paying; may contain {CHECKOUT_SESSION_ID}.'),
    cancelUrl: returnUrlSchema({ sessionTemplate: false }).describe('Where Checkout sends the customer who leaves without paying.'),
  }).optional().describe('Without a saved card the purchase is paid on a Checkout page; default return pages: settings CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL.'),
}).refine((body) => (body.packId === undefined) !== (body.amount === undefined), { message: 'give either "packId" or "amount"', path: ['packId'] });
export type PurchaseCreditsBody = z.infer<typeof purchaseCreditsBody>;

export const grantCreditsBody = z.strictObject({
  credits: decimalString.refine((v) => !/^0+(\.0+)?$/.test(v), 'must be more than 0').describe('Credits to add, in the catalog\'s credit unit (e.g. "1000000" tokens, "25.00" dollars).'),
  type: z.enum(['promotional', 'manual']).describe('promotional: a gift; manual: a correction or a payment taken elsewhere.'),
  reason: safeText().trim().min(1).max(500).describe('Why: shown in the customer\'s history.'),
});

export const autoRechargeBody = z.strictObject({
  enabled: z.boolean(),
  packId: safeText().min(1).max(100).nullable().optional().describe('The pack a recharge buys (whole packs; required when enabled).'),
  threshold: decimalString.nullable().optional().describe('Buy (and alert) when the balance falls below this many credits; null: the catalog\'s lowBalanceThreshold.'),
  spendingLimit: decimalString.nullable().optional().describe('Most auto-recharge spends per billing cycle, in the catalog currency; null: the catalog default (50.00).'),
});

export const creditHistoryQuery = z.strictObject({
  limit: decimalInteger(1, 200).default(50),
  before: z.iso.datetime({ offset: true }).optional().describe('Page on: entries strictly older than this time (the previous page\'s `nextBefore`).'),
});

export const refundParams = z.strictObject({ customerId: customerIdSchema, purchaseId: safeText().min(1).max(200) });

export const refundCreditsBody = z.strictObject({
  reason: safeText().trim().min(1).max(500).describe('Why: shown in the customer\'s history.'),
});

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

/** The history's paging cursor: the last entry of a page (its time and key), opaque to clients. */
export function encodeHistoryCursor(cursor: { at: Date; key: string }): string {
  return Buffer.from(JSON.stringify({ at: cursor.at.toISOString(), key: cursor.key })).toString('base64url');
}

const historyCursor = z.string().max(300).transform((value, context) => {
  try {
    const parsed = z.strictObject({ at: z.iso.datetime(), key: z.string().regex(/^[tc]:[A-Za-z0-9_:.-]{1,200}$/) }).parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return { at: new Date(parsed.at), key: parsed.key };
  } catch {
    context.addIssue({ code: 'custom', message: 'must be a `nextCursor` from a previous page' });
    return z.NEVER;
  }
});

/** Times the database can hold: 1970 to 9999 (PostgreSQL refuses year 0, and nothing here is older than 1970). */
const historyTime = z.iso.datetime({ offset: true }).refine((value) => {
  const ms = Date.parse(value);
  return ms >= 0 && ms < Date.parse('9999-12-31T00:00:00Z');
}, 'must be between 1970 and 9999');

export const creditHistoryQuery = z.strictObject({
  limit: decimalInteger(1, 200).default(50),
  before: historyTime.optional().describe('Start at this time: entries strictly older than it.'),
  cursor: historyCursor.optional().describe('The next page: the previous page\'s `nextCursor`.'),
});

export const refundParams = z.strictObject({ customerId: customerIdSchema, purchaseId: safeText().min(1).max(200) });

export const refundCreditsBody = z.strictObject({
  reason: safeText().trim().min(1).max(500).describe('Why: shown in the customer\'s history.'),
});

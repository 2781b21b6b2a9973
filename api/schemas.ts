/** Request shapes, parsed with zod at the edge. The OpenAPI document is generated from these. */
import { z } from 'zod';
import { INTERVALS, MAX_SEATS } from '../billing/catalog.js';
import { emailAddress } from '../notifications/emailAddress.js';
import { TEXT_RULES } from './http/textRules.js';

/** A string obeying the text rules (no NUL, well-formed Unicode); chain min/max as usual. */
export function safeText() {
  return TEXT_RULES.reduce((schema, rule) => schema.refine(rule.test, rule.message), z.string());
}

/**
 * A whole number in a query string, in plain decimal digits only: z.coerce.number would also take
 * `0x10`, `1e3` and ` 1 `, so one number could be spelled many ways.
 */
export function decimalInteger(min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

export const customerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1–100 letters, digits, "_", "-" or ".", starting with a letter or digit');

export const createCustomerBody = z.strictObject({
  id: customerIdSchema.describe('Your id for the customer (organization, team or account); the subscription workflow is `subscription-<id>`.'),
  name: safeText().trim().min(1).max(200),
  email: emailAddress,
  plan: safeText().min(1).max(100).describe('A plan id from the catalog, e.g. "free", "basic", "pro", "enterprise".'),
  interval: z.enum(INTERVALS).default('monthly'),
  seats: z.number().int().positive().max(MAX_SEATS).optional().describe('Seat-based plans only; defaults to the plan minimum.'),
  periodStart: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Import: when the customer\'s current billing period began (in the past, within one period). No invoice is issued for that period.'),
});
export type CreateCustomerBody = z.infer<typeof createCustomerBody>;

export const customerParams = z.strictObject({ customerId: customerIdSchema });

export const listInvoicesQuery = z.strictObject({
  limit: decimalInteger(1, 100).default(20),
});

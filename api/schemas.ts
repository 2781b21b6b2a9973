/** Request shapes, parsed with zod at the edge. The OpenAPI document is generated from these. */
import { z } from 'zod';
import { INTERVALS } from '../billing/catalog.js';

export const customerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1–100 letters, digits, "_", "-" or ".", starting with a letter or digit');

export const createCustomerBody = z.strictObject({
  id: customerIdSchema.describe('Your id for the customer (organization, team or account); the subscription workflow is `subscription-<id>`.'),
  name: z.string().trim().min(1).max(200),
  email: z.email(),
  plan: z.string().min(1).describe('A plan id from the catalog, e.g. "free", "basic", "pro", "enterprise".'),
  interval: z.enum(INTERVALS).default('monthly'),
  seats: z.number().int().positive().optional().describe('Seat-based plans only; defaults to the plan minimum.'),
  periodStart: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Import: when the customer\'s current billing period began (in the past, within one period). No invoice is issued for that period.'),
});
export type CreateCustomerBody = z.infer<typeof createCustomerBody>;

export const customerParams = z.strictObject({ customerId: customerIdSchema });

export const listInvoicesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

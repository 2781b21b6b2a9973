/**
 * POST /v1/customers/import: the request shape (zod; the OpenAPI document is generated from it)
 * and the checks on the request as a whole. Any of these failing refuses the whole request and
 * changes nothing; what only concerns one customer (its plan, seats, period, metrics) is that
 * customer's result instead (api/customers/customerCatalogCheck.ts).
 */
import { z } from 'zod';
import { ApiError, validationError } from '../errors.js';
import { createCustomerBody } from '../schemas.js';

export const MAX_IMPORT_CUSTOMERS = 1_000;
/** More metrics than any catalog declares; bounds the work one customer's usage can ask for. */
export const MAX_IMPORT_USAGE_METRICS = 100;

/**
 * Usage so far in the customer's current usage cycle, per metric. The key must look like a
 * catalog metric id (a malformed one is a malformed request); a well-formed id the catalog does
 * not declare is that customer's `unknown_metric`.
 */
export const importUsage = z
  .record(
    z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be a metric id: lowercase letters, digits, "_" or "-", starting with a letter'),
    z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  )
  .refine((usage) => Object.keys(usage).length <= MAX_IMPORT_USAGE_METRICS, `must name at most ${MAX_IMPORT_USAGE_METRICS} metrics`)
  .describe('Usage so far in the customer\'s current usage cycle, per metric id, e.g. {"api_calls": 1200}. Sets the usage counters (no alerts are sent and no credits are drawn for it); written only when the customer is created.');

export const importCustomer = createCustomerBody.extend({ usage: importUsage.optional() });
export type ImportCustomer = z.infer<typeof importCustomer>;

export const importCustomersBody = z.strictObject({
  customers: z.array(importCustomer).min(1).max(MAX_IMPORT_CUSTOMERS)
    .describe(`1 to ${MAX_IMPORT_CUSTOMERS} customers, each with the fields of POST /v1/customers and optional \`usage\`; ids unique within the request.`),
});
export type ImportCustomersBody = z.infer<typeof importCustomersBody>;

/** The first pair of customers sharing a value of `key`, by index. */
function firstDuplicate(customers: readonly ImportCustomer[], key: (c: ImportCustomer) => string | undefined): { value: string; first: number; again: number } | undefined {
  const seen = new Map<string, number>();
  for (const [index, customer] of customers.entries()) {
    const value = key(customer);
    if (value === undefined) continue;
    const first = seen.get(value);
    if (first !== undefined) return { value, first, again: index };
    seen.set(value, index);
  }
  return undefined;
}

/** The checked request, or the ApiError refusing it as a whole. */
export function parseImportBody(value: unknown): ImportCustomersBody {
  if (value === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  // Counted before the schema runs, so an oversized list is refused without checking each entry.
  const listed = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { customers?: unknown }).customers : undefined;
  if (Array.isArray(listed) && listed.length > MAX_IMPORT_CUSTOMERS) {
    throw new ApiError(422, 'too_many_customers', `An import takes at most ${MAX_IMPORT_CUSTOMERS} customers; this one has ${listed.length}. Split it into several requests.`, { max: MAX_IMPORT_CUSTOMERS, received: listed.length });
  }
  // zod's record silently drops an own "__proto__" key (JSON.parse makes one): refuse it instead.
  if (Array.isArray(listed)) {
    for (const [index, entry] of listed.entries()) {
      const usage: unknown = typeof entry === 'object' && entry !== null ? (entry as { usage?: unknown }).usage : undefined;
      if (typeof usage === 'object' && usage !== null && Object.hasOwn(usage, '__proto__')) {
        const issue = { path: `customers.${index}.usage.__proto__`, message: 'must be a metric id: lowercase letters, digits, "_" or "-", starting with a letter' };
        throw new ApiError(400, 'validation_failed', `Invalid request body: ${issue.path}: ${issue.message}`, { issues: [issue] });
      }
    }
  }
  const result = importCustomersBody.safeParse(value);
  if (!result.success) throw validationError(result.error, 'body');
  const { customers } = result.data;
  const sameId = firstDuplicate(customers, (c) => c.id);
  if (sameId) {
    throw new ApiError(422, 'duplicate_customer_id', `customers.${sameId.again}.id: "${sameId.value}" is also the id of customers.${sameId.first}; each customer may appear once.`, { id: sameId.value, indexes: [sameId.first, sameId.again] });
  }
  const sameStripe = firstDuplicate(customers, (c) => c.stripeCustomerId);
  if (sameStripe) {
    throw new ApiError(422, 'duplicate_stripe_customer_id', `customers.${sameStripe.again}.stripeCustomerId: ${sameStripe.value} is also given for customers.${sameStripe.first}; a Stripe customer belongs to one customer.`, { stripeCustomerId: sameStripe.value, indexes: [sameStripe.first, sameStripe.again] });
  }
  return result.data;
}

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

export const MAX_RETURN_URL_LENGTH = 2_000;
/** Stripe replaces this in a success URL with the session's id; nothing else in braces means anything. */
export const SESSION_ID_TEMPLATE = '{CHECKOUT_SESSION_ID}';

function hasCredentials(value: string): boolean {
  try {
    const url = new URL(value);
    return url.username !== '' || url.password !== '';
  } catch {
    return false; // not a URL at all: z.url reports that
  }
}

/**
 * A URL Stripe sends the customer's browser to. Only http(s): `javascript:` or `data:` would run
 * in the customer's browser on our say-so. No spaces or control characters (URL parsers drop or
 * re-encode them, so what Stripe gets would differ from what was checked), no credentials (they
 * would sit in the address bar and the history).
 */
export function returnUrlSchema(options: { sessionTemplate: boolean }) {
  return TEXT_RULES.reduce((schema, rule) => schema.refine(rule.test, rule.message), z.url({ protocol: /^https?$/, error: 'must be an absolute http:// or https:// URL' }))
    .max(MAX_RETURN_URL_LENGTH, `must be at most ${MAX_RETURN_URL_LENGTH} characters`)
    .refine((value) => /^[^\s\p{Cc}]*$/u.test(value), 'must not contain spaces or control characters')
    .refine((value) => !/[{}]/.test(options.sessionTemplate ? value.replaceAll(SESSION_ID_TEMPLATE, '') : value),
      options.sessionTemplate ? `must not contain braces other than ${SESSION_ID_TEMPLATE}` : 'must not contain braces')
    .refine((value) => !hasCredentials(value), 'must not contain a user name or password');
}

export const customerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1–100 letters, digits, "_", "-" or ".", starting with a letter or digit');

export const testClockIdSchema = z.string().regex(/^clock_[0-9a-f]{32}$/, 'must be a test clock id (clock_…)');

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
  stripeCustomerId: z.string().regex(/^cus_[A-Za-z0-9]{1,250}$/, 'must be a Stripe customer id (cus_…)').optional()
    .describe('Import: the customer\'s existing Stripe customer (its saved card is charged); otherwise one is created.'),
  checkout: z.strictObject({
    successUrl: returnUrlSchema({ sessionTemplate: true }).describe('Where Checkout sends the customer after paying; may contain {CHECKOUT_SESSION_ID}.'),
    cancelUrl: returnUrlSchema({ sessionTemplate: false }).describe('Where Checkout sends the customer who leaves without paying.'),
  }).optional().describe('With Stripe: where the first invoice\'s Checkout page returns (default: settings CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL).'),
  testClock: testClockIdSchema.optional()
    .describe('Test clocks on (TOLLGATE_TEST_CLOCKS): run the customer on this test clock; its subscription starts at the clock\'s instant (periodStart, if given, is judged against it).'),
});
export type CreateCustomerBody = z.infer<typeof createCustomerBody>;

export const customerParams = z.strictObject({ customerId: customerIdSchema });

export const listInvoicesQuery = z.strictObject({
  limit: decimalInteger(1, 100).default(20),
});

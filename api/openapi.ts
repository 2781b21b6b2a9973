/**
 * The OpenAPI 3.1 document served at GET /openapi.json. Request bodies come from the same zod
 * schemas that validate requests (z.toJSONSchema), so the document cannot drift from the checks.
 */
import { z } from 'zod';
import { alertChannelsSchema } from '../notifications/channelConfig.js';
import { invoiceNumberSchema } from './routes/invoiceDocumentRoutes.js';
import { markPaidBody } from './routes/invoiceSettlementRoutes.js';
import { CHECKOUT_CANCELLED_PATH, CHECKOUT_COMPLETE_PATH } from './payments/returnUrls.js';
import { billingPortalBody, CHECKOUT_LIFETIME_MS, setupCheckoutBody } from './routes/paymentMethodRoutes.js';
import { STRIPE_WEBHOOK_PATH, WEBHOOK_TOLERANCE_SECONDS } from './routes/stripeWebhookRoutes.js';
import { USED_STRIPE_EVENTS } from './payments/stripeEvents.js';
import { changePlanBody } from './routes/planChangeRoutes.js';
import { CHECKOUT_WINDOW_MS, UPGRADE_PAYMENT_WINDOW_MS } from '../billing/paymentPolicy.js';
import { MAX_PENDING_PURCHASES } from '../workflows/messages.js';
import { autoRechargeBody, grantCreditsBody, purchaseCreditsBody } from './credits/creditSchemas.js';
import { createCustomerBody } from './schemas.js';
import { advanceTestClockBody, createTestClockBody, MAX_ADVANCE_MS } from './testClocks/testClockSchemas.js';
import { createApiKeyBody, createSessionBody, DEFAULT_SESSION_SECONDS } from './access/credentialSchemas.js';
import { auditLogQuery } from './routes/auditLogRoutes.js';
import { createEndpointBody, DEFAULT_PREVIOUS_SECRET_SECONDS, rotateSecretBody } from './webhooks/webhookSchemas.js';
import { WEBHOOK_EVENT_MEANINGS, WEBHOOK_EVENT_TYPES } from '../notifications/webhookEvents.js';
import { SIGNATURE_TOLERANCE_SECONDS } from '../notifications/webhookSignature.js';
import { routeAccessOf, type RouteAccess } from './access/routeAccess.js';
import { SCOPE_MEANINGS, SCOPES } from './access/scopes.js';
import { importCustomersBody, MAX_IMPORT_CUSTOMERS } from './customers/importSchemas.js';
import { MAX_BATCH_EVENTS, usageBatchSchema, usageEventSchema } from './usage/usageSchemas.js';

const money = { type: 'object', required: ['amount', 'currency'], properties: { amount: { type: 'string', example: '30.00' }, currency: { type: 'string', example: 'USD' } } };
const span = { type: 'object', properties: { start: { type: 'string', format: 'date-time' }, end: { type: 'string', format: 'date-time' } } };

const errorResponse = (description: string, codes: readonly string[]) => ({
  description: `${description} Codes: ${codes.map((c) => `\`${c}\``).join(', ')}.`,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const subscriptionSchema = {
  type: 'object',
  description: 'The usage card: plan, limits and usage for a billing page.',
  properties: {
    customerId: { type: 'string' },
    plan: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, tier: { type: ['integer', 'null'] }, price: { oneOf: [money, { type: 'null' }] }, features: { type: 'object' } } },
    interval: { type: 'string', enum: ['monthly', 'yearly'] },
    seats: { type: 'integer' },
    status: { type: 'string', enum: ['active', 'cancel_scheduled', 'incomplete', 'past_due'], description: '`incomplete`: a new paid subscription whose first invoice waits on its Checkout page (the fallback plan if the page lapses unpaid). `past_due`: a renewal payment failed and is being retried (dunning).' },
    payment: {
      type: ['object', 'null'],
      description: 'What the subscription waits for from the payment provider, or null.',
      properties: {
        reason: { type: 'string', enum: ['checkout', 'upgrade', 'past_due'] },
        invoiceNumber: { type: 'string' },
        payUrl: { type: ['string', 'null'], description: 'Where the customer pays (Checkout page or Stripe\'s hosted invoice page).' },
        until: { type: ['string', 'null'], format: 'date-time', description: 'checkout/upgrade: when it lapses unpaid; past_due: the next retry (null after the last).' },
        failures: { type: 'integer', description: 'past_due: failed attempts so far.' },
        lastError: { type: 'string', description: 'past_due: why the last attempt failed.' },
        upgradeTo: { type: 'object', description: 'upgrade: the change applied once its invoice is paid.', properties: { plan: { type: 'string' }, interval: { type: 'string' }, seats: { type: 'integer' } } },
      },
    },
    cancelAtPeriodEnd: { type: 'boolean' },
    currentPeriod: span,
    currentCycle: span,
    creditBalance: { ...money, description: 'What the prepaid credit balance is worth in the catalog currency (0 when the catalog sells no credits). The balance itself, in its unit, is `credits`.' },
    credits: {
      type: ['object', 'null'],
      description: 'The prepaid credit balance in the catalog\'s credit unit (GET …/credits has the rest); null when the catalog sells no credits.',
      properties: { unit: { type: 'string', example: 'tokens' }, balance: { type: 'string', example: '2100000' } },
    },
    creditOwed: money,
    usage: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          metric: { type: 'string' }, name: { type: 'string' }, unit: { type: 'string' },
          used: { type: 'integer' }, limit: { type: 'integer' }, percent: { type: 'number' },
          remaining: { type: 'integer' }, overage: { type: 'integer' }, overLimitPolicy: { type: 'string', enum: ['reject', 'bill', 'credits'] },
          blocked: { type: 'boolean', description: 'Not even one more unit would be admitted: `reject` at its limit, or `credits` past it with a balance that cannot pay for one more unit.' },
          overageCharge: { oneOf: [money, { type: 'null' }], description: 'Policy `bill`: what the units past the limit come to so far, billed on the next cycle\'s invoice (10,000 over at $0.0005 → 5.00); other policies: null.' },
        },
      },
    },
  },
};

const invoiceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    number: { type: 'string', example: 'INV-000042' },
    status: { type: 'string', enum: ['open', 'paid', 'void', 'uncollectible'] },
    reason: { type: 'string', enum: ['subscription_create', 'renewal', 'overage', 'plan_change', 'refund', 'credit_purchase', 'credit_recharge'], description: '`refund`: a credit note — credit owed refunded to the customer\'s card on landing on the free plan (negative total, lines per refunded payment). `credit_purchase` / `credit_recharge`: prepaid credits bought by the customer or by auto-recharge (one `credits` line); the credits are granted when it is paid.' },
    issuedAt: { type: 'string', format: 'date-time' },
    period: span,
    subtotal: money, tax: money, total: money,
    pdfUrl: { type: 'string', example: '/v1/customers/acme/invoices/INV-000042.pdf', description: 'The invoice as a PDF (GET, same API key), relative to the API base. Rendered by Tollgate for every payment provider.' },
    hostedInvoiceUrl: { type: ['string', 'null'], format: 'uri', description: 'Stripe\'s hosted invoice page, where the customer can see and pay it; null when Stripe does not collect this invoice.' },
    payment: {
      type: 'object',
      description: 'Collection: the provider\'s copy (Stripe invoice id, its status draft|open|paid|uncollectible|void, its PDF), off-session attempts made, the last failure, and how it was settled.',
      properties: {
        provider: { type: ['object', 'null'], properties: { invoiceId: { type: 'string', example: 'in_1Q…' }, status: { type: ['string', 'null'], enum: ['draft', 'open', 'paid', 'uncollectible', 'void', null] }, pdfUrl: { type: ['string', 'null'] } } },
        attempts: { type: 'integer' },
        lastError: { type: ['string', 'null'], example: 'Your card was declined. (insufficient_funds)' },
        paidAt: { type: ['string', 'null'], format: 'date-time' },
        voidedAt: { type: ['string', 'null'], format: 'date-time' },
        reference: { type: ['string', 'null'], description: 'The provider\'s payment id, or the operator\'s reference for an invoice marked paid.' },
      },
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          kind: { type: 'string', enum: ['plan', 'seats', 'proration', 'overage', 'credit', 'refund', 'tax', 'credits'], description: '`credit`: credit owed to the customer taken off this invoice; `credits`: prepaid credits sold (quantity: packs).' },
          description: { type: 'string' }, quantity: { type: 'string' }, unitPrice: money, amount: money, period: span,
        },
      },
    },
  },
};

const usageResultSchema = {
  type: 'object',
  properties: {
    idempotencyKey: { type: 'string' },
    status: { type: 'string', enum: ['counted', 'duplicate', 'refused', 'rejected'], description: 'duplicate: the key was already counted (counts once). refused: over a refusing limit, or past a `credits` limit with a balance that cannot pay for the whole event (not counted, nothing drawn). rejected: see code.' },
    allowed: { type: 'boolean' },
    code: { type: 'string', enum: ['usage_limit_reached', 'insufficient_credits', 'period_closed', 'payment_past_due'] },
    customerId: { type: 'string' }, metric: { type: 'string' },
    used: { type: 'integer' }, limit: { type: 'integer' }, remaining: { type: 'integer' }, overage: { type: 'integer' },
    cycleEnd: { type: 'string', format: 'date-time' },
  },
};

// Prepaid credits (api/credits/creditViews.ts). Credits are exact decimal strings in the catalog's credit unit.
const credits = (example: string, description?: string) => ({ type: 'string', example, ...(description ? { description } : {}) });
const nullableMoney = { oneOf: [money, { type: 'null' }] };

const creditSummarySchema = {
  type: 'object',
  description: 'A customer\'s prepaid credits. `unit` is the currency code for money credits (catalog `credits.unit: "money"`), else the unit\'s name (`tokens`); credits are exact decimal strings in that unit, money has its currency.',
  properties: {
    customerId: { type: 'string' },
    unit: { type: 'string', example: 'tokens' },
    balance: credits('2100000', 'Never negative.'),
    balanceValue: { ...money, description: 'What the balance is worth in the catalog currency (credits × the unit\'s `value`; money credits: the balance itself).' },
    cycle: { ...span, description: 'The billing cycle `consumedThisCycle` and `autoRecharge.spentThisCycle` count in.' },
    consumedThisCycle: {
      type: 'object',
      properties: {
        credits: credits('400000'),
        value: money,
        byMetric: {
          type: 'array',
          items: { type: 'object', properties: { metric: { type: 'string' }, quantity: { type: 'string', description: 'Units past the plan\'s included quantity paid with credits.' }, credits: credits('400000'), value: money } },
        },
      },
    },
    lowBalanceThreshold: { type: ['string', 'null'], example: '500000', description: 'The customer\'s threshold, else the catalog\'s `lowBalanceThreshold`; null when neither is set.' },
    autoRecharge: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean' },
        status: { type: 'string', enum: ['off', 'on', 'retrying', 'turned_off'], description: '`retrying`: on, and a declined recharge waits for its next retry; `turned_off`: turned off after the last retry failed (`turnedOffReason`).' },
        packId: { type: ['string', 'null'] },
        threshold: { type: ['string', 'null'], description: 'The balance under which a recharge is bought (the same as `lowBalanceThreshold`).' },
        spendingLimit: { ...money, description: 'Most auto-recharge spends per billing cycle: the customer\'s, else the catalog\'s `autoRecharge.defaultSpendingLimit` (default 50.00).' },
        spentThisCycle: { ...money, description: 'What auto-recharge spent (or has an open invoice for) in this billing cycle; void invoices do not count.' },
        failures: { type: 'integer', description: 'Failed attempts of the recharge under way (0 after a success).' },
        turnedOffReason: { type: ['string', 'null'] },
        turnedOffAt: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    packs: {
      type: 'array',
      description: 'What the catalog sells.',
      items: { type: 'object', properties: { id: { type: 'string', example: 'standard' }, name: { type: 'string', example: 'Standard' }, credits: credits('2500000'), price: money } },
    },
    customAmount: { type: ['object', 'null'], description: 'The range of a custom amount (catalog currency); null when the catalog sells packs only.', properties: { min: money, max: money } },
  },
};

const creditPurchaseSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'Names the purchase for good (from the request\'s Idempotency-Key when it has one).' },
    status: { type: 'string', enum: ['paid', 'checkout_required', 'awaiting_payment', 'payment_failed'], description: '`paid`: charged and the credits granted. `checkout_required`: pay on `checkoutUrl` before `expiresAt`. `awaiting_payment`: no provider collects (PAYMENT_PROVIDER=none: an operator marks the invoice paid; `expiresAt` null), or the provider could not be asked. `payment_failed` (answered 402): the saved card was declined; pay on `payUrl` before `expiresAt`.' },
    invoiceNumber: { type: 'string', example: 'INV-000043' },
    credits: credits('2500000', 'Credits this purchase grants once its invoice is paid.'),
    unit: { type: 'string', example: 'tokens' },
    amount: money,
    checkoutUrl: { type: ['string', 'null'], format: 'uri' },
    payUrl: { type: ['string', 'null'], format: 'uri', description: 'Stripe\'s hosted page for the invoice, where the customer can pay it.' },
    expiresAt: { type: ['string', 'null'], format: 'date-time', description: 'Unpaid by then, the purchase lapses and its invoice is voided; null when it does not lapse.' },
    reason: { type: ['string', 'null'], description: 'Why the payment failed.' },
  },
};

const creditTransactionSchema = {
  oneOf: [
    {
      type: 'object',
      description: 'A balance change.',
      properties: {
        type: { type: 'string', enum: ['purchase', 'recharge', 'grant', 'refund'] },
        at: { type: 'string', format: 'date-time' },
        credits: credits('2500000', 'Signed: a refund is negative.'),
        balanceAfter: credits('2500000'),
        reference: { type: 'string', example: 'purchase:buy-credits-…' },
        invoiceNumber: { type: ['string', 'null'] },
        amount: nullableMoney,
        grantType: { type: ['string', 'null'], enum: ['promotional', 'manual', null] },
        reason: { type: ['string', 'null'] },
      },
    },
    {
      type: 'object',
      description: 'Credits drawn by usage of one metric on one day (UTC), aggregated: one entry, however many events.',
      properties: {
        type: { type: 'string', enum: ['consumption'] },
        at: { type: 'string', format: 'date-time', description: 'The day\'s last draw.' },
        day: { type: 'string', format: 'date', example: '2026-11-27' },
        metric: { type: 'string' },
        quantity: { type: 'string', description: 'Units past the plan paid with credits.' },
        credits: credits('-400000', 'Negative: drawn.'),
        events: { type: 'integer' },
        firstAt: { type: 'string', format: 'date-time', description: 'The day\'s first draw.' },
      },
    },
  ],
};

/**
 * The purchase body from its zod schema, with what zod's JSON Schema cannot say: exactly one of
 * `packId` and `amount` (a refinement), and a success URL that may hold Stripe's
 * {CHECKOUT_SESSION_ID} template, which format "uri" (RFC 3986) would refuse.
 */
function purchaseCreditsSchema() {
  const schema = z.toJSONSchema(purchaseCreditsBody, { io: 'input', target: 'draft-2020-12' });
  const checkout = schema.properties?.checkout;
  const successUrl = typeof checkout === 'object' ? checkout.properties?.successUrl : undefined;
  if (typeof successUrl === 'object') delete successUrl.format;
  return { ...schema, oneOf: [{ required: ['packId'] }, { required: ['amount'] }] };
}

const unreachable = { 503: errorResponse('Temporal or PostgreSQL could not be reached, or (`change_in_progress`) the change was accepted but could not be recorded within 30 s; retry shortly with the same Idempotency-Key: a change that went through is answered, not applied again.', ['temporal_unavailable', 'database_unavailable', 'change_in_progress']) };
const notRunning = { 404: errorResponse('Unknown customer, or its subscription workflow is not running.', ['customer_not_found', 'subscription_not_running']) };

const customerIdParam = { name: 'customerId', in: 'path', required: true, schema: { type: 'string' } };
const invoiceNumberParam = { name: 'number', in: 'path', required: true, schema: z.toJSONSchema(invoiceNumberSchema, { io: 'input', target: 'draft-2020-12' }) };
const invoiceNotFound = errorResponse('Unknown customer, or no invoice with that number for this customer (another customer\'s number included).', ['customer_not_found', 'invoice_not_found']);
const authErrors = { 401: errorResponse('Missing, unknown, revoked or expired key or session token.', ['unauthorized']) };
const notFound = errorResponse('Unknown customer.', ['customer_not_found']);
const usageNotFound = errorResponse('Unknown customer, or one that ended with its deleted test clock; nothing was recorded.', ['customer_not_found', 'subscription_not_running']);
const creditsNotFound = errorResponse('Unknown customer, or this catalog sells no credits (it has no `credits` section).', ['customer_not_found', 'credits_not_offered']);
const creditSummaryResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreditSummary' } } } });
const idempotencyKeyParam = (description: string) => ({ name: 'Idempotency-Key', in: 'header', required: false, description, schema: { type: 'string', minLength: 1, maxLength: 255 } });

// What the strict body reader (api/http/readJsonBody.ts) and the path and query checks answer.
const BODY_CODES = ['invalid_json', 'invalid_utf8', 'invalid_content_encoding', 'validation_failed'];
const PATH_CODES = ['invalid_path', 'validation_failed'];
const badRequest = (...codes: string[]) => ({ 400: errorResponse('Malformed request.', [...new Set(codes)]) });
const bodyLimits = {
  413: errorResponse('Body too large, as sent or once its Content-Encoding is undone.', ['payload_too_large']),
  415: errorResponse('Unsupported Content-Encoding or charset.', ['unsupported_media_type']),
};

/** Settling an invoice out of band (api/routes/invoiceSettlementRoutes.ts): mark-paid and void answer alike. */
function settlement(operation: { summary: string; description: string; requestBody?: object }, outcome: 'paid' | 'void') {
  return {
    post: {
      ...operation,
      parameters: [customerIdParam, invoiceNumberParam],
      responses: {
        200: { description: `The invoice, now ${outcome}.`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Invoice' } } } },
        ...badRequest(...PATH_CODES, ...BODY_CODES),
        ...authErrors,
        ...bodyLimits,
        404: errorResponse('Unknown customer, or no invoice with that number for this customer.', ['customer_not_found', 'invoice_not_found', 'subscription_not_running']),
        409: errorResponse('The invoice is not open (`details.status`: paid, void or uncollectible), e.g. settled by an earlier request.', ['invoice_not_open', 'subscription_busy', 'test_clock_advancing']),
        502: errorResponse('Stripe refused to settle its copy (a bad key, a request it cannot take); nothing was settled.', ['payment_provider_error']),
        ...unreachable,
      },
    },
  };
}

/** The routes giving the customer's browser a Stripe page (api/routes/paymentMethodRoutes.ts). */
function paymentLink(operation: { summary: string; description: string; created: { description: string; properties: object } }) {
  return {
    post: {
      summary: operation.summary,
      description: operation.description,
      parameters: [customerIdParam],
      responses: {
        201: { description: operation.created.description, content: { 'application/json': { schema: { type: 'object', required: Object.keys(operation.created.properties), properties: operation.created.properties } } } },
        ...badRequest(...PATH_CODES, ...BODY_CODES),
        ...authErrors,
        ...bodyLimits,
        404: errorResponse('No payment provider is configured (PAYMENT_PROVIDER=none), or unknown customer.', ['payments_not_configured', 'customer_not_found']),
        502: errorResponse('Stripe refused the request (a bad key, the account\'s settings); the API\'s log has its reason. Retrying will not help.', ['payment_provider_error']),
        503: errorResponse('Stripe or PostgreSQL could not be reached; retry shortly (with `Retry-After`).', ['payment_provider_unavailable', 'database_unavailable']),
      },
    },
  };
}

/** The public landing pages (api/payments/returnUrls.ts). */
function returnPage(summary: string, description: string) {
  return {
    get: {
      summary,
      description: `${description} No API key; \`Cache-Control: no-store\`. Set CHECKOUT_SUCCESS_URL, CHECKOUT_CANCEL_URL and BILLING_PORTAL_RETURN_URL to send customers to your own pages instead.`,
      security: [],
      responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  };
}

/** Who may call an operation, as its description says it and `x-tollgate-access` gives it (api/access/routeAccess.ts). */
function accessText(rule: RouteAccess): string {
  const keys = ['admin', ...rule.scopes].map((scope) => `\`${scope}\``).join(' or ');
  return `**Access**: a server key with ${keys}${rule.customer ? ', or a customer session of this customer' : '; not a customer session'}.`;
}

/**
 * Every operation that needs a credential gets its access rule: `x-tollgate-access` (scopes, and
 * whether a customer session may call it), a sentence in its description and the 403 answer.
 */
function withAccess<T extends { paths: Record<string, object> }>(document: T): T {
  for (const [template, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, { security?: unknown[]; description?: string; responses?: Record<string, unknown> } & Record<string, unknown>>)) {
      if (typeof operation !== 'object' || (Array.isArray(operation.security) && operation.security.length === 0)) continue;
      const rule = routeAccessOf(method.toUpperCase(), template);
      if (!rule) continue;
      operation['x-tollgate-access'] = { scopes: ['admin', ...rule.scopes], customerSession: rule.customer };
      operation.description = operation.description ? `${operation.description}\n\n${accessText(rule)}` : accessText(rule);
      operation.responses = { ...operation.responses, 403: forbidden, 429: rateLimited(template.startsWith('/v1/usage')) };
    }
  }
  return document;
}

const rateLimited = (usage: boolean) => ({
  ...errorResponse(`This caller sent more requests this second than its budget (per API process): ${usage ? 'the usage routes\' own budget per key (RATE_LIMIT_USAGE_PER_SECOND, default 50,000)' : 'per server key RATE_LIMIT_KEY_PER_SECOND (default 100), per customer session RATE_LIMIT_SESSION_PER_SECOND (default 20)'}. Nothing was done; retry after \`Retry-After\` seconds.`, ['rate_limited']),
  headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds until the budget renews.' } },
});
const forbidden = errorResponse('The credential is valid but this route is closed to it: a key without the scope, or a customer session on an operator route or another customer\'s.', ['forbidden']);
const apiKeySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string', example: 'backend-usage' },
    scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] } },
    prefix: { type: 'string', example: 'tg_sk_Ab3dE9', description: 'The secret\'s first characters, to tell keys apart.' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time', description: 'Within about a minute.' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
};
const sessionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    customerId: { type: 'string' },
    createdBy: { type: 'string', example: 'key:operator' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
};
const endpointSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    url: { type: 'string', format: 'uri' },
    eventTypes: { type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENT_TYPES] } },
    description: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time', description: 'Until then the previous secret signs too (after a rotation).' },
    disabledAt: { type: ['string', 'null'], format: 'date-time' },
  },
};
const webhookDeliveryDescription = `Each delivery is a POST of the event as JSON: \`{ id, type, customerId, sequence, createdAt, data }\` (\`sequence\` counts 1, 2, 3… over all of a customer's events in commit order: an endpoint taking only some types sees gaps). Headers: \`Tollgate-Signature: t=<unix seconds>,v1=<hex>\` (HMAC-SHA256 with the endpoint's secret over \`<t>.<raw body>\`; during a rotation one \`v1\` per valid secret), \`Tollgate-Event-Id\`, \`Tollgate-Event-Type\`, \`Tollgate-Delivery-Id\`. Verify the signature over the raw body and refuse a \`t\` older than ${SIGNATURE_TOLERANCE_SECONDS} s (the README shows it in three lines). A 2xx within 10 s delivers; anything else is retried with backoff (5 s, doubling, at most an hour apart) for up to three days, then the delivery is \`failed\`. A delivery may arrive more than once (a worker dying after the POST): dedupe by the event id. Events: ${WEBHOOK_EVENT_TYPES.map((type) => `\`${type}\`: ${WEBHOOK_EVENT_MEANINGS[type]}`).join('; ')}.`;
const endpointIdParam = { name: 'endpointId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const endpointNotFound = errorResponse('No such endpoint.', ['webhook_endpoint_not_found']);
const clockIdParam = { name: 'clockId', in: 'path', required: true, schema: { type: 'string', pattern: '^clock_[0-9a-f]{32}$' } };
const clockNotFound = errorResponse('No such test clock (or deleted), or test clocks are off.', ['test_clock_not_found', 'test_clocks_disabled']);
const CLOCK = { $ref: '#/components/schemas/TestClock' };
const secretNotStored = { name: 'Idempotency-Key', in: 'header', required: false, description: 'Refused (400 `idempotency_key_not_supported`): the answer holds a secret, which is never stored, so it cannot be replayed.', schema: { type: 'string' } };

export function openApiDocument() {
  return withAccess(baseDocument());
}

function baseDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate API',
      version: '0.1.0',
      description: 'Subscription billing: customers, plans, renewals, invoices and prepaid credits. Every subscription is a Temporal workflow. Errors are `{ "error": { "code", "message", "details"? } }` with stable codes; any route may answer 500 `internal_error`, any route using the database 503 `database_unavailable` (with `Retry-After`; retry shortly), and 405 `method_not_allowed` (with an `Allow` header) for a method it does not take.\n\n**Input**: bodies are UTF-8 JSON (`Content-Encoding` identity, gzip, deflate or br), at most 32 levels deep; no string or key may contain NUL (\\u0000) or a lone surrogate. A path that is not valid percent-encoded UTF-8 → 400 `invalid_path`; query numbers are plain decimal digits.\n\n**Idempotency-Key**: every write (POST/PUT outside /v1/usage, whose events carry their own keys) accepts an `Idempotency-Key` header (1–255 visible ASCII characters). A repeat within 24 h returns the first answer with `Idempotent-Replayed: true` and changes nothing; the same key with another method, path or body → 422 `idempotency_key_reused`; a repeat while the first is still running → 409 `idempotency_request_in_progress`; a malformed key → 400 `invalid_idempotency_key`. 5xx and 400 answers are not kept.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: `A server key or a customer session token, as \`Authorization: Bearer <secret>\`. Server keys: the operator key (TOLLGATE_OPERATOR_KEY, an \`admin\` key) and keys made with POST /v1/api-keys (\`tg_sk_…\`), each with scopes: ${SCOPES.map((scope) => `\`${scope}\` (${SCOPE_MEANINGS[scope]})`).join('; ')}. A customer session (\`tg_cs_…\`, from POST /v1/customers/{customerId}/sessions) opens that customer's own routes, for a browser; each operation's \`x-tollgate-access\` says who may call it. Missing, unknown, revoked or expired → 401 \`unauthorized\`; valid but not for this route → 403 \`forbidden\`. A revocation takes effect at once in the API process that revoked, within 5 s in others.`,
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } },
        },
        CreateCustomer: z.toJSONSchema(createCustomerBody, { io: 'input', target: 'draft-2020-12' }),
        CreateTestClock: z.toJSONSchema(createTestClockBody, { io: 'input', target: 'draft-2020-12' }),
        AdvanceTestClock: z.toJSONSchema(advanceTestClockBody, { io: 'input', target: 'draft-2020-12' }),
        TestClock: { type: 'object', properties: {
          id: { type: 'string', example: 'clock_4f1c…' }, name: { type: ['string', 'null'] }, frozenTime: { type: 'string', format: 'date-time' },
          status: { type: 'string', enum: ['ready', 'advancing'] }, customers: { type: 'array', items: { type: 'string' } }, createdAt: { type: 'string', format: 'date-time' },
        } },
        ImportCustomers: z.toJSONSchema(importCustomersBody, { io: 'input', target: 'draft-2020-12' }),
        UsageEvent: z.toJSONSchema(usageEventSchema, { io: 'input', target: 'draft-2020-12' }),
        UsageBatch: z.toJSONSchema(usageBatchSchema, { io: 'input', target: 'draft-2020-12' }),
        AlertChannels: z.toJSONSchema(alertChannelsSchema, { io: 'input', target: 'draft-2020-12' }),
        UsageResult: usageResultSchema,
        ChangePlan: z.toJSONSchema(changePlanBody, { io: 'input', target: 'draft-2020-12' }),
        Subscription: subscriptionSchema,
        Invoice: invoiceSchema,
        MarkPaid: z.toJSONSchema(markPaidBody, { io: 'input', target: 'draft-2020-12' }),
        SetupCheckout: z.toJSONSchema(setupCheckoutBody, { io: 'input', target: 'draft-2020-12' }),
        BillingPortal: z.toJSONSchema(billingPortalBody, { io: 'input', target: 'draft-2020-12' }),
        PurchaseCredits: purchaseCreditsSchema(),
        GrantCredits: z.toJSONSchema(grantCreditsBody, { io: 'input', target: 'draft-2020-12' }),
        AutoRecharge: z.toJSONSchema(autoRechargeBody, { io: 'input', target: 'draft-2020-12' }),
        CreditSummary: creditSummarySchema,
        CreditPurchase: creditPurchaseSchema,
        CreditTransaction: creditTransactionSchema,
        CreateApiKey: z.toJSONSchema(createApiKeyBody, { io: 'input', target: 'draft-2020-12' }),
        ApiKey: apiKeySchema,
        CreateCustomerSession: z.toJSONSchema(createSessionBody, { io: 'input', target: 'draft-2020-12' }),
        CustomerSession: sessionSchema,
        CreateWebhookEndpoint: z.toJSONSchema(createEndpointBody, { io: 'input', target: 'draft-2020-12' }),
        RotateWebhookSecret: z.toJSONSchema(rotateSecretBody, { io: 'input', target: 'draft-2020-12' }),
        WebhookEndpoint: endpointSchema,
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/health': {
        get: {
          summary: 'Health of the API and its dependencies',
          security: [],
          responses: { 200: { description: 'PostgreSQL and Temporal reachable.' }, 503: { description: 'A dependency is unavailable.' } },
        },
      },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1 document.' } } } },
      '/v1/customers': {
        post: {
          summary: 'Create a customer and start its subscription',
          description: 'Starts the workflow `subscription-<id>`. A new paid subscription gets an invoice for its first period; an import (with `periodStart`) does not. With PAYMENT_PROVIDER=stripe that invoice is collected before the answer: paid with the saved card, or — without one — a Stripe Checkout page (`payment.checkoutUrl`; the subscription is `incomplete` until it is paid, and falls back to the free plan if the page lapses after 24 h).',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateCustomer' } } } },
          responses: {
            201: { description: 'Created.', content: { 'application/json': { schema: { type: 'object', properties: {
              customer: { type: 'object' },
              subscription: { $ref: '#/components/schemas/Subscription' },
              payment: { type: ['object', 'null'], description: 'With a payment provider and a paid plan: how the first invoice is paid.', properties: {
                status: { type: 'string', enum: ['paid', 'checkout_required', 'failed', 'requires_action', 'pending', 'not_collected', 'not_required'] },
                invoiceNumber: { type: ['string', 'null'] }, checkoutUrl: { type: ['string', 'null'] }, payUrl: { type: ['string', 'null'] }, reason: { type: ['string', 'null'] },
              } },
            } } } } },
            ...badRequest(...BODY_CODES),
            ...authErrors,
            404: errorResponse('`testClock` names no test clock, or test clocks are off.', ['test_clock_not_found', 'test_clocks_disabled']),
            409: errorResponse('Already exists (or the Stripe customer given belongs to another customer); the test clock is advancing or already has 10 customers.', ['customer_exists', 'stripe_customer_taken', 'test_clock_advancing', 'test_clock_full']),
            ...bodyLimits,
            422: errorResponse('Not possible with this catalog.', ['unknown_plan', 'interval_not_offered', 'invalid_seats', 'invalid_period_start']),
            503: errorResponse('Temporal unreachable; nothing was created (`change_in_progress`: created, but its first payment was not settled within 30 s; repeat with the same Idempotency-Key for the answer).', ['temporal_unavailable', 'change_in_progress']),
          },
        },
      },
      '/v1/customers/import': {
        post: {
          summary: 'Import many customers at once, each with its period under way and its usage so far',
          description: `Up to ${MAX_IMPORT_CUSTOMERS} customers (and at most the 1 MiB body limit), each with the fields of POST /v1/customers and optional \`usage\` (usage so far in its current usage cycle, per metric). A malformed request changes nothing; otherwise each customer has its own result, in request order: \`created\` (its rows written and its workflow \`subscription-<id>\` started), \`exists\` (a customer with that id already exists on the same plan: left as it is, its \`usage\` not applied again — so re-running an import is safe, and finishes one cut short: a missing workflow of a customer untouched since its import is started) or \`failed\` with a \`code\`: \`unknown_plan\`, \`interval_not_offered\`, \`invalid_seats\`, \`invalid_period_start\`, \`unknown_metric\` (as POST /v1/customers answers them), \`customer_exists\` (that id belongs to a customer on another plan), \`stripe_customer_taken\`, \`temporal_unavailable\` (its workflow could not be started; the message says whether its rows were removed or the same import should be run again). The rows are written set-based in one transaction and the workflows started concurrently. With \`periodStart\` the current period is not invoiced (paid elsewhere); without it the period starts now and its workflow invoices it as for POST /v1/customers, but the import does not wait for the payment (no \`payment\` in the answer: the usage card shows a Checkout page to pay).`,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ImportCustomers' } } } },
          responses: {
            200: { description: 'One result per customer, in request order, and the counts.', content: { 'application/json': { schema: { type: 'object', required: ['results', 'created', 'existing', 'failed'], properties: {
              results: { type: 'array', items: { type: 'object', required: ['id', 'status'], properties: {
                id: { type: 'string' },
                status: { type: 'string', enum: ['created', 'exists', 'failed'] },
                code: { type: 'string', enum: ['unknown_plan', 'interval_not_offered', 'invalid_seats', 'invalid_period_start', 'unknown_metric', 'customer_exists', 'stripe_customer_taken', 'temporal_unavailable'], description: '`failed` only.' },
                message: { type: 'string', description: '`failed` only.' },
                subscription: { type: 'object', description: '`created` and `exists`: the subscription in brief (GET …/subscription has the usage card).', properties: {
                  plan: { type: 'string' }, interval: { type: 'string', enum: ['monthly', 'yearly'] }, seats: { type: 'integer' },
                  status: { type: 'string', enum: ['active', 'cancel_scheduled', 'incomplete', 'past_due'] }, currentPeriod: span, currentCycle: span,
                } },
              } } },
              created: { type: 'integer' }, existing: { type: 'integer' }, failed: { type: 'integer' },
            } } } } },
            ...badRequest(...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            422: errorResponse(`Refused as a whole, nothing changed: more than ${MAX_IMPORT_CUSTOMERS} customers, or an id (or a stripeCustomerId) given twice (\`details.indexes\` names both).`, ['too_many_customers', 'duplicate_customer_id', 'duplicate_stripe_customer_id']),
          },
        },
      },
      '/v1/customers/{customerId}': {
        get: {
          summary: 'The customer: id, name and email (e.g. for a billing page\'s header)',
          parameters: [customerIdParam],
          responses: { 200: { description: '`{ id, name, email }`.' }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound },
        },
      },
      '/v1/customers/{customerId}/subscription': {
        get: {
          summary: 'The subscription (usage card)',
          parameters: [customerIdParam],
          responses: { 200: { description: 'The usage card.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound },
        },
      },
      '/v1/customers/{customerId}/subscription/cancel': {
        post: {
          summary: 'Cancel at the period end',
          description: 'The plan stays until the period ends, then the subscription becomes Free. Data is kept.',
          parameters: [customerIdParam],
          responses: {
            200: { description: 'Cancellation scheduled.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            409: errorResponse('Refused by the subscription (`subscription_busy`: it kept losing races with other changes; nothing changed, retry).', ['cancellation_already_scheduled', 'nothing_to_cancel', 'subscription_busy', 'test_clock_advancing', 'subscription_incomplete', 'upgrade_awaiting_payment']),
            ...notRunning,
            ...unreachable,
          },
        },
      },
      '/v1/customers/{customerId}/subscription/reactivate': {
        post: {
          summary: 'Undo a scheduled cancellation',
          parameters: [customerIdParam],
          responses: {
            200: { description: 'Reactivated.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            409: errorResponse('Refused by the subscription (`subscription_busy`: retry).', ['no_cancellation_scheduled', 'subscription_busy', 'test_clock_advancing']),
            ...notRunning,
            ...unreachable,
          },
        },
      },
      '/v1/customers/{customerId}/subscription/change': {
        post: {
          summary: 'Upgrade, downgrade, switch interval or change seats',
          description: 'When a change applies is the catalog\'s `changeRules` (GET …/plans shows them): at once, at the period end, or refused with the reason shown (`change_not_allowed`). Send the `catalogVersion` the preview answered with: if the subscription decides with another catalog by now (a renewal adopted an edited one), the change is refused `catalog_changed` and nothing happens — preview again. Upgrades apply at once and the prorated difference is invoiced at once; the limit rises at once. Downgrades applied at once credit the unused remainder to the next invoice and are refused when usage so far exceeds min(targetLimit × elapsed/cycle × 1.1, targetLimit) — the refusal `details` hold `used`, `allowance`, `targetLimit`; downgrades at the period end need no allowance (no credit, the limit drops at the renewal). At most one downgrade per cycle; withdrawing one scheduled in this cycle (or replacing it) gives it back. Monthly ↔ yearly starts a yearly (or monthly) period at the current cycle start, prorated. Added seats are charged prorated at once; removed seats take effect next period. Asking for the current plan, interval and seats withdraws a scheduled change (`kind: scheduled_change_cancelled`).',
          parameters: [customerIdParam],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ChangePlan' } } } },
          responses: {
            200: { description: 'Applied (or scheduled): `{ subscription, change: { kind, effective, catalogVersion, charged, credited, creditApplied, invoiceNumber } }`. `charged` is what invoice `invoiceNumber` bills now: the prorated difference less `creditApplied`, credit owed to the customer that it used; `credited` is owed to the customer and taken off the next invoices. With a payment provider, `payment` is what collecting that invoice came to (`status`: paid, failed, requires_action, pending; `code`, `reason` and `hostedInvoiceUrl` where the customer can pay it); otherwise null. A request repeated with the same `Idempotency-Key` is answered as the first was.' },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            402: errorResponse('With a payment provider, an upgrade (or added seats, or a switch to yearly) is applied only once its prorated invoice is paid. Declined or needing authentication: nothing changed; `details` hold `invoiceNumber`, `amount`, `payUrl` (where the customer can pay), `declineCode`, `expiresAt` (23 h: unpaid by then, the invoice is voided) and `upgradeTo`. Paid later (on payUrl, by a webhook, or with a new card), the change applies then.', ['payment_required']),
            409: errorResponse('Refused by the subscription (`stale_usage`: a renewal happened while deciding; `subscription_busy`: it kept losing races with other changes; nothing changed in either case, retry). `upgrade_awaiting_payment`: an upgrade waits for its payment; `subscription_incomplete`: the first invoice waits on Checkout; `payment_past_due`: pay the overdue invoice before a change that costs more. `catalog_changed`: previewed under another catalog version (`details.catalogVersion` is the subscription\'s): preview again. `change_not_allowed`: a catalog rule refuses this change (`message` is its reason, `details.rule` its index).', ['catalog_changed', 'change_not_allowed', 'cancellation_scheduled', 'downgrade_limit_reached', 'usage_exceeds_downgrade_allowance', 'no_change', 'stale_usage', 'subscription_busy', 'test_clock_advancing', 'subscription_incomplete', 'upgrade_awaiting_payment', 'payment_past_due']),
            ...notRunning,
            ...unreachable,
            422: errorResponse('Not possible with this catalog.', ['unknown_plan', 'interval_not_offered', 'invalid_seats']),
          },
        },
      },
      '/v1/customers/{customerId}/plans': {
        get: {
          summary: 'The plans this customer may choose from, with prices per interval, limits and seats; the current choice marked',
          description: 'What a billing page\'s plan picker shows: plans in tier order, each with `prices.monthly` and `prices.yearly` (null when the plan is not offered yearly; derived from `yearlyDiscountPercent` where the catalog sets no yearly price), what each metric includes and what happens past it (`reject`; `bill` at `unitPrice`, money; or `credits`, drawing `creditsPerUnit` credits per unit or graduated `tiers`), seats, features, and `current: true` on the customer\'s plan. Then GET …/subscription/change-preview says what choosing one would cost.',
          parameters: [customerIdParam],
          responses: { 200: { description: 'The subscription\'s own catalog (what its changes are decided with; an edited catalog reaches it at a renewal), named by `catalogVersion`: `{ currency, cycleDays, yearlyDiscountPercent, downgradeTiming, changeRules, fallbackPlan: { id, name }, current: { plan, interval, seats }, metrics, plans, catalogVersion }`. `changeRules`: the catalog\'s plan-change rules in order, each `{ when: { fromPlan?, toPlan?, tier?, fromInterval?, toInterval?, seats? }, apply: immediate | period_end | refused, reason? }`; the first that matches a change decides, then the built-in ones (downgrades per `downgradeTiming`, seat removals at the period end, the rest at once).' }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound },
        },
      },
      '/v1/customers/{customerId}/subscription/change-preview': {
        get: {
          summary: 'What a change would cost or credit, and whether it is allowed (changes nothing)',
          parameters: [customerIdParam, { name: 'plan', in: 'query', schema: { type: 'string' } }, { name: 'interval', in: 'query', schema: { type: 'string', enum: ['monthly', 'yearly'] } }, { name: 'seats', in: 'query', schema: { type: 'integer', minimum: 1 } }],
          responses: {
            200: { description: 'Decided with the catalog the subscription decides with (its own copy until a renewal adopts an edited one), named by `catalogVersion`: send it with the change. `{ allowed: true, kind, effective, rule, plan, interval, seats, period, charged, credited, creditApplied, lines, catalogVersion }` (`rule`: the index of the catalog change rule that decided when it applies, null for a built-in one; `charged`: what the change would invoice after `creditApplied`, the credit already owed that pays part or all of it, as the change does) or `{ allowed: false, refusal: { code, message, details }, catalogVersion }` with the same codes as the change. `catalogVersion` is null only for a subscription still on a catalog copy no process stored (begun before catalog versions): it is then previewed with the current catalog.' },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: notFound,
            409: errorResponse('The customer\'s test clock is advancing: previewed once it has caught up.', ['test_clock_advancing']),
          },
        },
      },
      '/v1/usage/events': {
        post: {
          summary: 'Record one usage event and learn whether it is allowed',
          description: 'Counted once per idempotency key (kept indefinitely). Free/Basic/Pro-style plans refuse usage past the limit (the refused event is not counted); billed plans never refuse and count the overage. Past a limit whose policy is `credits`, the units past the included quantity are paid from the prepaid credit balance in the same transaction that counts the event: counted with its credits, or refused whole (402 `insufficient_credits`, nothing counted or drawn); the balance is never negative.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/UsageEvent' } } } },
          responses: {
            200: { description: 'Counted (or a duplicate of a counted event).', content: { 'application/json': { schema: { $ref: '#/components/schemas/UsageResult' } } } },
            ...badRequest(...BODY_CODES),
            ...authErrors,
            404: usageNotFound,
            402: errorResponse('`insufficient_credits`: past a `credits` limit, the credit balance cannot pay for the whole event (buy credits or turn auto-recharge on); nothing recorded, nothing drawn; `details` is the refused result (`status: refused`, `used`, `limit`). `payment_past_due`: the subscription is past due and the catalog refuses usage meanwhile (payments.dunning.usageWhilePastDue = refuse); nothing recorded.', ['insufficient_credits', 'payment_past_due']),
            409: errorResponse('The event belongs to a closed (already invoiced) cycle, or the customer\'s test clock is advancing (send it once caught up).', ['period_closed', 'test_clock_advancing']),
            ...bodyLimits,
            422: errorResponse('Not possible with this catalog.', ['unknown_metric', 'invalid_timestamp']),
            429: errorResponse('The plan limit is reached; `details` holds used and limit.', ['usage_limit_reached']),
            503: errorResponse('The customer\'s plan is not in this server\'s catalog yet; nothing was recorded, retry.', ['plan_unavailable']),
          },
        },
      },
      '/v1/usage/events/batch': {
        post: {
          summary: `Record up to ${MAX_BATCH_EVENTS} usage events at once`,
          description: 'Per-event results in request order, decided one by one in that order (an event refused for want of credits — `status: refused`, `code: insufficient_credits` — does not stop a later, smaller one from being counted). A batch naming an unknown customer or metric, or with any invalid event, records nothing.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/UsageBatch' } } } },
          responses: {
            200: { description: 'Results.', content: { 'application/json': { schema: { type: 'object', properties: { counted: { type: 'integer' }, duplicates: { type: 'integer' }, refused: { type: 'integer' }, rejected: { type: 'integer' }, results: { type: 'array', items: { $ref: '#/components/schemas/UsageResult' } } } } } } },
            ...badRequest(...BODY_CODES),
            ...authErrors,
            404: usageNotFound,
            ...bodyLimits,
            409: errorResponse('A customer\'s test clock is advancing; nothing was recorded.', ['test_clock_advancing']),
            413: errorResponse('Too many events, or too large a body (as sent or once its Content-Encoding is undone).', ['batch_too_large', 'payload_too_large']),
            422: errorResponse('Not possible with this catalog.', ['unknown_metric', 'invalid_timestamp']),
          },
        },
      },
      '/v1/usage/check': {
        get: {
          summary: 'Would this usage be allowed now? (read-only)',
          parameters: [
            { name: 'customerId', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'metric', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'quantity', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
          ],
          responses: {
            200: { description: 'The answer.', content: { 'application/json': { schema: { type: 'object', properties: {
              allowed: { type: 'boolean' }, customerId: { type: 'string' }, metric: { type: 'string' }, quantity: { type: 'integer' },
              used: { type: 'integer' }, limit: { type: 'integer' }, remaining: { type: 'integer' }, policy: { type: 'string', enum: ['reject', 'bill', 'credits', 'unavailable'] },
              credits: {
                type: 'object',
                description: 'Only for a metric whose policy is `credits`: what this quantity would draw now (`needed`, 0 within the included quantity) and the balance, in the catalog\'s credit unit; `allowed` is `needed` ≤ `balance` (and, while past due, the catalog does not refuse usage).',
                properties: { needed: { type: 'string', example: '400000' }, balance: { type: 'string', example: '2500000' }, unit: { type: 'string', example: 'tokens' } },
              },
            } } } } },
            400: errorResponse('Malformed query.', ['validation_failed']),
            ...authErrors,
            404: notFound,
            409: errorResponse('The customer\'s test clock is advancing.', ['test_clock_advancing']),
            422: errorResponse('Unknown metric.', ['unknown_metric']),
          },
        },
      },
      '/v1/customers/{customerId}/alert-channels': {
        get: { summary: 'Where alerts go (secrets redacted)', parameters: [customerIdParam], responses: { 200: { description: 'Channels.' }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound } },
        put: {
          summary: 'Set where alerts go',
          description: 'Email always goes out (to `email.to`, else the customer\'s email); Slack, Discord and Telegram where configured. Secrets are never returned in full.',
          parameters: [customerIdParam],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/AlertChannels' } } } },
          responses: { 200: { description: 'Saved (redacted).' }, ...badRequest(...PATH_CODES, ...BODY_CODES), ...authErrors, 404: notFound, ...bodyLimits },
        },
      },
      '/v1/customers/{customerId}/alerts': {
        get: { summary: 'Threshold crossings (80%, 100%) with each channel\'s delivery status', parameters: [customerIdParam], responses: { 200: { description: 'Alerts, newest first.' }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound } },
      },
      '/v1/customers/{customerId}/overage': {
        get: { summary: 'Overage history: each closed cycle\'s overage quantity and charge', parameters: [customerIdParam], responses: { 200: { description: 'Charges, newest cycle first.' }, ...badRequest(...PATH_CODES), ...authErrors, 404: notFound } },
      },
      '/v1/customers/{customerId}/credits': {
        get: {
          summary: 'Prepaid credits: balance, consumed this cycle (in credits and as money), auto-recharge, and what the catalog sells',
          parameters: [customerIdParam],
          responses: { 200: creditSummaryResponse('The summary.'), ...badRequest(...PATH_CODES), ...authErrors, 404: creditsNotFound },
        },
      },
      '/v1/customers/{customerId}/credits/transactions': {
        get: {
          summary: 'Credit history, newest first',
          description: 'Balance changes one by one (purchases, auto-recharges, grants, refunds, with the invoice and amount where one paid for them), and consumption aggregated per metric per day (UTC; its time is the day\'s last draw, so a day still being drawn moves up). Page on with `cursor` = the previous page\'s `nextCursor`: entries of one instant are ordered by a key too, so a page never splits or loses them.',
          parameters: [
            customerIdParam,
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'before', in: 'query', description: 'Start with entries strictly older than this time (ISO 8601 with an offset or `Z`, 1970–9999).', schema: { type: 'string', format: 'date-time' } },
            { name: 'cursor', in: 'query', description: 'The next page: the previous page\'s `nextCursor` (opaque).', schema: { type: 'string', maxLength: 300 } },
          ],
          responses: {
            200: { description: 'A page of the history.', content: { 'application/json': { schema: { type: 'object', properties: {
              unit: { type: 'string', example: 'tokens' },
              data: { type: 'array', items: { $ref: '#/components/schemas/CreditTransaction' } },
              hasMore: { type: 'boolean' },
              nextCursor: { type: ['string', 'null'], description: 'With `hasMore`: the `cursor` of the next page; else null.' },
            } } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: creditsNotFound,
          },
        },
      },
      '/v1/customers/{customerId}/credits/purchases': {
        post: {
          summary: 'Buy credits: a pack or a custom amount',
          description: `Buys a pack of the catalog (\`packId\`) or a custom amount of its currency (\`amount\`, within \`customAmount\`), exactly one of the two. The subscription workflow issues an invoice (reason \`credit_purchase\`, one \`credits\` line) and collects it like any other: with PAYMENT_PROVIDER=stripe and a saved card it is charged off-session at once (200, \`paid\`); without one the answer holds a Stripe Checkout page (202, \`checkout_required\`, open ${CHECKOUT_WINDOW_MS / 3_600_000} h; return pages from \`checkout\`, else CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL, else this API's own pages). With PAYMENT_PROVIDER=none the invoice stays open (202, \`awaiting_payment\`) until an operator marks it paid (\`…/invoices/{number}/mark-paid\`); \`checkout\` is then ignored. The credits are granted in the transaction that marks the invoice paid — charged off-session, paid on Checkout, reported by a webhook or marked paid — so once per payment, never before it. A purchase left unpaid lapses and its invoice is voided: a Checkout page when it expires, a declined charge after ${UPGRADE_PAYMENT_WINDOW_MS / 3_600_000} h. At most ${MAX_PENDING_PURCHASES} purchases may wait for their payment at once.`,
          parameters: [customerIdParam, idempotencyKeyParam('Names the purchase: a retry with the same key (after a lost answer or a 5xx) gets the same purchase, invoice and answer, never a second charge.')],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PurchaseCredits' } } } },
          responses: {
            200: { description: 'Paid, and the credits granted: `{ purchase, credits }` (`purchase.status` `paid`; `credits` the summary, with the new balance).', content: { 'application/json': { schema: { type: 'object', properties: { purchase: { $ref: '#/components/schemas/CreditPurchase' }, credits: { $ref: '#/components/schemas/CreditSummary' } } } } } },
            202: { description: 'Waiting for its payment, nothing granted yet: `{ purchase, credits }` with `purchase.status` `checkout_required` (send the customer to `checkoutUrl` before `expiresAt`) or `awaiting_payment` (PAYMENT_PROVIDER=none: the invoice `invoiceNumber` waits for an operator to mark it paid; or the provider could not be asked, and the invoice stays payable until `expiresAt`).', content: { 'application/json': { schema: { type: 'object', properties: { purchase: { $ref: '#/components/schemas/CreditPurchase' }, credits: { $ref: '#/components/schemas/CreditSummary' } } } } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            402: errorResponse(`The saved card was declined or needs authentication; nothing granted. \`details\` is the purchase (\`status: payment_failed\`, \`invoiceNumber\`, \`amount\`, \`payUrl\` where the customer can pay it, \`expiresAt\` — ${UPGRADE_PAYMENT_WINDOW_MS / 3_600_000} h: unpaid by then, the invoice is voided — and \`reason\`). Paid later (on payUrl, by a webhook, or marked paid), the credits come then.`, ['payment_required']),
            404: errorResponse('Unknown customer, this catalog sells no credits, or the subscription workflow is not running.', ['customer_not_found', 'credits_not_offered', 'subscription_not_running']),
            409: errorResponse(`Refused by the subscription, nothing bought: \`too_many_pending_purchases\` (${MAX_PENDING_PURCHASES} purchases already wait for their payment: pay them or let them lapse); \`credits_after_renewal\` (the subscription's workflow run began before credits existed: it can buy them from its next renewal); \`subscription_busy\` (retry).`, ['too_many_pending_purchases', 'credits_after_renewal', 'subscription_busy', 'test_clock_advancing']),
            422: errorResponse('Not sold by this catalog: no such pack, no custom amounts (packs only), an amount outside `customAmount`, or one with more decimal places than the currency has; `credits_not_offered` when the subscription\'s catalog sells no credits.', ['credits_not_offered', 'unknown_pack', 'amount_out_of_range', 'invalid_amount', 'custom_amount_not_offered']),
            ...unreachable,
          },
        },
      },
      '/v1/customers/{customerId}/credits/purchases/{purchaseId}/refund': {
        post: {
          summary: 'Refund a credit purchase (operator): its unused credits back, that share of the price to the card',
          description: 'Takes back the credits of a paid purchase that are still on the balance (never more: what was consumed is gone) and returns the same share of its price, rounded down, to the card that paid it (a Stripe refund keyed by the purchase), with a credit note (an invoice with reason `refund`, settled as issued). A purchase paid outside the provider (marked paid by an operator, or PAYMENT_PROVIDER=none) gets its credits taken back and a credit note saying the money goes back elsewhere. A purchase is refunded once: a second request answers the first refund.',
          parameters: [customerIdParam, { name: 'purchaseId', in: 'path', required: true, schema: { type: 'string', maxLength: 200 }, description: 'The purchase id (`purchase.id` of the purchase answer; `reference` `purchase:<id>` in the history).' }, idempotencyKeyParam('Names the refund request: a retry gets the same answer.')],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why: shown in the customer\'s history.' } } } } } },
          responses: {
            200: { description: 'Refunded: `{ refund: { purchaseId, credits, unit, amount, providerRefundId, creditNoteNumber }, credits }`.', content: { 'application/json': { schema: { type: 'object', properties: {
              refund: { type: 'object', properties: { purchaseId: { type: 'string' }, credits: credits('2100000'), unit: { type: 'string', example: 'tokens' }, amount: money, providerRefundId: { type: ['string', 'null'] }, creditNoteNumber: { type: ['string', 'null'] } } },
              credits: { $ref: '#/components/schemas/CreditSummary' },
            } } } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            404: errorResponse('Unknown customer or purchase, or this catalog sells no credits.', ['customer_not_found', 'purchase_not_found', 'credits_not_offered', 'subscription_not_running']),
            409: errorResponse('Nothing refunded: the purchase is not paid, all its credits were used, or the subscription is busy (retry).', ['purchase_not_paid', 'nothing_to_refund', 'subscription_busy', 'test_clock_advancing']),
            502: errorResponse('The payment provider refused the refund as configured; the credits were taken back and the refund is retried once the provider accepts it.', ['payment_provider_error']),
            ...unreachable,
          },
        },
      },
      '/v1/customers/{customerId}/credits/grants': {
        post: {
          summary: 'Grant credits (operator): promotional or manual, with a reason',
          description: 'Adds credits with no invoice and no payment, whatever the payment provider (`none` included): `promotional` (a gift) or `manual` (a correction, a payment taken elsewhere), with a reason shown in the history. A grant that brings the balance back to the low-balance threshold (or above zero) re-arms the low-balance (or exhausted) alert and auto-recharge for the next fall.',
          parameters: [customerIdParam, idempotencyKeyParam('Names the grant: a retry with the same key grants nothing more.')],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/GrantCredits' } } } },
          responses: {
            201: { description: 'Granted: `{ grant, credits }`.', content: { 'application/json': { schema: { type: 'object', properties: {
              grant: { type: 'object', properties: { id: { type: 'string' }, type: { type: 'string', enum: ['promotional', 'manual'] }, reason: { type: 'string' }, credits: credits('1000000'), unit: { type: 'string', example: 'tokens' }, balanceAfter: credits('3100000') } },
              credits: { $ref: '#/components/schemas/CreditSummary' },
            } } } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            404: creditsNotFound,
          },
        },
      },
      '/v1/customers/{customerId}/credits/auto-recharge': {
        put: {
          summary: 'Set the low-balance threshold and auto-recharge',
          description: 'Replaces the customer\'s settings; an absent or null `threshold` or `spendingLimit` means the catalog\'s `lowBalanceThreshold` or `autoRecharge.defaultSpendingLimit` (default 50.00). When the balance falls below the threshold (seen in the usage transaction and handed to the subscription workflow through an outbox), the workflow buys whole packs of `packId` — as many as bring the balance back to the threshold in one charge, never more than the spending limit left in the billing cycle — charged off-session to the saved card (invoice reason `credit_recharge`), one recharge at a time per customer. A declined recharge is retried (catalog `autoRecharge.retryHours`, default 1, 6 and 24 hours after the first failure; at once when the customer saves a new card), each failure told on the customer\'s alert channels; after the last one auto-recharge turns off (`status: turned_off`, `turnedOffReason`) and the customer is told. Turning it on clears such a turn-off; saved while the balance is already below the threshold, a recharge starts at once. Enabling needs a payment provider, a pack, a threshold above 0 (or the catalog\'s) and a spending limit of at least one pack.',
          parameters: [customerIdParam],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/AutoRecharge' } } } },
          responses: {
            200: creditSummaryResponse('Saved: the summary, with `autoRecharge` as it now is.'),
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            ...bodyLimits,
            404: creditsNotFound,
            409: errorResponse('Auto-recharge charges a card: it needs PAYMENT_PROVIDER=stripe (operators can grant credits instead).', ['payment_provider_required']),
            422: errorResponse('`unknown_pack`: no such pack; `pack_required`: enabled without `packId`; `threshold_required`: enabled with a threshold of 0, or none where the catalog has no `lowBalanceThreshold`; `spending_limit_below_pack`: the spending limit is below the pack\'s price, so no recharge could ever happen; `invalid_amount`: `spendingLimit` has more decimal places than the currency.', ['unknown_pack', 'pack_required', 'threshold_required', 'spending_limit_below_pack', 'invalid_amount']),
          },
        },
      },
      '/v1/customers/{customerId}/invoices': {
        get: {
          summary: 'Invoices, newest period first',
          parameters: [customerIdParam, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }],
          responses: {
            200: { description: 'Invoices.', content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: { $ref: '#/components/schemas/Invoice' } }, hasMore: { type: 'boolean' } } } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: notFound,
          },
        },
      },
      // Before `{number}`, whose pattern also matches `….pdf`: the route table (api/http/routeTable.ts) takes the first match.
      '/v1/customers/{customerId}/invoices/{number}.pdf': {
        get: {
          summary: 'One invoice as a PDF',
          description: 'Seller (TOLLGATE_SELLER_* settings) and customer details, number, dates, lines, tax, totals and status, rendered on request: it always shows the invoice as it is now. Sent inline (`Content-Disposition: inline; filename="<number>.pdf"`).',
          parameters: [customerIdParam, invoiceNumberParam],
          responses: {
            200: { description: 'The PDF.', content: { 'application/pdf': { schema: { type: 'string', contentMediaType: 'application/pdf' } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: invoiceNotFound,
          },
        },
      },
      '/v1/customers/{customerId}/invoices/{number}/mark-paid': settlement({
        summary: 'Mark an open invoice paid out of band',
        description: 'For payments received outside the payment provider (a bank transfer, a cheque): the subscription records it with your reference, and a copy at Stripe is marked paid out of band so it is never charged. With `PAYMENT_PROVIDER=none` this is how invoices get paid.',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MarkPaid' } } } },
      }, 'paid'),
      '/v1/customers/{customerId}/invoices/{number}/void': settlement({
        summary: 'Void an open invoice',
        description: 'Nothing will be collected for it; a copy at Stripe is voided too. The body, if any, is an empty object.',
      }, 'void'),
      // The optional bodies are documented in the description, as for `…/void`: their schemas are
      // components.schemas.SetupCheckout and BillingPortal.
      '/v1/customers/{customerId}/payment-method/checkout': paymentLink({
        summary: 'A Stripe Checkout page to save or replace the customer\'s card',
        description: `A Checkout Session in setup mode for the customer's Stripe customer (created first if needed), in the subscription's currency, open for ${CHECKOUT_LIFETIME_MS / 60_000} minutes. Redirect the customer's browser to \`url\`: the page needs no key, and the card it saves arrives through Stripe's webhooks. Optional body (\`#/components/schemas/SetupCheckout\`): \`successUrl\` (may contain \`{CHECKOUT_SESSION_ID}\`) and \`cancelUrl\`, absolute http(s) URLs of at most 2,000 characters; absent, CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL, else this API's \`${CHECKOUT_COMPLETE_PATH}\` and \`${CHECKOUT_CANCELLED_PATH}\` pages. With an Idempotency-Key, a retry (after a 503, or a lost answer) gets the same session.`,
        created: { description: 'The page: `{ url, sessionId, expiresAt }`.', properties: { url: { type: 'string', format: 'uri' }, sessionId: { type: 'string', example: 'cs_test_…' }, expiresAt: { type: 'string', format: 'date-time' } } },
      }),
      '/v1/customers/{customerId}/billing-portal': paymentLink({
        summary: 'A Stripe billing-portal page for the customer',
        description: `Where the customer updates their card, sees their invoices and changes their billing address (what the portal offers is set in Stripe's dashboard). The customer's Stripe customer is created first if needed. Redirect the customer's browser to \`url\`; it is valid for a few minutes. Optional body (\`#/components/schemas/BillingPortal\`): \`returnUrl\`, an absolute http(s) URL of at most 2,000 characters; absent, BILLING_PORTAL_RETURN_URL, else this API's \`${CHECKOUT_COMPLETE_PATH}\` page.`,
        created: { description: 'The page: `{ url }`.', properties: { url: { type: 'string', format: 'uri' } } },
      }),
      [CHECKOUT_COMPLETE_PATH]: returnPage('Where Checkout and the billing portal send the customer back by default', 'A static page saying the customer may close it. Stripe adds `?session_id=…` after Checkout; it is not read, and the page shows no data.'),
      [CHECKOUT_CANCELLED_PATH]: returnPage('Where Checkout sends a customer who left without finishing, by default', 'A static page saying nothing was changed; it shows no data.'),
      [STRIPE_WEBHOOK_PATH]: {
        post: {
          summary: 'Stripe webhook endpoint',
          description: `Point a Stripe webhook endpoint (or \`stripe listen --forward-to\`) here, with PAYMENT_PROVIDER=stripe and its signing secret in STRIPE_WEBHOOK_SECRET. No API key: the \`Stripe-Signature\` header is verified over the raw body, and an event signed more than ${WEBHOOK_TOLERANCE_SECONDS} s ago is refused. Each event id is processed once (a redelivery answers \`duplicate: true\`). Events used: ${USED_STRIPE_EVENTS.map((e) => `\`${e}\``).join(', ')}; any other (or one for no Tollgate customer) is acknowledged with \`used: false\`.`,
          security: [],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'A Stripe Event object.' } } } },
          responses: {
            200: { description: 'Received: `{ received: true, used, duplicate? }`.', content: { 'application/json': { schema: { type: 'object', properties: { received: { type: 'boolean' }, used: { type: 'boolean' }, duplicate: { type: 'boolean' } } } } } },
            400: errorResponse('Missing, wrong or stale signature.', ['invalid_signature']),
            404: errorResponse('Stripe is not the payment provider here.', ['payments_not_configured']),
            413: errorResponse('Body too large.', ['payload_too_large']),
            503: errorResponse('The event could not be handed to its subscription yet; Stripe redelivers it.', ['temporal_unavailable', 'database_unavailable']),
          },
        },
      },
      '/v1/test-clocks': {
        get: {
          summary: 'List test clocks',
          description: 'Every test clock that is not deleted, oldest first. Test clocks are on only with TOLLGATE_TEST_CLOCKS=true (never with live payment keys); off, every test clock route answers 404 `test_clocks_disabled`.',
          responses: {
            200: { description: '`{ testClocks: TestClock[] }`.', content: { 'application/json': { schema: { type: 'object', properties: { testClocks: { type: 'array', items: CLOCK } } } } } },
            ...authErrors,
            404: errorResponse('Test clocks are off.', ['test_clocks_disabled']),
          },
        },
        post: {
          summary: 'Create a test clock',
          description: 'A clock of its own, frozen at `frozenTime` until advanced. Customers are put on it at creation (POST /v1/customers with `testClock`, at most 10 per clock); their subscriptions start at its instant, their usage is placed on it, and their usage card, invoices and change preview read it. Subscriptions on real time are not affected.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateTestClock' } } } },
          responses: {
            201: { description: 'The clock, `ready`.', content: { 'application/json': { schema: CLOCK } } },
            ...badRequest(...BODY_CODES),
            ...authErrors,
            404: errorResponse('Test clocks are off.', ['test_clocks_disabled']),
            ...bodyLimits,
          },
        },
      },
      '/v1/test-clocks/{clockId}': {
        get: {
          summary: 'One test clock',
          description: 'While an advance runs (`status: advancing`), each GET checks on its customers (and signals any that missed it) and answers `ready` once all have caught up.',
          parameters: [clockIdParam],
          responses: { 200: { description: 'The clock.', content: { 'application/json': { schema: CLOCK } } }, ...badRequest(...PATH_CODES), ...authErrors, 404: clockNotFound },
        },
        delete: {
          summary: 'Delete a test clock, ending its customers',
          description: 'Its customers\' subscriptions end (their workflows are terminated; their records stay readable, and their write routes answer 404 `subscription_not_running`). Repeating the call answers the same.',
          parameters: [clockIdParam],
          responses: {
            200: { description: '`{ id, deleted: true, customersEnded }`.', content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'string' }, deleted: { type: 'boolean' }, customersEnded: { type: 'array', items: { type: 'string' } } } } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: clockNotFound,
            503: errorResponse('Temporal unreachable; the clock is deleted, repeat the call to end its customers.', ['temporal_unavailable']),
          },
        },
      },
      '/v1/test-clocks/{clockId}/advance': {
        post: {
          summary: 'Advance a test clock',
          description: `Moves the clock to \`frozenTime\` (later than its instant, by at most ${MAX_ADVANCE_MS / 86_400_000} days). Everything that falls due on the way happens in order, as if the time had passed: renewals with their invoices and overage, alerts of usage recorded before, scheduled downgrades and cancellations, dunning retries, auto-recharges. Answers 200 (\`ready\`) once every customer on it has caught up (it waits up to 20 s), else 202 (\`advancing\`, with \`Location\`): GET the clock until it is \`ready\`. Meanwhile its customers\' usage and changes answer 409 \`test_clock_advancing\`.`,
          parameters: [clockIdParam],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/AdvanceTestClock' } } } },
          responses: {
            200: { description: 'Caught up: `ready`.', content: { 'application/json': { schema: CLOCK } } },
            202: { description: 'Still catching up: `advancing`; poll the clock.', content: { 'application/json': { schema: CLOCK } } },
            ...badRequest(...PATH_CODES, ...BODY_CODES),
            ...authErrors,
            404: clockNotFound,
            409: errorResponse('An advance is still running.', ['test_clock_advancing']),
            ...bodyLimits,
            422: errorResponse('Not later than the clock\'s instant, or too far at once.', ['invalid_advance']),
          },
        },
      },
      '/v1/api-keys': {
        get: {
          summary: 'List server keys',
          description: 'Every key made with POST /v1/api-keys, revoked ones included, without their secrets. (The operator key from configuration is not listed.)',
          responses: {
            200: { description: '`{ data: ApiKey[] }`, oldest first.', content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: { $ref: '#/components/schemas/ApiKey' } } } } } } },
            ...authErrors,
          },
        },
        post: {
          summary: 'Create a server key',
          description: 'A named key with scopes. Its secret (`key`, `tg_sk_…`) is in this answer only: Tollgate keeps only its SHA-256. Names are unique for good (a revoked key\'s name is not reused), so a retry after a lost answer gets 409 and the key can be revoked by name from the listing. For the first key without the API, `npm run api-key -- create <name> <scope>…`.',
          parameters: [secretNotStored],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateApiKey' } } } },
          responses: {
            201: { description: 'The key, with its secret in `key`.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/ApiKey' }, { type: 'object', properties: { key: { type: 'string', example: 'tg_sk_…' } } }] } } } },
            ...badRequest(...BODY_CODES, 'idempotency_key_not_supported'),
            ...authErrors,
            409: errorResponse('A key with this name exists.', ['api_key_name_taken']),
            ...bodyLimits,
          },
        },
      },
      '/v1/api-keys/{keyId}': {
        delete: {
          summary: 'Revoke a server key',
          description: 'From the next request on it answers 401 (in other API processes within 5 s). Revoking a revoked key answers the first revocation.',
          parameters: [{ name: 'keyId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            200: { description: 'The key, with `revokedAt`.', content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiKey' } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: errorResponse('No such key.', ['api_key_not_found']),
          },
        },
      },
      '/v1/audit-log': {
        get: {
          summary: 'The audit log',
          description: 'Every state-changing request outside /v1/usage (usage events are their own record), newest first: who (`key:<name>` or `session:<id>`), what (method, route, path, customer) and how it ended (`status`, `errorCode`; null while running, or when the API process died before answering). Requests that changed nothing (400, 404, 409, 422, an idempotent replay) leave no entry; a 402 does (its invoice stays open). Bodies are not kept. Page with `before` = the previous page\'s `nextBefore`.',
          parameters: Object.entries((z.toJSONSchema(auditLogQuery, { io: 'input', target: 'draft-2020-12' }) as { properties: Record<string, object> }).properties).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
          responses: {
            200: {
              description: '`{ data: AuditEntry[], nextBefore }`.',
              content: { 'application/json': { schema: { type: 'object', properties: { nextBefore: { type: ['string', 'null'] }, data: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, actor: { type: 'string', example: 'key:operator' }, method: { type: 'string' }, route: { type: 'string', example: '/v1/customers/{customerId}/subscription/change' }, path: { type: 'string' }, customerId: { type: ['string', 'null'] }, status: { type: ['integer', 'null'] }, errorCode: { type: ['string', 'null'] }, completedAt: { type: ['string', 'null'], format: 'date-time' } } } } } } } },
            },
            ...badRequest('validation_failed'),
            ...authErrors,
          },
        },
      },
      '/v1/webhook-endpoints': {
        get: {
          summary: 'List webhook endpoints',
          description: 'Every endpoint, deleted ones included, without their secrets.',
          responses: { 200: { description: '`{ data: WebhookEndpoint[] }`, oldest first.', content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: { $ref: '#/components/schemas/WebhookEndpoint' } } } } } } }, ...authErrors },
        },
        post: {
          summary: 'Register a webhook endpoint',
          description: `Where Tollgate tells the host what happened. The URL must be https to a public address unless WEBHOOK_ENDPOINTS_ALLOW_HTTP / WEBHOOK_ENDPOINTS_ALLOW_PRIVATE_NETWORKS relax that (settings apart from the alert webhooks'). The signing secret (\`secret\`, \`whsec_…\`) is in this answer only. Events that happen after this are delivered.\n\n${webhookDeliveryDescription}`,
          parameters: [secretNotStored],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateWebhookEndpoint' } } } },
          responses: {
            201: { description: 'The endpoint, with its signing secret in `secret`.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/WebhookEndpoint' }, { type: 'object', properties: { secret: { type: 'string', example: 'whsec_…' } } }] } } } },
            ...badRequest(...BODY_CODES, 'idempotency_key_not_supported'),
            ...authErrors,
            ...bodyLimits,
          },
        },
      },
      '/v1/webhook-endpoints/{endpointId}': {
        get: { summary: 'One webhook endpoint', parameters: [endpointIdParam], responses: { 200: { description: 'The endpoint.', content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookEndpoint' } } } }, ...badRequest(...PATH_CODES), ...authErrors, 404: endpointNotFound } },
        delete: {
          summary: 'Delete a webhook endpoint',
          description: 'Nothing more is delivered to it; deliveries still retrying end as `failed` at their next attempt. Deleting twice answers the first deletion.',
          parameters: [endpointIdParam],
          responses: { 200: { description: 'The endpoint, with `disabledAt`.', content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookEndpoint' } } } }, ...badRequest(...PATH_CODES), ...authErrors, 404: endpointNotFound },
        },
      },
      '/v1/webhook-endpoints/{endpointId}/rotate-secret': {
        post: {
          summary: 'Rotate an endpoint\'s signing secret',
          description: `A new secret (in this answer only) signs from now on; the previous one signs too for \`previousValidSeconds\` (default ${DEFAULT_PREVIOUS_SECRET_SECONDS}, at most 7 days; 0 stops it at once), so the host can switch without losing a delivery.`,
          parameters: [endpointIdParam, secretNotStored],
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/RotateWebhookSecret' } } } },
          responses: {
            200: { description: 'The endpoint, with the new secret in `secret`.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/WebhookEndpoint' }, { type: 'object', properties: { secret: { type: 'string' } } }] } } } },
            ...badRequest(...BODY_CODES, ...PATH_CODES, 'idempotency_key_not_supported'),
            ...authErrors,
            404: endpointNotFound,
            409: errorResponse('The endpoint was deleted, or its secret was rotated by another request meanwhile (read it and rotate again if needed).', ['webhook_endpoint_deleted', 'webhook_secret_rotated']),
            ...bodyLimits,
          },
        },
      },
      '/v1/webhook-endpoints/{endpointId}/deliveries': {
        get: {
          summary: 'An endpoint\'s delivery log',
          description: 'Newest first: each delivery (event, round, `pending`/`delivered`/`failed`, attempts) with every attempt (status answered or error, duration).',
          parameters: [endpointIdParam, { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }],
          responses: { 200: { description: '`{ data: [...] }`.' }, ...badRequest(...PATH_CODES, 'validation_failed'), ...authErrors, 404: endpointNotFound },
        },
      },
      '/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver': {
        post: {
          summary: 'Deliver an event again',
          description: 'A new round of the delivery\'s event to this endpoint, with attempts of its own (retried like the first). Send an Idempotency-Key to make a retry of this request safe.',
          parameters: [endpointIdParam, { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            202: { description: 'The new delivery: `{ id, eventId, round, status }`.' },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: errorResponse('No such endpoint, or no such delivery for it.', ['webhook_endpoint_not_found', 'webhook_delivery_not_found']),
            409: errorResponse('The endpoint was deleted.', ['webhook_endpoint_deleted']),
          },
        },
      },
      '/v1/customers/{customerId}/sessions': {
        post: {
          summary: 'Create a customer session for a browser',
          description: `A short-lived token (\`token\`, \`tg_cs_…\`, in this answer only) that opens this customer's own routes and nothing else: hand it to the customer's browser instead of a server key. Lasts \`ttlSeconds\` (60–86,400; default ${DEFAULT_SESSION_SECONDS}). Browsers calling from another origin need it in TOLLGATE_CORS_ORIGINS.`,
          parameters: [customerIdParam, secretNotStored],
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateCustomerSession' } } } },
          responses: {
            201: { description: 'The session, with its token in `token` and the billing page\'s link in `billingPageUrl`.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/CustomerSession' }, { type: 'object', properties: { token: { type: 'string', example: 'tg_cs_…' }, billingPageUrl: { type: 'string', example: '/billing/#customer=acme&token=tg_cs_…', description: 'The reference billing page opened for this session, relative to the API\'s address; the token rides in the fragment, which browsers never send to a server.' } } }] } } } },
            ...badRequest(...BODY_CODES, ...PATH_CODES, 'idempotency_key_not_supported'),
            ...authErrors,
            404: notFound,
            ...bodyLimits,
          },
        },
      },
      // Before …/sessions/{sessionId}: the route table takes the first template that matches a path.
      '/v1/customers/{customerId}/sessions/rotate': {
        post: {
          summary: 'A session trades itself for a new token (same customer, same expiry); the old token stops working',
          description: 'Only a customer session may call it, for itself. The billing page does so when it opens, so the token in the link it was opened with (kept in the browser\'s history) is dead from then on. A revoked or expired session gets 401; two rotations at once leave one live token.',
          parameters: [customerIdParam, secretNotStored],
          responses: {
            201: { description: 'The new session, with its token in `token`.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/CustomerSession' }, { type: 'object', properties: { token: { type: 'string', example: 'tg_cs_…' } } }] } } } },
            ...badRequest(...PATH_CODES, 'idempotency_key_not_supported', 'not_a_session'),
            ...authErrors,
          },
        },
      },
      '/v1/customers/{customerId}/sessions/{sessionId}': {
        delete: {
          summary: 'Revoke a customer session (log out)',
          description: 'From the next request on its token answers 401 (in other API processes within 5 s). The session itself may call this: a browser logs out without a server key. Revoking twice answers the first revocation.',
          parameters: [customerIdParam, { name: 'sessionId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            200: { description: 'The session, with `revokedAt`.', content: { 'application/json': { schema: { $ref: '#/components/schemas/CustomerSession' } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: errorResponse('No such session for this customer.', ['session_not_found']),
          },
        },
      },
      '/v1/customers/{customerId}/invoices/{number}': {
        get: {
          summary: 'One invoice',
          parameters: [customerIdParam, invoiceNumberParam],
          responses: {
            200: { description: 'The invoice.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Invoice' } } } },
            ...badRequest(...PATH_CODES),
            ...authErrors,
            404: invoiceNotFound,
          },
        },
      },
    },
  };
}

/**
 * The OpenAPI 3.1 document served at GET /openapi.json. Request bodies come from the same zod
 * schemas that validate requests (z.toJSONSchema), so the document cannot drift from the checks.
 */
import { z } from 'zod';
import { REFUSAL_CODES } from '../workflows/refusals.js';
import { createCustomerBody } from './schemas.js';

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
    status: { type: 'string', enum: ['active', 'cancel_scheduled'] },
    cancelAtPeriodEnd: { type: 'boolean' },
    currentPeriod: span,
    currentCycle: span,
    creditBalance: money,
    creditOwed: money,
    usage: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          metric: { type: 'string' }, name: { type: 'string' }, unit: { type: 'string' },
          used: { type: 'integer' }, limit: { type: 'integer' }, percent: { type: 'number' },
          remaining: { type: 'integer' }, overage: { type: 'integer' }, overLimitPolicy: { type: 'string' }, blocked: { type: 'boolean' },
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
    reason: { type: 'string', enum: ['subscription_create', 'renewal'] },
    issuedAt: { type: 'string', format: 'date-time' },
    period: span,
    subtotal: money, tax: money, total: money,
    pdfUrl: { type: ['string', 'null'] },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          kind: { type: 'string', enum: ['plan', 'seats', 'proration', 'overage', 'credit'] },
          description: { type: 'string' }, quantity: { type: 'string' }, unitPrice: money, amount: money, period: span,
        },
      },
    },
  },
};

const customerIdParam = { name: 'customerId', in: 'path', required: true, schema: { type: 'string' } };
const authErrors = { 401: errorResponse('Missing or invalid API key.', ['unauthorized']) };
const notFound = errorResponse('Unknown customer.', ['customer_not_found']);

export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate API',
      version: '0.1.0',
      description: 'Subscription billing: customers, plans, renewals and invoices. Every subscription is a Temporal workflow. Errors are `{ "error": { "code", "message", "details"? } }` with stable codes.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An operator API key (TOLLGATE_OPERATOR_KEY).' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } },
        },
        CreateCustomer: z.toJSONSchema(createCustomerBody, { io: 'input', target: 'draft-2020-12' }),
        Subscription: subscriptionSchema,
        Invoice: invoiceSchema,
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
          description: 'Starts the workflow `subscription-<id>`. A new paid subscription gets an invoice for its first period; an import (with `periodStart`) does not.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateCustomer' } } } },
          responses: {
            201: { description: 'Created.', content: { 'application/json': { schema: { type: 'object', properties: { customer: { type: 'object' }, subscription: { $ref: '#/components/schemas/Subscription' } } } } } },
            400: errorResponse('Malformed request.', ['invalid_json', 'validation_failed']),
            ...authErrors,
            409: errorResponse('Already exists.', ['customer_exists']),
            413: errorResponse('Body too large.', ['payload_too_large']),
            422: errorResponse('Not possible with this catalog.', ['unknown_plan', 'interval_not_offered', 'invalid_seats', 'invalid_period_start']),
            503: errorResponse('Temporal unreachable; nothing was created.', ['temporal_unavailable']),
          },
        },
      },
      '/v1/customers/{customerId}/subscription': {
        get: {
          summary: 'The subscription (usage card)',
          parameters: [customerIdParam],
          responses: { 200: { description: 'The usage card.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } }, ...authErrors, 404: notFound },
        },
      },
      '/v1/customers/{customerId}/subscription/cancel': {
        post: {
          summary: 'Cancel at the period end',
          description: 'The plan stays until the period ends, then the subscription becomes Free. Data is kept.',
          parameters: [customerIdParam],
          responses: {
            200: { description: 'Cancellation scheduled.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } },
            ...authErrors,
            404: notFound,
            409: errorResponse('Refused by the subscription.', REFUSAL_CODES.filter((c) => c !== 'no_cancellation_scheduled')),
          },
        },
      },
      '/v1/customers/{customerId}/subscription/reactivate': {
        post: {
          summary: 'Undo a scheduled cancellation',
          parameters: [customerIdParam],
          responses: {
            200: { description: 'Reactivated.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } } },
            ...authErrors,
            404: notFound,
            409: errorResponse('Refused by the subscription.', ['no_cancellation_scheduled']),
          },
        },
      },
      '/v1/customers/{customerId}/invoices': {
        get: {
          summary: 'Invoices, newest period first',
          parameters: [customerIdParam, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }],
          responses: {
            200: { description: 'Invoices.', content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: { $ref: '#/components/schemas/Invoice' } }, hasMore: { type: 'boolean' } } } } } },
            ...authErrors,
            404: notFound,
          },
        },
      },
    },
  };
}

/**
 * The OpenAPI document's prepaid-credit routes (issue 10), read without a server: each path with
 * exactly its methods (the API's 405 handling reads its route table from this document), the
 * response codes each operation documents, and request-body schemas that accept what the routes'
 * zod schemas accept (and refuse what they refuse) on a few typical bodies.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormatsModule from 'ajv-formats';
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { autoRechargeBody, grantCreditsBody, purchaseCreditsBody } from '../../api/credits/creditSchemas.js';
import { routeTableOf } from '../../api/http/routeTable.js';
import { openApiDocument } from '../../api/openapi.js';

// ajv-formats is CommonJS: under NodeNext the default import is the module object; the plugin is its `.default`.
const addFormats = ajvFormatsModule.default;

interface Operation {
  parameters?: Array<{ name: string; in: string; schema?: Record<string, unknown> }>;
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { description: string }>;
}
type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; enum?: unknown[]; items?: JsonSchema };
const doc = openApiDocument() as unknown as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
};

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const methodsOf = (path: string) => Object.keys(doc.paths[path] ?? {}).filter((key) => HTTP_METHODS.includes(key)).sort();
const operation = (path: string, method: string): Operation => {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
  return op;
};
/** The codes a documented error response lists (errorResponse ends its description with "Codes: `a`, `b`."). */
const codesOf = (op: Operation, status: number) => {
  const listed = (op.responses[String(status)]?.description ?? '').split(' Codes: ').at(-1) ?? '';
  return [...listed.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
};

const CREDITS = '/v1/customers/{customerId}/credits';
const ROUTES: Record<string, string[]> = {
  [CREDITS]: ['get'],
  [`${CREDITS}/transactions`]: ['get'],
  [`${CREDITS}/purchases`]: ['post'],
  [`${CREDITS}/grants`]: ['post'],
  [`${CREDITS}/auto-recharge`]: ['put'],
};

describe('the OpenAPI document: prepaid credits', () => {
  it('documents the five credit routes with exactly their methods, and the route table answers the same', () => {
    const table = routeTableOf(doc.paths);
    for (const [path, methods] of Object.entries(ROUTES)) {
      expect(methodsOf(path), path).toEqual(methods);
      const concrete = path.replace('{customerId}', 'acme');
      const allowed = methods.flatMap((m) => (m === 'get' ? ['GET', 'HEAD'] : [m.toUpperCase()]));
      expect(table.allowedMethods(concrete), concrete).toEqual(allowed);
      expect(operation(path, methods[0]!).parameters?.some((p) => p.name === 'customerId' && p.in === 'path')).toBe(true);
    }
  });

  it('documents the answers each route gives, with their codes', () => {
    const summary = operation(CREDITS, 'get');
    expect(Object.keys(summary.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404']));
    expect(codesOf(summary, 404)).toEqual(['customer_not_found', 'credits_not_offered']);

    const history = operation(`${CREDITS}/transactions`, 'get');
    const query = Object.fromEntries((history.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p.schema]));
    expect(query.limit).toMatchObject({ type: 'integer', minimum: 1, maximum: 200, default: 50 });
    expect(query.before).toMatchObject({ type: 'string', format: 'date-time' });
    expect(codesOf(history, 404)).toEqual(['customer_not_found', 'credits_not_offered']);

    const purchase = operation(`${CREDITS}/purchases`, 'post');
    expect(purchase.requestBody?.content['application/json']?.schema.$ref).toBe('#/components/schemas/PurchaseCredits');
    expect(purchase.parameters?.some((p) => p.name === 'Idempotency-Key' && p.in === 'header')).toBe(true);
    expect(Object.keys(purchase.responses)).toEqual(expect.arrayContaining(['200', '202', '400', '401', '402', '404', '409', '413', '415', '422', '503']));
    expect(codesOf(purchase, 402)).toEqual(['payment_required']);
    expect(codesOf(purchase, 409)).toEqual(expect.arrayContaining(['too_many_pending_purchases', 'credits_after_renewal', 'subscription_busy']));
    expect(codesOf(purchase, 422)).toEqual(expect.arrayContaining(['credits_not_offered', 'unknown_pack', 'amount_out_of_range', 'invalid_amount', 'custom_amount_not_offered']));

    const grant = operation(`${CREDITS}/grants`, 'post');
    expect(grant.requestBody?.content['application/json']?.schema.$ref).toBe('#/components/schemas/GrantCredits');
    expect(Object.keys(grant.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '404']));

    const recharge = operation(`${CREDITS}/auto-recharge`, 'put');
    expect(recharge.requestBody?.content['application/json']?.schema.$ref).toBe('#/components/schemas/AutoRecharge');
    expect(Object.keys(recharge.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404', '409', '422']));
    expect(codesOf(recharge, 409)).toEqual(['payment_provider_required']);
    expect(codesOf(recharge, 422)).toEqual(expect.arrayContaining(['unknown_pack', 'pack_required', 'threshold_required', 'spending_limit_below_pack', 'invalid_amount']));
  });

  it('documents insufficient_credits on usage events and the credits on the usage card', () => {
    const events = operation('/v1/usage/events', 'post');
    expect(codesOf(events, 402)).toEqual(expect.arrayContaining(['insufficient_credits', 'payment_past_due']));
    expect(doc.components.schemas.UsageResult?.properties?.code?.enum).toContain('insufficient_credits');
    expect(doc.components.schemas.Subscription?.properties?.credits?.properties).toMatchObject({ unit: { type: 'string' }, balance: { type: 'string' } });
    const check = operation('/v1/usage/check', 'get') as Operation & { responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }> };
    expect(check.responses['200']?.content?.['application/json']?.schema.properties?.credits?.properties).toMatchObject({ needed: {}, balance: {}, unit: {} });
  });

  describe('request bodies agree with the routes\' zod schemas', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validatorOf = (name: string) => {
      const { $schema: _draft, ...schema } = doc.components.schemas[name]!;
      return ajv.compile(schema);
    };
    const agree = (name: string, zodSchema: z.ZodType, bodies: Array<[unknown, boolean]>) => {
      const validate = validatorOf(name);
      for (const [body, accepted] of bodies) {
        expect(validate(body), `${name} ${JSON.stringify(body)}: ${ajv.errorsText(validate.errors)}`).toBe(accepted);
        expect(zodSchema.safeParse(body).success, `zod ${JSON.stringify(body)}`).toBe(accepted);
      }
    };

    it('PurchaseCredits: a pack or an amount, exactly one', () => {
      agree('PurchaseCredits', purchaseCreditsBody, [
        [{ packId: 'standard' }, true],
        [{ amount: '75.00' }, true],
        [{ packId: 'standard', checkout: { successUrl: 'https://app.test/ok?s={CHECKOUT_SESSION_ID}', cancelUrl: 'https://app.test/no' } }, true],
        [{}, false],
        [{ packId: 'standard', amount: '75.00' }, false],
        [{ amount: '75' }, true],
        [{ amount: '-5' }, false],
        [{ amount: 75 }, false],
        [{ packId: '' }, false],
        [{ packId: 'standard', quantity: 2 }, false],
        [{ packId: 'standard', checkout: { successUrl: 'https://app.test/ok' } }, false],
      ]);
    });

    it('GrantCredits and AutoRecharge', () => {
      agree('GrantCredits', grantCreditsBody, [
        [{ credits: '1000000', type: 'promotional', reason: 'Welcome gift' }, true],
        [{ credits: '25.00', type: 'manual', reason: 'Paid by wire' }, true],
        [{ credits: '1000000', type: 'gift', reason: 'x' }, false],
        [{ credits: '1000000', type: 'manual' }, false],
      ]);
      agree('AutoRecharge', autoRechargeBody, [
        [{ enabled: true, packId: 'standard', threshold: '500000', spendingLimit: '50.00' }, true],
        [{ enabled: false }, true],
        [{ enabled: true, packId: null, threshold: null, spendingLimit: null }, true],
        [{ packId: 'standard' }, false],
        [{ enabled: 'yes' }, false],
      ]);
    });
  });
});

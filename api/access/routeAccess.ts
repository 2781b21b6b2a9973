/**
 * Who may call each route, as data: the one table the access check (api/access/accessCheck.ts)
 * enforces and the OpenAPI document publishes (`x-tollgate-access` on each operation). A route
 * missing here, or an entry with no route, fails at startup (`assertEveryRouteHasAccess`), so a
 * new route cannot ship open or closed by accident.
 *
 * An `admin` key opens every route. `scopes` lists the other scopes that open it; `customer` says a
 * customer session may call it for its own customer (the `{customerId}` in the path). Operator
 * actions — creating customers, recording usage, grants, refunds, settling invoices, keys and
 * sessions — are closed to sessions: a browser holds a session, never a server key.
 */
import type { Scope } from './scopes.js';

export interface RouteAccess {
  /** Scopes besides `admin` that open the route. */
  scopes: readonly Exclude<Scope, 'admin'>[];
  /** A customer session may call it for the customer in its path. */
  customer: boolean;
}

const customerRead: RouteAccess = { scopes: ['read'], customer: true };
const customerWrite: RouteAccess = { scopes: [], customer: true };
const operatorOnly: RouteAccess = { scopes: [], customer: false };
const usageWrite: RouteAccess = { scopes: ['usage:write'], customer: false };
/** Read by server keys, never by a customer session (test clocks: an operator's tool). */
const operatorRead: RouteAccess = { scopes: ['read'], customer: false };

/** `METHOD /template` → who may call it. HEAD follows GET. */
export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = {
  'POST /v1/customers': operatorOnly,
  'POST /v1/customers/import': operatorOnly,
  'GET /v1/customers/{customerId}': customerRead,
  'GET /v1/customers/{customerId}/subscription': customerRead,
  'POST /v1/customers/{customerId}/subscription/cancel': customerWrite,
  'POST /v1/customers/{customerId}/subscription/reactivate': customerWrite,
  'POST /v1/customers/{customerId}/subscription/change': customerWrite,
  'GET /v1/customers/{customerId}/subscription/change-preview': customerRead,
  'GET /v1/customers/{customerId}/plans': customerRead,
  'POST /v1/usage/events': usageWrite,
  'POST /v1/usage/events/batch': usageWrite,
  'GET /v1/usage/check': { scopes: ['read', 'usage:write'], customer: false },
  'GET /v1/customers/{customerId}/alert-channels': customerRead,
  'PUT /v1/customers/{customerId}/alert-channels': customerWrite,
  'GET /v1/customers/{customerId}/alerts': customerRead,
  'GET /v1/customers/{customerId}/overage': customerRead,
  'GET /v1/customers/{customerId}/credits': customerRead,
  'GET /v1/customers/{customerId}/credits/transactions': customerRead,
  'POST /v1/customers/{customerId}/credits/purchases': customerWrite,
  'POST /v1/customers/{customerId}/credits/purchases/{purchaseId}/refund': operatorOnly,
  'POST /v1/customers/{customerId}/credits/grants': operatorOnly,
  'PUT /v1/customers/{customerId}/credits/auto-recharge': customerWrite,
  'GET /v1/customers/{customerId}/invoices': customerRead,
  'GET /v1/customers/{customerId}/invoices/{number}': customerRead,
  'GET /v1/customers/{customerId}/invoices/{number}.pdf': customerRead,
  'POST /v1/customers/{customerId}/invoices/{number}/mark-paid': operatorOnly,
  'POST /v1/customers/{customerId}/invoices/{number}/void': operatorOnly,
  'POST /v1/customers/{customerId}/payment-method/checkout': customerWrite,
  'POST /v1/customers/{customerId}/billing-portal': customerWrite,
  'GET /v1/test-clocks': operatorRead,
  'POST /v1/test-clocks': operatorOnly,
  'GET /v1/test-clocks/{clockId}': operatorRead,
  'DELETE /v1/test-clocks/{clockId}': operatorOnly,
  'POST /v1/test-clocks/{clockId}/advance': operatorOnly,
  'GET /v1/api-keys': operatorOnly,
  'POST /v1/api-keys': operatorOnly,
  'DELETE /v1/api-keys/{keyId}': operatorOnly,
  'POST /v1/customers/{customerId}/sessions': operatorOnly,
  'POST /v1/customers/{customerId}/sessions/rotate': customerWrite,
  'GET /v1/audit-log': { scopes: ['read'], customer: false },
  'POST /v1/webhook-endpoints': operatorOnly,
  'GET /v1/webhook-endpoints': { scopes: ['read'], customer: false },
  'GET /v1/webhook-endpoints/{endpointId}': { scopes: ['read'], customer: false },
  'DELETE /v1/webhook-endpoints/{endpointId}': operatorOnly,
  'POST /v1/webhook-endpoints/{endpointId}/rotate-secret': operatorOnly,
  'GET /v1/webhook-endpoints/{endpointId}/deliveries': { scopes: ['read'], customer: false },
  'POST /v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver': operatorOnly,
  // A session may end itself (or another of its customer's): logging out needs no server key.
  'DELETE /v1/customers/{customerId}/sessions/{sessionId}': customerWrite,
};

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

/** The rule for a request's method on a route template; HEAD is GET's. */
export function routeAccessOf(method: string, template: string): RouteAccess | undefined {
  return ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${template}`];
}

/**
 * Every operation of the document that needs a credential (no `security: []`) has a rule, and
 * every rule an operation. Throws naming the first mismatch.
 */
export function assertEveryRouteHasAccess(paths: Readonly<Record<string, object>>): void {
  const guarded = new Set<string>();
  for (const [template, item] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, { security?: unknown }>)) {
      if (!HTTP_METHODS.has(method)) continue;
      const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
      if (isPublic) continue;
      const key = `${method.toUpperCase()} ${template}`;
      guarded.add(key);
      if (!ROUTE_ACCESS[key]) throw new Error(`internal: ${key} has no access rule in api/access/routeAccess.ts`);
    }
  }
  for (const key of Object.keys(ROUTE_ACCESS)) {
    if (!guarded.has(key)) throw new Error(`internal: the access rule for ${key} names no guarded operation of the OpenAPI document`);
  }
}

/**
 * The one access check, shared by the Express app and the lean usage handler: who is calling
 * (api/access/credentialResolver.ts) and whether the route lets them (api/access/routeAccess.ts).
 *   no or malformed credential, unknown, revoked or expired → 401 `unauthorized`
 *   a credential the route is closed to, or another customer's session → 403 `forbidden`
 *   past the caller's rate budget (api/access/rateLimits.ts)            → 429 `rate_limited`
 * A path no route has needs a valid credential too (then 404), so probing tells nothing; only an
 * `admin` key goes on from there to Express (whose 404 it then gets), so a route Express had and
 * the document lacked would still be closed to everyone else.
 */
import type { RequestHandler, Response } from 'express';
import { ApiError } from '../errors.js';
import type { RouteTable } from '../http/routeTable.js';
import type { CredentialResolver } from './credentialResolver.js';
import type { Principal } from './principal.js';
import type { RateLimits } from './rateLimits.js';
import { routeAccessOf, type RouteAccess } from './routeAccess.js';

const PRINCIPAL = 'principal';

function bearerOf(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

function decoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // As the router answers the same path for a key.
    throw new ApiError(400, 'invalid_path', 'The request path is not valid percent-encoded UTF-8.');
  }
}

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message, undefined, { 'www-authenticate': 'Bearer' });

/** Why `principal` may not call a route with this rule and path parameters, or undefined when it may. */
function refusal(principal: Principal, rule: RouteAccess, params: Readonly<Record<string, string>>): ApiError | undefined {
  if (principal.kind === 'key') {
    if (principal.scopes.includes('admin') || rule.scopes.some((scope) => principal.scopes.includes(scope))) return undefined;
    const needed = ['admin', ...rule.scopes].map((s) => `\`${s}\``).join(' or ');
    return new ApiError(403, 'forbidden', `This key (${principal.name}) may not call this route: it needs the scope ${needed}.`);
  }
  if (!rule.customer) return new ApiError(403, 'forbidden', 'A customer session may not call this route: it needs a server key.');
  const customerId = params.customerId === undefined ? undefined : decoded(params.customerId);
  if (customerId !== principal.customerId) return new ApiError(403, 'forbidden', 'This customer session is for another customer.');
  return undefined;
}

export class AccessCheck {
  constructor(private readonly resolver: CredentialResolver, private readonly table: RouteTable, private readonly limits: RateLimits) {}

  /** The caller of `method pathname`, once admitted and counted against its rate budget; else rejects with the 401/403/429. */
  async check(method: string, pathname: string, authorization: string | undefined, address: string | undefined): Promise<Principal> {
    const secret = bearerOf(authorization);
    if (!secret) throw unauthorized('Send an API key or a customer session token as `Authorization: Bearer <secret>`.');
    const resolved = this.resolver.resolve(secret, () => this.limits.admitLookup(address ?? 'unknown'));
    const principal = this.admit(resolved instanceof Promise ? await resolved : resolved, method, pathname);
    await this.limits.admit(principal, pathname.startsWith('/v1/usage/') ? 'usage' : 'other');
    this.resolver.used(principal);
    return principal;
  }

  private admit(principal: Principal | undefined, method: string, pathname: string): Principal {
    if (!principal) throw unauthorized('The key or session token is not valid (unknown, revoked or expired).');
    const route = this.table.match(pathname);
    if (!route) {
      if (principal.kind === 'key' && principal.scopes.includes('admin')) return principal;
      throw new ApiError(404, 'not_found', `No route for ${method} ${pathname}.`);
    }
    const rule = routeAccessOf(method, route.template);
    // A method the route lacks: the 405 came first (both servers check methods before access).
    if (!rule) return principal;
    const refused = refusal(principal, rule, route.params);
    if (refused) throw refused;
    return principal;
  }
}

/** Express: admits the request or passes its 401/403/429 on; the caller is then `principalOf(res)`. */
export function requireAccess(access: AccessCheck): RequestHandler {
  return (req, res, next) => {
    access.check(req.method, req.path, req.get('authorization'), req.socket.remoteAddress).then((principal) => {
      res.locals[PRINCIPAL] = principal;
      next();
    }, next);
  };
}

export function principalOf(res: Response): Principal {
  const principal = res.locals[PRINCIPAL] as Principal | undefined;
  if (!principal) throw new Error('internal: no principal (route mounted before the access check)');
  return principal;
}

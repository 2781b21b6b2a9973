/**
 * Which methods each path allows, read from the OpenAPI document's `paths` — the one list of
 * routes — so the Express app and the lean usage handler answer a wrong method the same way:
 * 405 `method_not_allowed` with an `Allow` header. HEAD is allowed wherever GET is.
 */
import type { RequestHandler } from 'express';
import { ApiError } from '../errors.js';

const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface RouteTable {
  /** The methods allowed on a request path (not decoded), or undefined when no route has that path. */
  allowedMethods(pathname: string): readonly string[] | undefined;
  /** The route a request path falls on: its template (`/v1/customers/{customerId}`) and its parameters, still percent-encoded. */
  match(pathname: string): RouteMatch | undefined;
}

export interface RouteMatch {
  template: string;
  methods: readonly string[];
  params: Readonly<Record<string, string>>;
}

interface Route {
  template: string;
  names: readonly string[];
  pattern: RegExp;
  methods: readonly string[];
}

/** `/v1/customers/{customerId}/invoices` → a pattern matching one non-empty segment per parameter. */
function patternOf(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '([^/]+)' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  // Like Express's router: case-insensitive, and a trailing slash is ignored.
  return new RegExp(`^${source}/?$`, 'i');
}

export function routeTableOf(paths: Readonly<Record<string, object>>): RouteTable {
  const routes: Route[] = Object.entries(paths).map(([template, item]) => {
    const methods = OPENAPI_METHODS.filter((m) => m in item).map((m) => m.toUpperCase());
    if (methods.includes('GET') && !methods.includes('HEAD')) methods.splice(methods.indexOf('GET') + 1, 0, 'HEAD');
    const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    return { template, names, pattern: patternOf(template), methods };
  });
  const match = (pathname: string): RouteMatch | undefined => {
    for (const route of routes) {
      const found = route.pattern.exec(pathname);
      if (found) return { template: route.template, methods: route.methods, params: Object.fromEntries(route.names.map((name, i) => [name, found[i + 1]!])) };
    }
    return undefined;
  };
  return {
    allowedMethods: (pathname) => match(pathname)?.methods,
    match,
  };
}

/** The 405 for a method not among a route's allowed ones, or undefined when it is allowed. */
export function methodNotAllowed(allowed: readonly string[], method: string): ApiError | undefined {
  if (allowed.includes(method)) return undefined;
  const allow = allowed.join(', ');
  return new ApiError(405, 'method_not_allowed', `${method} is not allowed here; use ${allow}.`, { allowed }, { allow });
}

/** The 405 for a method the path does not allow, or undefined when it is allowed (or no such path). */
export function wrongMethod(table: RouteTable, method: string, pathname: string): ApiError | undefined {
  const allowed = table.allowedMethods(pathname);
  return allowed && methodNotAllowed(allowed, method);
}

/** Express middleware; runs before auth, since the allowed methods are public (GET /openapi.json). */
export function rejectWrongMethod(table: RouteTable): RequestHandler {
  return (req, _res, next) => next(wrongMethod(table, req.method, req.path));
}

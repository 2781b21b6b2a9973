/** What a server key may do (api/access/routeAccess.ts says which routes each opens). */
export const SCOPES = ['admin', 'read', 'usage:write'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_MEANINGS: Readonly<Record<Scope, string>> = {
  admin: 'every route, including creating keys and customer sessions',
  read: 'every GET route under /v1 except key listings',
  'usage:write': 'recording usage (POST /v1/usage/events and /batch) and the allow/refuse check',
};

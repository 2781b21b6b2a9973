/** Who is calling: a server key (the operator key is one, named `operator`) or one customer's session. */
import type { Scope } from './scopes.js';

export type Principal =
  | { kind: 'key'; /** undefined for the operator key from configuration */ keyId: string | undefined; name: string; scopes: readonly Scope[] }
  | { kind: 'session'; sessionId: string; customerId: string; expiresAt: number };

/** How records and logs name a caller (never a secret): `key:<name>` (names are unique for good; `operator` is reserved) or `session:<id>`. */
export function describePrincipal(principal: Principal): string {
  return principal.kind === 'key' ? `key:${principal.name}` : `session:${principal.sessionId}`;
}

/** The operator key from configuration is named this; no stored key may take the name. */
export const OPERATOR_KEY_NAME = 'operator';

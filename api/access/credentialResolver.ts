/**
 * Turns a bearer secret into who is calling. The operator key from configuration is compared in
 * constant time; server keys and customer sessions are looked up by the SHA-256 of the secret.
 *
 * Only secrets of the shape Tollgate issues are looked up. Lookups are cached for `cacheMs`
 * (default 5 s), found or not (apart, so made-up secrets cannot push real ones out), and a lookup
 * under way is shared: the usage routes' thousands of requests a second cost no database round
 * trip for their key, and a burst of one bad secret costs one. Revoking through this process takes
 * effect here at once (a lookup under way included); other API processes see it within `cacheMs`. A session's expiry is checked on every request against the cached expiry, so it is
 * exact. A key's `last_used_at` is written at most once a minute per process (it is a hint for
 * operators, not an audit trail: that is the audit log's job).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import { OPERATOR_KEY_NAME, type Principal } from './principal.js';
import { SCOPES, type Scope } from './scopes.js';
import { secretHash, SERVER_KEY_PREFIX } from './secrets.js';

const LAST_USED_EVERY_MS = 60_000;
/** What Tollgate issues (api/access/secrets.ts): anything else is refused without a lookup. */
const ISSUED_SHAPE = /^tg_(sk|cs)_[A-Za-z0-9_-]{43}$/;

interface Cached {
  principal: Principal;
  until: number;
}

export interface CredentialResolverOptions {
  db: Db;
  operatorKey: string;
  logger: Logger;
  now?: () => number;
  cacheMs?: number;
  /** Found credentials kept at most (and as many unknown ones, apart, so a flood of made-up secrets cannot push real ones out); the oldest go first. */
  maxEntries?: number;
}

const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

/** A Map used as a bounded cache: past `max` entries, the oldest go. */
function setBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value!);
}

export class CredentialResolver {
  private readonly operatorDigest: Buffer;
  private readonly found = new Map<string, Cached>();
  /** Cache key → until when it is known not to exist (or to be revoked). */
  private readonly unknown = new Map<string, number>();
  /** Lookups under way, so a burst of one secret costs one query. */
  private readonly pending = new Map<string, Promise<Principal | undefined>>();
  /** Credential id → when this process revoked it: refused whatever a lookup under way or a cache says, for as long as either could hold it. */
  private readonly revoked = new Map<string, number>();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: CredentialResolverOptions) {
    this.operatorDigest = createHash('sha256').update(options.operatorKey).digest();
    this.now = options.now ?? Date.now;
    this.cacheMs = options.cacheMs ?? 5_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * Who holds `secret`, or undefined for an unknown, revoked or expired one. Synchronous when
   * cached. `beforeLookup` runs before a database lookup this call would start (a rate limit).
   */
  resolve(secret: string, beforeLookup?: () => Promise<void>): Principal | undefined | Promise<Principal | undefined> {
    const digest = createHash('sha256').update(secret).digest();
    if (timingSafeEqual(digest, this.operatorDigest)) return { kind: 'key', keyId: undefined, name: OPERATOR_KEY_NAME, scopes: ['admin'] };
    if (!ISSUED_SHAPE.test(secret)) return undefined;
    const cacheKey = digest.toString('hex');
    const at = this.now();
    const cached = this.found.get(cacheKey);
    if (cached && cached.until > at) return this.live(cached.principal, at);
    if ((this.unknown.get(cacheKey) ?? 0) > at) return undefined;
    let lookup = this.pending.get(cacheKey);
    if (!lookup) {
      lookup = (beforeLookup ? beforeLookup().then(() => this.lookUp(secret, cacheKey)) : this.lookUp(secret, cacheKey)).finally(() => this.pending.delete(cacheKey));
      this.pending.set(cacheKey, lookup);
    }
    return lookup.then((principal) => this.live(principal, this.now()));
  }

  /** After a revocation in this process: the credential is refused from the next request on, even by a lookup already under way. */
  forget(credentialId: string): void {
    const at = this.now();
    this.revoked.set(credentialId, at);
    // Past twice the cache time no cache entry or lookup from before the revocation is left.
    for (const [id, when] of this.revoked) {
      if (at - when <= 2 * this.cacheMs) break;
      this.revoked.delete(id);
    }
  }

  /** A request was admitted with this credential: note a key's last use (a refused request writes nothing). */
  used(principal: Principal): void {
    if (principal.kind === 'key' && principal.keyId) this.touch(principal.keyId, this.now());
  }

  private live(principal: Principal | undefined, at: number): Principal | undefined {
    if (!principal || this.revoked.has(idOf(principal))) return undefined;
    if (principal.kind === 'session') return principal.expiresAt > at ? principal : undefined;
    return principal;
  }

  private async lookUp(secret: string, cacheKey: string): Promise<Principal | undefined> {
    const hash = secretHash(secret);
    let principal: Principal | undefined;
    if (secret.startsWith(SERVER_KEY_PREFIX)) {
      const key = await this.options.db.apiKey.findUnique({ where: { secretHash: hash }, select: { id: true, name: true, scopes: true, revokedAt: true } });
      if (key && !key.revokedAt) principal = { kind: 'key', keyId: key.id, name: key.name, scopes: key.scopes.filter(isScope) };
    } else {
      const session = await this.options.db.customerSession.findUnique({ where: { secretHash: hash }, select: { id: true, customerId: true, expiresAt: true, revokedAt: true } });
      if (session && !session.revokedAt) principal = { kind: 'session', sessionId: session.id, customerId: session.customerId, expiresAt: session.expiresAt.getTime() };
    }
    const until = this.now() + this.cacheMs;
    if (principal) setBounded(this.found, cacheKey, { principal, until }, this.maxEntries);
    else setBounded(this.unknown, cacheKey, until, this.maxEntries);
    return principal;
  }

  private touch(keyId: string, at: number): void {
    const last = this.lastUsedWritten.get(keyId);
    if (last !== undefined && at - last < LAST_USED_EVERY_MS) return;
    setBounded(this.lastUsedWritten, keyId, at, this.maxEntries);
    this.options.db.apiKey.update({ where: { id: keyId }, data: { lastUsedAt: new Date(at) } }).catch((error: unknown) => {
      // A hint only: a failed write is retried on a later request.
      this.lastUsedWritten.delete(keyId);
      this.options.logger.warn({ err: error, keyId }, 'could not record a key\'s last use');
    });
  }
}

const idOf = (principal: Principal) => (principal.kind === 'key' ? principal.keyId ?? OPERATOR_KEY_NAME : principal.sessionId);

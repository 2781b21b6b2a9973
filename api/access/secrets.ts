/**
 * The secrets Tollgate issues: 32 random bytes, base64url, behind a prefix that says what they are
 * (`tg_sk_` a server key, `tg_cs_` a customer session), so a leaked one is recognisable (secret
 * scanners match prefixes) and the access check knows where to look it up. Only their SHA-256 is
 * stored: with 256 random bits there is nothing to brute-force, so no slow hash is needed.
 */
import { createHash, randomBytes } from 'node:crypto';

export const SERVER_KEY_PREFIX = 'tg_sk_';
export const SESSION_TOKEN_PREFIX = 'tg_cs_';

export function newSecret(prefix: typeof SERVER_KEY_PREFIX | typeof SESSION_TOKEN_PREFIX): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function secretHash(secret: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(secret).digest());
}

/** What a listing shows of a key: its prefix and first characters, enough to tell keys apart. */
export function visiblePrefix(secret: string): string {
  return secret.slice(0, SERVER_KEY_PREFIX.length + 6);
}

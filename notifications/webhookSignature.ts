/**
 * Signing outbound webhooks (issue 12): HMAC-SHA256 with the endpoint's secret over
 * `<timestamp>.<body>`, sent as `Tollgate-Signature: t=<unix seconds>,v1=<hex>` (and one more
 * `v1=` per extra secret while a rotation lets the previous one sign too). The scheme Stripe uses,
 * so hosts know it: a receiver recomputes the HMAC over the raw body, compares in constant time,
 * and refuses an old timestamp (replays).
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'tollgate-signature';
/** A receiver should refuse a signature older than this (README, OpenAPI). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const hmac = (secret: string, timestamp: number, body: string) => createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/** The header value for `body` sent at `timestamp` (unix seconds), signed with each secret. */
export function signatureHeader(body: string, timestamp: number, secrets: readonly string[]): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${hmac(secret, timestamp, body)}`)].join(',');
}

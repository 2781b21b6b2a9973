/**
 * Signing outbound webhooks (issue 12): HMAC-SHA256 with the endpoint's secret over
 * `<timestamp>.<body>`, sent as `Tollgate-Signature: t=<unix seconds>,v1=<hex>` (and one more
 * `v1=` per extra secret while a rotation lets the previous one sign too). The scheme Stripe uses,
 * so hosts know it: a receiver recomputes the HMAC over the raw body, compares in constant time,
 * and refuses an old timestamp (replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'tollgate-signature';
/** A receiver should refuse a signature older than this (README); verifyWebhookSignature does. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const hmac = (secret: string, timestamp: number, body: string) => createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/** The header value for `body` sent at `timestamp` (unix seconds), signed with each secret. */
export function signatureHeader(body: string, timestamp: number, secrets: readonly string[]): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${hmac(secret, timestamp, body)}`)].join(',');
}

/** What a receiver does (the README shows the same in three lines): true when one `v1` matches and `t` is recent. */
export function verifyWebhookSignature(body: string, header: string, secret: string, nowSeconds: number): boolean {
  const parts = header.split(',').map((part) => part.split('=', 2) as [string, string]);
  const timestamp = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = Buffer.from(hmac(secret, timestamp, body), 'hex');
  return parts.some(([k, v]) => k === 'v1' && /^[0-9a-f]{64}$/.test(v) && timingSafeEqual(Buffer.from(v, 'hex'), expected));
}

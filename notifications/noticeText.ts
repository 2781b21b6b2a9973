/**
 * Keeping outside text in its place in a notice (payment and credit notices): every value from a
 * customer, the catalog or a payment provider is kept on one line, clipped where it can be long,
 * and a link is shown only as a normalized http(s) URL — so a notice's lines are always ours.
 */

/** A failure reason from a provider can be a paragraph; a notice needs its gist. */
export const MAX_REASON_LENGTH = 300;

export function oneLine(value: string | null | undefined): string {
  return (value ?? '').replace(/[\s\p{Cc}]+/gu, ' ').trim();
}

export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** A sentence ends with a full stop unless it already ends with punctuation. */
export function sentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

/** YYYY-MM-DD (UTC) of an ISO timestamp or an epoch-ms instant; undefined when there is none. */
export function day(value: string | number | null | undefined): string | undefined {
  if (value === null || value === undefined || value === '' || (typeof value === 'number' && !Number.isFinite(value))) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString().slice(0, 10);
}

/** Only http(s) links, normalized (the WHATWG parser drops line breaks and percent-encodes spaces). */
export function link(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  const trimmed = url.trim();
  if (!URL.canParse(trimmed)) return undefined;
  const parsed = new URL(trimmed);
  return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
}

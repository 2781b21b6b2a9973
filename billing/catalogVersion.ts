/**
 * A catalog's version: a digest of its content. The preview of a plan change and the change itself
 * name the catalog they were decided from by it (docs/architecture.md, "Change rules"), so a
 * change previewed under one catalog is never applied under another. Content, not a counter: the
 * API, the worker and the workflow (which holds its own copy) all compute the same value with no
 * registry to agree on, and the same file loaded twice has one version.
 *
 * `@noble/hashes` (pure JavaScript, audited, no Node built-ins) because the workflow sandbox has
 * no `node:crypto`.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import type { Catalog } from './catalog.js';

/** A version as the API shows it: 16 hex digits (64 bits of SHA-256). */
export const CATALOG_VERSION_PATTERN = /^[0-9a-f]{16}$/;

const versions = new WeakMap<object, string>();

export function catalogVersionOf(catalog: Catalog): string {
  const known = versions.get(catalog);
  if (known !== undefined) return known;
  const version = bytesToHex(sha256(utf8ToBytes(canonicalJson(catalog)))).slice(0, 16);
  versions.set(catalog, version);
  return version;
}

/** JSON with object keys sorted, so key order (a file's, a parser's) does not change the version. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

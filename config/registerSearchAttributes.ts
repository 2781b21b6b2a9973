/**
 * Registers Tollgate's search attributes on the namespace (idempotent). The worker and the API do
 * this at start, so a plain Temporal server (compose, production) needs no manual setup step and
 * either process may be deployed first.
 */
import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import proto, { type temporal as protoTypes } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/searchAttributes.js';

const { temporal } = proto; // a CommonJS package: named imports do not resolve under ESM

const INDEXED_TYPE: Record<string, protoTypes.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

export async function registerSearchAttributes(connection: Connection | NativeConnection, namespace: string): Promise<string[]> {
  const operator = connection.operatorService;
  const existing = await operator.listSearchAttributes({ namespace }).catch(() => undefined);
  const known = new Set([
    ...Object.keys(existing?.customAttributes ?? {}),
    ...Object.keys(existing?.systemAttributes ?? {}),
  ]);
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  const searchAttributes: Record<string, protoTypes.api.enums.v1.IndexedValueType> = {};
  for (const key of missing) {
    const type = INDEXED_TYPE[key.type];
    if (type === undefined) throw new Error(`no indexed type for search attribute ${key.name} (${key.type})`);
    searchAttributes[key.name] = type;
  }
  try {
    await operator.addSearchAttributes({ namespace, searchAttributes });
  } catch (error) {
    // Another worker registered them at the same moment.
    if (!/already exists/i.test((error as Error).message)) throw error;
  }
  return missing.map((key) => key.name);
}

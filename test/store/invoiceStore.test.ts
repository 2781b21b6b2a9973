/** Invoice identity: the same key with the same content is the same invoice; with other content it is an error, never a hit. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { InvoiceDraft } from '../../billing/invoiceDraft.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { insertCustomer } from '../../store/customerStore.js';
import { InvoiceKeyConflictError, storeInvoice, withIdempotentRetry } from '../../store/invoiceStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  const catalog = loadCatalog();
  await insertCustomer(database.db, { id: 'inv-1', name: 'Invoice Co', email: 'i@example.test' }, newSubscriptionInput({ catalog, customerId: 'inv-1', planId: 'pro', interval: 'monthly', seats: 1, now: Date.UTC(2026, 0, 1) }));
});
afterAll(async () => {
  await database?.close();
});

const T = Date.UTC(2026, 0, 10);
const draft = (amountMinor: string, key = 'invoice:inv-1:plan_change:v2:change-a'): InvoiceDraft => ({
  customerId: 'inv-1',
  reason: 'plan_change',
  currency: 'USD',
  periodStart: T,
  periodEnd: T + 20 * 86_400_000,
  lines: [{ kind: 'proration', description: 'Basic (monthly) → Pro (monthly) for the rest of the period', quantity: '1', unitPrice: '20.00', amountMinor, periodStart: T, periodEnd: T + 20 * 86_400_000 }],
  totalMinor: amountMinor,
  idempotencyKey: key,
});

it('storing the same draft again returns the first invoice, without a second number', async () => {
  const first = await withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('1333'), 'none'));
  const again = await withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('1333'), 'none'));
  expect(first.created).toBe(true);
  expect(again).toEqual({ ...first, created: false });
  // Concurrent stores of one draft: one invoice.
  const racing = await Promise.all(Array.from({ length: 5 }, () => withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('500', 'invoice:inv-1:plan_change:v3:change-b'), 'none'))));
  expect(new Set(racing.map((r) => r.number)).size).toBe(1);
  expect(await database.db.invoice.count({ where: { customerId: 'inv-1' } })).toBe(2);
});

it('the same key with different content is refused, and nothing is stored', async () => {
  const before = await database.db.invoice.count();
  const error = await withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('2000'), 'none')).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvoiceKeyConflictError);
  expect((error as InvoiceKeyConflictError).code).toBe('invoice_key_conflict');
  expect((error as Error).message).toContain('total: stored 1333, now 2000');
  const otherLine = { ...draft('1333'), lines: [{ ...draft('1333').lines[0]!, description: 'Something else' }] };
  await expect(withIdempotentRetry(database.db, (tx) => storeInvoice(tx, otherLine, 'none'))).rejects.toThrow(/line 1 description/);
  expect(await database.db.invoice.count()).toBe(before);
});

it('a version-only plan-change key (runs from before the consistent-writes patch) keeps its old behaviour: the stored invoice', async () => {
  const legacy = 'invoice:inv-1:plan_change:v9';
  const first = await withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('700', legacy), 'none'));
  const other = await withIdempotentRetry(database.db, (tx) => storeInvoice(tx, draft('900', legacy), 'none'));
  expect(other).toEqual({ ...first, created: false });
});

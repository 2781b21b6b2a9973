/**
 * Test clocks (issue 14): a row per clock with its frozen instant and whether an advance is under
 * way, and the customers on it (customers.test_clock_id). The row is the lock that orders what
 * touches a clock: a customer joining it and an advance take it in turn, so an advance sees every
 * customer that joined before it, and no customer joins at an instant the clock has left.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export type TestClockStatus = 'ready' | 'advancing' | 'deleted';

export interface TestClockRecord {
  id: string;
  name: string | null;
  frozenTime: number;
  status: TestClockStatus;
  createdAt: number;
  customers: string[];
}

/** Customers one clock may carry: each advance steps every one of them, and the caller waits for all. */
export const MAX_CUSTOMERS_PER_CLOCK = 10;

export class TestClockError extends Error {
  constructor(readonly code: 'test_clock_not_found' | 'test_clock_advancing' | 'test_clock_full', message: string) {
    super(message);
    this.name = 'TestClockError';
  }
}

const notFound = (id: string) => new TestClockError('test_clock_not_found', `No test clock "${id}".`);

function recordOf(row: { id: string; name: string | null; frozenTime: Date; status: string; createdAt: Date; customers: { id: string }[] }): TestClockRecord {
  return {
    id: row.id,
    name: row.name,
    frozenTime: row.frozenTime.getTime(),
    status: row.status as TestClockStatus,
    createdAt: row.createdAt.getTime(),
    customers: row.customers.map((c) => c.id).sort(),
  };
}

const withCustomers = { customers: { select: { id: true }, orderBy: { id: 'asc' as const } } };

export async function createTestClock(db: Db, args: { frozenTime: number; name?: string | undefined }): Promise<TestClockRecord> {
  const row = await db.testClock.create({
    data: { id: `clock_${randomUUID().replaceAll('-', '')}`, name: args.name ?? null, frozenTime: new Date(args.frozenTime) },
    include: withCustomers,
  });
  return recordOf(row);
}

/** The clock, deleted ones included (their customers' history still names them); undefined when there is none. */
export async function findTestClock(db: Db | Tx, id: string): Promise<TestClockRecord | undefined> {
  const row = await db.testClock.findUnique({ where: { id }, include: withCustomers });
  return row ? recordOf(row) : undefined;
}

export async function listTestClocks(db: Db): Promise<TestClockRecord[]> {
  const rows = await db.testClock.findMany({ where: { status: { not: 'deleted' } }, include: withCustomers, orderBy: { createdAt: 'asc' } });
  return rows.map(recordOf);
}

/**
 * Locks a clock for a customer to join it, in the caller's transaction: its instant, which stays
 * put until the transaction ends. Refused while it advances, when deleted or full.
 */
export async function lockClockForJoining(tx: Tx, id: string): Promise<{ frozenTime: number }> {
  const rows = await tx.$queryRaw<{ frozen_time: Date; status: string }[]>`SELECT frozen_time, status FROM test_clocks WHERE id = ${id} FOR UPDATE`;
  const row = rows[0];
  if (!row || row.status === 'deleted') throw notFound(id);
  if (row.status === 'advancing') throw new TestClockError('test_clock_advancing', `Test clock "${id}" is advancing; add the customer once it has caught up.`);
  // Counted in a statement of its own, after the lock is held: a subquery of the locking statement
  // would read the snapshot taken before it waited, missing customers that joined meanwhile.
  const counted = await tx.$queryRaw<{ customers: bigint }[]>`SELECT count(*) AS customers FROM customers WHERE test_clock_id = ${id}`;
  if (Number(counted[0]?.customers ?? 0) >= MAX_CUSTOMERS_PER_CLOCK) throw new TestClockError('test_clock_full', `Test clock "${id}" already has ${MAX_CUSTOMERS_PER_CLOCK} customers, the most one clock takes.`);
  return { frozenTime: row.frozen_time.getTime() };
}

/**
 * Starts an advance: the clock's instant moves to `to` and it is `advancing` until every customer
 * has caught up. Only from `ready`; undefined when the clock is not ready (advancing, deleted, gone).
 */
export async function beginAdvance(db: Db, id: string, to: number): Promise<TestClockRecord | undefined> {
  const changed = await db.testClock.updateMany({ where: { id, status: 'ready', frozenTime: { lt: new Date(to) } }, data: { frozenTime: new Date(to), status: 'advancing' } });
  return changed.count === 1 ? findTestClock(db, id) : undefined;
}

/** Ends an advance once every customer caught up with `to` (a later advance can only begin after). */
export async function finishAdvance(db: Db, id: string, to: number): Promise<void> {
  await db.testClock.updateMany({ where: { id, status: 'advancing', frozenTime: new Date(to) }, data: { status: 'ready' } });
}

/** Marks the clock deleted (its customers keep pointing at it); false when it was already. */
export async function markTestClockDeleted(db: Db, id: string, at: Date): Promise<boolean> {
  const changed = await db.testClock.updateMany({ where: { id, status: { not: 'deleted' } }, data: { status: 'deleted', deletedAt: at } });
  return changed.count === 1;
}

export interface CustomerClock {
  clockId: string;
  frozenTime: number;
  status: TestClockStatus;
}

/**
 * Whether outbox crossings of these customers (usage thresholds, credit balance, a renewal's
 * recharge request) still wait for the relay to signal them to their workflows.
 */
export async function crossingsUnrelayed(db: Db, customerIds: readonly string[]): Promise<boolean> {
  const ids = [...customerIds];
  const rows = await db.$queryRaw<{ pending: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM usage_alerts WHERE signaled_at IS NULL AND customer_id = ANY(${ids}::text[]))
        OR EXISTS (SELECT 1 FROM credit_alerts WHERE signaled_at IS NULL AND customer_id = ANY(${ids}::text[])) AS pending`;
  return rows[0]?.pending === true;
}

/** Whether any customer runs on a test clock (the API then reads clocks even with new ones turned off). */
export async function anyCustomerOnATestClock(db: Db): Promise<boolean> {
  const rows = await db.$queryRaw<{ found: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM customers c JOIN test_clocks t ON t.id = c.test_clock_id WHERE t.status <> 'deleted') AS found`;
  return rows[0]?.found === true;
}

/** Each existing one of `customerIds` with its clock, or null on real time (one round trip; unknown ids are absent). */
export async function clocksOfCustomers(db: Db, customerIds: readonly string[]): Promise<Map<string, CustomerClock | null>> {
  if (customerIds.length === 0) return new Map();
  const rows = await db.$queryRaw<{ customer_id: string; clock_id: string | null; frozen_time: Date | null; status: string | null }[]>`
    SELECT c.id AS customer_id, t.id AS clock_id, t.frozen_time, t.status
    FROM customers c LEFT JOIN test_clocks t ON t.id = c.test_clock_id
    WHERE c.id = ANY(${[...new Set(customerIds)]}::text[])`;
  return new Map(rows.map((r) => [r.customer_id, r.clock_id === null || r.frozen_time === null ? null : { clockId: r.clock_id, frozenTime: r.frozen_time.getTime(), status: r.status as TestClockStatus }]));
}

/**
 * Bulk import of customers: their rows, subscription read models and usage so far, set-based in
 * one transaction (INSERT … SELECT FROM unnest: one statement per table for a thousand customers,
 * where insertCustomer makes one round trip per customer). Each subscription row is exactly what insertCustomer writes (the
 * same snapshotOfInput and subscriptionColumns): the workflow's first state, version included.
 *
 * A customer whose id already exists (or whose Stripe customer belongs to another one) is left as
 * it is: the inserts skip conflicting rows, so a concurrent import or POST /v1/customers of the
 * same id never fails the whole batch, and re-running an import changes nothing it already wrote.
 */
import { Prisma } from '../generated/prisma/client.js';
import { rememberCatalog } from './catalogStore.js';
import { subscriptionWorkflowId, type SubscriptionInput } from '../workflows/messages.js';
import { customerCreatedData, snapshotOfInput } from './customerStore.js';
import { forgetWebhookEvents, recordWebhookEventsOfEach } from './webhookOutbox.js';
import type { Db } from './db.js';
import { snapshotOfRow, subscriptionColumns, type SubscriptionRecord } from './subscriptionStore.js';

export interface ImportedCustomer {
  customer: { id: string; name: string; email: string; providerCustomerId?: string };
  /** The workflow's first input; the subscription row is its snapshot. */
  input: SubscriptionInput;
  /** Usage so far in the input's current cycle (input.cycleStart … input.cycleEnd). */
  usage: ReadonlyArray<{ metric: string; used: bigint }>;
}

export type ImportRowOutcome =
  /** Written by this call. */
  | { status: 'inserted' }
  /** The id was taken already: its subscription as stored (null: a customer row without one). */
  | { status: 'existing'; subscription: SubscriptionRecord | null }
  /** The id was free but the Stripe customer belongs to another customer. */
  | { status: 'provider_customer_taken' };

type SubscriptionColumns = ReturnType<typeof subscriptionColumns>;

/**
 * The SQL column and type of every field subscriptionColumns writes. A mapped type: a field added
 * there without one here does not compile. (Prisma's createMany binds one parameter per field and
 * row — 19,000 for 1,000 subscriptions, about a second of work; unnest binds one array per column.)
 */
const SUBSCRIPTION_SQL: { readonly [K in keyof SubscriptionColumns]-?: readonly [column: string, type: 'text' | 'int' | 'bigint' | 'boolean' | 'timestamptz' | 'jsonb'] } = {
  planId: ['plan_id', 'text'],
  interval: ['interval', 'text'],
  seats: ['seats', 'int'],
  status: ['status', 'text'],
  currency: ['currency', 'text'],
  periodStart: ['period_start', 'timestamptz'],
  periodEnd: ['period_end', 'timestamptz'],
  cycleStart: ['cycle_start', 'timestamptz'],
  cycleEnd: ['cycle_end', 'timestamptz'],
  cancelAtPeriodEnd: ['cancel_at_period_end', 'boolean'],
  creditOwedMinor: ['credit_owed_minor', 'bigint'],
  downgradesThisCycle: ['downgrades_this_cycle', 'int'],
  pendingPlanId: ['pending_plan_id', 'text'],
  pendingSeats: ['pending_seats', 'int'],
  pendingInterval: ['pending_interval', 'text'],
  paymentState: ['payment_state', 'jsonb'],
  version: ['version', 'int'],
  catalogVersion: ['catalog_version', 'text'],
};
const SUBSCRIPTION_FIELDS = Object.keys(SUBSCRIPTION_SQL) as Array<keyof SubscriptionColumns>;

/** A column value as an element of a PostgreSQL array parameter. */
function sqlValue(value: unknown): string | number | boolean | null {
  if (value === null || value === undefined || value === Prisma.DbNull || value === Prisma.JsonNull) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'object') return JSON.stringify(value);
  return value as string | number | boolean;
}

/** The subscription row insertCustomer writes for this input (the same snapshotOfInput and subscriptionColumns). */
export function subscriptionRowOf(input: SubscriptionInput): SubscriptionColumns & { customerId: string; workflowId: string } {
  return { customerId: input.customerId, ...subscriptionColumns(snapshotOfInput(input)), workflowId: subscriptionWorkflowId(input.customerId) };
}

const quoted = (column: string) => `"${column}"`;

/** Writes the customers whose ids are free; returns what happened to each id. */
export async function insertImportedCustomers(db: Db, customers: readonly ImportedCustomer[]): Promise<Map<string, ImportRowOutcome>> {
  const outcomes = new Map<string, ImportRowOutcome>();
  if (customers.length === 0) return outcomes;
  return db.$transaction(async (tx) => {
    // No conflict target: a row taken on its id or on provider_customer_id alike is skipped.
    const inserted = await tx.$queryRawUnsafe<Array<{ id: string }>>(
      `INSERT INTO customers (id, name, email, provider_customer_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT DO NOTHING
       RETURNING id`,
      customers.map((c) => c.customer.id),
      customers.map((c) => c.customer.name),
      customers.map((c) => c.customer.email),
      customers.map((c) => c.customer.providerCustomerId ?? null),
    );
    const insertedIds = new Set(inserted.map((row) => row.id));
    const fresh = customers.filter((c) => insertedIds.has(c.customer.id));

    if (fresh.length > 0) {
      // Their workflows start on this catalog (one per batch): stored so previews can use it.
      for (const catalog of new Set(fresh.map((c) => c.input.catalog))) await rememberCatalog(tx, catalog);
      const rows = fresh.map((c) => subscriptionRowOf(c.input));
      const columns = ['customer_id', 'workflow_id', ...SUBSCRIPTION_FIELDS.map((field) => SUBSCRIPTION_SQL[field][0])];
      const types = ['text', 'text', ...SUBSCRIPTION_FIELDS.map((field) => SUBSCRIPTION_SQL[field][1])];
      await tx.$executeRawUnsafe(
        `INSERT INTO subscriptions (${columns.map(quoted).join(', ')})
         SELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`,
        rows.map((row) => row.customerId),
        rows.map((row) => row.workflowId),
        ...SUBSCRIPTION_FIELDS.map((field) => rows.map((row) => sqlValue(row[field]))),
      );
    }

    const counters = fresh.flatMap((c) => c.usage.map((u) => ({ customerId: c.customer.id, metric: u.metric, cycleStart: c.input.cycleStart, cycleEnd: c.input.cycleEnd, used: u.used })));
    if (counters.length > 0) {
      // New customers (inserted above, in this transaction): none of them has a counter yet.
      await tx.$executeRawUnsafe(
        `INSERT INTO usage_counters (customer_id, metric, cycle_start, cycle_end, used)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])`,
        counters.map((c) => c.customerId),
        counters.map((c) => c.metric),
        counters.map((c) => new Date(c.cycleStart).toISOString()),
        counters.map((c) => new Date(c.cycleEnd).toISOString()),
        counters.map((c) => c.used.toString()),
      );
    }

    await recordWebhookEventsOfEach(tx, 'customer.created', fresh.map((c) => ({ customerId: c.customer.id, data: customerCreatedData(c.customer, c.input) })));
    for (const id of insertedIds) outcomes.set(id, { status: 'inserted' });
    const skipped = customers.map((c) => c.customer.id).filter((id) => !insertedIds.has(id));
    if (skipped.length > 0) {
      // A row that made an insert skip was committed before it (ON CONFLICT waits for it), so this read sees it.
      const existing = await tx.$queryRawUnsafe<Array<{ id: string; customerId: string | null } & Record<keyof SubscriptionColumns, unknown>>>(
        `SELECT c.id, s.customer_id AS "customerId", ${SUBSCRIPTION_FIELDS.map((field) => `s.${quoted(SUBSCRIPTION_SQL[field][0])} AS ${quoted(field)}`).join(', ')}
         FROM customers c LEFT JOIN subscriptions s ON s.customer_id = c.id
         WHERE c.id = ANY($1::text[])`,
        skipped,
      );
      for (const row of existing) {
        const subscription = row.customerId === null ? null : snapshotOfRow(row as unknown as Parameters<typeof snapshotOfRow>[0]);
        outcomes.set(row.id, { status: 'existing', subscription });
      }
      for (const id of skipped) if (!outcomes.has(id)) outcomes.set(id, { status: 'provider_customer_taken' });
    }
    return outcomes;
  }, { timeout: 30_000 });
}

/**
 * Undoes insertImportedCustomers for customers whose workflow could not be started (their usage
 * counters, subscriptions and rows). Returns the ids removed: one that something has written to
 * meanwhile (usage recorded through the API, say) is kept, and left for a re-run of the import.
 */
export async function deleteImportedCustomers(db: Db, customerIds: readonly string[]): Promise<Set<string>> {
  const remove = (ids: string[]) => db.$transaction(async (tx) => {
    // The counters first: deleting one waits for a usage transaction holding it, so the events
    // of every usage write that touched these customers are committed and seen just below.
    await tx.usageCounter.deleteMany({ where: { customerId: { in: ids } } });
    // usage_events has no foreign key (migration 20261129090000): usage recorded through the API
    // meanwhile keeps the customer (and its counters) here instead.
    if (await tx.usageEvent.findFirst({ where: { customerId: { in: ids } }, select: { customerId: true } })) {
      throw new Error('usage was recorded for an imported customer meanwhile');
    }
    await tx.subscription.deleteMany({ where: { customerId: { in: ids } } });
    await tx.customer.deleteMany({ where: { id: { in: ids } } });
    await forgetWebhookEvents(tx, ids);
  });
  if (customerIds.length === 0) return new Set();
  try {
    await remove([...customerIds]);
    return new Set(customerIds);
  } catch {
    // A row referencing one of them (foreign keys restrict) or usage recorded: remove the others one by one.
    const removed = new Set<string>();
    for (const id of customerIds) {
      try {
        await remove([id]);
        removed.add(id);
      } catch {
        // kept
      }
    }
    return removed;
  }
}

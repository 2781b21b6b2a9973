/**
 * The subscription read model. Every write carries the workflow's state version and only lands
 * when it is newer than the row, so a delayed retry can never roll the row back.
 */
import { recordWebhookEvent } from './webhookOutbox.js';
import { Prisma } from '../generated/prisma/client.js';
import type { PaymentStateView, SubscriptionSnapshot, SubscriptionStatus } from '../workflows/messages.js';
import type { Tx } from './invoiceStore.js';

const STATUSES: readonly SubscriptionStatus[] = ['active', 'cancel_scheduled', 'incomplete', 'past_due'];

function columns(s: SubscriptionSnapshot) {
  return {
    planId: s.planId,
    interval: s.interval,
    seats: s.seats,
    status: s.status,
    currency: s.currency,
    periodStart: new Date(s.periodStart),
    periodEnd: new Date(s.periodEnd),
    cycleStart: new Date(s.cycleStart),
    cycleEnd: new Date(s.cycleEnd),
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    creditOwedMinor: BigInt(s.creditOwedMinor),
    downgradesThisCycle: s.downgradesThisCycle,
    pendingPlanId: s.pendingPlanId,
    pendingSeats: s.pendingSeats,
    pendingInterval: s.pendingInterval,
    // Snapshots from runs before the payments patch have no payment field.
    paymentState: s.payment ? (s.payment as unknown as Prisma.InputJsonValue) : Prisma.DbNull,
    version: s.version,
    // Snapshots from runs before issue 15 name no catalog: the row keeps the last one named.
    ...(s.catalogVersion !== undefined ? { catalogVersion: s.catalogVersion } : {}),
  };
}

/** Writes the snapshot if it is newer than the stored row; returns whether it did. */
export async function saveSubscriptionSnapshot(tx: Tx, snapshot: SubscriptionSnapshot): Promise<boolean> {
  // Lock order (docs/architecture.md, Access): the customer's event numbering before its
  // subscription row. A renewal's invoice writes its event (numbering) and then this row; a change
  // without an invoice writes this row and then its event: taking the numbering first here keeps
  // the two from waiting on each other in a cycle. (DO UPDATE locks the row, creating it if a
  // customer from before webhooks has none.)
  await tx.$executeRaw`
    INSERT INTO webhook_sequences (customer_id, last) VALUES (${snapshot.customerId}, 0)
    ON CONFLICT (customer_id) DO UPDATE SET last = webhook_sequences.last`;
  // What the host hears of (subscription.updated) is read under the row's lock, so two writes of
  // newer versions each compare with what the other left.
  const [before] = await tx.$queryRaw<Array<{ plan_id: string; interval: string; seats: number; status: string }>>`
    SELECT plan_id, interval, seats, status FROM subscriptions WHERE customer_id = ${snapshot.customerId} FOR UPDATE`;
  const { count } = await tx.subscription.updateMany({
    where: { customerId: snapshot.customerId, version: { lt: snapshot.version } },
    data: columns(snapshot),
  });
  if (count === 0 || !before) return count > 0;
  const after = { plan: snapshot.planId, interval: snapshot.interval, seats: snapshot.seats, status: snapshot.status };
  const previous = { plan: before.plan_id, interval: before.interval, seats: before.seats, status: before.status };
  if (JSON.stringify(after) !== JSON.stringify(previous)) {
    await recordWebhookEvent(tx, { customerId: snapshot.customerId, type: 'subscription.updated', data: { ...after, previous } });
  }
  return true;
}

export { columns as subscriptionColumns };

/** What the read model knows of a subscription (the workflow's snapshot less its run counters). */
export type SubscriptionRecord = Omit<SubscriptionSnapshot, 'cycleNumber'>;

interface SubscriptionRow {
  customerId: string;
  planId: string;
  interval: string;
  seats: number;
  status: string;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  cycleStart: Date;
  cycleEnd: Date;
  cancelAtPeriodEnd: boolean;
  creditOwedMinor: bigint;
  downgradesThisCycle: number;
  pendingPlanId: string | null;
  pendingSeats: number | null;
  pendingInterval: string | null;
  paymentState: Prisma.JsonValue;
  version: number;
  catalogVersion?: string | null;
}

/** A read-model row in the workflow's snapshot shape (for views). */
export function snapshotOfRow(row: SubscriptionRow): SubscriptionRecord {
  return {
    customerId: row.customerId,
    planId: row.planId,
    interval: row.interval === 'yearly' ? 'yearly' : 'monthly',
    seats: row.seats,
    status: STATUSES.find((status) => status === row.status) ?? 'active',
    currency: row.currency,
    periodStart: row.periodStart.getTime(),
    periodEnd: row.periodEnd.getTime(),
    cycleStart: row.cycleStart.getTime(),
    cycleEnd: row.cycleEnd.getTime(),
    cancelAtPeriodEnd: row.cancelAtPeriodEnd,
    creditOwedMinor: row.creditOwedMinor.toString(),
    downgradesThisCycle: row.downgradesThisCycle,
    pendingPlanId: row.pendingPlanId,
    pendingSeats: row.pendingSeats,
    pendingInterval: row.pendingInterval === 'yearly' ? 'yearly' : row.pendingInterval === 'monthly' ? 'monthly' : null,
    // Written only by columns() above, from the workflow's own PaymentStateView.
    payment: row.paymentState === null ? null : (row.paymentState as unknown as PaymentStateView),
    version: row.version,
    ...(row.catalogVersion ? { catalogVersion: row.catalogVersion } : {}),
  };
}

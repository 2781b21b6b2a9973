/**
 * The subscription read model. Every write carries the workflow's state version and only lands
 * when it is newer than the row, so a delayed retry can never roll the row back.
 */
import type { SubscriptionSnapshot } from '../workflows/messages.js';
import type { Tx } from './invoiceStore.js';

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
    version: s.version,
  };
}

/** Writes the snapshot if it is newer than the stored row; returns whether it did. */
export async function saveSubscriptionSnapshot(tx: Tx, snapshot: SubscriptionSnapshot): Promise<boolean> {
  const { count } = await tx.subscription.updateMany({
    where: { customerId: snapshot.customerId, version: { lt: snapshot.version } },
    data: columns(snapshot),
  });
  return count > 0;
}

export { columns as subscriptionColumns };

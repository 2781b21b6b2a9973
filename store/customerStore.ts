/**
 * Creating a customer: its row, its subscription read model and its customer.created event for
 * the host, in one transaction, before the workflow starts (so reads work at once). It carries the input's version: the row is exactly the
 * workflow's first state, and every later state has a higher version.
 */
import { catalogVersionOf } from '../billing/catalogVersion.js';
import type { SubscriptionInput, SubscriptionSnapshot } from '../workflows/messages.js';
import { subscriptionWorkflowId } from '../workflows/messages.js';
import type { Db } from './db.js';
import { subscriptionColumns } from './subscriptionStore.js';
import { rememberCatalog } from './catalogStore.js';
import { forgetWebhookEvents, recordWebhookEvent } from './webhookOutbox.js';
import { lockClockForJoining, TestClockError } from './testClockStore.js';

export function snapshotOfInput(input: SubscriptionInput): SubscriptionSnapshot {
  return {
    customerId: input.customerId,
    planId: input.planId,
    interval: input.interval,
    seats: input.seats,
    status: input.cancelAtPeriodEnd ? 'cancel_scheduled' : 'active',
    currency: input.catalog.currency,
    periodStart: input.periodStart,
    periodEnd: input.periodEnd,
    cycleStart: input.cycleStart,
    cycleEnd: input.cycleEnd,
    cancelAtPeriodEnd: input.cancelAtPeriodEnd,
    creditOwedMinor: input.creditOwedMinor,
    version: input.version,
    cycleNumber: input.cycleNumber,
    downgradesThisCycle: input.downgradesThisCycle ?? 0,
    pendingPlanId: input.pendingPlanId ?? null,
    pendingSeats: input.pendingSeats ?? null,
    pendingInterval: input.pendingInterval ?? null,
    payment: null,
    catalogVersion: catalogVersionOf(input.catalog),
  };
}

export async function insertCustomer(db: Db, customer: { id: string; name: string; email: string; providerCustomerId?: string }, input: SubscriptionInput): Promise<void> {
  await db.$transaction(async (tx) => {
    if (input.testClock) {
      // The clock stays at the instant the subscription starts at until this commits; an advance waits.
      const clock = await lockClockForJoining(tx, input.testClock.id);
      if (clock.frozenTime !== input.testClock.now) throw new TestClockError('test_clock_advancing', `Test clock "${input.testClock.id}" moved while the customer was being added; try again.`);
    }
    // The workflow starts on this catalog: stored so the API can preview its changes with it.
    await rememberCatalog(tx, input.catalog);
    await tx.customer.create({
      data: {
        ...customer,
        ...(input.testClock ? { testClockId: input.testClock.id } : {}),
        subscription: {
          create: { ...subscriptionColumns(snapshotOfInput(input)), workflowId: subscriptionWorkflowId(customer.id) },
        },
      },
    });
    await recordWebhookEvent(tx, { customerId: customer.id, type: 'customer.created', data: customerCreatedData(customer, input) });
  });
}

/** What customer.created tells the host (the single route and the bulk import alike). */
export function customerCreatedData(customer: { name: string; email: string }, input: SubscriptionInput): Record<string, unknown> {
  const snapshot = snapshotOfInput(input);
  return { name: customer.name, email: customer.email, plan: snapshot.planId, interval: snapshot.interval, seats: snapshot.seats, status: snapshot.status };
}

/** Undoes insertCustomer when the workflow could not be started. */
export async function deleteCustomer(db: Db, customerId: string): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.subscription.deleteMany({ where: { customerId } });
    await tx.customer.deleteMany({ where: { id: customerId } });
    await forgetWebhookEvents(tx, [customerId]);
  });
}

/**
 * The subscription workflow's side effects. Each is idempotent by construction (invoice keys and
 * versioned read-model writes), so Temporal may retry any of them freely.
 */
import { log } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import type { Plan } from '../billing/catalog.js';
import { addLines, applyCredit, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { overageCharges, overageLines, type Metric } from '../billing/overage.js';
import { closeCycle, recordOverage } from '../store/cycleClose.js';
import type { SubscriptionSnapshot } from '../workflows/messages.js';
import type { Db } from '../store/db.js';
import { storeInvoice, withIdempotentRetry, type StoredInvoice } from '../store/invoiceStore.js';
import type { PaymentProvider } from './payments/paymentProvider.js';
import { saveSubscriptionSnapshot } from '../store/subscriptionStore.js';
import { rememberCatalog } from '../store/catalogStore.js';
import { catalogVersionOf } from '../billing/catalogVersion.js';
import { catalogFitProblems } from '../billing/catalogFit.js';
import { creditUnitOf } from '../billing/creditPricing.js';
import { catalogThresholdNanos } from '../store/creditLedger.js';
import { requestRechargeAtRenewal } from '../store/creditStore.js';
import { crossingsUnrelayed } from '../store/testClockStore.js';

export interface SubscriptionActivityDeps {
  db: Db;
  payments: PaymentProvider;
  /** The catalog as configured now; renewals hand it to the next run so catalog edits reach running subscriptions. */
  catalog: () => Catalog;
}

/** What the workflow hands the renewal: the state after it, the fee invoice, and the cycle that closed. */
export interface RenewalRecord {
  subscription: SubscriptionSnapshot;
  feeInvoice?: InvoiceDraft;
  /** The cycle that just ended, with the plan and metrics in force during it (for overage). */
  closedCycle: { start: number; end: number; plan: Plan; metrics: Metric[] };
}

export interface InvoiceReceipt {
  id: string;
  number: string;
  status: string;
  totalMinor: string;
  /** A payment provider is configured and the invoice is open with something to pay. */
  collectable: boolean;
}

export function createSubscriptionActivities(deps: SubscriptionActivityDeps) {
  const { db, payments } = deps;

  /** The answer for a stored invoice; `collectable` when the provider should now try to collect it. */
  function receipt(invoice: StoredInvoice, draft: InvoiceDraft): InvoiceReceipt {
    if (invoice.created) log.info('invoice issued', { number: invoice.number, customerId: draft.customerId, totalMinor: draft.totalMinor });
    return {
      id: invoice.id,
      number: invoice.number,
      status: invoice.status,
      totalMinor: invoice.totalMinor.toString(),
      collectable: payments.name !== 'none' && invoice.status === 'open' && invoice.totalMinor > 0n,
    };
  }

  /**
   * The configured catalog, if a running subscription can adopt it: it must still price every plan
   * and interval the subscription is on or scheduled for, keep the currency and the cycle length
   * (cycles and periods must stay aligned). Otherwise the subscription keeps its own copy.
   */
  function catalogFor(subscription: SubscriptionSnapshot, cycleLengthMs: number): Catalog | undefined {
    const catalog = deps.catalog();
    const terms = (planId: string, interval: 'monthly' | 'yearly') => ({ planId, interval, currency: subscription.currency, cycleLengthMs });
    const problems = catalogFitProblems(catalog, [
      terms(subscription.planId, subscription.interval),
      terms(subscription.pendingPlanId ?? subscription.planId, subscription.pendingInterval ?? subscription.interval),
    ]);
    if (problems.length > 0) log.warn('the configured catalog does not fit this subscription; it keeps its own copy', { customerId: subscription.customerId, problems });
    return problems.length === 0 ? catalog : undefined;
  }

  return {
    /** Issues an invoice outside a renewal (a new subscription's first period). */
    async issueInvoice(draft: InvoiceDraft): Promise<InvoiceReceipt> {
      const stored = await withIdempotentRetry(db, (tx) => storeInvoice(tx, draft, payments.name));
      return receipt(stored, draft);
    },

    /**
     * A renewal in one transaction: the closed cycle's usage is frozen and its overage priced, the
     * invoice (the new period's fee and/or that overage) stored, and the read model moved on.
     */
    async recordRenewal(args: RenewalRecord): Promise<{
      invoice?: InvoiceReceipt;
      overage: Array<{ metric: string; overage: string; amountMinor: string }>;
      /** Credit still owed after this invoice (minor units, bigint string). */
      creditOwedMinor: string;
      /** The current catalog for the next run, unless it no longer fits this subscription. */
      catalog?: Catalog;
      /** Which payment provider this worker collects with, for the next run. */
      paymentProvider: 'none' | 'stripe';
    }> {
      const { subscription, closedCycle } = args;
      const nextCatalog = catalogFor(subscription, closedCycle.end - closedCycle.start);
      const nextVersion = nextCatalog ? catalogVersionOf(nextCatalog) : subscription.catalogVersion;
      const result = await withIdempotentRetry(db, async (tx) => {
        const usage = await closeCycle(tx, {
          customerId: subscription.customerId,
          metrics: closedCycle.metrics.map((m) => m.id),
          cycleStart: closedCycle.start,
          cycleEnd: closedCycle.end,
        });
        const charges = overageCharges({ plan: closedCycle.plan, metrics: closedCycle.metrics, currency: subscription.currency, usage });
        let draft = addLines({
          draft: args.feeInvoice,
          lines: overageLines(closedCycle.metrics, charges, closedCycle),
          customerId: subscription.customerId,
          currency: subscription.currency,
          cycle: closedCycle,
        });
        // Credit the workflow could not use on the fee goes against the overage.
        let creditOwedMinor = BigInt(subscription.creditOwedMinor);
        if (draft && creditOwedMinor > 0n && charges.length > 0) {
          const credited = applyCredit(draft, creditOwedMinor);
          draft = credited.draft;
          creditOwedMinor = credited.remainingMinor;
        }
        const stored = draft ? await storeInvoice(tx, draft, payments.name) : undefined;
        await recordOverage(tx, {
          customerId: subscription.customerId,
          planId: closedCycle.plan.id,
          currency: subscription.currency,
          cycleStart: closedCycle.start,
          cycleEnd: closedCycle.end,
          charges,
          invoiceId: stored?.id,
        });
        await saveSubscriptionSnapshot(tx, { ...subscription, creditOwedMinor: creditOwedMinor.toString(), ...(nextVersion !== undefined ? { catalogVersion: nextVersion } : {}) });
        // The read model names the catalog the next run decides with, so previews use it from now
        // on. Written whatever the row's version: this attempt's answer is what the workflow takes,
        // even when an earlier attempt (another worker, another catalog file) committed the rest.
        if (nextCatalog && nextVersion !== subscription.catalogVersion) {
          await rememberCatalog(tx, nextCatalog);
          await tx.subscription.updateMany({ where: { customerId: subscription.customerId }, data: { catalogVersion: nextVersion } });
        }
        // A new cycle, a fresh spending limit: a balance left under its threshold (the last
        // recharge hit the limit, failed or was voided) is recharged again.
        const unit = creditUnitOf(deps.catalog());
        if (unit && subscription.currency === deps.catalog().currency) {
          await requestRechargeAtRenewal(tx, { customerId: subscription.customerId, unit: unit.id, defaultThresholdNanos: catalogThresholdNanos(deps.catalog()), cycleStart: subscription.cycleStart });
        }
        return { stored, draft, charges, creditOwedMinor };
      });
      return {
        invoice: result.stored && result.draft ? receipt(result.stored, result.draft) : undefined,
        overage: result.charges.map((c) => ({ metric: c.metric, overage: c.overage.toString(), amountMinor: c.amountMinor.toString() })),
        creditOwedMinor: result.creditOwedMinor.toString(),
        catalog: nextCatalog,
        paymentProvider: payments.name,
      };
    },

    /** A plan change in one transaction: its invoice (when something is charged at once) and the read model. */
    async recordPlanChange(args: { subscription: SubscriptionSnapshot; invoice?: InvoiceDraft }): Promise<{ invoice?: InvoiceReceipt }> {
      const { invoice: draft, subscription } = args;
      const stored = await withIdempotentRetry(db, async (tx) => {
        const result = draft ? await storeInvoice(tx, draft, payments.name) : undefined;
        await saveSubscriptionSnapshot(tx, subscription);
        return result;
      });
      return { invoice: stored && draft ? receipt(stored, draft) : undefined };
    },

    /** Writes the read model after an update changed the subscription. */
    async saveSubscription(snapshot: SubscriptionSnapshot): Promise<void> {
      await db.$transaction((tx) => saveSubscriptionSnapshot(tx, snapshot));
    },

    /**
     * On a test clock: returns once the customer's outbox crossings (usage thresholds, credit
     * balance, a renewal's recharge request) have been signalled to the workflow, so it hears each
     * at the instant it belongs to before its clock steps on. Its signals then precede this
     * activity's completion in history. Retried (with the workflow's backoff) while the relay is behind.
     */
    async awaitCrossingsRelayed(customerId: string): Promise<void> {
      const deadline = Date.now() + 8_000;
      for (;;) {
        if (!(await crossingsUnrelayed(db, [customerId]))) return;
        if (Date.now() > deadline) throw new Error(`customer ${customerId}: crossings not yet relayed to its workflow`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

export type SubscriptionActivities = ReturnType<typeof createSubscriptionActivities>;

/**
 * The subscription workflow's credit steps (issue 10). Purchases and recharges are invoices that
 * sell credits (billing/invoiceDraft.ts creditPurchaseInvoice) collected like any other; the
 * credits are granted when the invoice is paid (store/paymentStore.ts recordPaid), so no step here
 * grants anything itself. Each step is keyed by the purchase's own id: a retry finds its own work.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { rechargeDecision, defaultSpendingLimitMinor } from '../billing/autoRecharge.js';
import type { Catalog } from '../billing/catalog.js';
import { creditUnitOf, findPack, formatCredits, packCreditsNanos, packPriceMinor, pricePurchase } from '../billing/creditPricing.js';
import { creditPurchaseInvoice, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { catalogThresholdNanos } from '../store/creditLedger.js';
import { creditAccountOf, grantCredits, lockAccountForRecharge, rechargeSpentMinor, recordRechargeOutcome, storePurchase, turnOffAutoRecharge } from '../store/creditStore.js';
import type { Db } from '../store/db.js';
import { issueCreditNote, storeInvoice, withIdempotentRetry, type Tx } from '../store/invoiceStore.js';
import type { CreditRefundResult, RechargePreparation } from '../workflows/messages.js';
import { keepAlive, nonRetryable } from './paymentActivities.js';
import { paymentKeys, type PaymentProvider } from './payments/paymentProvider.js';
import type { InvoiceReceipt } from './subscriptionActivities.js';

export interface CreditActivityDeps {
  db: Db;
  payments: PaymentProvider;
  catalog: () => Catalog;
  now?: () => Date;
}

/** What the workflow priced (from its own catalog): the invoice and the purchase it records. */
export interface CreditPurchaseOrder {
  purchaseId: string;
  customerId: string;
  unit: string;
  packId: string | null;
  packs: number;
  creditsNanos: string;
  invoice: InvoiceDraft;
  cycleStart: number;
}

export function createCreditActivities(deps: CreditActivityDeps) {
  const { db, payments } = deps;
  const now = deps.now ?? (() => new Date());

  const receiptOf = (stored: { id: string; number: string; status: string; totalMinor: bigint }): InvoiceReceipt => ({
    id: stored.id,
    number: stored.number,
    status: stored.status,
    totalMinor: stored.totalMinor.toString(),
    collectable: payments.name !== 'none' && stored.status === 'open' && stored.totalMinor > 0n,
  });

  async function store(tx: Tx, order: CreditPurchaseOrder, kind: 'purchase' | 'recharge') {
    const stored = await storeInvoice(tx, order.invoice, payments.name);
    await storePurchase(tx, {
      id: order.purchaseId,
      customerId: order.customerId,
      unit: order.unit,
      kind,
      packId: order.packId,
      packs: order.packs,
      creditsNanos: BigInt(order.creditsNanos),
      amountMinor: BigInt(order.invoice.totalMinor),
      currency: order.invoice.currency,
      invoiceId: stored.id,
      cycleStart: order.cycleStart,
    });
    return stored;
  }

  async function refundPurchase(args: { customerId: string; purchaseId: string; reason: string }): Promise<CreditRefundResult> {
    const purchase = await db.creditPurchase.findFirst({ where: { id: args.purchaseId, customerId: args.customerId }, include: { invoice: true } });
    if (!purchase) throw ApplicationFailure.create({ type: 'purchase_not_found', message: `Customer ${args.customerId} has no credit purchase ${args.purchaseId}.`, nonRetryable: true });
    if (purchase.invoice.status !== 'paid') throw ApplicationFailure.create({ type: 'purchase_not_paid', message: `Purchase ${args.purchaseId} is not paid (invoice ${purchase.invoice.number} is ${purchase.invoice.status}): there is nothing to refund.`, nonRetryable: true });
    const bought = BigInt(purchase.creditsNanos.toFixed(0));
    // 1. The credits first, so they cannot be consumed while the money goes back.
    const taken = await withIdempotentRetry(db, async (tx) => {
      const account = await lockAccountForRecharge(tx, args.customerId, purchase.unit);
      const reference = `refund:${purchase.id}`;
      const done = await tx.creditTransaction.findUnique({ where: { customerId_reference: { customerId: args.customerId, reference } } });
      if (done) return { creditsNanos: -BigInt(done.creditsNanos.toFixed(0)), amountMinor: done.amountMinor ?? 0n, at: done.createdAt.getTime() };
      // Usage draws the oldest credits first: what is left of this purchase is the balance less
      // what came after it and is still there (later purchases and grants, less the refunds of
      // those later purchases), never more than it bought nor than the balance holds.
      const granted = await tx.creditTransaction.findUnique({ where: { customerId_reference: { customerId: args.customerId, reference: `purchase:${purchase.id}` } } });
      const later = granted ? await tx.$queryRaw<Array<{ sum: string | null }>>`
        SELECT sum(t.credits_nanos)::text AS sum FROM credit_transactions t
        WHERE t.customer_id = ${args.customerId} AND t.unit = ${purchase.unit} AND (
          (t.kind <> 'refund' AND t.id > ${granted.id})
          OR (t.kind = 'refund' AND EXISTS (
            SELECT 1 FROM credit_transactions g WHERE g.customer_id = t.customer_id AND g.reference = 'purchase:' || substring(t.reference from 8) AND g.id > ${granted.id})))` : [];
      const left = account.balanceNanos - BigInt(later[0]?.sum ?? '0');
      const cap = bought < account.balanceNanos ? bought : account.balanceNanos;
      const credits = left < 0n ? 0n : left < cap ? left : cap;
      if (credits <= 0n) throw ApplicationFailure.create({ type: 'nothing_to_refund', message: `The credits of purchase ${args.purchaseId} have all been used (usage draws the oldest credits first): there is nothing left to refund.`, nonRetryable: true });
      // The share of the price the credits still unused stand for, rounded down (never more than was paid).
      const amountMinor = (purchase.amountMinor * credits) / bought;
      await grantCredits(tx, { customerId: args.customerId, unit: purchase.unit, kind: 'refund', creditsNanos: -credits, reference, reason: args.reason, invoiceId: purchase.invoiceId, amountMinor, currency: purchase.currency });
      const row = await tx.creditTransaction.findUniqueOrThrow({ where: { customerId_reference: { customerId: args.customerId, reference } } });
      return { creditsNanos: credits, amountMinor, at: row.createdAt.getTime() };
    });
    // 2. The money, to the card that paid (a payment taken elsewhere goes back elsewhere: the credit note says so).
    const refundId = `purchase:${purchase.id}`;
    let providerRefundId: string | null = (await db.creditRefund.findUnique({ where: { refundId_invoiceId: { refundId, invoiceId: purchase.invoiceId } } }))?.providerRefundId ?? null;
    const reference = purchase.invoice.paymentReference;
    if (!providerRefundId && taken.amountMinor > 0n && payments.name !== 'none' && reference?.startsWith('pi_')) {
      providerRefundId = await payments.refundPayment({
        paymentReference: reference,
        amountMinor: taken.amountMinor,
        idempotencyKey: paymentKeys.refund(refundId, purchase.invoiceId),
        metadata: { tollgate_customer_id: args.customerId, tollgate_invoice_id: purchase.invoiceId, tollgate_refund_id: refundId },
      }).catch(nonRetryable);
      await db.creditRefund.createMany({ data: [{ refundId, invoiceId: purchase.invoiceId, customerId: args.customerId, amountMinor: taken.amountMinor, providerRefundId }], skipDuplicates: true });
    }
    // 3. The credit note, settled as it is issued.
    let creditNoteNumber: string | null = null;
    if (taken.amountMinor > 0n) {
      const unit = creditUnitOf(deps.catalog());
      const what = unit && unit.id === purchase.unit ? `${formatCredits(taken.creditsNanos, unit, purchase.currency)} ${unit.name}` : 'credits';
      const note = await issueCreditNote(db, {
        customerId: args.customerId,
        refundId,
        currency: purchase.currency,
        at: taken.at,
        lines: [{ description: `Refund of ${what} unused from invoice ${purchase.invoice.number}${providerRefundId ? '' : ' (paid back outside the payment provider)'}`, amountMinor: taken.amountMinor }],
        reference: providerRefundId ?? 'out_of_band',
        paymentProvider: payments.name,
      });
      creditNoteNumber = note.number;
    }
    return { purchaseId: purchase.id, creditsNanos: taken.creditsNanos.toString(), amountMinor: taken.amountMinor.toString(), currency: purchase.currency, providerRefundId, creditNoteNumber };
  }

  return {
    /** Issues the invoice of a purchase the workflow priced, and records what it sells (once per purchase id). */
    async createCreditPurchase(order: CreditPurchaseOrder): Promise<InvoiceReceipt> {
      return receiptOf(await withIdempotentRetry(db, (tx) => store(tx, order, 'purchase')));
    },

    /**
     * Decides one auto-recharge under the balance row's lock: off (or no provider to charge),
     * not needed (the balance is back at its threshold), over this cycle's spending limit, or an
     * invoice for whole packs (billing/autoRecharge.ts). A repeat of the same recharge id returns
     * the invoice it issued the first time.
     */
    async prepareRecharge(args: { customerId: string; rechargeId: string; cycleStart: number; at: number; /** On a test clock: the clock's instant, the invoice's date. */ issuedAt?: number }): Promise<RechargePreparation> {
      const catalog = deps.catalog();
      const unit = creditUnitOf(catalog);
      if (!unit || !catalog.credits) return { status: 'off' };
      return withIdempotentRetry(db, async (tx): Promise<RechargePreparation> => {
        const account = await lockAccountForRecharge(tx, args.customerId, unit.id);
        // Only this customer's: an id another customer's recharge took is never this one's invoice.
        const existing = await tx.creditPurchase.findFirst({ where: { id: args.rechargeId, customerId: args.customerId }, include: { invoice: true } });
        if (existing) {
          return { status: 'invoiced', invoiceId: existing.invoiceId, invoiceNumber: existing.invoice.number, amountMinor: existing.amountMinor.toString(), creditsNanos: existing.creditsNanos.toFixed(0), balanceNanos: account.balanceNanos.toString() };
        }
        const pack = account.rechargePackId ? findPack(catalog.credits!, account.rechargePackId) : undefined;
        if (!account.autoRecharge || !pack || payments.name === 'none') return { status: 'off' };
        const threshold = account.thresholdNanos ?? catalogThresholdNanos(catalog);
        if (threshold === undefined) return { status: 'off' };
        const limit = account.spendingLimitMinor ?? defaultSpendingLimitMinor(catalog);
        const spent = await rechargeSpentMinor(tx, args.customerId, args.cycleStart);
        const decision = rechargeDecision({
          balanceNanos: account.balanceNanos,
          thresholdNanos: threshold,
          packCreditsNanos: packCreditsNanos(pack),
          packPriceMinor: packPriceMinor(pack, catalog.currency),
          spendingLimitMinor: limit,
          spentMinor: spent,
        });
        if (decision.kind === 'not_needed') return { status: 'not_needed' };
        if (decision.kind === 'limit_reached') {
          return { status: 'limit_reached', balanceNanos: account.balanceNanos.toString(), spentMinor: spent.toString(), limitMinor: limit.toString(), amountMinor: packPriceMinor(pack, catalog.currency).toString() };
        }
        const priced = pricePurchase(catalog, { packId: pack.id }, decision.packs);
        const drafted = creditPurchaseInvoice({
          customerId: args.customerId,
          currency: catalog.currency,
          purchaseId: args.rechargeId,
          reason: 'credit_recharge',
          description: `Auto-recharge: ${priced.description}`,
          packs: decision.packs,
          amountMinor: decision.amountMinor,
          at: args.at,
        });
        const invoice = args.issuedAt === undefined ? drafted : { ...drafted, issuedAt: args.issuedAt };
        const stored = await store(tx, { purchaseId: args.rechargeId, customerId: args.customerId, unit: unit.id, packId: pack.id, packs: decision.packs, creditsNanos: decision.creditsNanos.toString(), invoice, cycleStart: args.cycleStart }, 'recharge');
        return { status: 'invoiced', invoiceId: stored.id, invoiceNumber: stored.number, amountMinor: decision.amountMinor.toString(), creditsNanos: decision.creditsNanos.toString(), balanceNanos: account.balanceNanos.toString() };
      });
    },

    /**
     * An operator refunds a paid purchase: the credits it bought that are still on the balance
     * are taken back (never more), and the same share of what was paid goes back to the card, with
     * a credit note dated by the ledger row (so every repeat writes the same note). Each step is keyed by the purchase (ledger reference `refund:<id>`, Stripe
     * key, credit_refunds row, credit note key), so a retry resumes instead of refunding twice.
     */
    refundPurchase(args: { customerId: string; purchaseId: string; reason: string }): Promise<CreditRefundResult> {
      return keepAlive(() => refundPurchase(args));
    },

    /** The failed attempts of the recharge under way, for the API (0 after a success). */
    async recordRechargeFailures(args: { customerId: string; unit: string; failures: number }): Promise<void> {
      await recordRechargeOutcome(db, args.customerId, args.unit, args.failures);
    },

    /** After the last failed retry: auto-recharge off, with the reason the API shows. */
    async turnOffAutoRecharge(args: { customerId: string; unit: string; reason: string }): Promise<void> {
      await turnOffAutoRecharge(db, args.customerId, args.unit, args.reason, now());
    },

    /** The balance now (nanos), for a notice. */
    async creditBalanceOf(args: { customerId: string; unit: string }): Promise<string> {
      if (!(await db.customer.findUnique({ where: { id: args.customerId }, select: { id: true } }))) {
        throw ApplicationFailure.nonRetryable(`no customer ${args.customerId}`, 'customer_not_found');
      }
      return (await creditAccountOf(db, args.customerId, args.unit)).balanceNanos.toString();
    },
  };
}

export type CreditActivities = ReturnType<typeof createCreditActivities>;

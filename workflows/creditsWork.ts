/**
 * The credits work of one subscription (issue 10), kept apart from the plan's lifecycle state:
 * purchases waiting for their payment, the one auto-recharge under way, the balance crossings
 * already handled and the notices still being delivered. Carried across runs (CreditsWork).
 * Deterministic and pure: the workflow calls the activities and tells this class what came of them.
 */
import type { Catalog } from '../billing/catalog.js';
import { CreditPurchaseError, pricePurchase, type PricedPurchase } from '../billing/creditPricing.js';
import { CHECKOUT_GRACE_MS } from '../billing/paymentPolicy.js';
import { MAX_PENDING_PURCHASES, type CreditBalanceCrossing, type CreditNotice, type CreditPurchaseRequest, type CreditsWork, type PendingPurchase, type RechargeState } from './messages.js';
import { refusal } from './refusals.js';

/** Crossings remembered to handle each once (a relay may signal one twice). */
const CROSSINGS_KEPT = 64;
/** Follow-up recharges one fall may take (each is a charge; the spending limit bounds them anyway). */
export const MAX_RECHARGES_PER_FALL = 10;

export class CreditsWorkState {
  private pendingPurchases: PendingPurchase[];
  private current: RechargeState | null;
  private crossingsHandled: string[];
  private noticesInDelivery: CreditNotice[];
  /** A crossing came while a recharge was under way: once it ends, another is asked for. */
  private again: boolean;
  /** Purchases being priced, invoiced and charged right now (they count toward the cap). */
  private readonly inProgress = new Set<string>();

  constructor(work: CreditsWork | undefined) {
    this.pendingPurchases = [...(work?.pendingPurchases ?? [])];
    this.current = work?.recharge ? { ...work.recharge } : null;
    this.crossingsHandled = [...(work?.crossingsHandled ?? [])];
    this.noticesInDelivery = [...(work?.pendingNotices ?? [])];
    this.again = work?.rechargeAgain ?? false;
  }

  get recharge(): RechargeState | null {
    return this.current;
  }

  get pendingNotices(): readonly CreditNotice[] {
    return this.noticesInDelivery;
  }

  /** Prices a purchase request, or refuses it with the catalog's reason (validators call this). */
  pricePurchase(catalog: Catalog, request: CreditPurchaseRequest): PricedPurchase {
    const waiting = this.pendingPurchases.length + this.inProgress.size;
    if (waiting >= MAX_PENDING_PURCHASES) {
      throw refusal('too_many_pending_purchases', `${waiting} credit purchases already wait for their payment; pay them (or let them lapse, or have an operator settle them) first.`);
    }
    try {
      return pricePurchase(catalog, request.packId !== undefined ? { packId: request.packId } : { amount: request.amount ?? '' });
    } catch (error) {
      if (error instanceof CreditPurchaseError) throw refusal(error.code, error.message);
      throw error;
    }
  }

  /**
   * Counts a purchase from its first step (before any await), so purchases racing each other are
   * capped too; `finishPurchase` ends that, `addPending` makes it a waiting one.
   */
  startPurchase(purchaseId: string): void {
    this.inProgress.add(purchaseId);
  }

  finishPurchase(purchaseId: string): void {
    this.inProgress.delete(purchaseId);
  }

  addPending(purchase: PendingPurchase): void {
    if (!this.pendingPurchases.some((p) => p.invoiceId === purchase.invoiceId)) this.pendingPurchases.push(purchase);
  }

  /** The invoice of a waiting purchase was paid or closed: it waits no more. */
  purchaseSettled(invoiceId: string): boolean {
    const before = this.pendingPurchases.length;
    this.pendingPurchases = this.pendingPurchases.filter((p) => p.invoiceId !== invoiceId);
    return this.pendingPurchases.length !== before;
  }

  /** A purchase's Checkout page expired (its webhook came): settled at once. */
  expirePurchaseNow(invoiceId: string, now: number): boolean {
    const purchase = this.pendingPurchases.find((p) => p.invoiceId === invoiceId);
    if (!purchase) return false;
    purchase.expiresAt = Math.min(purchase.expiresAt, now - CHECKOUT_GRACE_MS);
    return true;
  }

  /** Purchases whose time is up (a Checkout page is given a grace period for its own webhook). */
  duePurchases(now: number): PendingPurchase[] {
    return this.pendingPurchases.filter((p) => now >= this.purchaseDeadline(p));
  }

  /** The provider could not say what became of it: asked again later. */
  recheckPurchase(invoiceId: string, at: number): void {
    const purchase = this.pendingPurchases.find((p) => p.invoiceId === invoiceId);
    if (purchase) purchase.expiresAt = purchase.checkoutSessionId ? at - CHECKOUT_GRACE_MS : at;
  }

  private purchaseDeadline(p: PendingPurchase): number {
    return p.checkoutSessionId ? p.expiresAt + CHECKOUT_GRACE_MS : p.expiresAt;
  }

  /** Whether a crossing is new (each is handled once, however often it is signalled). */
  acceptCrossing(crossing: CreditBalanceCrossing): boolean {
    const id = `${crossing.unit}:${crossing.crossing}`;
    if (this.crossingsHandled.includes(id)) return false;
    this.crossingsHandled.push(id);
    if (this.crossingsHandled.length > CROSSINGS_KEPT) this.crossingsHandled.splice(0, this.crossingsHandled.length - CROSSINGS_KEPT);
    return true;
  }

  /**
   * Asks for a recharge for this crossing, unless one is under way (one at a time per customer).
   * Its id names the customer too: purchase ids are unique across all customers.
   */
  startRecharge(customerId: string, crossing: CreditBalanceCrossing, now: number): boolean {
    if (this.current) {
      this.again = true;
      return false;
    }
    this.current = { rechargeId: `recharge:${customerId}:${crossing.unit}:${crossing.crossing}`, seq: 1, unit: crossing.unit, invoiceId: null, invoiceNumber: null, amountMinor: null, failures: 0, firstFailureAt: null, nextAttemptAt: now, payUrl: null, lastReason: null };
    return true;
  }

  rechargeInvoiced(invoice: { invoiceId: string; invoiceNumber: string; amountMinor: string }): void {
    if (!this.current) return;
    this.current.invoiceId = invoice.invoiceId;
    this.current.invoiceNumber = invoice.invoiceNumber;
    this.current.amountMinor = invoice.amountMinor;
  }

  /**
   * The recharge was paid (or needs none, or could not be made): done. After a paid one, or when
   * a crossing came while it ran, a follow-up is asked for at once, under its own id: usage may
   * have drawn the balance down meanwhile, and the step says `not_needed` when it has not.
   */
  rechargeFinished(paid: boolean, now: number): boolean {
    const done = this.current;
    this.current = null;
    // A crossing that came meanwhile asks again even after a recharge that bought nothing.
    const again = this.again;
    this.again = false;
    if (!done || !(paid || again) || done.seq >= MAX_RECHARGES_PER_FALL) return false;
    const base = done.rechargeId.replace(/#\d+$/, '');
    this.current = { ...done, rechargeId: `${base}#${done.seq + 1}`, seq: done.seq + 1, invoiceId: null, invoiceNumber: null, amountMinor: null, failures: 0, firstFailureAt: null, nextAttemptAt: now, payUrl: null, lastReason: null };
    return true;
  }

  /** A failed attempt: the next one at `retryAt`, or none (undefined: the caller turns auto-recharge off). */
  rechargeFailed(now: number, failure: { reason: string; payUrl: string | null }, retryAt: (firstFailureAt: number, failures: number) => number | undefined): { failures: number; nextRetryAt: number | undefined } {
    const r = this.current!;
    r.failures += 1;
    r.firstFailureAt ??= now;
    r.lastReason = failure.reason;
    r.payUrl = failure.payUrl;
    const next = retryAt(r.firstFailureAt, r.failures);
    if (next !== undefined) r.nextAttemptAt = next;
    return { failures: r.failures, nextRetryAt: next };
  }

  /** The step could not run (the database or provider away): tried again at `at`. */
  retryRechargeAt(at: number): void {
    if (this.current) this.current.nextAttemptAt = at;
  }

  /** A new default card: a recharge waiting for its next retry is tried now. */
  retryRechargeNow(now: number): boolean {
    if (!this.current || this.current.failures === 0 || this.current.nextAttemptAt <= now) return false;
    this.current.nextAttemptAt = now;
    return true;
  }

  /** The earliest moment credits work is due, for the main loop's sleep. */
  nextDeadline(): number | undefined {
    const times = [...this.pendingPurchases.map((p) => this.purchaseDeadline(p)), ...(this.current ? [this.current.nextAttemptAt] : [])];
    return times.length === 0 ? undefined : Math.min(...times);
  }

  noticeStarted(notice: CreditNotice): void {
    if (!this.noticesInDelivery.some((n) => n.noticeId === notice.noticeId)) this.noticesInDelivery.push(notice);
  }

  noticeFinished(notice: CreditNotice): void {
    this.noticesInDelivery = this.noticesInDelivery.filter((n) => n.noticeId !== notice.noticeId);
  }

  /** What the next run carries; undefined when there is nothing (the input stays as small as before). */
  carry(): CreditsWork | undefined {
    if (this.pendingPurchases.length === 0 && !this.current && this.crossingsHandled.length === 0 && this.noticesInDelivery.length === 0) return undefined;
    return {
      pendingPurchases: this.pendingPurchases.map((p) => ({ ...p })),
      recharge: this.current ? { ...this.current } : null,
      crossingsHandled: [...this.crossingsHandled],
      pendingNotices: [...this.noticesInDelivery],
      ...(this.again ? { rechargeAgain: true } : {}),
    };
  }
}

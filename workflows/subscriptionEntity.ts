/**
 * The subscription's state and its rules, in one small class (as in Temporal's
 * safe-message-handlers sample): handlers and the renewal loop only call these methods.
 * Pure and deterministic; no Temporal APIs here, so it is unit-testable on its own.
 */
import { clampSeats, defaultSeats, requirePlan, type Catalog, type Interval } from '../billing/catalog.js';
import { applyCredit, draftInvoice, planChangeInvoice, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { catalogVersionOf } from '../billing/catalogVersion.js';
import { evaluatePlanChange, planChangeStateOf, type PlanChangeDecision } from '../billing/planChange.js';
import { nextCycle, periodOf } from '../billing/period.js';
import { CHECKOUT_GRACE_MS, nextRetryAt, paymentPolicyOf, UPGRADE_PAYMENT_WINDOW_MS, type DunningFinalAction, type PaymentPolicy } from '../billing/paymentPolicy.js';
import type { Plan } from '../billing/catalog.js';
import type { Metric } from '../billing/overage.js';
import {
  ANSWERED_UPDATES_KEPT,
  ANSWERED_UPDATES_KEPT_MS,
  PAYMENT_EVENTS_KEPT,
  type AnsweredUpdate,
  type ChangePlanRequest,
  type HeldUpgrade,
  type PaymentNotice,
  type PaymentState,
  type PaymentStateView,
  type SubscriptionInput,
  type SubscriptionSnapshot,
  type SubscriptionStatus,
  type ThresholdCrossing,
} from './messages.js';
import { refusal } from './refusals.js';

export class SubscriptionEntity {
  private catalog: Catalog;
  private planId: string;
  private interval: Interval;
  private seats: number;
  private periodStart: number;
  private periodEnd: number;
  private cycleStart: number;
  private cycleEnd: number;
  private cancelAtPeriodEnd: boolean;
  private creditOwedMinor: bigint;
  private version: number;
  private cycleNumber: number;
  private alertsHandled: string[];
  private downgradesThisCycle: number;
  private pendingPlanId: string | undefined;
  private pendingSeats: number | undefined;
  private pendingInterval: Interval | undefined;
  private scheduledDowngradeCycle: number | undefined;
  /** Set once the renewal has handed the next run another catalog: it is what the read model names, and changes wait for that run. */
  private nextCatalog: Catalog | undefined;
  /** PLAN_CHANGE_RULES_PATCH: catalog versions are checked and a withdrawn downgrade is given back. */
  private readonly changeRules: boolean;
  private answeredUpdates: AnsweredUpdate[];
  private alertsInDelivery: ThresholdCrossing[];
  private paymentEventsHandled: string[];
  private payment: PaymentState;
  private noticesInDelivery: PaymentNotice[];
  private readonly paymentProvider: 'none' | 'stripe' | undefined;
  readonly customerId: string;

  constructor(input: SubscriptionInput, options: { changeRules?: boolean } = {}) {
    this.changeRules = options.changeRules ?? false;
    this.customerId = input.customerId;
    this.catalog = input.catalog;
    this.planId = input.planId;
    this.interval = input.interval;
    this.seats = input.seats;
    this.periodStart = input.periodStart;
    this.periodEnd = input.periodEnd;
    this.cycleStart = input.cycleStart;
    this.cycleEnd = input.cycleEnd;
    this.cancelAtPeriodEnd = input.cancelAtPeriodEnd;
    this.creditOwedMinor = BigInt(input.creditOwedMinor);
    this.version = input.version;
    this.cycleNumber = input.cycleNumber;
    this.alertsHandled = input.alertsHandled ?? [];
    this.downgradesThisCycle = input.downgradesThisCycle ?? 0;
    this.pendingPlanId = input.pendingPlanId;
    this.pendingSeats = input.pendingSeats;
    this.pendingInterval = input.pendingInterval;
    this.scheduledDowngradeCycle = input.scheduledDowngradeCycle;
    this.answeredUpdates = input.answeredUpdates ?? [];
    this.alertsInDelivery = input.pendingAlerts ?? [];
    this.paymentEventsHandled = input.paymentEventsHandled ?? [];
    this.payment = input.payment ?? {};
    this.noticesInDelivery = input.pendingNotices ?? [];
    this.paymentProvider = input.paymentProvider;
  }

  get status(): SubscriptionStatus {
    if (this.payment.incomplete) return 'incomplete';
    if (this.payment.pastDue) return 'past_due';
    return this.cancelAtPeriodEnd ? 'cancel_scheduled' : 'active';
  }

  get currentCycleEnd(): number {
    return this.cycleEnd;
  }

  /** The catalog this run prices with (credits are priced and shown with it too). */
  get currentCatalog(): Catalog {
    return this.catalog;
  }

  snapshot(): SubscriptionSnapshot {
    return {
      customerId: this.customerId,
      planId: this.planId,
      interval: this.interval,
      seats: this.seats,
      status: this.status,
      currency: this.catalog.currency,
      periodStart: this.periodStart,
      periodEnd: this.periodEnd,
      cycleStart: this.cycleStart,
      cycleEnd: this.cycleEnd,
      cancelAtPeriodEnd: this.cancelAtPeriodEnd,
      creditOwedMinor: this.creditOwedMinor.toString(),
      version: this.version,
      cycleNumber: this.cycleNumber,
      downgradesThisCycle: this.downgradesThisCycle,
      pendingPlanId: this.pendingPlanId ?? null,
      pendingSeats: this.pendingSeats ?? null,
      pendingInterval: this.pendingInterval ?? null,
      payment: this.paymentView(),
      catalogVersion: catalogVersionOf(this.nextCatalog ?? this.catalog),
    };
  }

  /** The input of the next run (continue-as-new). `paymentProvider`: what the worker now collects with, when it says. */
  nextRunInput(catalog: Catalog | undefined, paymentProvider?: 'none' | 'stripe'): SubscriptionInput {
    const { status: _status, currency: _currency, pendingPlanId, pendingSeats, pendingInterval, payment: _view, catalogVersion: _version, ...rest } = this.snapshot();
    const provider = paymentProvider ?? this.paymentProvider;
    return {
      ...rest,
      ...(provider !== undefined ? { paymentProvider: provider } : {}),
      ...(hasPaymentState(this.payment) ? { payment: structuredCloneState(this.payment) } : {}),
      ...(this.noticesInDelivery.length > 0 ? { pendingNotices: [...this.noticesInDelivery] } : {}),
      catalog: catalog ?? this.catalog,
      invoiceFirstPeriod: false,
      alertsHandled: [...this.alertsHandled],
      ...(this.answeredUpdates.length > 0 ? { answeredUpdates: [...this.answeredUpdates] } : {}),
      ...(this.alertsInDelivery.length > 0 ? { pendingAlerts: [...this.alertsInDelivery] } : {}),
      ...(this.paymentEventsHandled.length > 0 ? { paymentEventsHandled: [...this.paymentEventsHandled] } : {}),
      ...(pendingPlanId !== null ? { pendingPlanId } : {}),
      ...(pendingSeats !== null ? { pendingSeats } : {}),
      ...(pendingInterval !== null ? { pendingInterval } : {}),
      ...(this.scheduledDowngradeCycle !== undefined && pendingPlanId !== null ? { scheduledDowngradeCycle: this.scheduledDowngradeCycle } : {}),
    };
  }

  /** The invoice for the current billing period, when a new subscription starts on a paid plan. */
  firstPeriodInvoice(): InvoiceDraft | undefined {
    return draftInvoice({
      catalog: this.catalog,
      customerId: this.customerId,
      reason: 'subscription_create',
      planId: this.planId,
      interval: this.interval,
      seats: this.seats,
      period: { start: this.periodStart, end: this.periodEnd },
    });
  }

  // --- cancel / reactivate ------------------------------------------------------------------

  validateCancel(): void {
    this.refuseWhileAwaitingPayment();
    if (this.cancelAtPeriodEnd) {
      throw refusal('cancellation_already_scheduled', `A cancellation is already scheduled for ${new Date(this.periodEnd).toISOString()}.`);
    }
    if (this.planId === this.catalog.fallbackPlan) {
      throw refusal('nothing_to_cancel', `The subscription is on the ${this.planName()} plan already; there is nothing to cancel.`);
    }
  }

  cancel(): void {
    this.validateCancel();
    this.cancelAtPeriodEnd = true;
    this.version += 1;
  }

  validateReactivate(): void {
    if (!this.cancelAtPeriodEnd) throw refusal('no_cancellation_scheduled', 'No cancellation is scheduled; there is nothing to reactivate.');
  }

  reactivate(): void {
    this.validateReactivate();
    this.cancelAtPeriodEnd = false;
    this.version += 1;
  }

  // --- plan changes -------------------------------------------------------------------------

  private decide(request: ChangePlanRequest, now: number): PlanChangeDecision {
    if (request.usageCycleStart !== this.cycleStart) {
      throw refusal('stale_usage', 'The usage sent was measured in another cycle (the subscription just renewed); measure it again.');
    }
    const version = catalogVersionOf(this.catalog);
    if (this.changeRules && request.catalogVersion !== undefined && request.catalogVersion !== version) {
      throw refusal('catalog_changed', `The plan catalog changed since this change was previewed (version ${request.catalogVersion}; the subscription now uses ${version}): preview the change again.`,
        { previewedVersion: request.catalogVersion, catalogVersion: version });
    }
    return evaluatePlanChange({
      catalog: this.catalog,
      state: planChangeStateOf(this.snapshot()),
      request,
      usage: new Map(Object.entries(request.usage).map(([metric, used]) => [metric, BigInt(used)])),
      now,
    });
  }

  /**
   * The renewal handed the next run `catalog`. From here the read model names it (what the next
   * run decides with), so this run, which still holds the old one, takes no more changes: they
   * would be decided with another catalog than the one they were previewed with.
   */
  handOverCatalog(catalog: Catalog | undefined): void {
    if (!this.changeRules || !catalog || catalogVersionOf(catalog) === catalogVersionOf(this.catalog)) return;
    this.nextCatalog = catalog;
  }

  /** The catalog a change is previewed with: the next run's once the renewal handed one over. */
  get decidingCatalog(): Catalog {
    return this.nextCatalog ?? this.catalog;
  }

  validateChange(request: ChangePlanRequest, now: number): void {
    if (this.nextCatalog) throw refusal('subscription_busy', 'The subscription is moving to its next run (with an edited catalog); try again in a moment.');
    this.refuseWhileAwaitingPayment();
    const decision = this.decide(request, now);
    if (!decision.allowed) throw refusal(decision.code, decision.message, decision.details);
    if (this.payment.pastDue && decision.effective === 'immediate' && decision.proration.netMinor > 0n) {
      throw refusal('payment_past_due', `Invoice ${this.payment.pastDue.invoiceNumber} is past due: pay it (or update the card) before changing to a plan that costs more.`, { invoiceNumber: this.payment.pastDue.invoiceNumber, payUrl: this.payment.pastDue.payUrl });
    }
  }

  /** A first invoice on its Checkout page, or an upgrade waiting for its payment, blocks other changes until it settles. */
  private refuseWhileAwaitingPayment(): void {
    if (this.payment.incomplete) {
      throw refusal('subscription_incomplete', `The first invoice (${this.payment.incomplete.invoiceNumber}) is not paid yet: complete the Checkout page first.`, { invoiceNumber: this.payment.incomplete.invoiceNumber, checkoutUrl: this.payment.incomplete.checkoutUrl });
    }
    if (this.payment.heldUpgrade) {
      const held = this.payment.heldUpgrade;
      throw refusal('upgrade_awaiting_payment', `An upgrade to ${held.planId} waits for invoice ${held.invoiceNumber} to be paid (until ${new Date(held.expiresAt).toISOString()}).`, { invoiceNumber: held.invoiceNumber, payUrl: held.payUrl, expiresAt: new Date(held.expiresAt).toISOString() });
    }
  }

  /** The catalog's payment rules (dunning schedule, final action, credit on the fallback plan). */
  get paymentPolicy(): PaymentPolicy {
    return paymentPolicyOf(this.catalog);
  }

  /** Whether an immediate change that charges must be paid before it applies (a payment provider collects). */
  get upgradesWaitForPayment(): boolean {
    return this.paymentProvider === 'stripe';
  }

  /**
   * Applies an allowed change: immediate ones switch plan, interval, seats and period at once and
   * return the invoice to charge (credits are owed to the next invoice); deferred ones wait for
   * the next period.
   */
  applyChange(request: ChangePlanRequest, now: number, changeId?: string): {
    decision: Extract<PlanChangeDecision, { allowed: true }>;
    invoice?: InvoiceDraft;
    /** Credit owed to the customer that this change's invoice used up. */
    creditAppliedMinor: bigint;
  } {
    const decision = this.decide(request, now);
    if (!decision.allowed) throw refusal(decision.code, decision.message, decision.details);
    this.version += 1;
    if (decision.kind === 'scheduled_change_cancelled') {
      this.forgetScheduledPlan();
      this.pendingSeats = undefined;
      this.pendingInterval = undefined;
      return { decision, creditAppliedMinor: 0n };
    }
    if (decision.kind === 'downgrade') this.downgradesThisCycle += 1;
    if (decision.effective === 'period_end') {
      if (decision.next.planId !== this.planId) {
        // A plan scheduled before is replaced: if it was a downgrade of this cycle, its count goes back first.
        if (this.changeRules) this.forgetScheduledPlan();
        this.pendingPlanId = decision.next.planId;
        if (decision.kind === 'downgrade') this.scheduledDowngradeCycle = this.cycleNumber;
      } else if (this.changeRules && request.planId !== undefined) {
        // The request names the plan the subscription is on: that is the plan it ends up on.
        this.forgetScheduledPlan();
      }
      if (decision.next.interval !== this.interval || (this.changeRules && request.interval !== undefined)) this.pendingInterval = decision.next.interval;
      // A seat removal already scheduled survives a later period-end plan change (clamped to the new plan).
      const target = requirePlan(this.catalog, decision.next.planId);
      this.pendingSeats = request.seats === undefined && this.pendingSeats !== undefined ? clampSeats(target, this.pendingSeats) : decision.next.seats;
      this.dropNoOpPending();
      return { decision, creditAppliedMinor: 0n };
    }
    this.switchTo(decision.next, decision.proration.period, this.changeRules ? request : {});
    const net = decision.proration.netMinor;
    if (net < 0n) this.creditOwedMinor += -net;
    let invoice = planChangeInvoice({ customerId: this.customerId, currency: this.catalog.currency, lines: decision.proration.lines, changeVersion: this.version, changeId, now, periodEnd: this.periodEnd });
    let creditAppliedMinor = 0n;
    if (invoice && this.creditOwedMinor > 0n) {
      const credited = applyCredit(invoice, this.creditOwedMinor);
      invoice = credited.draft;
      creditAppliedMinor = this.creditOwedMinor - credited.remainingMinor;
      this.creditOwedMinor = credited.remainingMinor;
    }
    return { decision, invoice, creditAppliedMinor };
  }

  /**
   * An immediate change: replaces the scheduled parts it changes itself, and those the request
   * names (`named`): asking for a plan, interval or seat count means ending up on it, not on what
   * was scheduled before.
   */
  private switchTo(next: { planId: string; interval: Interval; seats: number }, period: { start: number; end: number }, named: { planId?: string; interval?: Interval; seats?: number } = {}): void {
    if (next.planId !== this.planId) {
      this.forgetScheduledPlan();
      this.pendingInterval = undefined;
    } else if (named.planId !== undefined) {
      this.forgetScheduledPlan();
    }
    if (next.interval !== this.interval || named.interval !== undefined) this.pendingInterval = undefined;
    if (next.seats !== this.seats || named.seats !== undefined) this.pendingSeats = undefined;
    this.planId = next.planId;
    this.interval = next.interval;
    this.seats = next.seats;
    this.dropNoOpPending();
    this.periodStart = period.start;
    this.periodEnd = period.end;
  }

  /**
   * An upgrade (or seat addition, or interval switch) that charges, decided now and applied only
   * once its invoice is paid: nothing changes but the hold, and the credit owed its invoice uses
   * is set aside (given back if the upgrade expires). Without a charge after credit, it is simply
   * applied (returns `held: false`).
   */
  holdChange(request: ChangePlanRequest, now: number, changeId: string): {
    decision: Extract<PlanChangeDecision, { allowed: true }>;
    invoice?: InvoiceDraft;
    creditAppliedMinor: bigint;
    held: boolean;
  } {
    const decision = this.decide(request, now);
    if (!decision.allowed) throw refusal(decision.code, decision.message, decision.details);
    if (decision.effective !== 'immediate' || decision.proration.netMinor <= 0n) return { ...this.applyChange(request, now, changeId), held: false };
    let invoice = planChangeInvoice({ customerId: this.customerId, currency: this.catalog.currency, lines: decision.proration.lines, changeVersion: this.version + 1, changeId, now, periodEnd: decision.proration.period.end });
    let creditAppliedMinor = 0n;
    if (invoice && this.creditOwedMinor > 0n) {
      const credited = applyCredit(invoice, this.creditOwedMinor);
      invoice = credited.draft;
      creditAppliedMinor = this.creditOwedMinor - credited.remainingMinor;
    }
    if (!invoice || BigInt(invoice.totalMinor) <= 0n) return { ...this.applyChange(request, now, changeId), held: false };
    this.version += 1;
    if (decision.kind === 'downgrade') this.downgradesThisCycle += 1;
    this.creditOwedMinor -= creditAppliedMinor;
    this.payment = {
      ...this.payment,
      heldUpgrade: {
        updateId: changeId,
        planId: decision.next.planId,
        interval: decision.next.interval,
        seats: decision.next.seats,
        periodStart: decision.proration.period.start,
        periodEnd: decision.proration.period.end,
        invoiceId: '',
        invoiceNumber: '',
        creditAppliedMinor: creditAppliedMinor.toString(),
        attempts: 0,
        expiresAt: now + UPGRADE_PAYMENT_WINDOW_MS,
        payUrl: null,
      },
    };
    return { decision, invoice, creditAppliedMinor, held: true };
  }

  /** The held change's invoice, once stored. */
  heldChangeInvoiced(changeId: string, invoice: { id: string; number: string }): void {
    const held = this.payment.heldUpgrade;
    if (held?.updateId !== changeId) return;
    this.payment = { ...this.payment, heldUpgrade: { ...held, invoiceId: invoice.id, invoiceNumber: invoice.number } };
  }

  get heldUpgrade(): HeldUpgrade | undefined {
    return this.payment.heldUpgrade;
  }

  /** The next collection attempt's number for the held change (each attempt has its own key). */
  nextHeldAttempt(): number {
    const held = this.payment.heldUpgrade;
    if (!held) throw new Error('no held change');
    const attempt = held.attempts + 1;
    this.payment = { ...this.payment, heldUpgrade: { ...held, attempts: attempt } };
    return attempt;
  }

  /** The held change's attempt did not pay: it waits, showing where the customer can pay (a new state version, for the read model). */
  heldChangeAwaits(invoiceId: string, payUrl: string | null): void {
    const held = this.payment.heldUpgrade;
    if (held?.invoiceId !== invoiceId) return;
    this.payment = { ...this.payment, heldUpgrade: { ...held, payUrl: payUrl ?? held.payUrl } };
    this.version += 1;
  }

  /** Its invoice is paid: the held change applies now, as it was priced. Returns whether it did. */
  applyHeldChange(invoiceId: string): boolean {
    const held = this.payment.heldUpgrade;
    if (!held || held.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, heldUpgrade: undefined };
    this.switchTo(held, { start: held.periodStart, end: held.periodEnd });
    this.version += 1;
    return true;
  }

  /** It lapsed unpaid (its invoice voided): nothing changes, and the credit it set aside is owed again. */
  releaseHeldChange(invoiceId: string): boolean {
    const held = this.payment.heldUpgrade;
    if (!held || held.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, heldUpgrade: undefined };
    this.creditOwedMinor += BigInt(held.creditAppliedMinor);
    this.version += 1;
    return true;
  }

  // --- first invoice on a Checkout page -------------------------------------------------------

  /** The first invoice waits for Checkout: `incomplete` until paid, the fallback plan if the page lapses. */
  awaitCheckout(invoice: { id: string; number: string }, checkout: { sessionId: string; url: string | null; expiresAt: number }): void {
    this.payment = { ...this.payment, incomplete: { invoiceId: invoice.id, invoiceNumber: invoice.number, checkoutSessionId: checkout.sessionId, checkoutUrl: checkout.url, expiresAt: checkout.expiresAt } };
    this.version += 1;
  }

  get incomplete(): PaymentState['incomplete'] {
    return this.payment.incomplete;
  }

  /** Paid through Checkout: the subscription is active. Returns whether it was waiting for it. */
  checkoutPaid(invoiceId: string): boolean {
    if (this.payment.incomplete?.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, incomplete: undefined };
    this.version += 1;
    return true;
  }

  /** The Checkout page lapsed unpaid: the fallback plan at once (its invoice is voided). */
  checkoutLapsed(invoiceId: string): boolean {
    if (this.payment.incomplete?.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, incomplete: undefined };
    this.fallBackNow();
    return true;
  }

  /**
   * The fallback plan (Free) from now on: monthly, for the rest of the current usage cycle as its
   * period, nothing scheduled.
   */
  private fallBackNow(): void {
    const fallback = requirePlan(this.catalog, this.catalog.fallbackPlan);
    this.planId = fallback.id;
    this.interval = 'monthly';
    this.seats = defaultSeats(fallback);
    this.cancelAtPeriodEnd = false;
    this.pendingPlanId = undefined;
    this.scheduledDowngradeCycle = undefined;
    this.pendingSeats = undefined;
    this.pendingInterval = undefined;
    this.periodStart = this.cycleStart;
    this.periodEnd = this.cycleEnd;
    this.version += 1;
  }

  // --- credit refunded on the fallback plan -------------------------------------------------

  /**
   * On the fallback plan with credit owed, and the catalog says refund (with a provider to refund
   * through): the credit is taken out of the balance to be refunded, once, under a refund id named
   * by this state version. Returns it, or undefined when there is nothing to refund.
   */
  takeCreditForRefund(now: number): { refundId: string; amountMinor: string; at: number } | undefined {
    if (this.payment.refund || this.creditOwedMinor <= 0n || this.planId !== this.catalog.fallbackPlan) return undefined;
    if (this.paymentProvider !== 'stripe' || this.paymentPolicy.creditOnFallback !== 'refund') return undefined;
    this.version += 1;
    const refund = { refundId: `refund:${this.customerId}:v${this.version}`, amountMinor: this.creditOwedMinor.toString(), at: now };
    this.creditOwedMinor = 0n;
    this.payment = { ...this.payment, refund };
    return refund;
  }

  get pendingRefund(): PaymentState['refund'] {
    return this.payment.refund;
  }

  /** The refund is done: what no paid invoice could take stays owed. Returns whether it was this one. */
  refundSettled(refundId: string, unrefundedMinor: bigint): boolean {
    if (this.payment.refund?.refundId !== refundId) return false;
    this.payment = { ...this.payment, refund: undefined };
    this.creditOwedMinor += unrefundedMinor;
    this.version += 1;
    return true;
  }

  // --- dunning --------------------------------------------------------------------------------

  get pastDue(): PaymentState['pastDue'] {
    return this.payment.pastDue;
  }

  /** A renewal invoice's payment failed: past due, retried on the catalog's schedule. */
  startDunning(invoice: { id: string; number: string; totalMinor: string }, failure: { at: number; reason: string; payUrl: string | null }, policy: PaymentPolicy): void {
    this.payment = {
      ...this.payment,
      pastDue: { invoiceId: invoice.id, invoiceNumber: invoice.number, amountMinor: invoice.totalMinor, firstFailureAt: failure.at, failures: 1, nextRetryAt: nextRetryAt(policy, failure.at, 1) ?? null, lastReason: failure.reason, payUrl: failure.payUrl },
    };
    this.version += 1;
  }

  /** The number of the next attempt on the past-due invoice (the first attempt was 1; each has its own key). */
  nextDunningAttempt(): number {
    return (this.payment.pastDue?.failures ?? 0) + (this.payment.pastDue?.extraAttempts ?? 0) + 1;
  }

  /** A retry a new card asked for failed: reported, but the schedule goes on as it was. */
  unscheduledRetryFailed(invoiceId: string, failure: { reason: string; payUrl: string | null }, policy: PaymentPolicy): void {
    const pastDue = this.payment.pastDue;
    if (!pastDue || pastDue.invoiceId !== invoiceId) return;
    const scheduled = nextRetryAt(policy, pastDue.firstFailureAt, pastDue.failures) ?? null;
    this.payment = { ...this.payment, pastDue: { ...pastDue, extraAttempts: (pastDue.extraAttempts ?? 0) + 1, nextRetryAt: scheduled, lastReason: failure.reason, payUrl: failure.payUrl ?? pastDue.payUrl } };
    this.version += 1;
  }

  /** The provider could not settle what was due (refused or down): asked again at `at`. */
  recheckDunningAt(invoiceId: string, at: number): void {
    const pastDue = this.payment.pastDue;
    if (pastDue?.invoiceId === invoiceId) this.payment = { ...this.payment, pastDue: { ...pastDue, nextRetryAt: at } };
  }

  recheckHeldAt(invoiceId: string, at: number): void {
    const held = this.payment.heldUpgrade;
    if (held?.invoiceId === invoiceId) this.payment = { ...this.payment, heldUpgrade: { ...held, expiresAt: at } };
  }

  recheckCheckoutAt(invoiceId: string, at: number): void {
    const incomplete = this.payment.incomplete;
    if (incomplete?.invoiceId === invoiceId) this.payment = { ...this.payment, incomplete: { ...incomplete, expiresAt: at - CHECKOUT_GRACE_MS } };
  }

  /** Another failed retry: the next one is scheduled, or `final` when none is left. */
  dunningFailed(invoiceId: string, failure: { reason: string; payUrl: string | null }, policy: PaymentPolicy): 'retry' | 'final' | 'stale' {
    const pastDue = this.payment.pastDue;
    if (!pastDue || pastDue.invoiceId !== invoiceId) return 'stale';
    const failures = pastDue.failures + 1;
    const next = nextRetryAt(policy, pastDue.firstFailureAt, failures) ?? null;
    this.payment = { ...this.payment, pastDue: { ...pastDue, failures, nextRetryAt: next, lastReason: failure.reason, payUrl: failure.payUrl ?? pastDue.payUrl } };
    this.version += 1;
    return next === null ? 'final' : 'retry';
  }

  /** The past-due invoice was paid (or settled): active again. Returns whether it was the one. */
  dunningSettled(invoiceId: string): boolean {
    if (this.payment.pastDue?.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, pastDue: undefined };
    this.version += 1;
    return true;
  }

  /** A new payment method: the past-due invoice is retried at once. */
  retryDunningNow(now: number): boolean {
    const pastDue = this.payment.pastDue;
    if (!pastDue) return false;
    this.payment = { ...this.payment, pastDue: { ...pastDue, nextRetryAt: now } };
    return true;
  }

  /**
   * After the last failed retry (its invoice closed: void when the customer leaves the plan at
   * once, uncollectible otherwise): the catalog's final action. Returns whether it applied.
   */
  finishDunning(invoiceId: string, action: DunningFinalAction): boolean {
    if (this.payment.pastDue?.invoiceId !== invoiceId) return false;
    this.payment = { ...this.payment, pastDue: undefined };
    if (action === 'fallback_plan') {
      this.fallBackNow();
      return true;
    }
    if (action === 'cancel') this.cancelAtPeriodEnd = true;
    this.version += 1;
    return true;
  }

  /** Payment notices being delivered; the next run takes over what is unfinished (deliveries are idempotent per notice id). */
  get pendingNotices(): readonly PaymentNotice[] {
    return this.noticesInDelivery;
  }

  noticeDeliveryStarted(notice: PaymentNotice): void {
    if (!this.noticesInDelivery.some((n) => n.noticeId === notice.noticeId)) this.noticesInDelivery = [...this.noticesInDelivery, notice];
  }

  noticeDeliveryFinished(notice: PaymentNotice): void {
    this.noticesInDelivery = this.noticesInDelivery.filter((n) => n.noticeId !== notice.noticeId);
  }

  /** The earliest instant the workflow must act on a payment: a lapsing Checkout page or held change, a retry due. */
  nextPaymentDeadline(): number | undefined {
    const times = [
      this.payment.incomplete ? this.payment.incomplete.expiresAt + CHECKOUT_GRACE_MS : undefined,
      this.payment.heldUpgrade?.invoiceId ? this.payment.heldUpgrade.expiresAt : undefined,
      this.payment.pastDue?.nextRetryAt ?? undefined,
    ].filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private paymentView(): PaymentStateView | null {
    const { incomplete, pastDue, heldUpgrade } = this.payment;
    if (incomplete) return { reason: 'checkout', invoiceNumber: incomplete.invoiceNumber, payUrl: incomplete.checkoutUrl, until: incomplete.expiresAt };
    if (pastDue) return { reason: 'past_due', invoiceNumber: pastDue.invoiceNumber, payUrl: pastDue.payUrl, until: pastDue.nextRetryAt, failures: pastDue.failures, lastReason: pastDue.lastReason };
    if (heldUpgrade) {
      return { reason: 'upgrade', invoiceNumber: heldUpgrade.invoiceNumber, payUrl: heldUpgrade.payUrl, until: heldUpgrade.expiresAt, upgradeTo: { planId: heldUpgrade.planId, interval: heldUpgrade.interval, seats: heldUpgrade.seats } };
    }
    return null;
  }

  /**
   * Drops the scheduled plan before it lands. A downgrade scheduled (and counted) in this very
   * cycle gives the cycle's downgrade back: it never happened, so another may be made.
   */
  private forgetScheduledPlan(): void {
    if (this.changeRules && this.pendingPlanId !== undefined && this.scheduledDowngradeCycle === this.cycleNumber && this.downgradesThisCycle > 0) {
      this.downgradesThisCycle -= 1;
    }
    this.pendingPlanId = undefined;
    this.scheduledDowngradeCycle = undefined;
  }

  /** A scheduled value equal to the current one is no change at all: forget it. Scheduled seats fit the plan they land on. */
  private dropNoOpPending(): void {
    if (this.pendingSeats !== undefined) this.pendingSeats = clampSeats(requirePlan(this.catalog, this.pendingPlanId ?? this.planId), this.pendingSeats);
    if (this.pendingPlanId === this.planId) this.forgetScheduledPlan();
    if (this.pendingSeats === this.seats) this.pendingSeats = undefined;
    if (this.pendingInterval === this.interval) this.pendingInterval = undefined;
  }

  // --- answered updates -----------------------------------------------------------------------

  /** The answer already given to Update `id` (same name), if it is remembered. */
  answerTo(id: string, name: string): AnsweredUpdate['result'] | undefined {
    return this.answeredUpdates.find((u) => u.id === id && u.name === name)?.result;
  }

  /** Remembers an answer; forgets those older than a day, and the oldest beyond the bound. */
  rememberAnswer(id: string, name: string, at: number, result: AnsweredUpdate['result']): void {
    this.answeredUpdates = [...this.answeredUpdates.filter((u) => u.at > at - ANSWERED_UPDATES_KEPT_MS), { id, name, at, result }].slice(-ANSWERED_UPDATES_KEPT);
  }

  // --- alerts ---------------------------------------------------------------------------------

  /** Crossings whose delivery has started and not finished; the next run takes them over. */
  get pendingAlerts(): readonly ThresholdCrossing[] {
    return this.alertsInDelivery;
  }

  alertDeliveryStarted(crossing: ThresholdCrossing): void {
    if (!this.alertsInDelivery.includes(crossing)) this.alertsInDelivery = [...this.alertsInDelivery, crossing];
  }

  alertDeliveryFinished(crossing: ThresholdCrossing): void {
    this.alertsInDelivery = this.alertsInDelivery.filter((c) => c !== crossing);
  }

  /**
   * Whether a threshold crossing still needs alerting: not seen before (the relay may signal twice)
   * and not older than the previous cycle. The latest 64 crossings are remembered across runs.
   */
  /**
   * Whether a crossing still needs its alerts. Crossings older than the previous cycle are dropped
   * (a relay backlog must not alert about cycles long gone), except on a test clock (`anyCycle`),
   * where usage recorded as an advance began can reach the subscription cycles later: there it
   * alerts late rather than never.
   */
  acceptCrossing(crossing: ThresholdCrossing, anyCycle = false): boolean {
    const previousCycleStart = this.cycleStart - (this.cycleEnd - this.cycleStart);
    if (crossing.cycleStart < previousCycleStart && !anyCycle) return false;
    const key = `${crossing.metric}:${crossing.cycleStart}:${crossing.threshold}:${crossing.limit}`;
    if (this.alertsHandled.includes(key)) return false;
    this.alertsHandled = [...this.alertsHandled, key].slice(-64);
    return true;
  }

  // --- payments -------------------------------------------------------------------------------

  /**
   * Whether a provider event still needs applying: the API signals it again when it could not
   * record that the first signal went through. The latest PAYMENT_EVENTS_KEPT ids are remembered
   * across runs; the provider stops redelivering an event after three days.
   */
  acceptPaymentEvent(eventId: string): boolean {
    if (this.paymentEventsHandled.includes(eventId)) return false;
    this.paymentEventsHandled = [...this.paymentEventsHandled, eventId].slice(-PAYMENT_EVENTS_KEPT);
    return true;
  }

  // --- renewal --------------------------------------------------------------------------------

  /**
   * Closes the current usage cycle and moves to the next one. When the billing period ends too, a
   * scheduled cancellation takes effect (the fallback plan, monthly) and the new period's invoice
   * is drafted (undefined when there is nothing to bill).
   */
  renew(): { newPeriod: boolean; invoice?: InvoiceDraft; closedCycle: { start: number; end: number; plan: Plan; metrics: Metric[] } } {
    const closedCycle = { start: this.cycleStart, end: this.cycleEnd, plan: requirePlan(this.catalog, this.planId), metrics: this.catalog.metrics };
    const cycle = nextCycle({ start: this.cycleStart, end: this.cycleEnd });
    this.cycleStart = cycle.start;
    this.cycleEnd = cycle.end;
    this.cycleNumber += 1;
    this.version += 1;
    this.downgradesThisCycle = 0;
    if (this.cycleStart < this.periodEnd) return { newPeriod: false, closedCycle };

    if (this.pendingPlanId !== undefined) this.planId = this.pendingPlanId;
    if (this.pendingSeats !== undefined) this.seats = this.pendingSeats;
    if (this.pendingInterval !== undefined) this.interval = this.pendingInterval;
    this.pendingPlanId = undefined;
    this.scheduledDowngradeCycle = undefined;
    this.pendingSeats = undefined;
    this.pendingInterval = undefined;

    if (this.cancelAtPeriodEnd) {
      const fallback = requirePlan(this.catalog, this.catalog.fallbackPlan);
      this.planId = fallback.id;
      this.interval = 'monthly';
      this.seats = defaultSeats(fallback);
      this.cancelAtPeriodEnd = false;
    }
    // Whatever was scheduled, the seat count must fit the plan the new period is on.
    this.seats = clampSeats(requirePlan(this.catalog, this.planId), this.seats);
    const period = periodOf(this.periodEnd, this.interval, this.catalog.cycleDays);
    this.periodStart = period.start;
    this.periodEnd = period.end;
    let invoice = draftInvoice({
      catalog: this.catalog,
      customerId: this.customerId,
      reason: 'renewal',
      planId: this.planId,
      interval: this.interval,
      seats: this.seats,
      period,
    });
    if (invoice && this.creditOwedMinor > 0n) {
      const credited = applyCredit(invoice, this.creditOwedMinor);
      invoice = credited.draft;
      this.creditOwedMinor = credited.remainingMinor;
    }
    return { newPeriod: true, invoice, closedCycle };
  }

  /**
   * Runs started before the `consistent-writes` patch only: overwrites credit owed with what the
   * renewal activity left. Wrong when a change was accepted while that activity ran (its credit is
   * lost, or credit it spent is owed again); kept so those runs replay as they ran.
   */
  settleCredit(creditOwedMinor: string): void {
    this.creditOwedMinor = BigInt(creditOwedMinor);
  }

  /**
   * Takes all credit owed out of reach while the renewal activity spends what it can on the closed
   * cycle's overage: a change accepted meanwhile can neither spend it too nor lose its own credit.
   */
  reserveCreditForRenewal(): bigint {
    const reserved = this.creditOwedMinor;
    this.creditOwedMinor = 0n;
    return reserved;
  }

  /**
   * Gives back what the renewal did not spend, as a delta on top of whatever changes made
   * meanwhile. When such changes already wrote their (newer) snapshots, the returned credit is a
   * state change of its own: it gets a version so the read model takes it. Returns whether it did.
   */
  returnUnspentCredit(unspentMinor: bigint, changedMeanwhile: boolean): boolean {
    if (unspentMinor <= 0n) return false;
    this.creditOwedMinor += unspentMinor;
    if (!changedMeanwhile) return false;
    this.version += 1;
    return true;
  }

  private planName(): string {
    return requirePlan(this.catalog, this.planId).name;
  }
}

function hasPaymentState(state: PaymentState): boolean {
  return state.incomplete !== undefined || state.heldUpgrade !== undefined || state.pastDue !== undefined || state.refund !== undefined;
}

/** Only the parts that are set (undefined members would not survive serialization anyway). */
function structuredCloneState(state: PaymentState): PaymentState {
  return {
    ...(state.incomplete ? { incomplete: { ...state.incomplete } } : {}),
    ...(state.heldUpgrade ? { heldUpgrade: { ...state.heldUpgrade } } : {}),
    ...(state.pastDue ? { pastDue: { ...state.pastDue } } : {}),
    ...(state.refund ? { refund: { ...state.refund } } : {}),
  };
}

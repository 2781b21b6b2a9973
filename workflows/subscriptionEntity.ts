/**
 * The subscription's state and its rules, in one small class (as in Temporal's
 * safe-message-handlers sample): handlers and the renewal loop only call these methods.
 * Pure and deterministic; no Temporal APIs here, so it is unit-testable on its own.
 */
import { clampSeats, defaultSeats, requirePlan, type Catalog, type Interval } from '../billing/catalog.js';
import { applyCredit, draftInvoice, planChangeInvoice, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { evaluatePlanChange, planChangeStateOf, type PlanChangeDecision } from '../billing/planChange.js';
import { nextCycle, periodOf } from '../billing/period.js';
import type { Plan } from '../billing/catalog.js';
import type { Metric } from '../billing/overage.js';
import {
  ANSWERED_UPDATES_KEPT,
  ANSWERED_UPDATES_KEPT_MS,
  PAYMENT_EVENTS_KEPT,
  type AnsweredUpdate,
  type ChangePlanRequest,
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
  private answeredUpdates: AnsweredUpdate[];
  private alertsInDelivery: ThresholdCrossing[];
  private paymentEventsHandled: string[];
  readonly customerId: string;

  constructor(input: SubscriptionInput) {
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
    this.answeredUpdates = input.answeredUpdates ?? [];
    this.alertsInDelivery = input.pendingAlerts ?? [];
    this.paymentEventsHandled = input.paymentEventsHandled ?? [];
  }

  get status(): SubscriptionStatus {
    return this.cancelAtPeriodEnd ? 'cancel_scheduled' : 'active';
  }

  get currentCycleEnd(): number {
    return this.cycleEnd;
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
    };
  }

  /** The input of the next run (continue-as-new). */
  nextRunInput(catalog: Catalog | undefined): SubscriptionInput {
    const { status: _status, currency: _currency, pendingPlanId, pendingSeats, pendingInterval, ...rest } = this.snapshot();
    return {
      ...rest,
      catalog: catalog ?? this.catalog,
      invoiceFirstPeriod: false,
      alertsHandled: [...this.alertsHandled],
      ...(this.answeredUpdates.length > 0 ? { answeredUpdates: [...this.answeredUpdates] } : {}),
      ...(this.alertsInDelivery.length > 0 ? { pendingAlerts: [...this.alertsInDelivery] } : {}),
      ...(this.paymentEventsHandled.length > 0 ? { paymentEventsHandled: [...this.paymentEventsHandled] } : {}),
      ...(pendingPlanId !== null ? { pendingPlanId } : {}),
      ...(pendingSeats !== null ? { pendingSeats } : {}),
      ...(pendingInterval !== null ? { pendingInterval } : {}),
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
    return evaluatePlanChange({
      catalog: this.catalog,
      state: planChangeStateOf(this.snapshot()),
      request,
      usage: new Map(Object.entries(request.usage).map(([metric, used]) => [metric, BigInt(used)])),
      now,
    });
  }

  validateChange(request: ChangePlanRequest, now: number): void {
    const decision = this.decide(request, now);
    if (!decision.allowed) throw refusal(decision.code, decision.message, decision.details);
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
      this.pendingPlanId = undefined;
      this.pendingSeats = undefined;
      this.pendingInterval = undefined;
      return { decision, creditAppliedMinor: 0n };
    }
    if (decision.kind === 'downgrade') this.downgradesThisCycle += 1;
    if (decision.effective === 'period_end') {
      if (decision.next.planId !== this.planId) this.pendingPlanId = decision.next.planId;
      if (decision.next.interval !== this.interval) this.pendingInterval = decision.next.interval;
      // A seat removal already scheduled survives a later period-end plan change (clamped to the new plan).
      const target = requirePlan(this.catalog, decision.next.planId);
      this.pendingSeats = request.seats === undefined && this.pendingSeats !== undefined ? clampSeats(target, this.pendingSeats) : decision.next.seats;
      this.dropNoOpPending();
      return { decision, creditAppliedMinor: 0n };
    }
    // An immediate change replaces only the scheduled parts it changes itself.
    if (decision.next.planId !== this.planId) {
      this.pendingPlanId = undefined;
      this.pendingInterval = undefined;
    }
    if (decision.next.interval !== this.interval) this.pendingInterval = undefined;
    if (decision.next.seats !== this.seats) this.pendingSeats = undefined;
    this.planId = decision.next.planId;
    this.interval = decision.next.interval;
    this.seats = decision.next.seats;
    this.dropNoOpPending();
    this.periodStart = decision.proration.period.start;
    this.periodEnd = decision.proration.period.end;
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

  /** A scheduled value equal to the current one is no change at all: forget it. Scheduled seats fit the plan they land on. */
  private dropNoOpPending(): void {
    if (this.pendingSeats !== undefined) this.pendingSeats = clampSeats(requirePlan(this.catalog, this.pendingPlanId ?? this.planId), this.pendingSeats);
    if (this.pendingPlanId === this.planId) this.pendingPlanId = undefined;
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
  acceptCrossing(crossing: ThresholdCrossing): boolean {
    const previousCycleStart = this.cycleStart - (this.cycleEnd - this.cycleStart);
    if (crossing.cycleStart < previousCycleStart) return false;
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

/**
 * The subscription's state and its rules, in one small class (as in Temporal's
 * safe-message-handlers sample): handlers and the renewal loop only call these methods.
 * Pure and deterministic; no Temporal APIs here, so it is unit-testable on its own.
 */
import { defaultSeats, requirePlan, type Catalog, type Interval } from '../billing/catalog.js';
import { draftInvoice, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { nextCycle, periodOf } from '../billing/period.js';
import type { Plan } from '../billing/catalog.js';
import type { Metric } from '../billing/overage.js';
import type { SubscriptionInput, SubscriptionSnapshot, SubscriptionStatus, ThresholdCrossing } from './messages.js';
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
  }

  get status(): SubscriptionStatus {
    return this.cancelAtPeriodEnd ? 'cancel_scheduled' : 'active';
  }

  get currentCycleEnd(): number {
    return this.cycleEnd;
  }

  get currentPlanId(): string {
    return this.planId;
  }

  get currentPeriodEnd(): number {
    return this.periodEnd;
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
    };
  }

  /** The input of the next run (continue-as-new). */
  nextRunInput(catalog: Catalog | undefined): SubscriptionInput {
    const { status: _status, currency: _currency, ...rest } = this.snapshot();
    return { ...rest, catalog: catalog ?? this.catalog, invoiceFirstPeriod: false, alertsHandled: [...this.alertsHandled] };
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

  // --- alerts ---------------------------------------------------------------------------------

  /**
   * Whether a threshold crossing still needs alerting: not seen before (the relay may signal twice)
   * and not older than the previous cycle. The latest 64 crossings are remembered across runs.
   */
  acceptCrossing(crossing: ThresholdCrossing): boolean {
    const previousCycleStart = this.cycleStart - (this.cycleEnd - this.cycleStart);
    if (crossing.cycleStart < previousCycleStart) return false;
    const key = `${crossing.metric}:${crossing.cycleStart}:${crossing.threshold}`;
    if (this.alertsHandled.includes(key)) return false;
    this.alertsHandled = [...this.alertsHandled, key].slice(-64);
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
    if (this.cycleStart < this.periodEnd) return { newPeriod: false, closedCycle };

    if (this.cancelAtPeriodEnd) {
      const fallback = requirePlan(this.catalog, this.catalog.fallbackPlan);
      this.planId = fallback.id;
      this.interval = 'monthly';
      this.seats = defaultSeats(fallback);
      this.cancelAtPeriodEnd = false;
    }
    const period = periodOf(this.periodEnd, this.interval, this.catalog.cycleDays);
    this.periodStart = period.start;
    this.periodEnd = period.end;
    const invoice = draftInvoice({
      catalog: this.catalog,
      customerId: this.customerId,
      reason: 'renewal',
      planId: this.planId,
      interval: this.interval,
      seats: this.seats,
      period,
    });
    return { newPeriod: true, invoice, closedCycle };
  }

  private planName(): string {
    return requirePlan(this.catalog, this.planId).name;
  }
}

/**
 * The subscription workflow's message contract, defined once and imported by the workflow, the
 * worker's activities and the API. Names carry a version so a changed payload gets a new name
 * while running workflows keep answering the old one.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Catalog, Interval } from '../billing/catalog.js';
import type { ChangeKind } from '../billing/planChange.js';

export const SUBSCRIPTION_WORKFLOW_TYPE = 'subscriptionWorkflow';
export const TASK_QUEUE_DEFAULT = 'tollgate-subscriptions';

/**
 * Patch that moved every write answering an Update to ordinary activities keyed by the Update's id,
 * made renewals reserve credit instead of overwriting it, and bounded a run's history. Runs that
 * started before it keep the old behaviour to their end (docs/architecture.md, "Shipping a
 * workflow change").
 */
export const CONSISTENT_WRITES_PATCH = 'consistent-writes';

/**
 * Patch that brought payments: invoices are collected by the provider after they are issued, the
 * provider's webhook events arrive as signals, and invoices are settled out of band by Update.
 */
export const PAYMENTS_PATCH = 'payments';

/**
 * Accepted Updates after which a run continues-as-new within its cycle, well under the server's
 * limit of updates per run (2,000 by default), so a customer changing seats all month long keeps
 * each run's history bounded.
 */
export const MAX_UPDATES_PER_RUN = 200;

/**
 * How long an answered Update is remembered across runs: as long as the API keeps an
 * Idempotency-Key (24 hours), so a retry with the key gets the first answer, never a second change.
 */
export const ANSWERED_UPDATES_KEPT_MS = 24 * 60 * 60 * 1000;
/** At most this many are remembered (oldest dropped first), to keep continue-as-new input small. */
export const ANSWERED_UPDATES_KEPT = 64;

/** Provider webhook event ids a subscription remembers (across runs) to apply each once. */
export const PAYMENT_EVENTS_KEPT = 128;

/** Attempts of one alert delivery before it is reported failed (about a day with the workflow's backoff). */
export const ALERT_DELIVERY_MAX_ATTEMPTS = 20;

export function subscriptionWorkflowId(customerId: string): string {
  return `subscription-${customerId}`;
}

export type SubscriptionStatus = 'active' | 'cancel_scheduled';

/** What a run of the workflow starts from; continue-as-new passes the next one. */
export interface SubscriptionInput {
  customerId: string;
  catalog: Catalog;
  planId: string;
  interval: Interval;
  seats: number;
  /** Billing period (epoch ms). */
  periodStart: number;
  periodEnd: number;
  /** Usage cycle inside the period (epoch ms). */
  cycleStart: number;
  cycleEnd: number;
  cancelAtPeriodEnd: boolean;
  /** Money owed back to the customer, credited on the next invoice (minor units, bigint string). */
  creditOwedMinor: string;
  /** Increases with every state change; read-model writes carry it so a stale write never wins. */
  version: number;
  /** Cycles completed since the subscription began. */
  cycleNumber: number;
  /** True on a new (not imported) subscription's first run: invoice the first period. */
  invoiceFirstPeriod: boolean;
  /** Threshold crossings already handled (recent ones), so a repeated signal alerts nobody twice. */
  alertsHandled?: string[];
  /** Downgrades made in the current usage cycle (reset at each renewal). */
  downgradesThisCycle?: number;
  /** A change deferred to the next billing period (period-end downgrade, seat removal). */
  pendingPlanId?: string;
  pendingSeats?: number;
  pendingInterval?: Interval;
  /** Recent Updates and their answers, so a request retried after a lost answer is answered again, not applied again, even in a later run. */
  answeredUpdates?: AnsweredUpdate[];
  /** Threshold crossings whose alerts the previous run had not finished delivering. */
  pendingAlerts?: ThresholdCrossing[];
  /** Accepted Updates after which a run continues-as-new (default MAX_UPDATES_PER_RUN). */
  maxUpdatesPerRun?: number;
  /** Provider webhook events already applied (recent ones), so a redelivered event is applied once. */
  paymentEventsHandled?: string[];
}

/** An Update the subscription accepted and what it answered (kept for ANSWERED_UPDATES_KEPT_MS). */
export interface AnsweredUpdate {
  id: string;
  name: string;
  /** Workflow time of the answer (epoch ms). */
  at: number;
  result: ChangePlanResult | SubscriptionSnapshot | SettledInvoice;
}

/** A usage threshold crossed, recorded in the usage transaction and relayed as a signal. */
export interface ThresholdCrossing {
  metric: string;
  cycleStart: number;
  cycleEnd: number;
  threshold: 80 | 100;
  used: string;
  limit: string;
}

/** The workflow's state as queries, updates and the read model see it. */
export interface SubscriptionSnapshot {
  customerId: string;
  planId: string;
  interval: Interval;
  seats: number;
  status: SubscriptionStatus;
  currency: string;
  periodStart: number;
  periodEnd: number;
  cycleStart: number;
  cycleEnd: number;
  cancelAtPeriodEnd: boolean;
  creditOwedMinor: string;
  version: number;
  cycleNumber: number;
  downgradesThisCycle: number;
  pendingPlanId: string | null;
  pendingSeats: number | null;
  pendingInterval: Interval | null;
}

/** A plan, interval or seat change, with the usage the caller measured for the allowance rule. */
export interface ChangePlanRequest {
  planId?: string;
  interval?: Interval;
  seats?: number;
  /** Usage so far per metric (bigint strings) in the cycle starting at `usageCycleStart`. */
  usage: Record<string, string>;
  usageCycleStart: number;
}

export interface ChangePlanResult {
  subscription: SubscriptionSnapshot;
  kind: ChangeKind;
  effective: 'immediate' | 'period_end';
  /** The prorated difference: > 0 to charge, < 0 owed back to the customer. Minor units, bigint string. */
  netMinor: string;
  /** What invoice `invoiceNumber` charges now: the positive net less credit owed that it used. Absent from runs before the `consistent-writes` patch. */
  chargedMinor?: string;
  /** Credit owed to the customer that this change's invoice used up. */
  creditAppliedMinor?: string;
  invoiceNumber: string | null;
  /** What collecting invoice `invoiceNumber` came to, when a payment provider is configured. */
  payment?: CollectionOutcome;
}

export type InvoiceStatus = 'open' | 'paid' | 'void' | 'uncollectible';

/** What collecting an invoice came to (activities/paymentActivities.ts). */
export interface CollectionOutcome {
  invoiceId: string;
  invoiceNumber: string;
  /** not_collected: nothing to collect (provider `none`, a zero total, or no longer open). */
  outcome: 'paid' | 'failed' | 'requires_action' | 'pending' | 'not_collected';
  status: InvoiceStatus;
  code?: string;
  reason?: string;
  /** Where the customer can pay it themselves (the provider's hosted invoice page). */
  hostedInvoiceUrl?: string | null;
}

/** A payment provider's webhook event, verified and stored by the API, as the workflow receives it. */
export interface PaymentEvent {
  /** The provider's event id: the workflow applies each once. */
  eventId: string;
  kind: 'invoice_paid' | 'invoice_payment_failed' | 'invoice_action_required' | 'payment_method_updated' | 'checkout_completed' | 'checkout_expired';
  /** Tollgate's invoice the event is about, where it names one. */
  invoiceId?: string;
  reference?: string;
  reason?: string;
  hostedInvoiceUrl?: string;
  /** When the provider created the event (epoch ms). */
  occurredAt: number;
}

/** An operator settles an open invoice out of band: paid (with their reference) or void. */
export interface SettleInvoiceRequest {
  invoiceNumber: string;
  outcome: 'paid' | 'void';
  reference?: string;
}

export interface SettledInvoice {
  invoiceId: string;
  invoiceNumber: string;
  status: InvoiceStatus;
}

export const getStateQuery = defineQuery<SubscriptionSnapshot>('getState.v1');
/** Schedule cancellation at the period end. Refused: see refusals.ts. */
export const cancelUpdate = defineUpdate<SubscriptionSnapshot, []>('cancel.v1');
/** Undo a scheduled cancellation within the period. */
export const reactivateUpdate = defineUpdate<SubscriptionSnapshot, []>('reactivate.v1');
/** Upgrade, downgrade, interval switch or seat change. Refused: see refusals.ts and billing/planChange.ts. */
export const changePlanUpdate = defineUpdate<ChangePlanResult, [ChangePlanRequest]>('changePlan.v1');
/** Settle an open invoice out of band. Refused: invoice_not_found, invoice_not_open. */
export const settleInvoiceUpdate = defineUpdate<SettledInvoice, [SettleInvoiceRequest]>('settleInvoice.v1');
/** Fire-and-forget: a verified provider webhook event (payment succeeded, failed, needs action…). */
export const paymentEventSignal = defineSignal<[PaymentEvent]>('paymentEvent.v1');
/** Fire-and-forget: usage crossed 80% or 100% of a limit; the workflow sends the alerts. */
export const thresholdCrossedSignal = defineSignal<[ThresholdCrossing]>('thresholdCrossed.v1');

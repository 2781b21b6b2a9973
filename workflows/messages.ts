/**
 * The subscription workflow's message contract, defined once and imported by the workflow, the
 * worker's activities and the API. Names carry a version so a changed payload gets a new name
 * while running workflows keep answering the old one.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Catalog, Interval } from '../billing/catalog.js';
import type { DunningFinalAction } from '../billing/paymentPolicy.js';
import type { ChangeKind } from '../billing/planChange.js';

export const SUBSCRIPTION_WORKFLOW_TYPE = 'subscriptionWorkflow';
export const TASK_QUEUE_DEFAULT = 'tollgate-subscriptions';

/** The workflow delivering one webhook delivery (workflows/webhookDeliveryWorkflow.ts): one run per delivery. */
export const webhookDeliveryWorkflowId = (deliveryId: string) => `webhook-delivery-${deliveryId}`;

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
 * Patch that brought prepaid credits: purchases by Update, balance crossings by signal, and
 * auto-recharge in the main loop (issue 10).
 */
export const CREDITS_PATCH = 'credits';

/**
 * Patch that writes the renewal (closed cycle, invoice, read model) with a local activity inside
 * the workflow task the period's timer wakes, instead of an ordinary activity and a second
 * workflow task: half the tasks and history events per renewal, which a storm of renewals at one
 * instant multiplies (docs/architecture.md, "Renewal storms", says why it is safe).
 */
export const LOCAL_RENEWAL_PATCH = 'local-renewal';
/** Runs from here on index their billing interval (search attribute BillingInterval) too. */
export const INTERVAL_SEARCH_PATCH = 'interval-search-attribute';

/**
 * Marks a run that keeps a test clock (issue 14). Only runs on a clock record it; on real time the
 * workflow issues the same commands as before clocks existed.
 */
export const TEST_CLOCK_PATCH = 'test-clock';

/**
 * Patch that brought the catalog's change rules (issue 15): a change carrying the catalog version it
 * was previewed under is refused when the run's catalog differs, and withdrawing a period-end
 * downgrade gives back the cycle's downgrade. Runs begun before keep the old behaviour to their end.
 */
export const PLAN_CHANGE_RULES_PATCH = 'plan-change-rules';

/** Credit purchases that may wait for their payment at once (each holds a Checkout page or an open invoice). */
export const MAX_PENDING_PURCHASES = 5;

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

/** A test clock as one subscription sees it (epoch ms): where it stands and where it is advancing to. */
export interface TestClockPosition {
  id: string;
  now: number;
  target: number;
}

/** A test clock's advance, sent to each of its subscriptions: step through everything due up to `to`. */
export interface AdvanceTestClock {
  clockId: string;
  to: number;
}

export function subscriptionWorkflowId(customerId: string): string {
  return `subscription-${customerId}`;
}

/**
 * `incomplete`: a new paid subscription whose first invoice waits for Checkout; `past_due`: a
 * renewal payment failed and is being retried (dunning).
 */
export type SubscriptionStatus = 'active' | 'cancel_scheduled' | 'incomplete' | 'past_due';

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
  /** The cycle (cycleNumber) in which the scheduled downgrade was made and counted, so withdrawing it in that cycle gives the count back. */
  scheduledDowngradeCycle?: number;
  /** Recent Updates and their answers, so a request retried after a lost answer is answered again, not applied again, even in a later run. */
  answeredUpdates?: AnsweredUpdate[];
  /** Threshold crossings whose alerts the previous run had not finished delivering. */
  pendingAlerts?: ThresholdCrossing[];
  /** Accepted Updates after which a run continues-as-new (default MAX_UPDATES_PER_RUN). */
  maxUpdatesPerRun?: number;
  /** Provider webhook events already applied (recent ones), so a redelivered event is applied once. */
  paymentEventsHandled?: string[];
  /** Whether a payment provider collects (upgrades then wait for their payment); from the API at creation, from the worker at each renewal. */
  paymentProvider?: 'none' | 'stripe';
  /** Where Checkout sends the customer back (first invoice of a new subscription). */
  checkoutUrls?: { successUrl: string; cancelUrl: string };
  /** A subscription on a test clock: the clock's instant and the target it advances to (absent: real time). */
  testClock?: TestClockPosition;
  /** Set on a new subscription's first run only. */
  newSubscription?: boolean;
  /** The payment the subscription waits for: first invoice (Checkout), a held upgrade, dunning. */
  payment?: PaymentState;
  /** Payment notices the previous run had not finished delivering. */
  pendingNotices?: PaymentNotice[];
  /** Credit purchases waiting for payment, the recharge under way, crossings handled (runs with the `credits` patch). */
  credits?: CreditsWork;
}

/** What a subscription waits for from its payment provider (carried across runs). */
export interface PaymentState {
  /** A new subscription's first invoice, open on a Checkout page: `incomplete` until it is paid; the fallback plan if the page expires. */
  incomplete?: { invoiceId: string; invoiceNumber: string; checkoutSessionId: string; checkoutUrl: string | null; expiresAt: number };
  /** An upgrade decided but not applied until its invoice is paid (at most UPGRADE_PAYMENT_WINDOW_MS). */
  heldUpgrade?: HeldUpgrade;
  /** Credit owed, taken on landing on the fallback plan, being refunded to the customer's card. */
  refund?: { refundId: string; amountMinor: string; /** When it was taken (workflow time): the credit note's date, the same on every repeat. */ at: number };
  /** A renewal invoice whose payment failed: retried on the catalog's schedule. */
  pastDue?: {
    invoiceId: string; invoiceNumber: string; amountMinor: string; firstFailureAt: number;
    /** Failed attempts on the schedule (the first one included). */
    failures: number;
    /** Attempts a new card asked for, outside the schedule (they do not count as failures). */
    extraAttempts?: number;
    nextRetryAt: number | null; lastReason: string; payUrl: string | null;
  };
}

export interface HeldUpgrade {
  updateId: string;
  planId: string;
  interval: Interval;
  seats: number;
  /** The billing period the upgrade starts (its proration was priced for it). */
  periodStart: number;
  periodEnd: number;
  invoiceId: string;
  invoiceNumber: string;
  /** Credit owed that the invoice used: given back if the upgrade expires. */
  creditAppliedMinor: string;
  /** Collection attempts made (each has its own idempotency key). */
  attempts: number;
  expiresAt: number;
  payUrl: string | null;
}

/** An Update the subscription accepted and what it answered (kept for ANSWERED_UPDATES_KEPT_MS). */
export interface AnsweredUpdate {
  id: string;
  name: string;
  /** Workflow time of the answer (epoch ms). */
  at: number;
  result: ChangePlanResult | SubscriptionSnapshot | SettledInvoice | CreditPurchaseResult | CreditRefundResult;
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
  /** What the subscription waits for from the payment provider; null when nothing. */
  payment: PaymentStateView | null;
  /** The version (billing/catalogVersion.ts) of the catalog the subscription is decided and priced with. Absent from snapshots written before it existed. */
  catalogVersion?: string;
}

/** The part of PaymentState the read model and the usage card show. */
export interface PaymentStateView {
  /** The invoice to pay and where. */
  invoiceNumber: string;
  payUrl: string | null;
  reason: 'checkout' | 'upgrade' | 'past_due';
  /** Checkout page or held upgrade: when it lapses. Past due: the next retry. */
  until: number | null;
  failures?: number;
  lastReason?: string;
  /** A held upgrade's target. */
  upgradeTo?: { planId: string; interval: Interval; seats: number };
}

/** A plan, interval or seat change, with the usage the caller measured for the allowance rule. */
export interface ChangePlanRequest {
  planId?: string;
  interval?: Interval;
  seats?: number;
  /** Usage so far per metric (bigint strings) in the cycle starting at `usageCycleStart`. */
  usage: Record<string, string>;
  usageCycleStart: number;
  /** The catalog version the change was previewed under: refused (catalog_changed) if the subscription's is another. */
  catalogVersion?: string;
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
  /** False when an upgrade waits for its payment (the API answers 402 payment_required); absent or true when applied or scheduled. */
  applied?: boolean;
  /** A held upgrade: when it expires unless paid. */
  expiresAt?: number;
}

export type InvoiceStatus = 'open' | 'paid' | 'void' | 'uncollectible';

/** What collecting an invoice came to (activities/paymentActivities.ts). */
export interface CollectionOutcome {
  invoiceId: string;
  invoiceNumber: string;
  /**
   * not_collected: nothing to collect (provider `none`, a zero total, or no longer open);
   * checkout_required: no saved card, a Checkout page is open for it (first invoice only).
   */
  outcome: 'paid' | 'failed' | 'requires_action' | 'pending' | 'not_collected' | 'checkout_required';
  status: InvoiceStatus;
  code?: string;
  reason?: string;
  /** Where the customer can pay it themselves (the provider's hosted invoice page). */
  hostedInvoiceUrl?: string | null;
  checkout?: { sessionId: string; url: string | null; expiresAt: number };
}

/**
 * A payment notice (dunning) as the workflow hands it to deliverPaymentNotice. Everything here is
 * recorded in history, so it holds no secrets and no channel destinations (the activity looks
 * those up).
 */
export interface PaymentNotice {
  /**
   * Names this notice for good: the same id on every retry and replay, a new one per notice
   * (e.g. `${invoiceId}:failed:${failures}` or `${invoiceId}:final`). Delivery is idempotent per
   * (customer, noticeId, channel).
   */
  noticeId: string;
  /** A failed payment that will or will not be retried, or the final action after the last failure. */
  kind: 'payment_failed' | 'payment_final';
  invoiceNumber: string;
  /** Minor units as a bigint string (history is JSON: no bigint, and no floating point for money). */
  amountMinor: string;
  currency: string;
  /** Why the payment failed, one line, e.g. the provider's decline message. */
  reason: string;
  /** Where the customer pays the invoice or updates the card; null when there is no such page. */
  payUrl: string | null;
  /** Epoch ms of the next automatic retry; null when none is left. */
  nextRetryAt: number | null;
  /** What happened after the last failure (kind 'payment_final'); null otherwise. */
  finalAction: DunningFinalAction | null;
}

/**
 * A credits notice (issue 10) as the workflow hands it to deliverCreditNotice: the balance under
 * its threshold or exhausted, or an auto-recharge that failed, was turned off, or met its
 * spending limit. Amounts are already formatted with their unit ("400000 tokens", "10.00 EUR"):
 * history holds no bigint, and the workflow has the catalog to format with.
 */
export interface CreditNotice {
  /** One id per notice for good (e.g. `credits:tokens:7:low`), the same on every retry; delivery is idempotent per (customer, noticeId, channel). */
  noticeId: string;
  kind: 'credits_low' | 'credits_exhausted' | 'recharge_failed' | 'recharge_off' | 'recharge_limit_reached';
  /** The balance when the notice was decided, with its unit. */
  balance: string;
  /** The customer's low-balance threshold, with its unit; null when none is set. */
  threshold: string | null;
  /** Recharge notices: what the recharge charges (or would have), with its currency. */
  amount: string | null;
  /** Recharge failures: why the charge failed, one line (e.g. the card's decline message). */
  reason: string | null;
  /** Where the customer pays or updates the card; null when there is no such page. */
  payUrl: string | null;
  /** Epoch ms of the next automatic retry of a failed recharge; null when none is left. */
  nextRetryAt: number | null;
  /** recharge_limit_reached: the cycle's spending limit and what was spent, with the currency. */
  spendingLimit?: string | null;
  spent?: string | null;
}

/** Buy credits: a pack of the catalog or a custom amount (decimal string of the catalog currency). */
export interface CreditPurchaseRequest {
  packId?: string;
  amount?: string;
  /** Where a Checkout page (no saved card) sends the customer back. */
  checkout?: { successUrl: string; cancelUrl: string };
}

export interface CreditPurchaseResult {
  /** The Update's id: names the purchase for good. */
  purchaseId: string;
  invoiceNumber: string;
  /**
   * paid: charged and granted; checkout_required: pay on `checkoutUrl`; payment_failed: the saved
   * card was declined (pay on `payUrl` before `expiresAt`); awaiting_payment: no provider collects
   * (an operator marks the invoice paid), or the provider could not be asked.
   */
  status: 'paid' | 'checkout_required' | 'payment_failed' | 'awaiting_payment';
  /** Credits bought, nanos of the credit unit (bigint string). */
  creditsNanos: string;
  amountMinor: string;
  currency: string;
  checkoutUrl: string | null;
  payUrl: string | null;
  /** Until when the purchase waits for its payment; null when it does not lapse. */
  expiresAt: number | null;
  reason: string | null;
}

/** An operator refunds a paid credit purchase: its unused credits taken back, that share of the price returned. */
export interface CreditRefundRequest {
  purchaseId: string;
  reason: string;
}

export interface CreditRefundResult {
  purchaseId: string;
  /** Credits taken back (nanos, bigint string): the purchase's credits still on the balance. */
  creditsNanos: string;
  /** Money returned (minor units): the price × credits taken back ÷ credits bought, rounded down. */
  amountMinor: string;
  currency: string;
  /** The provider's refund, when the purchase was paid through it; null when paid elsewhere. */
  providerRefundId: string | null;
  creditNoteNumber: string | null;
}

/** A credit balance crossing (or a recharge request) from the credit_alerts outbox. */
export interface CreditBalanceCrossing {
  unit: string;
  /** The account's crossing number: each is handled once. */
  crossing: number;
  kind: 'low' | 'exhausted' | 'recharge';
  balanceNanos: string;
  thresholdNanos: string | null;
}

/** What the recharge step decided (activities/creditActivities.ts prepareRecharge). */
export type RechargePreparation =
  | { status: 'off' | 'not_needed' }
  | { status: 'limit_reached'; balanceNanos: string; spentMinor: string; limitMinor: string; amountMinor: string }
  | { status: 'invoiced'; invoiceId: string; invoiceNumber: string; amountMinor: string; creditsNanos: string; balanceNanos: string };

/**
 * A purchase waiting for its payment (Checkout page or a declined card), voided when it lapses;
 * with no provider to collect, it waits for an operator (expiresAt NEVER_LAPSES).
 */
export interface PendingPurchase {
  purchaseId: string;
  invoiceId: string;
  invoiceNumber: string;
  checkoutSessionId: string | null;
  expiresAt: number;
}

/** A purchase that waits for an operator's mark-paid or void, however long. */
export const NEVER_LAPSES = Number.MAX_SAFE_INTEGER;

/** The auto-recharge under way (one at a time per customer). */
export interface RechargeState {
  /** `recharge:${customerId}:${unit}:${crossing}` of the crossing that asked, then `…#2`, `…#3` for follow-ups in the same fall. */
  rechargeId: string;
  /** 1 for the recharge a crossing asked for, then 2, 3… for follow-ups in the same fall (rechargeId `…#n`). */
  seq: number;
  unit: string;
  invoiceId: string | null;
  invoiceNumber: string | null;
  amountMinor: string | null;
  failures: number;
  firstFailureAt: number | null;
  nextAttemptAt: number;
  payUrl: string | null;
  lastReason: string | null;
}

/** The credits work a subscription carries across runs. */
export interface CreditsWork {
  pendingPurchases: PendingPurchase[];
  recharge: RechargeState | null;
  /** Crossings already handled (recent ones), `${unit}:${crossing}`. */
  crossingsHandled: string[];
  /** Notices the previous run had not finished delivering. */
  pendingNotices: CreditNotice[];
  /** A crossing came while the recharge under way ran: another is asked for once it ends. */
  rechargeAgain?: boolean;
}

/** What a new subscription's first invoice came to, for the API's answer to its creation. */
export interface FirstPayment {
  status: SubscriptionStatus;
  invoiceNumber: string | null;
  outcome: CollectionOutcome['outcome'] | 'none';
  checkoutUrl: string | null;
  payUrl: string | null;
  reason: string | null;
}

/** A payment provider's webhook event, verified and stored by the API, as the workflow receives it. */
export interface PaymentEvent {
  /** The provider's event id: the workflow applies each once. */
  eventId: string;
  kind: 'invoice_paid' | 'invoice_payment_failed' | 'invoice_action_required' | 'payment_method_updated' | 'checkout_completed' | 'checkout_expired';
  /** Tollgate's invoice the event is about, where it names one. */
  invoiceId?: string;
  /** The Checkout page the event is about (checkout events). */
  checkoutSessionId?: string;
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
/** The catalog the subscription decides changes with (its own copy; the next run's once a renewal handed one over). */
export const catalogQuery = defineQuery<Catalog>('catalog.v1');
/** Schedule cancellation at the period end. Refused: see refusals.ts. */
export const cancelUpdate = defineUpdate<SubscriptionSnapshot, []>('cancel.v1');
/** Undo a scheduled cancellation within the period. */
export const reactivateUpdate = defineUpdate<SubscriptionSnapshot, []>('reactivate.v1');
/** Upgrade, downgrade, interval switch or seat change. Refused: see refusals.ts and billing/planChange.ts. */
export const changePlanUpdate = defineUpdate<ChangePlanResult, [ChangePlanRequest]>('changePlan.v1');
/** Waits until a new subscription's first invoice is collected (or needs Checkout); answers at once otherwise. */
export const firstPaymentUpdate = defineUpdate<FirstPayment, []>('firstPayment.v1');
/** Settle an open invoice out of band. Refused: invoice_not_found, invoice_not_open. */
export const settleInvoiceUpdate = defineUpdate<SettledInvoice, [SettleInvoiceRequest]>('settleInvoice.v1');
/** Fire-and-forget: a verified provider webhook event (payment succeeded, failed, needs action…). */
export const paymentEventSignal = defineSignal<[PaymentEvent]>('paymentEvent.v1');
/** Buy credits (a pack or an amount). Refused: credits_not_offered, unknown_pack, amount_out_of_range, invalid_amount, custom_amount_not_offered, too_many_pending_purchases, credits_after_renewal. */
export const buyCreditsUpdate = defineUpdate<CreditPurchaseResult, [CreditPurchaseRequest]>('buyCredits.v1');
/** Refund a paid credit purchase. Refused: purchase_not_found, purchase_not_paid, nothing_to_refund. */
export const refundCreditsUpdate = defineUpdate<CreditRefundResult, [CreditRefundRequest]>('refundCredits.v1');
/** Fire-and-forget: a credit balance fell under its threshold or ran out (or auto-recharge was turned on under it). */
export const creditBalanceSignal = defineSignal<[CreditBalanceCrossing]>('creditBalance.v1');
/** Fire-and-forget: usage crossed 80% or 100% of a limit; the workflow sends the alerts. */
export const thresholdCrossedSignal = defineSignal<[ThresholdCrossing]>('thresholdCrossed.v1');

export const advanceTestClockSignal = defineSignal<[AdvanceTestClock]>('advanceTestClock.v1');
/** Where a subscription's test clock stands, and whether it has caught up with its target (undefined on real time). */
export const testClockQuery = defineQuery<(TestClockPosition & { caughtUp: boolean }) | undefined>('testClock.v1');

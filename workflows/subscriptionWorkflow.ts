/**
 * One long-lived workflow per customer subscription (id `subscription-<customerId>`). Each run
 * covers one usage cycle: it sleeps until the cycle ends, renews (invoice + read model in one
 * activity), then continues-as-new so history stays a handful of events per cycle for years.
 *
 * Deterministic by construction: time comes from the workflow clock, every side effect is an
 * activity, and handlers are registered before the first await.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  makeContinueAsNewFunc,
  currentUpdateInfo,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { HandlerUnfinishedPolicy, type ActivityOptions } from '@temporalio/common';
import type { AlertActivities } from '../activities/alertActivities.js';
import type { CreditActivities } from '../activities/creditActivities.js';
import type { CreditNoticeActivities } from '../activities/creditNoticeActivities.js';
import type { CheckoutOptions, PaymentActivities } from '../activities/paymentActivities.js';
import type { PaymentNoticeActivities } from '../activities/paymentNoticeActivities.js';
import type { SubscriptionActivities } from '../activities/subscriptionActivities.js';
import {
  ALERT_DELIVERY_MAX_ATTEMPTS,
  buyCreditsUpdate,
  cancelUpdate,
  creditBalanceSignal,
  CREDITS_PATCH,
  INTERVAL_SEARCH_PATCH,
  TEST_CLOCK_PATCH,
  PLAN_CHANGE_RULES_PATCH,
  advanceTestClockSignal,
  testClockQuery,
  LOCAL_RENEWAL_PATCH,
  refundCreditsUpdate,
  changePlanUpdate,
  CONSISTENT_WRITES_PATCH,
  firstPaymentUpdate,
  MAX_UPDATES_PER_RUN,
  NEVER_LAPSES,
  PAYMENTS_PATCH,
  getStateQuery,
  catalogQuery,
  paymentEventSignal,
  reactivateUpdate,
  settleInvoiceUpdate,
  thresholdCrossedSignal,
  type AnsweredUpdate,
  type ChangePlanResult,
  type CollectionOutcome,
  type CreditNotice,
  type CreditPurchaseRequest,
  type CreditPurchaseResult,
  type CreditRefundResult,
  type FirstPayment,
  type HeldUpgrade,
  type PaymentEvent,
  type PaymentNotice,
  type SettledInvoice,
  type SubscriptionInput,
  type ThresholdCrossing,
} from './messages.js';
import { BILLING_INTERVAL, CUSTOMER_ID, TEST_CLOCK, subscriptionSearchAttributes } from './searchAttributes.js';
import { WorkflowClock } from './workflowClock.js';
import { currentDetailsOf } from './operatorSummary.js';
import { refusal } from './refusals.js';
import { SubscriptionEntity } from './subscriptionEntity.js';
import { CreditsWorkState } from './creditsWork.js';
import { CHECKOUT_GRACE_MS, CHECKOUT_WINDOW_MS, UPGRADE_PAYMENT_WINDOW_MS } from '../billing/paymentPolicy.js';
import { rechargeRetryAt } from '../billing/autoRecharge.js';
import { creditUnitOf, formatCredits } from '../billing/creditPricing.js';
import { creditPurchaseInvoice, type InvoiceDraft } from '../billing/invoiceDraft.js';
import { formatMinor } from '../billing/money.js';

// Database writes are short; a dead worker's attempt is retried after startToClose. Retries never
// stop: each activity is idempotent, and giving up would lose an invoice.
const activities = proxyActivities<SubscriptionActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// Runs started before CONSISTENT_WRITES_PATCH wrote Update answers with local activities. A local
// activity commits before its workflow task completes; when that task was dropped and replayed,
// another Update could take the same state version, and its write collided with (and returned)
// the first one's invoice. Kept only so those runs replay as they ran.
const legacyUpdateWrites = proxyLocalActivities<SubscriptionActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

// The renewal's write runs as a local activity in the task its timer wakes (LOCAL_RENEWAL_PATCH).
// Safe to repeat if that task is dropped: it is keyed by the closed cycle (the counters close once,
// the invoice's key is the period's, the read model is written only over an older version), and
// changes are refused from the cycle's end until the next run, so a repeat writes the same thing.
// Retried like the ordinary activity; past a minute between attempts the SDK waits on a timer.
const localRenewalWrites = proxyLocalActivities<Pick<SubscriptionActivities, 'recordRenewal'>>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// One activity per channel: a broken channel neither blocks the others nor repeats what went out.
// Permanent failures (a 4xx from the destination) are not retried; transient ones back off for
// about a day before the delivery is reported failed. Payment notices (dunning) go out alike.
const deliveryOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 hours',
    maximumAttempts: ALERT_DELIVERY_MAX_ATTEMPTS,
    nonRetryableErrorTypes: ['PermanentDeliveryError'],
  },
};
const alerts = proxyActivities<AlertActivities>(deliveryOptions);
const notices = proxyActivities<PaymentNoticeActivities>(deliveryOptions);
const creditNotices = proxyActivities<CreditNoticeActivities>(deliveryOptions);

// Payment steps call the provider: a network failure or a 5xx is retried (every call is keyed, so a
// repeat is answered from the provider's memory); a request the provider can never accept is not.
// A decline is an answer, not a failure: the workflow decides what follows.
// They heartbeat while they run: a worker that dies mid-call is noticed within seconds and the
// step retried elsewhere with the same keys.
const paymentStepOptions = (nonRetryableErrorTypes: string[]): ActivityOptions => ({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: ['PaymentConfigurationError', ...nonRetryableErrorTypes] },
});
const paymentSteps = proxyActivities<PaymentActivities>(paymentStepOptions(['invoice_not_found', 'invoice_not_open', 'customer_not_found']));

// Credit steps are database writes (the charge itself is collectInvoice, a payment step). Their
// retries are bounded (about 8 minutes): a step that keeps failing is tried again by the main loop
// an hour later instead of holding it (and the renewals behind it) for ever.
const creditSteps = proxyActivities<CreditActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 12, nonRetryableErrorTypes: ['customer_not_found'] },
});
// A refund calls the provider: timed and retried like the payment steps.
const creditRefunds = proxyActivities<Pick<CreditActivities, 'refundPurchase'>>(paymentStepOptions(['purchase_not_found', 'purchase_not_paid', 'nothing_to_refund']));

/** An activity's typed refusal (ApplicationFailure), rethrown as the Update's own failure (the provider's own refusal as `payment_provider_error`). */
function unwrapActivityFailure(error: unknown): unknown {
  if (!(error instanceof ActivityFailure && error.cause instanceof ApplicationFailure)) return error;
  if (error.cause.type === 'PaymentConfigurationError') return refusal('payment_provider_error', 'The payment provider refused the request; nothing was settled. See the worker log.');
  return error.cause;
}

export async function subscriptionWorkflow(input: SubscriptionInput): Promise<void> {
  // One decision per run, before anything else: a run that began on older code keeps its old
  // behaviour to its end; every run after continue-as-new takes the new one.
  const consistentWrites = patched(CONSISTENT_WRITES_PATCH);
  // Collecting invoices through the payment provider: runs from before it never tried to collect.
  const collectsPayments = consistentWrites && patched(PAYMENTS_PATCH);
  // Ordinary activities are scheduled by a command of a completed workflow task, so a write exists
  // only for an Update that history accepted, whatever task is dropped or replayed.
  const updateWrites = consistentWrites ? activities : legacyUpdateWrites;
  // Runs begun before BillingInterval existed keep upserting what they did (stored histories replay it).
  const indexesInterval = patched(INTERVAL_SEARCH_PATCH);
  // Catalog versions on changes, and a withdrawn period-end downgrade given back (issue 15).
  const changeRules = patched(PLAN_CHANGE_RULES_PATCH);
  const subscription = new SubscriptionEntity(input, { changeRules });
  const credits = new CreditsWorkState(input.credits);
  // The time the rules read: the workflow's clock, or the subscription's test clock (issue 14).
  // Only runs that collect payments (every run begun since) can be on one.
  // Decided by a patch marker, and only for a run on a clock (runs on real time record nothing new):
  // a clock run an older worker began, before clocks existed, keeps the real time it ran on.
  const clock = new WorkflowClock(collectsPayments && input.testClock !== undefined && patched(TEST_CLOCK_PATCH) ? input.testClock : undefined);
  const now = () => clock.now();
  /** An invoice issued on a test clock carries the clock's date (on real time the database's is the same instant). */
  const stamped = <T extends InvoiceDraft | undefined>(draft: T): T => (draft && clock.testClockId !== undefined ? { ...draft, issuedAt: now() } : draft);
  if (clock.testClockId !== undefined && workflowInfo().typedSearchAttributes.get(TEST_CLOCK) === undefined) {
    upsertSearchAttributes([{ key: TEST_CLOCK, value: clock.testClockId }]);
  }
  // A run continued from one begun before BillingInterval existed starts without it: set it now,
  // so filters on it find every subscription from its next run on, not only after a change.
  if (indexesInterval && workflowInfo().typedSearchAttributes.get(BILLING_INTERVAL) === undefined) {
    upsertSearchAttributes([{ key: BILLING_INTERVAL, value: subscription.snapshot().interval }]);
  }
  // The Temporal UI's detail view: current on every change (workflows/operatorSummary.ts).
  const describeForOperators = () => setCurrentDetails(currentDetailsOf(subscription.snapshot(), subscription.currentCatalog));
  describeForOperators();
  const maxUpdatesPerRun = input.maxUpdatesPerRun ?? MAX_UPDATES_PER_RUN;
  let updatesThisRun = 0;
  let updatesInFlight = 0;
  // Payment events being applied: the handover waits for them too (short database writes).
  let paymentWorkInFlight = 0;
  // Refunds under way, detached: a test clock has not caught up while one runs (they are not waited for otherwise).
  let refundsInFlight = 0;
  // Set once this run is about to continue-as-new: it waits for the Updates it accepted, and new
  // ones must go to the next run, or a steady stream of them would keep this one open for ever.
  let handingOver = false;
  // Set between the cycle's end and its renewal, while holds and Checkout pages are settled: changes wait.
  let closingCycle = false;
  // A cycle that is over but not yet renewed (its timer fired in this very task) waits too: the
  // renewal, written by a local activity in that task, must not be repeated over a changed state
  // when the task is dropped and run again. Validators do not run on replay, so this is replay-safe.
  const admit = () => {
    if (handingOver || closingCycle || now() >= subscription.currentCycleEnd) throw refusal('subscription_busy', 'The subscription is moving to its next run; try again in a moment.');
    if (clock.advancing()) throw refusal('test_clock_advancing', 'The customer\'s test clock is advancing; try again once it has caught up.');
  };
  /** This Update's id when it was answered before (a retry, possibly in a later run): its answer. */
  const earlierAnswer = (name: string) => {
    const id = consistentWrites ? currentUpdateInfo()?.id : undefined;
    return id === undefined ? undefined : subscription.answerTo(id, name);
  };
  /** Runs an Update's handler, counted (the handover waits for these) and its answer remembered. */
  const answer = async <T extends AnsweredUpdate['result']>(name: string, work: () => Promise<T>): Promise<T> => {
    if (!consistentWrites) return work();
    const earlier = earlierAnswer(name);
    if (earlier !== undefined) return earlier as T;
    updatesInFlight += 1;
    try {
      const result = await work();
      // Kept for a day of real time, as the API keeps an Idempotency-Key (a test clock's days pass in seconds).
      subscription.rememberAnswer(currentUpdateInfo()!.id, name, Date.now(), result);
      return result;
    } finally {
      updatesInFlight -= 1;
    }
  };

  const indexForSearch = () => {
    const state = subscription.snapshot();
    upsertSearchAttributes(subscriptionSearchAttributes(state, indexesInterval).filter((pair) => pair.key !== CUSTOMER_ID));
    describeForOperators();
  };
  // After an update changed state: index it, write the read model, answer with the new state.
  const publish = async () => {
    updatesThisRun += 1;
    indexForSearch();
    const state = subscription.snapshot();
    await updateWrites.saveSubscription(state);
    return consistentWrites ? state : subscription.snapshot();
  };

  /**
   * One collection attempt. A provider that refuses the request as configured (bad key) leaves the
   * invoice open, visible as a failed activity in the Temporal UI: undefined here, and the
   * subscription carries on; a payment problem never fails the subscription.
   */
  const collectAttempt = (invoiceId: string, attempt: number, checkout?: CheckoutOptions): Promise<CollectionOutcome | undefined> =>
    paymentSteps.collectInvoice({ invoiceId, attempt, ...(checkout ? { checkout } : {}) }).catch(() => undefined);
  /** Collects an invoice just issued (its first attempt), when a provider can. */
  const collect = async (invoice: { id: string; collectable: boolean } | undefined, checkout?: CheckoutOptions): Promise<CollectionOutcome | undefined> => {
    if (!collectsPayments || !invoice?.collectable) return undefined;
    return collectAttempt(invoice.id, 1, checkout);
  };

  // Set by handlers when the main loop has payment work to do now (a new card, a lapsed Checkout page).
  let paymentWakeup = false;
  let retryHeldChange = false;
  let newCardRetry = false;
  let checkoutLapseReported = false;

  /** An invoice was paid (webhook, operator, a retry): whatever waited for it goes ahead. */
  const invoicePaid = async (invoiceId: string) => {
    credits.purchaseSettled(invoiceId);
    if (credits.recharge?.invoiceId === invoiceId && credits.rechargeFinished(true, now())) paymentWakeup = true;
    if (subscription.checkoutPaid(invoiceId) || subscription.applyHeldChange(invoiceId) || subscription.dunningSettled(invoiceId)) await publish();
  };
  /** An invoice was voided by an operator: nothing waits for it any more. */
  const invoiceVoided = async (invoiceId: string) => {
    credits.purchaseSettled(invoiceId);
    const recharge = credits.recharge;
    if (recharge?.invoiceId === invoiceId) {
      // Voided by an operator: this recharge is over, and so are its failures.
      if (credits.rechargeFinished(false, now())) paymentWakeup = true;
      if (recharge.failures > 0) await creditSteps.recordRechargeFailures({ customerId: subscription.customerId, unit: recharge.unit, failures: 0 }).catch(() => undefined);
    }
    if (subscription.checkoutLapsed(invoiceId) || subscription.releaseHeldChange(invoiceId) || subscription.dunningSettled(invoiceId)) await publish();
  };

  /**
   * Tells the customer on their alert channels, without holding up the subscription: deliveries
   * retry for about a day, and a run that hands over passes the unfinished ones on.
   */
  /**
   * Delivers a notice on every alert channel of the customer, detached (deliveries retry for about
   * a day); `finished` once all have ended. A run that hands over first leaves it to the next run,
   * which starts the notices still pending.
   */
  const deliverOnChannels = (deliver: (channel: Awaited<ReturnType<AlertActivities['alertChannelsOf']>>[number]) => Promise<unknown>, finished: () => void) => {
    void (async () => {
      if (handingOver) return;
      const channels = await alerts.alertChannelsOf(subscription.customerId).catch(() => ['email' as const]);
      // Continue-as-new must be the run's last command: once handing over, the next run delivers it.
      if (handingOver) return;
      await Promise.all(channels.map((channel) => deliver(channel).catch(() => undefined)));
      finished();
    })();
  };
  const tellCustomer = (notice: PaymentNotice, when: 'now' | 'next_run' = 'now') => {
    subscription.noticeDeliveryStarted(notice);
    // A run about to continue-as-new leaves it to the next run (it starts pending notices first).
    if (when === 'next_run') return;
    deliverOnChannels((channel) => notices.deliverPaymentNotice({ customerId: subscription.customerId, channel, notice }), () => subscription.noticeDeliveryFinished(notice));
  };
  /**
   * Refunds credit owed once the subscription is on the fallback plan (catalog: creditOnFallback).
   * Detached, so no answer waits for Stripe; a run that hands over first leaves it to the next
   * run, which repeats it under the same refund id (the step resumes, never refunds twice).
   */
  const refundCreditOnFallback = (when: 'now' | 'next_run' = 'now') => {
    const refund = subscription.pendingRefund ?? subscription.takeCreditForRefund(now());
    if (!refund || when === 'next_run' || !collectsPayments) return;
    void (async () => {
      if (handingOver) return;
      refundsInFlight += 1;
      try {
        const result = await paymentSteps.refundCredit({ customerId: subscription.customerId, refundId: refund.refundId, amountMinor: refund.amountMinor, at: refund.at }).catch(() => undefined);
        if (!result || handingOver) return;
        if (subscription.refundSettled(refund.refundId, BigInt(result.unrefundedMinor))) await publish();
      } finally {
        refundsInFlight -= 1;
      }
    })();
  };

  /** The dunning state as a notice: a failure (with the next retry) or the final action. */
  const dunningNotice = (pastDue: NonNullable<SubscriptionEntity['pastDue']>, finalAction: PaymentNotice['finalAction'], trigger: 'schedule' | 'card' = 'schedule'): PaymentNotice => ({
    // A retry the customer's new card asked for has a notice of its own (named by the attempt).
    noticeId: `${pastDue.invoiceId}:${finalAction ? 'final' : trigger === 'card' ? `card:${pastDue.extraAttempts ?? 0}` : `failed:${pastDue.failures}`}`,
    kind: finalAction ? 'payment_final' : 'payment_failed',
    invoiceNumber: pastDue.invoiceNumber,
    amountMinor: pastDue.amountMinor,
    currency: subscription.snapshot().currency,
    reason: pastDue.lastReason,
    payUrl: pastDue.payUrl,
    nextRetryAt: finalAction ? null : pastDue.nextRetryAt,
    finalAction,
  });

  /** A failed renewal (or first) payment: past due, the customer told. */
  const startDunning = async (invoice: { id: string; number: string; totalMinor: string }, outcome: CollectionOutcome | undefined, tell: 'now' | 'next_run') => {
    if (subscription.pastDue) return;
    subscription.startDunning(invoice, { at: now(), reason: outcome?.reason ?? 'The payment provider refused the payment.', payUrl: outcome?.hostedInvoiceUrl ?? null }, subscription.paymentPolicy);
    tellCustomer(dunningNotice(subscription.pastDue!, null), tell);
    await publish();
  };

  /** How long to wait before trying again to close what could not be closed (the provider refused or was down). */
  // On a test clock, a day: an advance of years past a provider that keeps refusing steps through
  // a thousand rechecks, not tens of thousands (each a provider call).
  const RECHECK_MS = clock.testClockId === undefined ? 60 * 60 * 1000 : 24 * 60 * 60 * 1000;

  /** A Checkout page lapsed (or its expiry event came): paid after all, or the fallback plan. Undecided: asked again later. */
  const settleLapsedCheckout = async (incomplete: NonNullable<SubscriptionEntity['incomplete']>) => {
    const result = await paymentSteps.resolveCheckout({ invoiceId: incomplete.invoiceId, checkoutSessionId: incomplete.checkoutSessionId }).catch(() => undefined);
    if (result === 'paid') await invoicePaid(incomplete.invoiceId);
    else if (result === 'lapsed') {
      if (subscription.checkoutLapsed(incomplete.invoiceId)) {
        await publish();
        refundCreditOnFallback();
      }
    } else subscription.recheckCheckoutAt(incomplete.invoiceId, now() + RECHECK_MS);
  };
  /** A held change's time is up: its invoice voided (paid wins a race) and the hold released. Undecided: asked again later. */
  const expireHeldChange = async (held: HeldUpgrade) => {
    const status = await paymentSteps.closeInvoice({ invoiceId: held.invoiceId, status: 'void', reason: `upgrade_expired:${held.updateId}` }).catch(() => undefined);
    if (status === 'paid') await invoicePaid(held.invoiceId);
    else if (status === 'void' || status === 'uncollectible') {
      if (subscription.releaseHeldChange(held.invoiceId)) await publish();
    } else subscription.recheckHeldAt(held.invoiceId, now() + RECHECK_MS);
  };

  /** Payment work that is due: a lapsed Checkout page, a held change that expired or has a new card to try, a dunning retry. */
  const runDueSubscriptionPaymentWork = async () => {
    const incomplete = subscription.incomplete;
    if (incomplete && (checkoutLapseReported || now() >= incomplete.expiresAt + CHECKOUT_GRACE_MS)) {
      checkoutLapseReported = false;
      await settleLapsedCheckout(incomplete);
    }
    const held = subscription.heldUpgrade;
    if (held?.invoiceId && now() >= held.expiresAt) {
      await expireHeldChange(held);
    } else if (held?.invoiceId && retryHeldChange) {
      retryHeldChange = false;
      const outcome = await collectAttempt(held.invoiceId, subscription.nextHeldAttempt());
      if (outcome?.status === 'paid') await invoicePaid(held.invoiceId);
      else if (outcome) {
        subscription.heldChangeAwaits(held.invoiceId, outcome.hostedInvoiceUrl ?? null);
        await publish();
      }
    }
    const pastDue = subscription.pastDue;
    if (pastDue && pastDue.nextRetryAt !== null && now() >= pastDue.nextRetryAt) {
      // A retry the customer's new card asked for, before its time: a failure does not count against the schedule.
      const early = newCardRetry;
      newCardRetry = false;
      const outcome = await collectAttempt(pastDue.invoiceId, subscription.nextDunningAttempt());
      if (outcome?.status === 'paid' || outcome?.status === 'void') {
        if (subscription.dunningSettled(pastDue.invoiceId)) await publish();
        return;
      }
      // Settled meanwhile (a webhook, an operator): nothing left to retry.
      if (subscription.pastDue?.invoiceId !== pastDue.invoiceId) return;
      const failure = { reason: outcome?.reason ?? 'The payment could not be attempted.', payUrl: outcome?.hostedInvoiceUrl ?? null };
      const policy = subscription.paymentPolicy;
      if (early) {
        subscription.unscheduledRetryFailed(pastDue.invoiceId, failure, policy);
        tellCustomer(dunningNotice(subscription.pastDue!, null, 'card'));
        await publish();
        return;
      }
      const verdict = subscription.dunningFailed(pastDue.invoiceId, failure, policy);
      if (verdict === 'stale') return;
      const failed = subscription.pastDue!;
      if (verdict === 'final') {
        const status = await paymentSteps.closeInvoice({ invoiceId: pastDue.invoiceId, status: policy.finalAction === 'fallback_plan' ? 'void' : 'uncollectible', reason: 'dunning_final' }).catch(() => undefined);
        if (status === 'paid') subscription.dunningSettled(pastDue.invoiceId);
        else if (status === undefined) subscription.recheckDunningAt(pastDue.invoiceId, now() + RECHECK_MS);
        else if (subscription.finishDunning(pastDue.invoiceId, policy.finalAction)) {
          tellCustomer(dunningNotice(failed, policy.finalAction));
          refundCreditOnFallback();
        }
      } else {
        tellCustomer(dunningNotice(failed, null));
      }
      await publish();
    }
  };

  // --- credits (issue 10) ---------------------------------------------------------------------
  const creditUnit = () => creditUnitOf(subscription.currentCatalog);
  const currency = () => subscription.currentCatalog.currency;
  const creditsText = (nanos: string | bigint) => {
    const unit = creditUnit();
    return unit ? `${formatCredits(BigInt(nanos), unit, currency())} ${unit.name}` : String(nanos);
  };
  const moneyText = (minor: string | bigint) => `${formatMinor(BigInt(minor), currency())} ${currency()}`;

  /** Tells the customer on their alert channels (like payment notices); the next run finishes what this one could not. */
  const tellCredits = (notice: CreditNotice) => {
    credits.noticeStarted(notice);
    deliverOnChannels((channel) => creditNotices.deliverCreditNotice({ customerId: subscription.customerId, channel, notice }), () => credits.noticeFinished(notice));
  };
  const rechargeNotice = (r: NonNullable<CreditsWorkState['recharge']>, kind: 'recharge_failed' | 'recharge_off', balanceNanos: string, nextRetryAt: number | null): CreditNotice => ({
    noticeId: `credits:${r.rechargeId}:${kind === 'recharge_off' ? 'off' : `failed:${r.failures}`}`,
    kind,
    balance: creditsText(balanceNanos),
    threshold: null,
    amount: r.amountMinor === null ? null : moneyText(r.amountMinor),
    reason: r.lastReason,
    payUrl: r.payUrl,
    nextRetryAt,
  });
  /** Ends the recharge `rechargeId` unless a webhook ended it meanwhile (and a follow-up may have begun). */
  const finishRecharge = (rechargeId: string, paid: boolean) => {
    if (credits.recharge?.rechargeId === rechargeId) credits.rechargeFinished(paid, now());
  };

  /** The recharge under way, one step: decide it (an invoice for whole packs), then charge it. */
  const runRecharge = async () => {
    const r = credits.recharge;
    if (!r || now() < r.nextAttemptAt) return;
    const cycleStart = subscription.snapshot().cycleStart;
    if (r.invoiceId === null) {
      const decision = await creditSteps.prepareRecharge({ customerId: subscription.customerId, rechargeId: r.rechargeId, cycleStart, at: now(), ...(clock.testClockId !== undefined ? { issuedAt: now() } : {}) }).catch(() => undefined);
      if (!decision) return credits.retryRechargeAt(now() + RECHECK_MS);
      if (decision.status !== 'invoiced') {
        if (decision.status === 'limit_reached') {
          tellCredits({
            // Once per cycle: the limit stays reached until the next one.
            noticeId: `credits:${r.unit}:limit:${cycleStart}`,
            kind: 'recharge_limit_reached',
            balance: creditsText(decision.balanceNanos),
            threshold: null,
            amount: moneyText(decision.amountMinor),
            reason: null,
            payUrl: null,
            nextRetryAt: null,
            spendingLimit: moneyText(decision.limitMinor),
            spent: moneyText(decision.spentMinor),
          });
        }
        finishRecharge(r.rechargeId, false);
        return;
      }
      credits.rechargeInvoiced(decision);
    }
    const invoiceId = r.invoiceId!;
    const outcome = await collectAttempt(invoiceId, r.failures + 1);
    if (credits.recharge?.rechargeId !== r.rechargeId) return; // settled meanwhile (a webhook)
    if (outcome?.status === 'paid' || outcome?.status === 'void' || outcome?.status === 'uncollectible') {
      finishRecharge(r.rechargeId, outcome.status === 'paid');
      if (r.failures > 0) await creditSteps.recordRechargeFailures({ customerId: subscription.customerId, unit: r.unit, failures: 0 }).catch(() => undefined);
      return;
    }
    if (!outcome || outcome.outcome === 'pending') return credits.retryRechargeAt(now() + RECHECK_MS);
    const { failures, nextRetryAt } = credits.rechargeFailed(now(), { reason: outcome.reason ?? 'The payment failed.', payUrl: outcome.hostedInvoiceUrl ?? null }, (first, n) => rechargeRetryAt(subscription.currentCatalog, first, n));
    const failed = { ...r };
    await creditSteps.recordRechargeFailures({ customerId: subscription.customerId, unit: r.unit, failures }).catch(() => undefined);
    const balance = await creditSteps.creditBalanceOf({ customerId: subscription.customerId, unit: r.unit }).catch(() => '0');
    if (nextRetryAt !== undefined) {
      tellCredits(rechargeNotice(failed, 'recharge_failed', balance, nextRetryAt));
      return;
    }
    // The last retry failed: no more charges on this card until the customer turns it back on.
    const status = await paymentSteps.closeInvoice({ invoiceId, status: 'void', reason: `recharge_failed:${r.rechargeId}` }).catch(() => undefined);
    if (status === undefined) return credits.retryRechargeAt(now() + RECHECK_MS);
    if (status === 'paid') return finishRecharge(r.rechargeId, true);
    const turnedOff = await creditSteps.turnOffAutoRecharge({ customerId: subscription.customerId, unit: r.unit, reason: `The last ${failures} recharge payments failed: ${outcome.reason ?? 'the payment failed'}` }).then(() => true, () => false);
    // The database away for minutes: the invoice is void already; turning it off is tried again in an hour.
    if (!turnedOff) return credits.retryRechargeAt(now() + RECHECK_MS);
    tellCredits(rechargeNotice(failed, 'recharge_off', balance, null));
    finishRecharge(r.rechargeId, false);
  };

  /** Credits work that is due: purchases whose payment lapsed (voided), the recharge step. */
  const runDueCreditsWork = async () => {
    for (const purchase of credits.duePurchases(now())) {
      const settled = purchase.checkoutSessionId
        ? await paymentSteps.resolveCheckout({ invoiceId: purchase.invoiceId, checkoutSessionId: purchase.checkoutSessionId }).catch(() => undefined)
        : await paymentSteps.closeInvoice({ invoiceId: purchase.invoiceId, status: 'void', reason: `purchase_lapsed:${purchase.purchaseId}` }).catch(() => undefined);
      if (settled === undefined || settled === 'open') credits.recheckPurchase(purchase.invoiceId, now() + RECHECK_MS);
      else credits.purchaseSettled(purchase.invoiceId);
    }
    await runRecharge();
  };
  const runDuePaymentWork = async () => {
    await runDueSubscriptionPaymentWork();
    await runDueCreditsWork();
  };
  /** When the main loop must wake for payment work: the subscription's, or credits'. */
  const nextPaymentDeadline = () => {
    const a = subscription.nextPaymentDeadline();
    const b = credits.nextDeadline();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  };

  setHandler(buyCreditsUpdate, (request) => answer(buyCreditsUpdate.name, async (): Promise<CreditPurchaseResult> => {
    patched(CREDITS_PATCH);
    const catalog = subscription.currentCatalog;
    // Checked again here, before any await: purchases accepted together count toward the cap.
    const priced = credits.pricePurchase(catalog, request);
    const unit = creditUnitOf(catalog)!;
    const purchaseId = currentUpdateInfo()!.id;
    credits.startPurchase(purchaseId);
    try {
      return await buyCredits(purchaseId, priced, unit.id, request);
    } finally {
      credits.finishPurchase(purchaseId);
    }
  }), {
    validator: (request) => {
      if (earlierAnswer(buyCreditsUpdate.name)) return;
      admit();
      if (!collectsPayments) throw refusal('credits_after_renewal', `This subscription can buy credits from its next renewal (${new Date(subscription.currentCycleEnd).toISOString()}).`);
      credits.pricePurchase(subscription.currentCatalog, request);
    },
  });

  /** A purchase, priced: its invoice issued and collected (the credits come with the payment, in the database). */
  const buyCredits = async (purchaseId: string, priced: ReturnType<CreditsWorkState['pricePurchase']>, unitId: string, request: CreditPurchaseRequest): Promise<CreditPurchaseResult> => {
    const catalog = subscription.currentCatalog;
    const at = now();
    updatesThisRun += 1;
    const invoice = creditPurchaseInvoice({ customerId: subscription.customerId, currency: catalog.currency, purchaseId, reason: 'credit_purchase', description: priced.description, packs: 1, amountMinor: priced.amountMinor, at });
    const receipt = await creditSteps.createCreditPurchase({
      purchaseId, customerId: subscription.customerId, unit: unitId, packId: priced.packId, packs: 1,
      creditsNanos: priced.creditsNanos.toString(), invoice: stamped(invoice), cycleStart: subscription.snapshot().cycleStart,
    });
    const base: CreditPurchaseResult = {
      purchaseId, invoiceNumber: receipt.number, status: 'awaiting_payment', creditsNanos: priced.creditsNanos.toString(), amountMinor: priced.amountMinor.toString(),
      currency: catalog.currency, checkoutUrl: null, payUrl: null, expiresAt: null, reason: null,
    };
    if (receipt.status === 'paid') return { ...base, status: 'paid' };
    if (!receipt.collectable) {
      // No provider collects: an operator marks the invoice paid (the credits come then) or voids it.
      credits.addPending({ purchaseId, invoiceId: receipt.id, invoiceNumber: receipt.number, checkoutSessionId: null, expiresAt: NEVER_LAPSES });
      return base;
    }
    const checkout = request.checkout ? { ...request.checkout, expiresAt: at + CHECKOUT_WINDOW_MS } : undefined;
    const outcome = await collectAttempt(receipt.id, 1, checkout);
    if (outcome?.status === 'paid') return { ...base, status: 'paid' };
    if (outcome?.outcome === 'checkout_required' && outcome.checkout && checkout) {
      credits.addPending({ purchaseId, invoiceId: receipt.id, invoiceNumber: receipt.number, checkoutSessionId: outcome.checkout.sessionId, expiresAt: checkout.expiresAt });
      return { ...base, status: 'checkout_required', checkoutUrl: outcome.checkout.url, expiresAt: checkout.expiresAt };
    }
    // Declined, or the provider could not be asked: the invoice stays payable on its page for 23 hours, then is voided.
    const expiresAt = at + UPGRADE_PAYMENT_WINDOW_MS;
    credits.addPending({ purchaseId, invoiceId: receipt.id, invoiceNumber: receipt.number, checkoutSessionId: null, expiresAt });
    const failed = outcome?.outcome === 'failed' || outcome?.outcome === 'requires_action';
    return { ...base, status: failed ? 'payment_failed' : 'awaiting_payment', payUrl: outcome?.hostedInvoiceUrl ?? null, expiresAt, reason: outcome?.reason ?? null };
  };

  setHandler(refundCreditsUpdate, (request) => answer(refundCreditsUpdate.name, async (): Promise<CreditRefundResult> => {
    patched(CREDITS_PATCH);
    updatesThisRun += 1;
    try {
      return await creditRefunds.refundPurchase({ customerId: subscription.customerId, purchaseId: request.purchaseId, reason: request.reason });
    } catch (error) {
      throw unwrapActivityFailure(error);
    }
  }), { validator: (_request) => { if (earlierAnswer(refundCreditsUpdate.name)) return; admit(); } });

  setHandler(creditBalanceSignal, (crossing) => {
    if (!patched(CREDITS_PATCH) || !credits.acceptCrossing(crossing)) return;
    if (crossing.kind !== 'recharge') {
      tellCredits({
        noticeId: `credits:${crossing.unit}:${crossing.crossing}:${crossing.kind}`,
        kind: crossing.kind === 'low' ? 'credits_low' : 'credits_exhausted',
        balance: creditsText(crossing.balanceNanos),
        threshold: crossing.thresholdNanos === null ? null : creditsText(crossing.thresholdNanos),
        amount: null,
        reason: null,
        payUrl: null,
        nextRetryAt: null,
      });
    }
    // The recharge step decides whether auto-recharge is on; it runs in the main loop (payment runs only).
    if (collectsPayments && credits.startRecharge(subscription.customerId, crossing, now())) paymentWakeup = true;
  });
  // Credit notices the previous run handed over.
  for (const notice of credits.pendingNotices) tellCredits(notice);

  setHandler(getStateQuery, () => subscription.snapshot());
  // For the API's preview when no process stored this run's copy (a run begun before catalog versions).
  setHandler(catalogQuery, () => subscription.decidingCatalog);
  setHandler(advanceTestClockSignal, ({ clockId, to }) => {
    if (clockId === clock.testClockId) clock.advanceTo(to);
  });
  setHandler(testClockQuery, () => clock.position(updatesInFlight > 0 || paymentWorkInFlight > 0 || refundsInFlight > 0 || handingOver || closingCycle || paymentWakeup));
  setHandler(cancelUpdate, () => answer(cancelUpdate.name, async () => {
    subscription.cancel();
    return publish();
  }), { validator: () => { if (earlierAnswer(cancelUpdate.name)) return; admit(); subscription.validateCancel(); } });
  setHandler(reactivateUpdate, () => answer(reactivateUpdate.name, async () => {
    subscription.reactivate();
    return publish();
  }), { validator: () => { if (earlierAnswer(reactivateUpdate.name)) return; admit(); subscription.validateReactivate(); } });

  setHandler(changePlanUpdate, (request) => answer(changePlanUpdate.name, async (): Promise<ChangePlanResult> => {
    // Decided (and applied, or held for its payment) synchronously, before any await: a second
    // change delivered meanwhile is validated against the new state (two downgrades at once → the
    // second is refused; any change while an upgrade waits for its payment is refused).
    const changeId = consistentWrites ? currentUpdateInfo()?.id : undefined;
    const holds = collectsPayments && subscription.upgradesWaitForPayment && changeId !== undefined;
    const { decision, invoice, creditAppliedMinor, held } = holds
      ? subscription.holdChange(request, now(), changeId)
      : { ...subscription.applyChange(request, now(), changeId), held: false };
    updatesThisRun += 1;
    indexForSearch();
    const state = subscription.snapshot();
    const { invoice: receipt } = await updateWrites.recordPlanChange({ subscription: state, invoice: stamped(invoice) });
    const answerWith = (subscriptionState: typeof state, extra: Partial<ChangePlanResult>): ChangePlanResult => ({
      subscription: subscriptionState,
      kind: decision.kind,
      effective: decision.effective,
      netMinor: decision.proration.netMinor.toString(),
      chargedMinor: invoice?.totalMinor ?? '0',
      creditAppliedMinor: creditAppliedMinor.toString(),
      invoiceNumber: receipt?.number ?? null,
      ...extra,
    });
    if (!held || !receipt) {
      const payment = await collect(receipt);
      // A downgrade to the fallback plan: the credit it leaves is refunded (after this answer).
      if (collectsPayments) refundCreditOnFallback();
      return answerWith(state, payment ? { payment } : {});
    }
    // Applied once paid: the first attempt now, while the caller waits.
    subscription.heldChangeInvoiced(changeId!, receipt);
    if (!receipt.collectable) {
      // The worker has no provider to collect with: applied as without one, the invoice left open.
      subscription.applyHeldChange(receipt.id);
      return answerWith(await publish(), {});
    }
    const payment = await collectAttempt(receipt.id, subscription.nextHeldAttempt());
    if (payment?.status === 'paid' || !subscription.heldUpgrade) {
      // Paid now (or a webhook for it was applied meanwhile).
      subscription.applyHeldChange(receipt.id);
      return answerWith(await publish(), { ...(payment ? { payment } : {}), applied: true });
    }
    subscription.heldChangeAwaits(receipt.id, payment?.hostedInvoiceUrl ?? null);
    const expiresAt = subscription.heldUpgrade?.expiresAt;
    return answerWith(await publish(), { ...(payment ? { payment } : {}), applied: false, ...(expiresAt !== undefined ? { expiresAt } : {}) });
  }), { validator: (request) => { if (earlierAnswer(changePlanUpdate.name)) return; admit(); subscription.validateChange(request, now()); } });

  setHandler(settleInvoiceUpdate, (request) => answer(settleInvoiceUpdate.name, async (): Promise<SettledInvoice> => {
    updatesThisRun += 1;
    let settled: SettledInvoice;
    try {
      // The Update's own id names the settlement: a retried step recognises its own write.
      const checkout = subscription.incomplete?.invoiceNumber === request.invoiceNumber ? subscription.incomplete.checkoutSessionId : undefined;
      settled = await paymentSteps.settleInvoice({ customerId: subscription.customerId, request, settlementId: currentUpdateInfo()!.id, ...(checkout ? { checkoutSessionId: checkout } : {}) });
    } catch (error) {
      throw unwrapActivityFailure(error);
    }
    if (collectsPayments && settled.status === 'paid') await invoicePaid(settled.invoiceId);
    if (collectsPayments && settled.status === 'void') await invoiceVoided(settled.invoiceId);
    return settled;
  }), { validator: (_request) => { if (earlierAnswer(settleInvoiceUpdate.name)) return; admit(); } });

  const applyPaymentEvent = async (event: PaymentEvent) => {
    const outcome = await paymentSteps.applyPaymentEvent({ ...event, customerId: subscription.customerId });
    if (!collectsPayments) return;
    if (outcome?.status === 'paid') await invoicePaid(outcome.invoiceId);
    if (event.kind === 'payment_method_updated') {
      // A new card: what waits for a payment is tried again at once.
      if (subscription.retryDunningNow(now())) newCardRetry = paymentWakeup = true;
      if (subscription.heldUpgrade?.invoiceId) retryHeldChange = paymentWakeup = true;
      if (credits.retryRechargeNow(now())) paymentWakeup = true;
    }
    if (event.kind === 'checkout_expired' && event.invoiceId !== undefined && credits.expirePurchaseNow(event.invoiceId, now())) paymentWakeup = true;
    if (event.kind === 'checkout_expired' && event.invoiceId !== undefined && subscription.incomplete?.invoiceId === event.invoiceId) checkoutLapseReported = paymentWakeup = true;
  };
  setHandler(paymentEventSignal, async (event) => {
    if (!subscription.acceptPaymentEvent(event.eventId)) return;
    paymentWorkInFlight += 1;
    try {
      await applyPaymentEvent(event);
    } catch {
      // Only a missing invoice or customer, or a provider refusing as configured, ends here.
    } finally {
      paymentWorkInFlight -= 1;
    }
  });

  // The API's answer to a new subscription: what its first invoice came to (Checkout page, paid…).
  let firstPaymentDecided = !input.invoiceFirstPeriod || !collectsPayments;
  let firstOutcome: CollectionOutcome | undefined;
  let firstInvoiceNumber: string | null = null;
  setHandler(firstPaymentUpdate, async (): Promise<FirstPayment> => {
    await condition(() => firstPaymentDecided);
    return {
      status: subscription.status,
      invoiceNumber: firstInvoiceNumber,
      outcome: firstOutcome?.outcome ?? 'none',
      checkoutUrl: subscription.incomplete?.checkoutUrl ?? null,
      payUrl: firstOutcome?.hostedInvoiceUrl ?? null,
      reason: firstOutcome?.reason ?? null,
    };
  }, { unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON });

  const deliverAlerts = async (crossing: ThresholdCrossing) => {
    subscription.alertDeliveryStarted(crossing);
    // A failure escaping a signal handler would fail the whole subscription: alerting never may.
    // A failed delivery is recorded by the activity itself (and shown by the API).
    const channels = await alerts.alertChannelsOf(subscription.customerId).catch(() => ['email' as const]);
    await Promise.all(channels.map((channel) => alerts.deliverAlert({ customerId: subscription.customerId, channel, crossing }).catch(() => undefined)));
    subscription.alertDeliveryFinished(crossing);
  };
  setHandler(thresholdCrossedSignal, async (crossing) => {
    if (!subscription.acceptCrossing(crossing, clock.testClockId !== undefined)) return;
    await deliverAlerts(crossing);
    // Deliveries retry for up to a day: a run hands over without waiting for them, and the next
    // run takes over what is still pending (delivery rows keep each channel to one message).
  }, { unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON });
  // Alerts the previous run handed over (only runs on the consistent-writes code hand any over).
  for (const crossing of input.pendingAlerts ?? []) void deliverAlerts(crossing);
  // Payment notices likewise (only runs with the payments patch hand any over), and a refund under way.
  for (const notice of input.pendingNotices ?? []) tellCustomer(notice);
  if (collectsPayments && subscription.pendingRefund) refundCreditOnFallback();

  if (input.invoiceFirstPeriod) {
    // The provider's customer first, so the first invoice (and Checkout) can be charged to it.
    if (collectsPayments) await paymentSteps.ensureProviderCustomer(subscription.customerId).catch(() => null);
    const invoice = subscription.firstPeriodInvoice();
    if (invoice) {
      const receipt = await activities.issueInvoice(stamped(invoice));
      firstInvoiceNumber = receipt.number;
      // The page lapses by the workflow's clock (the one its deadline is kept by).
      const checkout = input.checkoutUrls ? { ...input.checkoutUrls, expiresAt: now() + CHECKOUT_WINDOW_MS } : undefined;
      firstOutcome = await collect(receipt, checkout);
      if (firstOutcome?.outcome === 'checkout_required' && firstOutcome.checkout && checkout) {
        subscription.awaitCheckout(receipt, { ...firstOutcome.checkout, expiresAt: checkout.expiresAt });
        await publish();
      } else if (firstOutcome?.outcome === 'failed' || firstOutcome?.outcome === 'requires_action') {
        // A saved card that was declined: past due, retried like a renewal.
        await startDunning(receipt, firstOutcome, 'now');
      }
    }
  } else if (collectsPayments && input.newSubscription) {
    await paymentSteps.ensureProviderCustomer(subscription.customerId).catch(() => null);
  }
  firstPaymentDecided = true;

  // A run's history grows with every accepted Update: past a bound (or when the server suggests
  // it), the run hands its state to a fresh one within the same cycle.
  const historyIsLong = () => consistentWrites && (updatesThisRun >= maxUpdatesPerRun || workflowInfo().continueAsNewSuggested);
  // Hands the state to the next run once the accepted Updates are done (not the alert deliveries:
  // they go along as pending, see the signal handler).
  // `index`: the next run starts with the search attributes of the state handed over (one write
  // of the visibility record with the run's start, instead of an upsert before it).
  const handOver = async (catalog: Parameters<SubscriptionEntity['nextRunInput']>[0], paymentProvider?: 'none' | 'stripe', index = false) => {
    handingOver = true;
    await condition(() => updatesInFlight === 0 && paymentWorkInFlight === 0);
    const carried = credits.carry();
    const next = { ...subscription.nextRunInput(catalog, paymentProvider), ...(carried ? { credits: carried } : {}), ...clock.carry() };
    const args = input.maxUpdatesPerRun === undefined ? next : { ...next, maxUpdatesPerRun: input.maxUpdatesPerRun };
    if (!index) return continueAsNew<typeof subscriptionWorkflow>(args);
    const state = subscription.snapshot();
    return makeContinueAsNewFunc<typeof subscriptionWorkflow>({ typedSearchAttributes: subscriptionSearchAttributes({ ...state, testClockId: clock.testClockId }, indexesInterval) })(args);
  };
  if (!collectsPayments) {
    const untilCycleEnd = subscription.currentCycleEnd - Date.now();
    if (untilCycleEnd > 0 && await condition(historyIsLong, untilCycleEnd)) await handOver(undefined);
  } else {
    // Sleeps until the cycle ends, waking for payment deadlines (a Checkout page or held change
    // lapsing, a dunning retry) and for payment news from the handlers (a new card).
    for (;;) {
      const deadline = nextPaymentDeadline();
      // A handler that sets a new deadline (an upgrade held for its payment) wakes the loop to sleep until it instead.
      const until = Math.min(subscription.currentCycleEnd, deadline ?? Number.POSITIVE_INFINITY);
      const wake = () => historyIsLong() || paymentWakeup || nextPaymentDeadline() !== deadline;
      if (clock.testClockId === undefined) {
        // Real time: exactly the code from before test clocks (no extra await), so recorded runs replay as they ran.
        const wait = until - Date.now();
        if (wait > 0) await condition(wake, wait);
      } else {
        // On a test clock, the clock steps to this deadline once an advance reaches it (workflows/workflowClock.ts).
        await clock.waitUntil(until, wake);
      }
      if (historyIsLong()) await handOver(undefined);
      paymentWakeup = false;
      await runDuePaymentWork();
      if (now() >= subscription.currentCycleEnd) break;
    }
    // The cycle is over: until it is renewed, changes wait (they would be priced for the old period).
    closingCycle = true;
    // A held change or a Checkout page does not outlive its period: settled now, one way or the
    // other (a change still being invoiced first gets its invoice). What the provider leaves
    // undecided stays held and is asked again by the next run.
    await condition(() => subscription.heldUpgrade === undefined || subscription.heldUpgrade.invoiceId !== '');
    const held = subscription.heldUpgrade;
    if (held) {
      await expireHeldChange(held);
      // The provider refused to close it (as configured): the hold ends with the period anyway,
      // so it can never apply with this period's prices; the invoice stays open and visible.
      if (subscription.releaseHeldChange(held.invoiceId)) await publish();
    }
    const incomplete = subscription.incomplete;
    if (incomplete) await settleLapsedCheckout(incomplete);
  }

  const renewal = subscription.renew();
  // Renewed (the new cycle is the state now): changes are admitted again, against it.
  closingCycle = false;
  // Decided where the renewal is written: runs that renewed before the patch replay their upsert
  // and ordinary activity; later ones write it with a local activity and index the next run's start.
  const localRenewal = consistentWrites && patched(LOCAL_RENEWAL_PATCH);
  if (renewal.newPeriod && !localRenewal) indexForSearch();
  if (consistentWrites) {
    const versionAtRenewal = subscription.snapshot().version;
    const reserved = subscription.reserveCreditForRenewal();
    const renewalWrites = localRenewal ? localRenewalWrites : activities;
    const { catalog, creditOwedMinor, invoice: renewalInvoice, paymentProvider } = await renewalWrites.recordRenewal({
      subscription: { ...subscription.snapshot(), creditOwedMinor: reserved.toString() },
      feeInvoice: stamped(renewal.invoice),
      closedCycle: renewal.closedCycle,
    });
    // The read model now names the catalog the next run starts on; changes wait for that run.
    subscription.handOverCatalog(catalog);
    const changedMeanwhile = subscription.snapshot().version !== versionAtRenewal;
    if (subscription.returnUnspentCredit(BigInt(creditOwedMinor), changedMeanwhile)) await activities.saveSubscription(subscription.snapshot());
    const outcome = await collect(renewalInvoice);
    if (renewalInvoice && (outcome?.outcome === 'failed' || outcome?.outcome === 'requires_action')) await startDunning(renewalInvoice, outcome, 'next_run');
    // A cancellation took effect (the fallback plan): the credit left is refunded by the next run.
    if (collectsPayments && subscription.takeCreditForRefund(now())) await activities.saveSubscription(subscription.snapshot());
    // On a test clock, what the renewal put in the outbox (a recharge request) is heard at this
    // instant, before the clock steps on in the next run (its signal is handled, then handed over).
    if (clock.testClockId !== undefined) await activities.awaitCrossingsRelayed(subscription.customerId);
    await handOver(catalog, collectsPayments ? paymentProvider : undefined, localRenewal);
  }

  const { catalog, creditOwedMinor } = await activities.recordRenewal({
    subscription: subscription.snapshot(),
    feeInvoice: renewal.invoice,
    closedCycle: renewal.closedCycle,
  });
  subscription.settleCredit(creditOwedMinor);

  // Let in-flight updates finish (they may change state) before handing state to the next run.
  await condition(allHandlersFinished);
  await continueAsNew<typeof subscriptionWorkflow>(subscription.nextRunInput(catalog));
}

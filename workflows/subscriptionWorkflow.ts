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
  currentUpdateInfo,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { HandlerUnfinishedPolicy } from '@temporalio/common';
import type { AlertActivities } from '../activities/alertActivities.js';
import type { PaymentActivities } from '../activities/paymentActivities.js';
import type { SubscriptionActivities } from '../activities/subscriptionActivities.js';
import {
  ALERT_DELIVERY_MAX_ATTEMPTS,
  cancelUpdate,
  changePlanUpdate,
  CONSISTENT_WRITES_PATCH,
  MAX_UPDATES_PER_RUN,
  PAYMENTS_PATCH,
  getStateQuery,
  paymentEventSignal,
  reactivateUpdate,
  settleInvoiceUpdate,
  thresholdCrossedSignal,
  type AnsweredUpdate,
  type ChangePlanResult,
  type CollectionOutcome,
  type SettledInvoice,
  type SubscriptionInput,
  type ThresholdCrossing,
} from './messages.js';
import { PERIOD_END, PLAN_ID, SUBSCRIPTION_STATUS } from './searchAttributes.js';
import { refusal } from './refusals.js';
import { SubscriptionEntity } from './subscriptionEntity.js';

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

// One activity per channel: a broken channel neither blocks the others nor repeats what went out.
// Permanent failures (a 4xx from the destination) are not retried; transient ones back off for
// about a day before the delivery is reported failed.
const alerts = proxyActivities<AlertActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 hours',
    maximumAttempts: ALERT_DELIVERY_MAX_ATTEMPTS,
    nonRetryableErrorTypes: ['PermanentDeliveryError'],
  },
});

// Payment steps call the provider: a network failure or a 5xx is retried (every call is keyed, so a
// repeat is answered from the provider's memory); a request the provider can never accept is not.
// A decline is an answer, not a failure: the workflow decides what follows.
// They heartbeat while they run: a worker that dies mid-call is noticed within seconds and the
// step retried elsewhere with the same keys.
const paymentSteps = proxyActivities<PaymentActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: ['PaymentConfigurationError', 'invoice_not_found', 'invoice_not_open', 'customer_not_found'],
  },
});

/** An activity's typed refusal (ApplicationFailure), rethrown as the Update's own failure. */
function unwrapActivityFailure(error: unknown): unknown {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause : error;
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
  const subscription = new SubscriptionEntity(input);
  const maxUpdatesPerRun = input.maxUpdatesPerRun ?? MAX_UPDATES_PER_RUN;
  let updatesThisRun = 0;
  let updatesInFlight = 0;
  // Payment events being applied: the handover waits for them too (short database writes).
  let paymentWorkInFlight = 0;
  // Set once this run is about to continue-as-new: it waits for the Updates it accepted, and new
  // ones must go to the next run, or a steady stream of them would keep this one open for ever.
  let handingOver = false;
  const admit = () => {
    if (handingOver) throw refusal('subscription_busy', 'The subscription is moving to its next run; try again in a moment.');
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
      subscription.rememberAnswer(currentUpdateInfo()!.id, name, Date.now(), result);
      return result;
    } finally {
      updatesInFlight -= 1;
    }
  };

  const indexForSearch = () => {
    const state = subscription.snapshot();
    upsertSearchAttributes([
      { key: PLAN_ID, value: state.planId },
      { key: SUBSCRIPTION_STATUS, value: state.status },
      { key: PERIOD_END, value: new Date(state.periodEnd) },
    ]);
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
   * Collects an invoice just issued. A provider that refuses the request as configured (bad key)
   * leaves the invoice open, visible as a failed activity in the Temporal UI, and the subscription
   * carries on; it never fails the subscription.
   */
  const collect = async (invoice: { id: string; collectable: boolean } | undefined): Promise<CollectionOutcome | undefined> => {
    if (!collectsPayments || !invoice?.collectable) return undefined;
    return paymentSteps.collectInvoice({ invoiceId: invoice.id, attempt: 1 }).catch(() => undefined);
  };

  setHandler(getStateQuery, () => subscription.snapshot());
  setHandler(cancelUpdate, () => answer(cancelUpdate.name, async () => {
    subscription.cancel();
    return publish();
  }), { validator: () => { if (earlierAnswer(cancelUpdate.name)) return; admit(); subscription.validateCancel(); } });
  setHandler(reactivateUpdate, () => answer(reactivateUpdate.name, async () => {
    subscription.reactivate();
    return publish();
  }), { validator: () => { if (earlierAnswer(reactivateUpdate.name)) return; admit(); subscription.validateReactivate(); } });

  setHandler(changePlanUpdate, (request) => answer(changePlanUpdate.name, async (): Promise<ChangePlanResult> => {
    // Decided and applied synchronously, before any await: a second change delivered meanwhile
    // is validated against the new state (two downgrades at once → the second is refused).
    const changeId = consistentWrites ? currentUpdateInfo()?.id : undefined;
    const { decision, invoice, creditAppliedMinor } = subscription.applyChange(request, Date.now(), changeId);
    updatesThisRun += 1;
    indexForSearch();
    const state = subscription.snapshot();
    const { invoice: receipt } = await updateWrites.recordPlanChange({ subscription: state, invoice });
    const payment = await collect(receipt);
    return {
      subscription: state,
      kind: decision.kind,
      effective: decision.effective,
      netMinor: decision.proration.netMinor.toString(),
      chargedMinor: invoice?.totalMinor ?? '0',
      creditAppliedMinor: creditAppliedMinor.toString(),
      invoiceNumber: receipt?.number ?? null,
      ...(payment ? { payment } : {}),
    };
  }), { validator: (request) => { if (earlierAnswer(changePlanUpdate.name)) return; admit(); subscription.validateChange(request, Date.now()); } });

  setHandler(settleInvoiceUpdate, (request) => answer(settleInvoiceUpdate.name, async (): Promise<SettledInvoice> => {
    updatesThisRun += 1;
    try {
      // The Update's own id names the settlement: a retried step recognises its own write.
      return await paymentSteps.settleInvoice({ customerId: subscription.customerId, request, settlementId: currentUpdateInfo()!.id });
    } catch (error) {
      throw unwrapActivityFailure(error);
    }
  }), { validator: (_request) => { if (earlierAnswer(settleInvoiceUpdate.name)) return; admit(); } });

  setHandler(paymentEventSignal, async (event) => {
    if (!subscription.acceptPaymentEvent(event.eventId)) return;
    paymentWorkInFlight += 1;
    try {
      await paymentSteps.applyPaymentEvent(event);
    } catch {
      // Only a missing invoice or customer ends here: nothing to apply it to.
    } finally {
      paymentWorkInFlight -= 1;
    }
  });

  const deliverAlerts = async (crossing: ThresholdCrossing) => {
    subscription.alertDeliveryStarted(crossing);
    // A failure escaping a signal handler would fail the whole subscription: alerting never may.
    // A failed delivery is recorded by the activity itself (and shown by the API).
    const channels = await alerts.alertChannelsOf(subscription.customerId).catch(() => ['email' as const]);
    await Promise.all(channels.map((channel) => alerts.deliverAlert({ customerId: subscription.customerId, channel, crossing }).catch(() => undefined)));
    subscription.alertDeliveryFinished(crossing);
  };
  setHandler(thresholdCrossedSignal, async (crossing) => {
    if (!subscription.acceptCrossing(crossing)) return;
    await deliverAlerts(crossing);
    // Deliveries retry for up to a day: a run hands over without waiting for them, and the next
    // run takes over what is still pending (delivery rows keep each channel to one message).
  }, { unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON });
  // Alerts the previous run handed over (only runs on the consistent-writes code hand any over).
  for (const crossing of input.pendingAlerts ?? []) void deliverAlerts(crossing);

  if (input.invoiceFirstPeriod) {
    // The provider's customer first, so the first invoice (and Checkout) can be charged to it.
    if (collectsPayments) await paymentSteps.ensureProviderCustomer(subscription.customerId).catch(() => null);
    const invoice = subscription.firstPeriodInvoice();
    if (invoice) await collect(await activities.issueInvoice(invoice));
  }

  // A run's history grows with every accepted Update: past a bound (or when the server suggests
  // it), the run hands its state to a fresh one within the same cycle.
  const historyIsLong = () => consistentWrites && (updatesThisRun >= maxUpdatesPerRun || workflowInfo().continueAsNewSuggested);
  // Hands the state to the next run once the accepted Updates are done (not the alert deliveries:
  // they go along as pending, see the signal handler).
  const handOver = async (catalog: Parameters<SubscriptionEntity['nextRunInput']>[0]) => {
    handingOver = true;
    await condition(() => updatesInFlight === 0 && paymentWorkInFlight === 0);
    const next = subscription.nextRunInput(catalog);
    return continueAsNew<typeof subscriptionWorkflow>(input.maxUpdatesPerRun === undefined ? next : { ...next, maxUpdatesPerRun: input.maxUpdatesPerRun });
  };
  const untilCycleEnd = subscription.currentCycleEnd - Date.now();
  if (untilCycleEnd > 0 && await condition(historyIsLong, untilCycleEnd)) await handOver(undefined);

  const renewal = subscription.renew();
  if (renewal.newPeriod) indexForSearch();
  if (consistentWrites) {
    const versionAtRenewal = subscription.snapshot().version;
    const reserved = subscription.reserveCreditForRenewal();
    const { catalog, creditOwedMinor, invoice: renewalInvoice } = await activities.recordRenewal({
      subscription: { ...subscription.snapshot(), creditOwedMinor: reserved.toString() },
      feeInvoice: renewal.invoice,
      closedCycle: renewal.closedCycle,
    });
    const changedMeanwhile = subscription.snapshot().version !== versionAtRenewal;
    if (subscription.returnUnspentCredit(BigInt(creditOwedMinor), changedMeanwhile)) await activities.saveSubscription(subscription.snapshot());
    await collect(renewalInvoice);
    await handOver(catalog);
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

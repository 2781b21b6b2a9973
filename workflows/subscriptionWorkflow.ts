/**
 * One long-lived workflow per customer subscription (id `subscription-<customerId>`). Each run
 * covers one usage cycle: it sleeps until the cycle ends, renews (invoice + read model in one
 * activity), then continues-as-new so history stays a handful of events per cycle for years.
 *
 * Deterministic by construction: time comes from the workflow clock, every side effect is an
 * activity, and handlers are registered before the first await.
 */
import {
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
import type { AlertActivities } from '../activities/alertActivities.js';
import type { SubscriptionActivities } from '../activities/subscriptionActivities.js';
import {
  ALERT_DELIVERY_MAX_ATTEMPTS,
  cancelUpdate,
  changePlanUpdate,
  CONSISTENT_WRITES_PATCH,
  MAX_UPDATES_PER_RUN,
  getStateQuery,
  reactivateUpdate,
  thresholdCrossedSignal,
  type ChangePlanResult,
  type SubscriptionInput,
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

export async function subscriptionWorkflow(input: SubscriptionInput): Promise<void> {
  // One decision per run, before anything else: a run that began on older code keeps its old
  // behaviour to its end; every run after continue-as-new takes the new one.
  const consistentWrites = patched(CONSISTENT_WRITES_PATCH);
  // Ordinary activities are scheduled by a command of a completed workflow task, so a write exists
  // only for an Update that history accepted, whatever task is dropped or replayed.
  const updateWrites = consistentWrites ? activities : legacyUpdateWrites;
  const subscription = new SubscriptionEntity(input);
  let updatesThisRun = 0;
  // Set once this run is about to continue-as-new: it waits for the Updates it accepted, and new
  // ones must go to the next run, or a steady stream of them would keep this one open for ever.
  let handingOver = false;
  const admit = () => {
    if (handingOver) throw refusal('subscription_busy', 'The subscription is moving to its next run; try again in a moment.');
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

  setHandler(getStateQuery, () => subscription.snapshot());
  setHandler(cancelUpdate, async () => {
    subscription.cancel();
    return publish();
  }, { validator: () => { admit(); subscription.validateCancel(); } });
  setHandler(reactivateUpdate, async () => {
    subscription.reactivate();
    return publish();
  }, { validator: () => { admit(); subscription.validateReactivate(); } });

  setHandler(changePlanUpdate, async (request): Promise<ChangePlanResult> => {
    // Decided and applied synchronously, before any await: a second change delivered meanwhile
    // is validated against the new state (two downgrades at once → the second is refused).
    const changeId = consistentWrites ? currentUpdateInfo()?.id : undefined;
    const { decision, invoice, creditAppliedMinor } = subscription.applyChange(request, Date.now(), changeId);
    updatesThisRun += 1;
    indexForSearch();
    const state = subscription.snapshot();
    const { invoice: receipt } = await updateWrites.recordPlanChange({ subscription: state, invoice });
    return {
      subscription: state,
      kind: decision.kind,
      effective: decision.effective,
      netMinor: decision.proration.netMinor.toString(),
      chargedMinor: invoice?.totalMinor ?? '0',
      creditAppliedMinor: creditAppliedMinor.toString(),
      invoiceNumber: receipt?.number ?? null,
    };
  }, { validator: (request) => { admit(); subscription.validateChange(request, Date.now()); } });

  setHandler(thresholdCrossedSignal, async (crossing) => {
    if (!subscription.acceptCrossing(crossing)) return;
    // A failure escaping a signal handler would fail the whole subscription: alerting never may.
    // A failed delivery is recorded by the activity itself (and shown by the API).
    const channels = await alerts.alertChannelsOf(subscription.customerId).catch(() => ['email' as const]);
    await Promise.all(channels.map((channel) => alerts.deliverAlert({ customerId: subscription.customerId, channel, crossing }).catch(() => undefined)));
  });

  if (input.invoiceFirstPeriod) {
    const invoice = subscription.firstPeriodInvoice();
    if (invoice) await activities.issueInvoice(invoice);
  }

  // A run's history grows with every accepted Update: past a bound (or when the server suggests
  // it), the run hands its state to a fresh one within the same cycle.
  const historyIsLong = () => consistentWrites && (updatesThisRun >= MAX_UPDATES_PER_RUN || workflowInfo().continueAsNewSuggested);
  const untilCycleEnd = subscription.currentCycleEnd - Date.now();
  if (untilCycleEnd > 0 && await condition(historyIsLong, untilCycleEnd)) {
    handingOver = true;
    await condition(allHandlersFinished);
    await continueAsNew<typeof subscriptionWorkflow>(subscription.nextRunInput(undefined));
  }

  const renewal = subscription.renew();
  if (renewal.newPeriod) indexForSearch();
  if (consistentWrites) {
    const versionAtRenewal = subscription.snapshot().version;
    const reserved = subscription.reserveCreditForRenewal();
    const { catalog, creditOwedMinor } = await activities.recordRenewal({
      subscription: { ...subscription.snapshot(), creditOwedMinor: reserved.toString() },
      feeInvoice: renewal.invoice,
      closedCycle: renewal.closedCycle,
    });
    const changedMeanwhile = subscription.snapshot().version !== versionAtRenewal;
    if (subscription.returnUnspentCredit(BigInt(creditOwedMinor), changedMeanwhile)) await activities.saveSubscription(subscription.snapshot());
    handingOver = true;
    await condition(allHandlersFinished);
    await continueAsNew<typeof subscriptionWorkflow>(subscription.nextRunInput(catalog));
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

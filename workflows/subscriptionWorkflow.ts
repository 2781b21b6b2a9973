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
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { AlertActivities } from '../activities/alertActivities.js';
import type { SubscriptionActivities } from '../activities/subscriptionActivities.js';
import {
  ALERT_DELIVERY_MAX_ATTEMPTS,
  cancelUpdate,
  changePlanUpdate,
  getStateQuery,
  reactivateUpdate,
  thresholdCrossedSignal,
  type ChangePlanResult,
  type SubscriptionInput,
} from './messages.js';
import { PERIOD_END, PLAN_ID, SUBSCRIPTION_STATUS } from './searchAttributes.js';
import { SubscriptionEntity } from './subscriptionEntity.js';

// Database writes are short; a dead worker's attempt is retried after startToClose. Retries never
// stop: each activity is idempotent, and giving up would lose an invoice.
const activities = proxyActivities<SubscriptionActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// Writes that answer an Update (plan change, cancel, reactivate) are local activities: they run in
// the worker that holds the workflow, without a round trip through the server's task queue, so the
// caller gets its answer sooner. They are idempotent like the others; if the worker dies, the
// workflow task is retried and they run again.
const updateWrites = proxyLocalActivities<SubscriptionActivities>({
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
  const subscription = new SubscriptionEntity(input);

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
    indexForSearch();
    await updateWrites.saveSubscription(subscription.snapshot());
    return subscription.snapshot();
  };

  setHandler(getStateQuery, () => subscription.snapshot());
  setHandler(cancelUpdate, async () => {
    subscription.cancel();
    return publish();
  }, { validator: () => subscription.validateCancel() });
  setHandler(reactivateUpdate, async () => {
    subscription.reactivate();
    return publish();
  }, { validator: () => subscription.validateReactivate() });

  setHandler(changePlanUpdate, async (request): Promise<ChangePlanResult> => {
    // Decided and applied synchronously, before any await: a second change delivered meanwhile
    // is validated against the new state (two downgrades at once → the second is refused).
    const { decision, invoice } = subscription.applyChange(request, Date.now());
    indexForSearch();
    const state = subscription.snapshot();
    const { invoice: receipt } = await updateWrites.recordPlanChange({ subscription: state, invoice });
    return {
      subscription: state,
      kind: decision.kind,
      effective: decision.effective,
      netMinor: decision.proration.netMinor.toString(),
      invoiceNumber: receipt?.number ?? null,
    };
  }, { validator: (request) => subscription.validateChange(request, Date.now()) });

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

  const untilCycleEnd = subscription.currentCycleEnd - Date.now();
  if (untilCycleEnd > 0) await condition(() => false, untilCycleEnd);

  const renewal = subscription.renew();
  if (renewal.newPeriod) indexForSearch();
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

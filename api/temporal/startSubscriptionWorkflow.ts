/** Starts a subscription's workflow, keyed by customer id and indexed for the Temporal UI. */
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { subscriptionWorkflow } from '../../workflows/subscriptionWorkflow.js';
import { SUBSCRIPTION_WORKFLOW_TYPE, subscriptionWorkflowId, type SubscriptionInput } from '../../workflows/messages.js';
import { subscriptionSearchAttributes } from '../../workflows/searchAttributes.js';

export async function startSubscriptionWorkflow(
  client: Client,
  taskQueue: string,
  input: SubscriptionInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof subscriptionWorkflow>> {
  return client.workflow.start<typeof subscriptionWorkflow>(SUBSCRIPTION_WORKFLOW_TYPE, {
    workflowId: subscriptionWorkflowId(input.customerId),
    taskQueue,
    args: [input],
    // One subscription per customer, ever: a second start for the same id is refused.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: subscriptionSearchAttributes({ ...input, status: input.cancelAtPeriodEnd ? 'cancel_scheduled' : 'active', testClockId: input.testClock?.id }),
  });
}

/** Whether a customer's subscription workflow exists on the server (any status); Temporal unreachable is an error. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { subscriptionWorkflowId } from '../../workflows/messages.js';

export async function workflowExists(temporal: Client, customerId: string): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

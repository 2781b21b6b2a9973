// The workflow bundle's entry point: every workflow the worker registers.
export { subscriptionWorkflow } from './subscriptionWorkflow.js';
export { webhookDeliveryWorkflow } from './webhookDeliveryWorkflow.js';

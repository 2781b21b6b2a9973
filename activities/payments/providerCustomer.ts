/**
 * The provider's customer for a Tollgate customer, created at most once. Shared by the payment
 * activities (collecting an invoice) and the API (opening Checkout or the billing portal), which
 * can race for a brand-new customer: both send the same idempotency key
 * (`tollgate:customer:<id>:create`, paymentKeys in paymentProvider.ts), so the provider makes one
 * customer, and saveProviderCustomerId keeps the first id recorded, so both callers end up with it.
 *
 * Free of Temporal and of HTTP: callers turn a missing customer (null) and provider errors into
 * their own failures (a non-retryable activity failure, a 404 or a 502/503).
 */
import type { Db } from '../../store/db.js';
import { providerCustomerIdOf, saveProviderCustomerId } from '../../store/paymentStore.js';
import { PaymentConfigurationError, type PaymentProvider } from './paymentProvider.js';

/** The provider's customer id, creating it if needed; null when Tollgate has no such customer. */
export async function ensureProviderCustomer(db: Db, payments: PaymentProvider, customerId: string): Promise<string | null> {
  const customer = await providerCustomerIdOf(db, customerId);
  if (!customer) return null;
  // Every charge, Checkout page and refund of a customer starts here: a test clock runs months of
  // renewals in seconds, never against live keys (whatever the API's own settings say).
  if (customer.testClockId !== null && payments.live === true) {
    throw new PaymentConfigurationError(`customer ${customerId} runs on test clock ${customer.testClockId}: it is never charged with live payment keys (use test-mode keys)`);
  }
  if (customer.providerCustomerId) return customer.providerCustomerId;
  const created = await payments.createCustomer({ customerId, name: customer.name, email: customer.email });
  return saveProviderCustomerId(db, customerId, created);
}

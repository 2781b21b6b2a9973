/**
 * The payments port. Tollgate's invoice is the source of truth; a provider is the rail that
 * mirrors it and moves the money. Every call that can move money carries an idempotency key built
 * from Tollgate's own identity (customer id, invoice id and step, attempt number), so a retried
 * activity or a killed worker never moves money twice. `none` moves nothing: invoices stay open
 * for collection by other means.
 */
import type { PaymentProviderName } from '../../config/paymentSettings.js';

export interface ProviderCustomerInput {
  customerId: string;
  name: string;
  email: string;
}

/** A Tollgate invoice as the provider mirrors it: one item per line, Tollgate's descriptions. */
export interface InvoiceToMirror {
  invoiceId: string;
  number: string;
  customerId: string;
  providerCustomerId: string;
  currency: string;
  lines: Array<{ description: string; amountMinor: bigint; periodStart: number; periodEnd: number }>;
}

/** What the provider says of its copy of an invoice. */
export interface MirroredInvoice {
  providerInvoiceId: string;
  /** draft | open | paid | uncollectible | void */
  providerStatus: string;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  /** Tax the provider computed (Stripe Tax), minor units; 0 without it. */
  taxMinor: bigint;
}

export type PaymentAttempt =
  | { outcome: 'paid'; invoice: MirroredInvoice; reference: string | null }
  /** Declined, or could not be attempted (no saved method): the customer must act. */
  | { outcome: 'failed'; invoice: MirroredInvoice; code: string; reason: string }
  /** The bank wants the customer to authenticate (3-D Secure): they pay on the hosted page. */
  | { outcome: 'requires_action'; invoice: MirroredInvoice; code: string; reason: string }
  /** Accepted but not settled yet (e.g. a bank debit processing): a webhook will tell. */
  | { outcome: 'pending'; invoice: MirroredInvoice };

export interface PaymentProvider {
  readonly name: PaymentProviderName;
  /** The provider's customer for a Tollgate customer, created once (keyed by the customer id). */
  createCustomer(customer: ProviderCustomerInput): Promise<string>;
  /** Creates the provider's invoice (keyed by the Tollgate invoice id); its id. */
  createInvoice(invoice: InvoiceToMirror): Promise<string>;
  /** Adds every line (one keyed call) and finalizes the invoice (another). */
  finalizeInvoice(providerInvoiceId: string, invoice: InvoiceToMirror): Promise<MirroredInvoice>;
  /** Pays it off-session with the saved method; `attempt` numbers the try (its own key). */
  payInvoice(providerInvoiceId: string, invoice: { invoiceId: string; attempt: number }): Promise<PaymentAttempt>;
  /** Marks it paid outside the provider (an operator settled it by other means). */
  markPaidOutOfBand(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice>;
  /** Voids it: nothing will be collected. */
  voidInvoice(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice>;
}

/**
 * A provider call that can never succeed as configured (bad key, a request the provider refuses):
 * retrying cannot help, so the activity gives up and the workflow records it.
 */
export class PaymentConfigurationError extends Error {
  readonly code = 'payment_configuration';
  constructor(message: string) {
    super(message);
    this.name = 'PaymentConfigurationError';
  }
}

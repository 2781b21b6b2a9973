/**
 * The payments port. Tollgate's invoice is the source of truth; a provider is the rail that
 * mirrors it and moves the money. Every call that can move money carries an idempotency key built
 * from Tollgate's own identity (customer id, invoice id and step, attempt number), so a retried
 * activity or a killed worker never moves money twice. `none` moves nothing: invoices stay open
 * for collection by other means.
 */
import type { PaymentProviderName } from '../../config/paymentSettings.js';

/**
 * Every idempotency key a payment step sends, in one place. Keys name the Tollgate object and the
 * step (and the attempt, or the workflow's refund or Checkout id), never a Temporal run or
 * activity id, which change across retries and continue-as-new.
 */
export const paymentKeys = {
  customer: (customerId: string) => `tollgate:customer:${customerId}:create`,
  defaultPaymentMethod: (customerId: string, checkoutSessionId: string) => `tollgate:customer:${customerId}:default_payment_method:${checkoutSessionId}`,
  setupCheckout: (customerId: string, operationId: string) => `tollgate:customer:${customerId}:setup-checkout:${operationId}`,
  invoice: (invoiceId: string, step: 'create' | 'lines' | 'finalize' | 'paid_out_of_band' | 'void' | 'uncollectible' | 'checkout' | 'checkout_expire') => `tollgate:invoice:${invoiceId}:${step}`,
  payment: (invoiceId: string, attempt: number) => `tollgate:invoice:${invoiceId}:pay:${attempt}`,
  refund: (refundId: string, invoiceId: string) => `tollgate:refund:${refundId}:${invoiceId}`,
};

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

/** A Stripe Checkout page: pay a first invoice and save the card (payment), or save a card (setup). */
export interface CheckoutRequest {
  customerId: string;
  providerCustomerId: string;
  mode: 'payment' | 'setup';
  currency: string;
  /** Payment mode: the invoice the page collects. */
  invoice?: { invoiceId: string; number: string; totalMinor: bigint };
  successUrl: string;
  cancelUrl: string;
  /** When the page stops accepting payment (epoch ms; Stripe allows 30 minutes to 24 hours). */
  expiresAt: number;
  /** From Tollgate's identity: the invoice and attempt, or the API request's operation. */
  idempotencyKey: string;
}

export interface CheckoutSession {
  sessionId: string;
  url: string | null;
  expiresAt: number;
  status: 'open' | 'complete' | 'expired';
  /** Payment mode: the money is in. */
  paid: boolean;
  /** The card the customer entered, to keep as their default for off-session payments. */
  paymentMethodId: string | null;
  /** The payment (payment mode) or setup (setup mode) id. */
  reference: string | null;
}

export interface PaymentProvider {
  readonly name: PaymentProviderName;
  /** Moves real money (Stripe live keys): customers on test clocks are refused (activities/payments/providerCustomer.ts). */
  readonly live?: boolean;
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
  /** Gives up collecting it (dunning's end); it stays on the customer's record as unpaid. */
  markUncollectible(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice>;
  /** What the provider says of its copy now. */
  retrieveInvoice(providerInvoiceId: string): Promise<MirroredInvoice>;
  /** Whether the customer has a default payment method for off-session charges. */
  hasSavedPaymentMethod(providerCustomerId: string): Promise<boolean>;
  /** Makes a card the customer entered (Checkout) their default for invoices. */
  setDefaultPaymentMethod(providerCustomerId: string, paymentMethodId: string, idempotencyKey: string): Promise<void>;
  createCheckoutSession(request: CheckoutRequest): Promise<CheckoutSession>;
  retrieveCheckoutSession(sessionId: string): Promise<CheckoutSession>;
  /** Closes an open Checkout page so it can no longer take money. */
  expireCheckoutSession(sessionId: string, idempotencyKey: string): Promise<CheckoutSession>;
  /** Gives money back on an earlier payment (a payment intent `pi_…` or charge `ch_…`); the provider's refund id. */
  refundPayment(args: { paymentReference: string; amountMinor: bigint; idempotencyKey: string; metadata: Record<string, string> }): Promise<string>;
  /** A billing-portal page (update card, see invoices, billing address); its URL. */
  createPortalSession(providerCustomerId: string, returnUrl: string): Promise<string>;
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

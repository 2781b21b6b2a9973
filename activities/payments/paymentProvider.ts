/**
 * The payments port. Invoices are issued "open"; a provider then tries to collect them. The Stripe
 * issue implements this interface; `none` is the provider for local use without Stripe keys.
 */
export interface InvoiceToCollect {
  invoiceId: string;
  number: string;
  customerId: string;
  currency: string;
  totalMinor: bigint;
  /** Derived from the invoice's business identity, so a retried collection never charges twice. */
  idempotencyKey: string;
}

export type CollectionResult =
  /** Nothing was charged; the invoice stays open for collection by other means. */
  | { status: 'open' }
  | { status: 'paid'; providerReference: string }
  | { status: 'failed'; reason: string; providerReference?: string };

export interface PaymentProvider {
  readonly name: string;
  collect(invoice: InvoiceToCollect): Promise<CollectionResult>;
}

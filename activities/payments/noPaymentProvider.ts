import type { CollectionResult, PaymentProvider } from './paymentProvider.js';

/** Without a payment provider invoices stay open: nothing pretends to have charged. */
export class NoPaymentProvider implements PaymentProvider {
  readonly name = 'none';
  async collect(): Promise<CollectionResult> {
    return { status: 'open' };
  }
}

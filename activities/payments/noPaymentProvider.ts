import type { PaymentProvider } from './paymentProvider.js';

/**
 * Without a payment provider invoices stay open: nothing pretends to have charged. The activities
 * never mirror an invoice when the provider is `none`; reaching one of these is a bug.
 */
export class NoPaymentProvider implements PaymentProvider {
  readonly name = 'none' as const;
  private refuse(): never {
    throw new Error('PAYMENT_PROVIDER=none moves no money; this call should not have been made');
  }
  async createCustomer(): Promise<string> { return this.refuse(); }
  async createInvoice(): Promise<string> { return this.refuse(); }
  async finalizeInvoice(): Promise<never> { return this.refuse(); }
  async payInvoice(): Promise<never> { return this.refuse(); }
  async markPaidOutOfBand(): Promise<never> { return this.refuse(); }
  async voidInvoice(): Promise<never> { return this.refuse(); }
  async markUncollectible(): Promise<never> { return this.refuse(); }
  async retrieveInvoice(): Promise<never> { return this.refuse(); }
  async hasSavedPaymentMethod(): Promise<never> { return this.refuse(); }
  async setDefaultPaymentMethod(): Promise<never> { return this.refuse(); }
  async createCheckoutSession(): Promise<never> { return this.refuse(); }
  async retrieveCheckoutSession(): Promise<never> { return this.refuse(); }
  async expireCheckoutSession(): Promise<never> { return this.refuse(); }
  async createPortalSession(): Promise<never> { return this.refuse(); }
  async refundPayment(): Promise<never> { return this.refuse(); }
}

/**
 * Stripe as the payment rail, with stripe-node. Each Tollgate invoice becomes one Stripe invoice:
 * created (metadata with Tollgate's ids), its lines added in one call, finalized, then paid
 * off-session with the customer's saved method. Every call carries an idempotency key from
 * Tollgate's identity, so a retried activity replays Stripe's first answer instead of acting
 * again; the activity also records each step's result, so a retry a day later (after Stripe has
 * forgotten a key) resumes after the last recorded step rather than repeating it.
 */
import Stripe from 'stripe';
import { stripeConnection } from '../../config/paymentSettings.js';
import {
  PaymentConfigurationError,
  paymentKeys,
  type CheckoutRequest,
  type CheckoutSession,
  type InvoiceToMirror,
  type MirroredInvoice,
  type PaymentAttempt,
  type PaymentProvider,
  type ProviderCustomerInput,
} from './paymentProvider.js';

export interface StripeProviderOptions {
  secretKey: string;
  apiBase: string;
  /** Stripe Tax computes tax on each invoice. */
  automaticTax: boolean;
}

export function createStripeClient(options: { secretKey: string; apiBase: string }): Stripe {
  return new Stripe(options.secretKey, {
    ...stripeConnection(options.apiBase),
    // stripe-node retries network failures and 409/429/5xx itself, with the same idempotency key.
    maxNetworkRetries: 2,
    timeout: 20_000,
    appInfo: { name: 'Tollgate' },
  });
}

function mirrored(invoice: Stripe.Invoice): MirroredInvoice {
  if (!invoice.id) throw new Error('Stripe answered an invoice without an id');
  const taxMinor = (invoice.total_taxes ?? []).reduce((sum, tax) => sum + BigInt(tax.amount), 0n);
  return {
    providerInvoiceId: invoice.id,
    providerStatus: invoice.status ?? 'draft',
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
    pdfUrl: invoice.invoice_pdf ?? null,
    taxMinor,
  };
}

/** Errors no retry can fix become PaymentConfigurationError; the rest (network, 429, 5xx) are rethrown for Temporal to retry. */
function classify(error: unknown, what: string): never {
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    throw new PaymentConfigurationError(`Stripe refused the key while trying to ${what} (${error.type}): check STRIPE_SECRET_KEY`);
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeIdempotencyError) {
    throw new PaymentConfigurationError(`Stripe refused the request to ${what}: ${error.code ?? error.type}: ${error.message}`);
  }
  throw error;
}

export class StripePaymentProvider implements PaymentProvider {
  readonly name = 'stripe' as const;
  readonly live: boolean;
  private readonly stripe: Stripe;

  constructor(private readonly options: StripeProviderOptions, client?: Stripe) {
    this.stripe = client ?? createStripeClient(options);
    this.live = /^(sk|rk)_live_/.test(options.secretKey);
  }

  async createCustomer(customer: ProviderCustomerInput): Promise<string> {
    try {
      const created = await this.stripe.customers.create(
        { name: customer.name, email: customer.email, metadata: { tollgate_customer_id: customer.customerId } },
        { idempotencyKey: paymentKeys.customer(customer.customerId) },
      );
      return created.id;
    } catch (error) {
      return classify(error, 'create the customer');
    }
  }

  async createInvoice(invoice: InvoiceToMirror): Promise<string> {
    try {
      const created = await this.stripe.invoices.create({
        customer: invoice.providerCustomerId,
        currency: invoice.currency.toLowerCase(),
        collection_method: 'charge_automatically',
        // Tollgate decides when to pay (the workflow); Stripe must not finalize or charge on its own.
        auto_advance: false,
        // Only the lines Tollgate adds: never sweep in stray pending invoice items.
        pending_invoice_items_behavior: 'exclude',
        description: `Tollgate invoice ${invoice.number}`,
        metadata: { tollgate_invoice_id: invoice.invoiceId, tollgate_invoice_number: invoice.number, tollgate_customer_id: invoice.customerId },
        ...(this.options.automaticTax ? { automatic_tax: { enabled: true } } : {}),
      }, { idempotencyKey: paymentKeys.invoice(invoice.invoiceId, 'create') });
      if (!created.id) throw new Error('Stripe answered an invoice without an id');
      return created.id;
    } catch (error) {
      return classify(error, `create invoice ${invoice.number}`);
    }
  }

  async finalizeInvoice(providerInvoiceId: string, invoice: InvoiceToMirror): Promise<MirroredInvoice> {
    try {
      // After Stripe has forgotten the lines' key (24 h), a repeat must not add them twice.
      const current = await this.stripe.invoices.retrieve(providerInvoiceId);
      if (current.status !== 'draft') return mirrored(current);
      const added = current.lines.data.some((line) => line.metadata?.tollgate_invoice_id === invoice.invoiceId);
      if (!added) await this.stripe.invoices.addLines(providerInvoiceId, {
        lines: invoice.lines.map((line, position) => ({
          amount: Number(line.amountMinor),
          description: line.description,
          period: { start: Math.floor(line.periodStart / 1000), end: Math.floor(line.periodEnd / 1000) },
          metadata: { tollgate_invoice_id: invoice.invoiceId, tollgate_line: String(position) },
        })),
      }, { idempotencyKey: paymentKeys.invoice(invoice.invoiceId, 'lines') });
      const finalized = await this.stripe.invoices.finalizeInvoice(providerInvoiceId, { auto_advance: false }, { idempotencyKey: paymentKeys.invoice(invoice.invoiceId, 'finalize') });
      return mirrored(finalized);
    } catch (error) {
      return classify(error, `finalize invoice ${invoice.number}`);
    }
  }

  async payInvoice(providerInvoiceId: string, invoice: { invoiceId: string; attempt: number }): Promise<PaymentAttempt> {
    try {
      // `payments` is only returned when expanded: it names the payment intent (refunds need it).
      const paid = await this.stripe.invoices.pay(providerInvoiceId, { off_session: true, expand: ['payments'] }, { idempotencyKey: paymentKeys.payment(invoice.invoiceId, invoice.attempt) });
      const view = mirrored(paid);
      if (view.providerStatus === 'paid') return { outcome: 'paid', invoice: view, reference: paymentReference(paid) };
      return { outcome: 'pending', invoice: view };
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError) {
        const current = await this.retrieve(providerInvoiceId);
        const code = error.code ?? 'card_declined';
        const reason = error.decline_code ? `${error.message} (${error.decline_code})` : error.message;
        if (code === 'authentication_required' || error.decline_code === 'authentication_required') return { outcome: 'requires_action', invoice: current, code, reason };
        return { outcome: 'failed', invoice: current, code, reason };
      }
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        // Paid meanwhile (a webhook-driven or manual payment), or not payable at all (no saved method).
        const current = await this.retrieve(providerInvoiceId);
        if (current.providerStatus === 'paid') return { outcome: 'paid', invoice: current, reference: null };
        return { outcome: 'failed', invoice: current, code: error.code ?? 'payment_not_possible', reason: error.message };
      }
      return classify(error, 'pay the invoice');
    }
  }

  async markPaidOutOfBand(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice> {
    try {
      return mirrored(await this.stripe.invoices.pay(providerInvoiceId, { paid_out_of_band: true }, { idempotencyKey: paymentKeys.invoice(invoiceId, 'paid_out_of_band') }));
    } catch (error) {
      return classify(error, 'mark the invoice paid');
    }
  }

  async voidInvoice(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice> {
    try {
      return mirrored(await this.stripe.invoices.voidInvoice(providerInvoiceId, {}, { idempotencyKey: paymentKeys.invoice(invoiceId, 'void') }));
    } catch (error) {
      return classify(error, 'void the invoice');
    }
  }

  async markUncollectible(providerInvoiceId: string, invoiceId: string): Promise<MirroredInvoice> {
    try {
      return mirrored(await this.stripe.invoices.markUncollectible(providerInvoiceId, {}, { idempotencyKey: paymentKeys.invoice(invoiceId, 'uncollectible') }));
    } catch (error) {
      return classify(error, 'mark the invoice uncollectible');
    }
  }

  retrieveInvoice(providerInvoiceId: string): Promise<MirroredInvoice> {
    return this.retrieve(providerInvoiceId);
  }

  async hasSavedPaymentMethod(providerCustomerId: string): Promise<boolean> {
    try {
      const customer = await this.stripe.customers.retrieve(providerCustomerId);
      if (customer.deleted) throw new PaymentConfigurationError(`Stripe customer ${providerCustomerId} was deleted`);
      return Boolean(customer.invoice_settings?.default_payment_method ?? customer.default_source);
    } catch (error) {
      return classify(error, 'read the customer');
    }
  }

  async setDefaultPaymentMethod(providerCustomerId: string, paymentMethodId: string, idempotencyKey: string): Promise<void> {
    try {
      await this.stripe.customers.update(providerCustomerId, { invoice_settings: { default_payment_method: paymentMethodId } }, { idempotencyKey });
    } catch (error) {
      classify(error, 'save the payment method');
    }
  }

  async createCheckoutSession(request: CheckoutRequest): Promise<CheckoutSession> {
    const metadata = {
      tollgate_customer_id: request.customerId,
      ...(request.invoice ? { tollgate_invoice_id: request.invoice.invoiceId, tollgate_invoice_number: request.invoice.number } : {}),
    };
    const common = {
      customer: request.providerCustomerId,
      success_url: request.successUrl,
      cancel_url: request.cancelUrl,
      expires_at: Math.floor(request.expiresAt / 1000),
      metadata,
      // Cards only: they settle at once, so a completed page is a paid one (no delayed bank debits).
      payment_method_types: ['card' as const],
    };
    try {
      const session = request.mode === 'payment' && request.invoice
        ? await this.stripe.checkout.sessions.create({
          ...common,
          mode: 'payment',
          line_items: [{ quantity: 1, price_data: { currency: request.currency.toLowerCase(), unit_amount: Number(request.invoice.totalMinor), product_data: { name: `Invoice ${request.invoice.number}` } } }],
          // The card is kept for the renewals and upgrades that follow, charged off-session.
          payment_intent_data: { setup_future_usage: 'off_session', metadata },
        }, { idempotencyKey: request.idempotencyKey })
        : await this.stripe.checkout.sessions.create({
          ...common,
          mode: 'setup',
          currency: request.currency.toLowerCase(),
          setup_intent_data: { metadata },
        }, { idempotencyKey: request.idempotencyKey });
      return checkoutSessionOf(session);
    } catch (error) {
      return classify(error, 'open a Checkout page');
    }
  }

  async retrieveCheckoutSession(sessionId: string): Promise<CheckoutSession> {
    try {
      return checkoutSessionOf(await this.stripe.checkout.sessions.retrieve(sessionId, { expand: ['payment_intent', 'setup_intent'] }));
    } catch (error) {
      return classify(error, 'read the Checkout page');
    }
  }

  async expireCheckoutSession(sessionId: string, idempotencyKey: string): Promise<CheckoutSession> {
    try {
      return checkoutSessionOf(await this.stripe.checkout.sessions.expire(sessionId, {}, { idempotencyKey }));
    } catch (error) {
      // Already complete or expired: what it is now decides.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) return this.retrieveCheckoutSession(sessionId);
      return classify(error, 'close the Checkout page');
    }
  }

  async refundPayment(args: { paymentReference: string; amountMinor: bigint; idempotencyKey: string; metadata: Record<string, string> }): Promise<string> {
    const target = args.paymentReference.startsWith('ch_') ? { charge: args.paymentReference } : { payment_intent: args.paymentReference };
    try {
      const refund = await this.stripe.refunds.create({ ...target, amount: Number(args.amountMinor), metadata: args.metadata }, { idempotencyKey: args.idempotencyKey });
      return refund.id;
    } catch (error) {
      return classify(error, 'refund the payment');
    }
  }

  async createPortalSession(providerCustomerId: string, returnUrl: string): Promise<string> {
    try {
      return (await this.stripe.billingPortal.sessions.create({ customer: providerCustomerId, return_url: returnUrl })).url;
    } catch (error) {
      return classify(error, 'open the billing portal');
    }
  }

  private async retrieve(providerInvoiceId: string): Promise<MirroredInvoice> {
    try {
      return mirrored(await this.stripe.invoices.retrieve(providerInvoiceId));
    } catch (error) {
      return classify(error, 'read the invoice');
    }
  }
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

function checkoutSessionOf(session: Stripe.Checkout.Session): CheckoutSession {
  const intent = session.payment_intent ?? session.setup_intent;
  const paymentMethod = intent && typeof intent === 'object' ? idOf(intent.payment_method) : null;
  return {
    sessionId: session.id,
    url: session.url,
    expiresAt: session.expires_at * 1000,
    status: session.status === 'complete' ? 'complete' : session.status === 'expired' ? 'expired' : 'open',
    paid: session.payment_status === 'paid',
    paymentMethodId: paymentMethod,
    reference: idOf(intent),
  };
}

/** The payment's id where Stripe names one (the latest payment on the invoice). */
function paymentReference(invoice: Stripe.Invoice): string | null {
  const payment = invoice.payments?.data?.[0]?.payment;
  if (!payment) return null;
  const intent = payment.payment_intent;
  if (typeof intent === 'string') return intent;
  return intent?.id ?? null;
}

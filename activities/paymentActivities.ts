/**
 * The subscription workflow's payment steps. Each is idempotent: provider calls carry keys from
 * Tollgate's identity (activities/payments/stripePaymentProvider.ts) and every step's result is
 * recorded before the next, so Temporal may retry any of them, or a killed worker's attempt be
 * repeated, without charging twice. Declines are outcomes, not errors: the workflow decides what
 * follows (dunning, a pending upgrade).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Db } from '../store/db.js';
import {
  invoiceByNumber,
  invoiceWithLines,
  providerCustomerIdOf,
  recordAttempt,
  recordClosed,
  recordFailure,
  recordPaid,
  recordProviderInvoiceId,
  recordProviderState,
  saveProviderCustomerId,
} from '../store/paymentStore.js';
import type { CollectionOutcome, InvoiceStatus, PaymentEvent, SettledInvoice, SettleInvoiceRequest } from '../workflows/messages.js';
import { PaymentConfigurationError, type InvoiceToMirror, type MirroredInvoice, type PaymentProvider } from './payments/paymentProvider.js';

export interface PaymentActivityDeps {
  db: Db;
  payments: PaymentProvider;
  now?: () => Date;
}

/** Provider errors that no retry fixes stop the activity; the workflow records them. */
function nonRetryable(error: unknown): never {
  if (error instanceof PaymentConfigurationError) throw ApplicationFailure.nonRetryable(error.message, 'PaymentConfigurationError');
  throw error;
}

/**
 * Heartbeats while `work` runs, so a worker that dies mid-call is noticed within the workflow's
 * heartbeat timeout (seconds) instead of the start-to-close timeout, and its step is retried on
 * another worker at once, with the same idempotency keys.
 */
async function keepAlive<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), 1_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function createPaymentActivities(deps: PaymentActivityDeps) {
  const { db, payments } = deps;
  const now = deps.now ?? (() => new Date());

  async function ensureCustomer(customerId: string): Promise<string> {
    const customer = await providerCustomerIdOf(db, customerId);
    if (!customer) throw ApplicationFailure.nonRetryable(`no customer ${customerId}`, 'customer_not_found');
    if (customer.providerCustomerId) return customer.providerCustomerId;
    const created = await payments.createCustomer({ customerId, name: customer.name, email: customer.email }).catch(nonRetryable);
    return saveProviderCustomerId(db, customerId, created);
  }

  /** The provider's finalized copy of the invoice, made once (each step recorded). */
  async function mirror(invoice: NonNullable<Awaited<ReturnType<typeof invoiceWithLines>>>): Promise<{ providerInvoiceId: string; state?: MirroredInvoice }> {
    const toMirror: InvoiceToMirror = {
      invoiceId: invoice.id,
      number: invoice.number,
      customerId: invoice.customerId,
      providerCustomerId: await ensureCustomer(invoice.customerId),
      currency: invoice.currency,
      lines: invoice.lines.filter((line) => line.kind !== 'tax').map((line) => ({
        description: line.description,
        amountMinor: line.amountMinor,
        periodStart: line.periodStart.getTime(),
        periodEnd: line.periodEnd.getTime(),
      })),
    };
    let providerInvoiceId = invoice.providerInvoiceId;
    if (!providerInvoiceId) {
      providerInvoiceId = await payments.createInvoice(toMirror).catch(nonRetryable);
      await recordProviderInvoiceId(db, invoice.id, providerInvoiceId);
    }
    if (invoice.providerStatus !== null && invoice.providerStatus !== 'draft') return { providerInvoiceId };
    const state = await payments.finalizeInvoice(providerInvoiceId, toMirror).catch(nonRetryable);
    await recordProviderState(db, invoice.id, state);
    return { providerInvoiceId, state };
  }

  const closedOutcome = (invoice: { id: string; number: string; status: string; hostedInvoiceUrl: string | null }): CollectionOutcome => ({
    invoiceId: invoice.id,
    invoiceNumber: invoice.number,
    outcome: invoice.status === 'paid' ? 'paid' : 'not_collected',
    status: invoice.status as InvoiceStatus,
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
  });

  return {
    /** Creates the provider's customer for a new subscription (so Checkout can use it); null with `none`. */
    async ensureProviderCustomer(customerId: string): Promise<string | null> {
      if (payments.name === 'none') return null;
      return keepAlive(() => ensureCustomer(customerId));
    },

    /**
     * Collects an open invoice: mirrors it at the provider (created, lines, finalized) and pays it
     * off-session. `attempt` comes from the workflow (1 for the first try, then each dunning
     * retry), so a retried activity repeats the same keyed call and Stripe answers it from memory.
     */
    collectInvoice(args: { invoiceId: string; attempt: number }): Promise<CollectionOutcome> {
      return keepAlive(() => collectInvoice(args));
    },

    /**
     * An operator settles an open invoice out of band: paid with their reference, or void. The
     * provider's copy (if any) follows, so it never charges an invoice Tollgate considers settled.
     */
    settleInvoice(args: { customerId: string; request: SettleInvoiceRequest; settlementId: string }): Promise<SettledInvoice> {
      return keepAlive(() => settleInvoice(args));
    },

    /** Applies a verified webhook event to the invoice it names (one-way status: see store/paymentStore.ts). */
    applyPaymentEvent(event: PaymentEvent): Promise<CollectionOutcome | null> {
      return keepAlive(() => applyPaymentEvent(event));
    },
  };

  async function collectInvoice(args: { invoiceId: string; attempt: number }): Promise<CollectionOutcome> {
    const invoice = await invoiceWithLines(db, args.invoiceId);
    if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${args.invoiceId}`, 'invoice_not_found');
    if (payments.name === 'none' || invoice.status !== 'open' || invoice.totalMinor <= 0n) return closedOutcome(invoice);
    const { providerInvoiceId, state } = await mirror(invoice);
    if (state?.providerStatus === 'paid') {
      // Paid on finalizing: the customer's balance covered it.
      await recordPaid(db, invoice.id, { reference: null, at: now(), state });
      return { invoiceId: invoice.id, invoiceNumber: invoice.number, outcome: 'paid', status: 'paid', hostedInvoiceUrl: state.hostedInvoiceUrl };
    }
    await recordAttempt(db, invoice.id, args.attempt);
    const attempt = await payments.payInvoice(providerInvoiceId, { invoiceId: invoice.id, attempt: args.attempt }).catch(nonRetryable);
    const base = { invoiceId: invoice.id, invoiceNumber: invoice.number, hostedInvoiceUrl: attempt.invoice.hostedInvoiceUrl };
    switch (attempt.outcome) {
      case 'paid':
        await recordPaid(db, invoice.id, { reference: attempt.reference, at: now(), state: attempt.invoice });
        log.info('invoice paid', { number: invoice.number, attempt: args.attempt });
        return { ...base, outcome: 'paid', status: 'paid' };
      case 'pending':
        await recordProviderState(db, invoice.id, attempt.invoice);
        return { ...base, outcome: 'pending', status: 'open' };
      case 'failed':
      case 'requires_action':
        await recordFailure(db, invoice.id, attempt.reason, attempt.invoice);
        log.info('invoice payment failed', { number: invoice.number, attempt: args.attempt, code: attempt.code });
        return { ...base, outcome: attempt.outcome, status: 'open', code: attempt.code, reason: attempt.reason };
    }
  }

  async function settleInvoice(args: { customerId: string; request: SettleInvoiceRequest; settlementId: string }): Promise<SettledInvoice> {
    const { customerId, request } = args;
    const invoice = await invoiceByNumber(db, customerId, request.invoiceNumber);
    if (!invoice) throw ApplicationFailure.create({ type: 'invoice_not_found', message: `Customer ${customerId} has no invoice ${request.invoiceNumber}.`, nonRetryable: true });
    const settled = (status: InvoiceStatus): SettledInvoice => ({ invoiceId: invoice.id, invoiceNumber: invoice.number, status });
    const wanted: InvoiceStatus = request.outcome === 'paid' ? 'paid' : 'void';
    // This very request, retried (the worker died after the write), finds its work done.
    if (invoice.settledBy === args.settlementId && invoice.status === wanted) return settled(wanted);
    if (invoice.status !== 'open') {
      throw ApplicationFailure.create({ type: 'invoice_not_open', message: `Invoice ${invoice.number} is ${invoice.status}; only an open invoice can be ${request.outcome === 'paid' ? 'marked paid' : 'voided'}.`, nonRetryable: true, details: [{ status: invoice.status }] });
    }
    let state: MirroredInvoice | undefined;
    if (payments.name !== 'none' && invoice.providerInvoiceId) {
      const { providerInvoiceId } = await mirror(invoice);
      state = request.outcome === 'paid'
        ? await payments.markPaidOutOfBand(providerInvoiceId, invoice.id).catch(nonRetryable)
        : await payments.voidInvoice(providerInvoiceId, invoice.id).catch(nonRetryable);
    }
    const changed = request.outcome === 'paid'
      ? await recordPaid(db, invoice.id, { reference: request.reference ?? null, at: now(), state, settledBy: args.settlementId })
      : await recordClosed(db, invoice.id, 'void', { at: now(), state, settledBy: args.settlementId });
    if (!changed) {
      // Paid by a webhook (or settled by another request) meanwhile: this one came too late.
      const current = await invoiceWithLines(db, invoice.id);
      throw ApplicationFailure.create({ type: 'invoice_not_open', message: `Invoice ${invoice.number} is ${current?.status ?? 'gone'}.`, nonRetryable: true, details: [{ status: current?.status ?? null }] });
    }
    return settled(wanted);
  }

  async function applyPaymentEvent(event: PaymentEvent): Promise<CollectionOutcome | null> {
    if (!event.invoiceId) return null;
    const invoice = await invoiceWithLines(db, event.invoiceId);
    if (!invoice) return null;
    if (event.kind === 'invoice_paid' || event.kind === 'checkout_completed') await recordPaid(db, invoice.id, { reference: event.reference ?? null, at: new Date(event.occurredAt) });
  // Stripe's copy was paid (invoice.paid names it): record what Stripe now says of it.
  if (event.kind === 'invoice_paid' && invoice.providerInvoiceId) await db.invoice.update({ where: { id: invoice.id }, data: { providerStatus: 'paid' } });
    if (event.kind === 'invoice_payment_failed' || event.kind === 'invoice_action_required') await recordFailure(db, invoice.id, event.reason ?? 'The payment failed.');
    if (event.hostedInvoiceUrl && !invoice.hostedInvoiceUrl) await db.invoice.update({ where: { id: invoice.id }, data: { hostedInvoiceUrl: event.hostedInvoiceUrl } });
    const current = (await invoiceWithLines(db, invoice.id))!;
    return closedOutcome(current);
  }
}

export type PaymentActivities = ReturnType<typeof createPaymentActivities>;

/**
 * The subscription workflow's payment steps. Each is idempotent: provider calls carry keys from
 * Tollgate's identity (activities/payments/stripePaymentProvider.ts) and every step's result is
 * recorded before the next, so Temporal may retry any of them, or a killed worker's attempt be
 * repeated, without charging twice. Declines are outcomes, not errors: the workflow decides what
 * follows (dunning, a held upgrade, the fallback plan).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import { catalogThresholdNanos } from '../store/creditLedger.js';
import type { Db } from '../store/db.js';
import { issueCreditNote } from '../store/invoiceStore.js';
import {
  invoiceByNumber,
  invoiceWithLines,
  recordAttempt,
  recordClosed,
  recordFailure,
  recordPaid,
  recordProviderInvoiceId,
  recordProviderState,
} from '../store/paymentStore.js';
import type { CollectionOutcome, InvoiceStatus, PaymentEvent, SettledInvoice, SettleInvoiceRequest } from '../workflows/messages.js';
import { ensureProviderCustomer } from './payments/providerCustomer.js';
import { PaymentConfigurationError, paymentKeys, type CheckoutSession, type InvoiceToMirror, type MirroredInvoice, type PaymentProvider } from './payments/paymentProvider.js';

export interface PaymentActivityDeps {
  db: Db;
  payments: PaymentProvider;
  now?: () => Date;
  /** For the low-balance threshold a paid credit purchase re-arms against (store/creditStore.ts). */
  catalog?: () => Catalog;
}

type StoredInvoice = NonNullable<Awaited<ReturnType<typeof invoiceWithLines>>>;

/** Where a first-invoice Checkout page returns the customer, and when it lapses (workflow time). */
export interface CheckoutOptions {
  successUrl: string;
  cancelUrl: string;
  expiresAt: number;
}

/** Provider errors that no retry fixes stop the activity; the workflow records them. */
export function nonRetryable(error: unknown): never {
  if (error instanceof PaymentConfigurationError) throw ApplicationFailure.nonRetryable(error.message, 'PaymentConfigurationError');
  throw error;
}

/**
 * Heartbeats while `work` runs, so a worker that dies mid-call is noticed within the workflow's
 * heartbeat timeout (seconds) instead of the start-to-close timeout, and its step is retried on
 * another worker at once, with the same idempotency keys.
 */
export async function keepAlive<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), 1_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * When the provider's Checkout page lapses: the workflow's own deadline, kept within what Stripe
 * accepts (30 minutes to 24 hours from now, by the real clock). A subscription on a test clock
 * keeps its deadline on its clock; the page itself lives on real time.
 */
export function providerCheckoutExpiry(deadline: number, realNow: number): number {
  return Math.min(Math.max(deadline, realNow + 31 * 60_000), realNow + 23.5 * 3_600_000);
}

export function createPaymentActivities(deps: PaymentActivityDeps) {
  const { db, payments } = deps;
  const now = deps.now ?? (() => new Date());
  /** Marks an invoice paid (granting the credits it sells, if any: store/paymentStore.ts). */
  const paid = (invoiceId: string, args: Parameters<typeof recordPaid>[2]) => {
    const threshold = deps.catalog ? catalogThresholdNanos(deps.catalog()) : undefined;
    return recordPaid(db, invoiceId, threshold === undefined ? args : { ...args, lowBalanceThresholdNanos: threshold });
  };

  async function ensureCustomer(customerId: string): Promise<string> {
    const providerCustomerId = await ensureProviderCustomer(db, payments, customerId).catch(nonRetryable);
    if (providerCustomerId === null) throw ApplicationFailure.nonRetryable(`no customer ${customerId}`, 'customer_not_found');
    return providerCustomerId;
  }

  async function requireInvoice(invoiceId: string): Promise<StoredInvoice> {
    const invoice = await invoiceWithLines(db, invoiceId);
    if (!invoice) throw ApplicationFailure.nonRetryable(`no invoice ${invoiceId}`, 'invoice_not_found');
    return invoice;
  }

  /** The provider's finalized copy of the invoice, made once (each step recorded). */
  async function mirror(invoice: StoredInvoice): Promise<{ providerInvoiceId: string; state?: MirroredInvoice }> {
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

  const outcomeOf = (invoice: { id: string; number: string; status: string; hostedInvoiceUrl: string | null }): CollectionOutcome => ({
    invoiceId: invoice.id,
    invoiceNumber: invoice.number,
    outcome: invoice.status === 'paid' ? 'paid' : 'not_collected',
    status: invoice.status as InvoiceStatus,
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
  });

  /** A card the customer entered on a Checkout page becomes their default for off-session charges. */
  async function adoptPaymentMethod(customerId: string, session: CheckoutSession): Promise<void> {
    if (!session.paymentMethodId) return;
    const providerCustomerId = await ensureCustomer(customerId);
    await payments.setDefaultPaymentMethod(providerCustomerId, session.paymentMethodId, paymentKeys.defaultPaymentMethod(customerId, session.sessionId)).catch(nonRetryable);
  }

  async function collectInvoice(args: { invoiceId: string; attempt: number; checkout?: CheckoutOptions }): Promise<CollectionOutcome> {
    const invoice = await requireInvoice(args.invoiceId);
    if (payments.name === 'none' || invoice.status !== 'open' || invoice.totalMinor <= 0n) return outcomeOf(invoice);
    const providerCustomerId = await ensureCustomer(invoice.customerId);
    if (!(await payments.hasSavedPaymentMethod(providerCustomerId).catch(nonRetryable))) {
      if (args.checkout) {
        // A first invoice and no card yet: a Checkout page takes the payment and saves the card.
        const session = await payments.createCheckoutSession({
          customerId: invoice.customerId,
          providerCustomerId,
          mode: 'payment',
          currency: invoice.currency,
          invoice: { invoiceId: invoice.id, number: invoice.number, totalMinor: invoice.totalMinor },
          successUrl: args.checkout.successUrl,
          cancelUrl: args.checkout.cancelUrl,
          expiresAt: providerCheckoutExpiry(args.checkout.expiresAt, Date.now()),
          idempotencyKey: paymentKeys.invoice(invoice.id, 'checkout'),
        }).catch(nonRetryable);
        return {
          invoiceId: invoice.id,
          invoiceNumber: invoice.number,
          outcome: 'checkout_required',
          status: 'open',
          hostedInvoiceUrl: session.url,
          checkout: { sessionId: session.sessionId, url: session.url, expiresAt: session.expiresAt },
        };
      }
      // Nothing to charge off-session: mirrored, so the customer can pay on the hosted page.
      const { state } = await mirror(invoice);
      const reason = 'No saved payment method: add a card, or pay the invoice on its page.';
      await recordFailure(db, invoice.id, reason, state);
      const hosted = state?.hostedInvoiceUrl ?? (await invoiceWithLines(db, invoice.id))?.hostedInvoiceUrl ?? null;
      return { invoiceId: invoice.id, invoiceNumber: invoice.number, outcome: 'failed', status: 'open', code: 'no_payment_method', reason, hostedInvoiceUrl: hosted };
    }
    const { providerInvoiceId, state } = await mirror(invoice);
    if (state?.providerStatus === 'paid') {
      // Paid on finalizing: the customer's balance covered it.
      await paid(invoice.id, { reference: null, at: now(), state });
      return { invoiceId: invoice.id, invoiceNumber: invoice.number, outcome: 'paid', status: 'paid', hostedInvoiceUrl: state.hostedInvoiceUrl };
    }
    await recordAttempt(db, invoice.id, args.attempt);
    const attempt = await payments.payInvoice(providerInvoiceId, { invoiceId: invoice.id, attempt: args.attempt }).catch(nonRetryable);
    const base = { invoiceId: invoice.id, invoiceNumber: invoice.number, hostedInvoiceUrl: attempt.invoice.hostedInvoiceUrl };
    switch (attempt.outcome) {
      case 'paid': {
        await paid(invoice.id, { reference: attempt.reference, at: now(), state: attempt.invoice });
        log.info('invoice paid', { number: invoice.number, attempt: args.attempt });
        // Voided by an operator while the charge was under way: say what the invoice is now.
        const status = ((await invoiceWithLines(db, invoice.id))?.status ?? 'paid') as InvoiceStatus;
        return { ...base, outcome: status === 'paid' ? 'paid' : 'not_collected', status };
      }
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

  /** Closes an open invoice as `status` (void or uncollectible), its provider copy first. Returns what it is now: paid wins a race. */
  async function closeInvoice(invoice: StoredInvoice, status: 'void' | 'uncollectible', settledBy: string): Promise<InvoiceStatus> {
    if (invoice.status !== 'open') return invoice.status as InvoiceStatus;
    let state: MirroredInvoice | undefined;
    if (payments.name !== 'none' && invoice.providerInvoiceId) {
      const current = await payments.retrieveInvoice(invoice.providerInvoiceId).catch(nonRetryable);
      if (current.providerStatus === 'paid') {
        // Paid on its hosted page before we closed it: it counts as paid.
        await paid(invoice.id, { reference: null, at: now(), state: current });
        return 'paid';
      }
      const { providerInvoiceId } = await mirror(invoice);
      try {
        state = status === 'void'
          ? await payments.voidInvoice(providerInvoiceId, invoice.id)
          : await payments.markUncollectible(providerInvoiceId, invoice.id);
      } catch (error) {
        // Refused because it was paid a moment ago (between the read above and now): paid wins.
        const now_ = await payments.retrieveInvoice(providerInvoiceId).catch(nonRetryable);
        if (now_.providerStatus !== 'paid') return nonRetryable(error);
        await paid(invoice.id, { reference: null, at: now(), state: now_ });
        return 'paid';
      }
    }
    if (await recordClosed(db, invoice.id, status, { at: now(), state, settledBy })) return status;
    return ((await invoiceWithLines(db, invoice.id))?.status ?? status) as InvoiceStatus;
  }

  async function settleInvoice(args: { customerId: string; request: SettleInvoiceRequest; settlementId: string; checkoutSessionId?: string }): Promise<SettledInvoice> {
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
    // Its Checkout page (a first invoice) must no longer take money for an invoice settled here.
    if (payments.name !== 'none' && args.checkoutSessionId) {
      const session = await payments.expireCheckoutSession(args.checkoutSessionId, paymentKeys.invoice(invoice.id, 'checkout_expire')).catch(nonRetryable);
      if (session.status === 'complete' && session.paid) {
        await paid(invoice.id, { reference: session.reference, at: now() });
        throw ApplicationFailure.create({ type: 'invoice_not_open', message: `Invoice ${invoice.number} was just paid on its Checkout page.`, nonRetryable: true, details: [{ status: 'paid' }] });
      }
    }
    if (payments.name !== 'none' && invoice.providerInvoiceId) {
      const { providerInvoiceId } = await mirror(invoice);
      state = request.outcome === 'paid'
        ? await payments.markPaidOutOfBand(providerInvoiceId, invoice.id).catch(nonRetryable)
        : await payments.voidInvoice(providerInvoiceId, invoice.id).catch(nonRetryable);
    }
    const changed = request.outcome === 'paid'
      ? await paid(invoice.id, { reference: request.reference ?? null, at: now(), state, settledBy: args.settlementId })
      : await recordClosed(db, invoice.id, 'void', { at: now(), state, settledBy: args.settlementId });
    if (!changed) {
      // Paid by a webhook (or settled by another request) meanwhile: this one came too late.
      const current = await invoiceWithLines(db, invoice.id);
      throw ApplicationFailure.create({ type: 'invoice_not_open', message: `Invoice ${invoice.number} is ${current?.status ?? 'gone'}.`, nonRetryable: true, details: [{ status: current?.status ?? null }] });
    }
    return settled(wanted);
  }

  async function applyPaymentEvent(event: PaymentEvent & { customerId?: string }): Promise<CollectionOutcome | null> {
    if (event.checkoutSessionId && payments.name !== 'none' && (event.kind === 'checkout_completed' || event.kind === 'payment_method_updated') && event.customerId) {
      await adoptPaymentMethod(event.customerId, await payments.retrieveCheckoutSession(event.checkoutSessionId).catch(nonRetryable));
    }
    if (!event.invoiceId) return null;
    const invoice = await invoiceWithLines(db, event.invoiceId);
    // Only this subscription's own invoices: an event naming another customer's invoice changes nothing.
    if (!invoice || (event.customerId !== undefined && invoice.customerId !== event.customerId)) return null;
    if (event.kind === 'invoice_paid' || event.kind === 'checkout_completed') await paid(invoice.id, { reference: event.reference ?? null, at: new Date(event.occurredAt) });
    // Stripe's copy was paid (invoice.paid names it): record what Stripe now says of it.
    if (event.kind === 'invoice_paid' && invoice.providerInvoiceId) await db.invoice.update({ where: { id: invoice.id }, data: { providerStatus: 'paid' } });
    if (event.kind === 'invoice_payment_failed' || event.kind === 'invoice_action_required') await recordFailure(db, invoice.id, event.reason ?? 'The payment failed.');
    if (event.hostedInvoiceUrl && !invoice.hostedInvoiceUrl) await db.invoice.update({ where: { id: invoice.id }, data: { hostedInvoiceUrl: event.hostedInvoiceUrl } });
    return outcomeOf(await requireInvoice(invoice.id));
  }

  /**
   * A first invoice's Checkout page has lapsed (or its expiry event came): asks Stripe what became
   * of it. Paid → recorded (and the card kept); otherwise the page is closed so it can no longer
   * take money, and the invoice voided.
   */
  async function resolveCheckout(args: { invoiceId: string; checkoutSessionId: string }): Promise<'paid' | 'lapsed'> {
    const invoice = await requireInvoice(args.invoiceId);
    if (invoice.status === 'paid') return 'paid';
    if (invoice.status !== 'open') return 'lapsed';
    let session = await payments.retrieveCheckoutSession(args.checkoutSessionId).catch(nonRetryable);
    if (session.status === 'open') session = await payments.expireCheckoutSession(args.checkoutSessionId, paymentKeys.invoice(invoice.id, 'checkout_expire')).catch(nonRetryable);
    if (session.status === 'complete' && session.paid) {
      await paid(invoice.id, { reference: session.reference, at: now() });
      await adoptPaymentMethod(invoice.customerId, session);
      return 'paid';
    }
    return (await closeInvoice(invoice, 'void', `checkout_lapsed:${args.checkoutSessionId}`)) === 'paid' ? 'paid' : 'lapsed';
  }

  /**
   * Refunds credit owed to the customer's card against their last paid invoices (newest first,
   * never more than an invoice was paid less what was refunded on it before), then records a
   * credit note (reason `refund`) so the invoice history shows it. Each (refund, invoice) is
   * keyed at Stripe and recorded in credit_refunds, so a retry resumes instead of refunding twice.
   * What no paid invoice can take stays owed (returned as `unrefundedMinor`).
   */
  async function refundCredit(args: { customerId: string; refundId: string; amountMinor: string; at: number }): Promise<{ refundedMinor: string; unrefundedMinor: string; creditNoteNumber: string | null }> {
    // A repeat (a retry, or the next run) counts what this refund already did before taking more.
    const done = await db.creditRefund.findMany({ where: { refundId: args.refundId } });
    let remaining = BigInt(args.amountMinor) - done.reduce((sum, r) => sum + r.amountMinor, 0n);
    const paid = await db.invoice.findMany({
      where: { customerId: args.customerId, status: 'paid', totalMinor: { gt: 0n }, paymentReference: { startsWith: 'pi_' } },
      orderBy: [{ paidAt: 'desc' }, { number: 'desc' }],
      include: { creditRefunds: true },
      take: 24,
    });
    for (const invoice of paid) {
      if (remaining <= 0n) break;
      if (invoice.creditRefunds.some((r) => r.refundId === args.refundId)) continue;
      const refundedBefore = invoice.creditRefunds.reduce((sum, r) => sum + r.amountMinor, 0n);
      const take = remaining < invoice.totalMinor - refundedBefore ? remaining : invoice.totalMinor - refundedBefore;
      if (take <= 0n) continue;
      const providerRefundId = await payments.refundPayment({
        paymentReference: invoice.paymentReference!,
        amountMinor: take,
        idempotencyKey: paymentKeys.refund(args.refundId, invoice.id),
        metadata: { tollgate_customer_id: args.customerId, tollgate_invoice_id: invoice.id, tollgate_refund_id: args.refundId },
      }).catch(nonRetryable);
      await db.creditRefund.createMany({ data: [{ refundId: args.refundId, invoiceId: invoice.id, customerId: args.customerId, amountMinor: take, providerRefundId }], skipDuplicates: true });
      remaining -= take;
    }
    const rows = await db.creditRefund.findMany({ where: { refundId: args.refundId }, include: { invoice: { select: { number: true, currency: true } } }, orderBy: { createdAt: 'asc' } });
    const refunded = rows.reduce((sum, r) => sum + r.amountMinor, 0n);
    if (rows.length === 0) return { refundedMinor: '0', unrefundedMinor: args.amountMinor, creditNoteNumber: null };
    const stored = await issueCreditNote(db, {
      customerId: args.customerId,
      refundId: args.refundId,
      currency: rows[0]!.invoice.currency,
      at: args.at,
      lines: rows.map((r) => ({ description: `Credit owed refunded to the card that paid ${r.invoice.number}`, amountMinor: r.amountMinor })),
      reference: rows.map((r) => r.providerRefundId).join(','),
      paymentProvider: payments.name,
    });
    return { refundedMinor: refunded.toString(), unrefundedMinor: (BigInt(args.amountMinor) - refunded).toString(), creditNoteNumber: stored.number };
  }

  return {
    /** Refunds credit owed on landing on the fallback plan (see refundCredit). */
    refundCredit(args: { customerId: string; refundId: string; amountMinor: string; at: number }): Promise<{ refundedMinor: string; unrefundedMinor: string; creditNoteNumber: string | null }> {
      if (payments.name === 'none') return Promise.resolve({ refundedMinor: '0', unrefundedMinor: args.amountMinor, creditNoteNumber: null });
      return keepAlive(() => refundCredit(args));
    },

    /** Creates the provider's customer for a new subscription (so Checkout can use it); null with `none`. */
    async ensureProviderCustomer(customerId: string): Promise<string | null> {
      if (payments.name === 'none') return null;
      return keepAlive(() => ensureCustomer(customerId));
    },

    /**
     * Collects an open invoice: mirrors it at the provider (created, lines, finalized) and pays it
     * off-session. `attempt` comes from the workflow (1 for the first try, then each retry), so a
     * retried activity repeats the same keyed call and Stripe answers it from memory. Without a
     * saved card: a Checkout page when `checkout` says where it returns (a first invoice), else a
     * `no_payment_method` failure with the hosted page to pay on.
     */
    collectInvoice(args: { invoiceId: string; attempt: number; checkout?: CheckoutOptions }): Promise<CollectionOutcome> {
      return keepAlive(() => collectInvoice(args));
    },

    /**
     * An operator settles an open invoice out of band: paid with their reference, or void. The
     * provider's copy (if any) follows, so it never charges an invoice Tollgate considers settled.
     */
    settleInvoice(args: { customerId: string; request: SettleInvoiceRequest; settlementId: string; checkoutSessionId?: string }): Promise<SettledInvoice> {
      return keepAlive(() => settleInvoice(args));
    },

    /** Applies a verified webhook event to the invoice it names (one-way status: see store/paymentStore.ts). */
    applyPaymentEvent(event: PaymentEvent & { customerId?: string }): Promise<CollectionOutcome | null> {
      return keepAlive(() => applyPaymentEvent(event));
    },

    resolveCheckout(args: { invoiceId: string; checkoutSessionId: string }): Promise<'paid' | 'lapsed'> {
      return keepAlive(() => resolveCheckout(args));
    },

    /**
     * Closes an invoice nobody will pay: a held upgrade that expired (void), a renewal at the end
     * of dunning (void or uncollectible). Paid wins a race with the customer paying it meanwhile.
     */
    closeInvoice(args: { invoiceId: string; status: 'void' | 'uncollectible'; reason: string }): Promise<InvoiceStatus> {
      return keepAlive(async () => closeInvoice(await requireInvoice(args.invoiceId), args.status, args.reason));
    },
  };
}

export type PaymentActivities = ReturnType<typeof createPaymentActivities>;

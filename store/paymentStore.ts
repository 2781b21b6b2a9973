/**
 * What Tollgate knows of each invoice's payment: the provider's ids, links and status, attempts,
 * and the outcome. Status moves one way only (open → paid | void | uncollectible): a late
 * "payment failed" after "paid" changes nothing, and "paid" wins over an earlier failure, so
 * webhooks may arrive in any order.
 */
import type { MirroredInvoice } from '../activities/payments/paymentProvider.js';
import type { Db } from './db.js';
import type { Tx } from './invoiceStore.js';
import { grantPurchaseOfInvoice } from './creditStore.js';
import { formatMinor, formatNanos } from '../billing/money.js';
import { recordWebhookEvent } from './webhookOutbox.js';

export type { InvoiceStatus } from '../workflows/messages.js';

export async function providerCustomerIdOf(db: Db, customerId: string): Promise<{ name: string; email: string; providerCustomerId: string | null; testClockId: string | null } | null> {
  return db.customer.findUnique({ where: { id: customerId }, select: { name: true, email: true, providerCustomerId: true, testClockId: true } });
}

/** Keeps the first provider customer recorded: a second (racing) creation never replaces it. */
export async function saveProviderCustomerId(db: Db, customerId: string, providerCustomerId: string): Promise<string> {
  await db.customer.updateMany({ where: { id: customerId, providerCustomerId: null }, data: { providerCustomerId } });
  const row = await db.customer.findUniqueOrThrow({ where: { id: customerId }, select: { providerCustomerId: true } });
  return row.providerCustomerId ?? providerCustomerId;
}

export function invoiceWithLines(db: Db, invoiceId: string) {
  return db.invoice.findUnique({ where: { id: invoiceId }, include: { lines: { orderBy: { position: 'asc' } } } });
}

export function invoiceByNumber(db: Db, customerId: string, number: string) {
  return db.invoice.findFirst({ where: { customerId, number }, include: { lines: { orderBy: { position: 'asc' } } } });
}

export async function recordProviderInvoiceId(db: Db, invoiceId: string, providerInvoiceId: string): Promise<void> {
  await db.invoice.updateMany({ where: { id: invoiceId, providerInvoiceId: null }, data: { providerInvoiceId, providerStatus: 'draft' } });
}

/**
 * Records what the provider says of its copy. Tax the provider computed (Stripe Tax) is added
 * once: a tax line after the others and a total that includes it.
 */
export async function recordProviderState(db: Db, invoiceId: string, state: MirroredInvoice): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.invoice.update({
      where: { id: invoiceId },
      data: { providerStatus: state.providerStatus, hostedInvoiceUrl: state.hostedInvoiceUrl, providerPdfUrl: state.pdfUrl },
    });
    if (state.taxMinor > 0n) await addTax(tx, invoiceId, state.taxMinor);
  });
}

async function addTax(tx: Tx, invoiceId: string, taxMinor: bigint): Promise<void> {
  const invoice = await tx.invoice.findUniqueOrThrow({ where: { id: invoiceId }, include: { lines: { orderBy: { position: 'desc' }, take: 1 } } });
  if (invoice.taxMinor !== 0n) return;
  const last = invoice.lines[0];
  await tx.invoice.update({ where: { id: invoiceId }, data: { taxMinor, totalMinor: invoice.subtotalMinor + taxMinor } });
  await tx.invoiceLine.create({
    data: {
      invoiceId,
      position: (last?.position ?? -1) + 1,
      kind: 'tax',
      description: 'Tax',
      quantity: 1n,
      unitPrice: '0',
      amountMinor: taxMinor,
      periodStart: invoice.periodStart,
      periodEnd: invoice.periodEnd,
    },
  });
}

/** Counts a payment attempt (attempt numbers come from the workflow, so a retried activity counts once). */
export async function recordAttempt(db: Db, invoiceId: string, attempt: number): Promise<void> {
  await db.invoice.updateMany({ where: { id: invoiceId, collectionAttempts: { lt: attempt } }, data: { collectionAttempts: attempt } });
}

/**
 * open → paid. Returns false when the invoice was not open (already paid, or voided). An invoice
 * that sells credits has them granted in the same transaction: paid once, granted once.
 */
export async function recordPaid(db: Db, invoiceId: string, args: { reference: string | null; at: Date; state?: MirroredInvoice; settledBy?: string; lowBalanceThresholdNanos?: bigint }): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const { count } = await tx.invoice.updateMany({
      where: { id: invoiceId, status: 'open' },
      data: {
        status: 'paid',
        paidAt: args.at,
        paymentReference: args.reference,
        lastPaymentError: null,
        ...(args.settledBy !== undefined ? { settledBy: args.settledBy } : {}),
        ...(args.state ? { providerStatus: args.state.providerStatus, hostedInvoiceUrl: args.state.hostedInvoiceUrl, providerPdfUrl: args.state.pdfUrl } : {}),
      },
    });
    if (count !== 1) return false;
    // Paid once (the update above only matches an open invoice), so reported once. Reported before
    // the credits are granted: the customer's event numbering is locked before its credit account,
    // the order a renewal takes them in (its invoice's event, then the account), so the two never
    // wait on each other in a cycle.
    const invoice = await tx.invoice.findUniqueOrThrow({ where: { id: invoiceId }, select: { customerId: true, number: true, currency: true, totalMinor: true, creditPurchase: { select: { unit: true, kind: true } } } });
    await recordWebhookEvent(tx, {
      customerId: invoice.customerId,
      type: 'invoice.paid',
      data: { number: invoice.number, currency: invoice.currency, total: formatMinor(invoice.totalMinor, invoice.currency), paidAt: args.at.toISOString(), reference: args.reference },
    });
    const granted = await grantPurchaseOfInvoice(tx, invoiceId, args.lowBalanceThresholdNanos);
    if (granted?.granted && invoice.creditPurchase) {
      await recordWebhookEvent(tx, {
        customerId: invoice.customerId,
        type: 'credits.purchased',
        data: { unit: invoice.creditPurchase.unit, credits: formatNanos(granted.creditsNanos), balance: formatNanos(granted.balanceNanos), kind: invoice.creditPurchase.kind, invoiceNumber: invoice.number },
      });
    }
    return true;
  });
}

/**
 * A failed attempt leaves the invoice open with the reason; it changes nothing once it is paid or
 * void. It is reported to the host (invoice.payment_failed) once per collection attempt of the
 * invoice (`collection_attempts`, set before each charge): Tollgate's own charge and the
 * provider's webhook about that same charge, or a retried step, report it once.
 */
export async function recordFailure(db: Db, invoiceId: string, reason: string, state?: MirroredInvoice): Promise<void> {
  await db.$transaction(async (tx) => {
    const { count } = await tx.invoice.updateMany({
      where: { id: invoiceId, status: 'open' },
      data: {
        lastPaymentError: reason.slice(0, 500),
        ...(state ? { providerStatus: state.providerStatus, hostedInvoiceUrl: state.hostedInvoiceUrl, providerPdfUrl: state.pdfUrl } : {}),
      },
    });
    if (count !== 1) return;
    const invoice = await tx.invoice.findUniqueOrThrow({ where: { id: invoiceId }, select: { customerId: true, number: true, currency: true, totalMinor: true, hostedInvoiceUrl: true, collectionAttempts: true } });
    await recordWebhookEvent(tx, {
      customerId: invoice.customerId,
      type: 'invoice.payment_failed',
      data: { number: invoice.number, currency: invoice.currency, total: formatMinor(invoice.totalMinor, invoice.currency), reason: reason.slice(0, 500), payUrl: invoice.hostedInvoiceUrl },
      dedupeKey: `invoice.payment_failed:${invoiceId}:${invoice.collectionAttempts}`,
    });
  });
}

/** open → void (or uncollectible). Returns false when the invoice was not open. */
export async function recordClosed(db: Db, invoiceId: string, status: 'void' | 'uncollectible', args: { at: Date; reference?: string; state?: MirroredInvoice; settledBy?: string }): Promise<boolean> {
  const { count } = await db.invoice.updateMany({
    where: { id: invoiceId, status: 'open' },
    data: {
      status,
      ...(status === 'void' ? { voidedAt: args.at } : {}),
      ...(args.reference !== undefined ? { paymentReference: args.reference } : {}),
      ...(args.settledBy !== undefined ? { settledBy: args.settledBy } : {}),
      ...(args.state ? { providerStatus: args.state.providerStatus, hostedInvoiceUrl: args.state.hostedInvoiceUrl, providerPdfUrl: args.state.pdfUrl } : {}),
    },
  });
  return count === 1;
}

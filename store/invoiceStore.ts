/**
 * Stores invoices. An invoice is identified by its business idempotency key (customer, reason,
 * period start): storing the same draft twice returns the first invoice, so a retried or
 * re-executed activity never issues a second one. Numbers are gapless (INV-000001, …), taken in
 * the invoice's own transaction.
 */
import type { InvoiceDraft } from '../billing/invoiceDraft.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Db } from './db.js';
import { formatMinor } from '../billing/money.js';
import { recordWebhookEvent } from './webhookOutbox.js';

export type Tx = Prisma.TransactionClient;

export interface StoredInvoice {
  id: string;
  number: string;
  status: string;
  totalMinor: bigint;
  created: boolean;
}

export function formatInvoiceNumber(n: bigint): string {
  return `INV-${n.toString().padStart(6, '0')}`;
}

async function nextInvoiceNumber(tx: Tx): Promise<string> {
  const rows = await tx.$queryRaw<Array<{ value: bigint }>>`
    INSERT INTO invoice_number_sequences (name, next) VALUES ('invoice', 2)
    ON CONFLICT (name) DO UPDATE SET next = invoice_number_sequences.next + 1
    RETURNING next - 1 AS value`;
  const value = rows[0]?.value;
  if (value === undefined) throw new Error('invoice number sequence returned nothing');
  return formatInvoiceNumber(BigInt(value));
}

/**
 * An invoice key came back with different content. Keys name one renewal, one change, one first
 * period; the same key with other lines means two different charges were given one identity, and
 * returning the stored invoice would answer for the wrong one. Left retryable on purpose: the
 * activity stays visibly failing in the Temporal UI instead of moving on with a wrong invoice.
 */
export class InvoiceKeyConflictError extends Error {
  readonly code = 'invoice_key_conflict';
  constructor(key: string, difference: string) {
    super(`invoice key ${key} is already taken by an invoice with different content (${difference})`);
    this.name = 'InvoiceKeyConflictError';
  }
}

const LEGACY_PLAN_CHANGE_KEY = /:plan_change:v\d+$/;

type StoredWithLines = NonNullable<Awaited<ReturnType<typeof findByKey>>>;

function findByKey(tx: Tx, key: string) {
  return tx.invoice.findUnique({ where: { idempotencyKey: key }, include: { lines: { orderBy: { position: 'asc' } } } });
}

/** What differs between a stored invoice and a draft with the same key, or undefined if they agree. */
export function invoiceDifference(stored: StoredWithLines, draft: InvoiceDraft): string | undefined {
  // Tax is added by the payment provider after issue (Stripe Tax): the draft never has it.
  const lines = stored.lines.filter((line) => line.kind !== 'tax');
  const header: Array<[string, unknown, unknown]> = [
    ['customer', stored.customerId, draft.customerId],
    ['reason', stored.reason, draft.reason],
    ['currency', stored.currency, draft.currency],
    ['period start', stored.periodStart.getTime(), draft.periodStart],
    ['period end', stored.periodEnd.getTime(), draft.periodEnd],
    ['total', stored.subtotalMinor.toString(), draft.totalMinor],
    ['line count', lines.length, draft.lines.length],
  ];
  for (const [what, was, is] of header) if (was !== is) return `${what}: stored ${String(was)}, now ${String(is)}`;
  for (const [position, line] of draft.lines.entries()) {
    const had = lines[position]!;
    const fields: Array<[string, unknown, unknown]> = [
      ['kind', had.kind, line.kind],
      ['description', had.description, line.description],
      ['quantity', had.quantity.toString(), line.quantity],
      ['unit price', had.unitPrice, line.unitPrice],
      ['amount', had.amountMinor.toString(), line.amountMinor],
      ['period start', had.periodStart.getTime(), line.periodStart],
      ['period end', had.periodEnd.getTime(), line.periodEnd],
    ];
    for (const [what, was, is] of fields) if (was !== is) return `line ${position + 1} ${what}: stored ${String(was)}, now ${String(is)}`;
  }
  return undefined;
}

/**
 * Inserts the invoice unless one with the same idempotency key exists (then returns that one, if it
 * says exactly the same; see InvoiceKeyConflictError); inside the caller's transaction.
 */
export async function storeInvoice(tx: Tx, draft: InvoiceDraft, paymentProvider: string): Promise<StoredInvoice> {
  const existing = await findByKey(tx, draft.idempotencyKey);
  if (existing) {
    const difference = invoiceDifference(existing, draft);
    // Runs from before the consistent-writes patch key plan changes by version alone and can
    // collide after a dropped workflow task; they keep their old behaviour (the stored invoice)
    // rather than retrying for ever, which would stop their renewals too.
    if (difference && !LEGACY_PLAN_CHANGE_KEY.test(draft.idempotencyKey)) throw new InvoiceKeyConflictError(draft.idempotencyKey, difference);
    return { id: existing.id, number: existing.number, status: existing.status, totalMinor: existing.totalMinor, created: false };
  }
  const total = BigInt(draft.totalMinor);
  const invoice = await tx.invoice.create({
    data: {
      number: await nextInvoiceNumber(tx),
      customerId: draft.customerId,
      reason: draft.reason,
      status: 'open',
      currency: draft.currency,
      periodStart: new Date(draft.periodStart),
      periodEnd: new Date(draft.periodEnd),
      subtotalMinor: total,
      taxMinor: 0n,
      totalMinor: total,
      paymentProvider,
      idempotencyKey: draft.idempotencyKey,
      ...(draft.issuedAt !== undefined ? { issuedAt: new Date(draft.issuedAt) } : {}),
      lines: {
        create: draft.lines.map((line, position) => ({
          position,
          kind: line.kind,
          description: line.description,
          quantity: BigInt(line.quantity),
          unitPrice: line.unitPrice,
          amountMinor: BigInt(line.amountMinor),
          periodStart: new Date(line.periodStart),
          periodEnd: new Date(line.periodEnd),
        })),
      },
    },
  });
  // Only when the invoice is new: a retried activity that finds it stored reports nothing again.
  await recordWebhookEvent(tx, {
    customerId: draft.customerId,
    type: 'invoice.created',
    data: {
      number: invoice.number,
      reason: draft.reason,
      status: invoice.status,
      currency: draft.currency,
      total: formatMinor(total, draft.currency),
      periodStart: new Date(draft.periodStart).toISOString(),
      periodEnd: new Date(draft.periodEnd).toISOString(),
    },
  });
  return { id: invoice.id, number: invoice.number, status: invoice.status, totalMinor: invoice.totalMinor, created: true };
}

/** Runs `work` in a transaction, once more if a concurrent attempt won the idempotency-key race. */
export async function withIdempotentRetry<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await db.$transaction(work);
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') return db.$transaction(work);
    throw error;
  }
}

/**
 * A credit note (reason `refund`): money that went back to the customer, one negative line each,
 * settled as it is issued (the money has gone back). Keyed by the refund's own id, so a repeated
 * step finds the note it issued.
 */
export async function issueCreditNote(db: Db, args: {
  customerId: string;
  refundId: string;
  currency: string;
  at: number;
  lines: Array<{ description: string; amountMinor: bigint }>;
  reference: string;
  paymentProvider: string;
}): Promise<StoredInvoice> {
  const total = args.lines.reduce((sum, line) => sum + line.amountMinor, 0n);
  const stored = await withIdempotentRetry(db, async (tx) => settle(tx, await storeInvoice(tx, {
    customerId: args.customerId,
    reason: 'refund',
    currency: args.currency,
    periodStart: args.at,
    periodEnd: args.at,
    lines: args.lines.map((line) => ({
      kind: 'refund',
      description: line.description,
      quantity: '1',
      unitPrice: '0',
      amountMinor: (-line.amountMinor).toString(),
      periodStart: args.at,
      periodEnd: args.at,
    })),
    totalMinor: (-total).toString(),
    idempotencyKey: `invoice:${args.customerId}:refund:${args.refundId}`,
  }, args.paymentProvider)));
  return stored;

  /** Settled with its issue, in its transaction; the host hears invoice.created, then invoice.paid, once. */
  async function settle(tx: Tx, note: StoredInvoice): Promise<StoredInvoice> {
    const { count } = await tx.invoice.updateMany({ where: { id: note.id, status: 'open' }, data: { status: 'paid', paidAt: new Date(args.at), paymentReference: args.reference.slice(0, 500) } });
    if (count === 1) {
      await recordWebhookEvent(tx, {
        customerId: args.customerId,
        type: 'invoice.paid',
        data: { number: note.number, currency: args.currency, total: formatMinor(-total, args.currency), paidAt: new Date(args.at).toISOString(), reference: args.reference.slice(0, 500) },
      });
    }
    return note;
  }
}

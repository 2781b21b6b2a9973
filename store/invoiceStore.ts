/**
 * Stores invoices. An invoice is identified by its business idempotency key (customer, reason,
 * period start): storing the same draft twice returns the first invoice, so a retried or
 * re-executed activity never issues a second one. Numbers are gapless (INV-000001, …), taken in
 * the invoice's own transaction.
 */
import type { InvoiceDraft } from '../billing/invoiceDraft.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Db } from './db.js';

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

/** Inserts the invoice unless one with the same idempotency key exists; inside the caller's transaction. */
export async function storeInvoice(tx: Tx, draft: InvoiceDraft, paymentProvider: string): Promise<StoredInvoice> {
  const existing = await tx.invoice.findUnique({ where: { idempotencyKey: draft.idempotencyKey } });
  if (existing) return { id: existing.id, number: existing.number, status: existing.status, totalMinor: existing.totalMinor, created: false };
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

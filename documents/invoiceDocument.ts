/**
 * An invoice as a document shows it: plain data with money already formatted exactly from bigint
 * minor units, so the renderer never does arithmetic and cannot round differently from the API.
 */
import { formatMinor } from '../billing/money.js';
import type { SellerDetails } from '../config/sellerDetails.js';
import type { InvoiceLine } from '../generated/prisma/client.js';

export interface Span {
  start: Date;
  end: Date;
}

export interface InvoiceDocumentLine {
  description: string;
  /** A whole number, as digits. */
  quantity: string;
  /** Exact decimal of the major unit, as many places as the price has ("0.0005"). */
  unitPrice: string;
  /** Exact decimal with the currency's minor digits ("-5.00"). */
  amount: string;
  period: Span;
}

export interface InvoiceDocument {
  seller: SellerDetails;
  customer: { id: string; name: string; email: string };
  number: string;
  status: string;
  reason: string;
  issuedAt: Date;
  period: Span;
  currency: string;
  lines: InvoiceDocumentLine[];
  subtotal: string;
  tax: string;
  total: string;
}

/** The stored invoice fields a document needs (a Prisma Invoice with its lines and customer). */
export interface StoredInvoice {
  number: string;
  status: string;
  reason: string;
  currency: string;
  issuedAt: Date;
  periodStart: Date;
  periodEnd: Date;
  subtotalMinor: bigint;
  taxMinor: bigint;
  totalMinor: bigint;
  customer: { id: string; name: string; email: string };
  lines: ReadonlyArray<Pick<InvoiceLine, 'description' | 'quantity' | 'unitPrice' | 'amountMinor' | 'periodStart' | 'periodEnd'>>;
}

export function invoiceDocumentOf(invoice: StoredInvoice, seller: SellerDetails): InvoiceDocument {
  const money = (minor: bigint) => formatMinor(minor, invoice.currency);
  return {
    seller,
    customer: { id: invoice.customer.id, name: invoice.customer.name, email: invoice.customer.email },
    number: invoice.number,
    status: invoice.status,
    reason: invoice.reason,
    issuedAt: invoice.issuedAt,
    period: { start: invoice.periodStart, end: invoice.periodEnd },
    currency: invoice.currency,
    lines: invoice.lines.map((line) => ({
      description: line.description,
      quantity: line.quantity.toString(),
      unitPrice: line.unitPrice,
      amount: money(line.amountMinor),
      period: { start: line.periodStart, end: line.periodEnd },
    })),
    subtotal: money(invoice.subtotalMinor),
    tax: money(invoice.taxMinor),
    total: money(invoice.totalMinor),
  };
}

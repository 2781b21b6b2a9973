/** The invoice PDF renderer, read back with pdf.js: what a customer would see in it. */
import { describe, expect, it } from 'vitest';
import { loadSellerDetails } from '../../config/sellerDetails.js';
import { invoiceDocumentOf, type InvoiceDocument } from '../../documents/invoiceDocument.js';
import { renderInvoicePdf } from '../../documents/invoicePdf.js';
import { toWinAnsi } from '../../documents/winAnsi.js';
import { pdfText } from '../harness/pdfText.js';

const day = (iso: string) => new Date(`${iso}T00:00:00.000Z`);
const march = { start: day('2026-03-01'), end: day('2026-03-31') };

function document(overrides: Partial<InvoiceDocument> = {}): InvoiceDocument {
  return {
    seller: { name: 'Tollgate GmbH', address: ['Hauptstraße 1', '10115 Berlin', 'Germany'], email: 'billing@tollgate.test', taxId: 'DE123456789' },
    customer: { id: 'cus-acme', name: 'Acme Inc', email: 'billing@acme.test' },
    number: 'INV-000042',
    status: 'open',
    reason: 'renewal',
    issuedAt: new Date('2026-03-01T00:00:05.123Z'),
    period: march,
    currency: 'EUR',
    lines: [
      { description: 'Enterprise plan (monthly)', quantity: '1', unitPrice: '100.00', amount: '100.00', period: march },
      { description: 'API calls over the included 1,000,000', quantity: '10000', unitPrice: '0.0005', amount: '5.00', period: march },
      { description: 'Credit for unused time on Pro', quantity: '1', unitPrice: '12.34', amount: '-12.34', period: march },
    ],
    subtotal: '92.66',
    tax: '17.61',
    total: '110.27',
    ...overrides,
  };
}

describe('renderInvoicePdf', () => {
  it('holds the number, every line, the totals, the status, the seller and the customer', async () => {
    const doc = document();
    const bytes = await renderInvoicePdf(doc);
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const { text, info } = await pdfText(bytes);
    for (const expected of [
      'INV-000042', 'Open', 'Renewal', '2026-03-01', '2026-03-31',
      'Tollgate GmbH', 'Hauptstraße 1', '10115 Berlin', 'billing@tollgate.test', 'DE123456789',
      'Acme Inc', 'billing@acme.test', 'cus-acme',
      'Subtotal 92.66 EUR', 'Tax 17.61 EUR', 'Total 110.27 EUR',
    ]) {
      expect(text, expected).toContain(expected);
    }
    for (const line of doc.lines) {
      // Quantity, unit price and amount are read in that order on the line's row.
      expect(text).toContain(line.description);
      expect(text).toContain(`${line.quantity} ${line.unitPrice} ${line.amount}`);
    }
    expect(text).toContain('10000 0.0005 5.00');
    expect(text).toContain('1 12.34 -12.34');
    expect(info).toMatchObject({ Title: 'Invoice INV-000042', Author: 'Tollgate GmbH', CreationDate: 'D:20260301000005Z' });
  });

  it('renders the same invoice to the same bytes', async () => {
    const first = await renderInvoicePdf(document());
    const again = await renderInvoicePdf(document());
    expect(again.equals(first)).toBe(true);
    const paid = await renderInvoicePdf(document({ status: 'paid' }));
    expect(paid.equals(first)).toBe(false);
    expect((await pdfText(paid)).text).toContain('Paid');
  });

  it('writes "€" and replaces what the standard font cannot show instead of failing', async () => {
    const bytes = await renderInvoicePdf(document({
      seller: { name: 'Zoë & Søn €', address: [], email: undefined },
      customer: { id: 'cus-lodz', name: 'Łódź Třída 東京 株式会社 ✓', email: 'kontakt@lodz.test' },
      lines: [{ description: 'Pro plan — 30 € / month, “fair use”', quantity: '1', unitPrice: '30.00', amount: '30.00', period: march }],
      subtotal: '30.00', tax: '0.00', total: '30.00',
    }));
    const { text, info } = await pdfText(bytes);
    expect(text).toContain('Zoë & Søn €');
    expect(text).toContain('Lódz Trída ?? ???? ?');
    expect(text).toContain('Pro plan — 30 € / month, “fair use”');
    expect(text).toContain('Total 30.00 EUR');
    // Metadata is not drawn with the font, so it keeps every character.
    expect(info.Author).toBe('Zoë & Søn €');
  });

  it('puts a long invoice on several pages with every line and the totals', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => ({
      description: `Usage pack ${i + 1}: a description long enough to wrap onto a second line of the description column`,
      quantity: String(i + 1), unitPrice: '0.0005', amount: `${i}.01`, period: march,
    }));
    const { pages, text } = await pdfText(await renderInvoicePdf(document({ lines, subtotal: '1770.60', tax: '0.00', total: '1770.60' })));
    expect(pages.length).toBeGreaterThan(1);
    for (const line of lines) expect(text).toContain(`${line.description} 2026-03-01 – 2026-03-31 ${line.quantity} 0.0005 ${line.amount}`);
    expect(pages.at(-1)).toContain('Total 1770.60 EUR');
    // Every page says whose it is and repeats the column headings.
    for (const page of pages.slice(1)) expect(page).toContain('Invoice INV-000042 (continued) Description Qty Unit price (EUR) Amount (EUR)');
  });
});

describe('invoiceDocumentOf', () => {
  it('formats money exactly from minor units, with the currency\'s digits', () => {
    const seller = loadSellerDetails({});
    const doc = invoiceDocumentOf({
      number: 'INV-000007', status: 'open', reason: 'overage', currency: 'JPY', issuedAt: march.start,
      periodStart: march.start, periodEnd: march.end, subtotalMinor: 9_007_199_254_740_993n, taxMinor: 0n, totalMinor: 9_007_199_254_740_993n,
      customer: { id: 'c', name: 'C', email: 'c@c.test' },
      lines: [{ description: 'Tokens', quantity: 123_456_789_012n, unitPrice: '0.0000001', amountMinor: -5n, periodStart: march.start, periodEnd: march.end }],
    }, seller);
    expect(doc.total).toBe('9007199254740993');
    expect(doc.lines[0]).toMatchObject({ quantity: '123456789012', unitPrice: '0.0000001', amount: '-5' });
    expect(doc.seller).toEqual({ name: 'Tollgate', address: [] });
  });
});

describe('toWinAnsi', () => {
  it('keeps WinAnsi, keeps base letters of others, and replaces the rest with "?"', () => {
    expect(toWinAnsi('Café € “quotes” – Œuvre')).toBe('Café € “quotes” – Œuvre');
    expect(toWinAnsi('Cafe\u0301')).toBe('Café');
    expect(toWinAnsi('Łukasz Dvořák Ærøskøbing')).toBe('Lukasz Dvorák Ærøskøbing');
    expect(toWinAnsi('a\tb\u00a0c\u2009d')).toBe('a b\u00a0c d');
    expect(toWinAnsi('東京 😀 \u0080')).toBe('?? ? ?');
    expect(toWinAnsi('x \u2212 y')).toBe('x - y');
  });
});

describe('loadSellerDetails', () => {
  it('defaults the name, splits the address on newlines or a literal \\n, and treats empty as unset', () => {
    expect(loadSellerDetails({})).toEqual({ name: 'Tollgate', address: [] });
    expect(loadSellerDetails({
      TOLLGATE_SELLER_NAME: ' Acme Billing Ltd ',
      TOLLGATE_SELLER_ADDRESS: '1 Main Street\\nSpringfield\n\nUnited Kingdom',
      TOLLGATE_SELLER_EMAIL: 'invoices@acme.test',
      TOLLGATE_SELLER_TAX_ID: 'GB123456789',
    })).toEqual({ name: 'Acme Billing Ltd', address: ['1 Main Street', 'Springfield', 'United Kingdom'], email: 'invoices@acme.test', taxId: 'GB123456789' });
    expect(loadSellerDetails({ TOLLGATE_SELLER_NAME: '', TOLLGATE_SELLER_EMAIL: '', TOLLGATE_SELLER_TAX_ID: '' })).toEqual({ name: 'Tollgate', address: [] });
  });

  it('refuses a bad email, naming the variable', () => {
    expect(() => loadSellerDetails({ TOLLGATE_SELLER_EMAIL: 'not-an-email' })).toThrow(/TOLLGATE_SELLER_EMAIL/);
  });
});

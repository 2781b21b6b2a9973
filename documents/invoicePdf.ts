/**
 * Renders an invoice as a PDF with pdfkit. Only the built-in Helvetica is used, so no font files
 * ship with Tollgate; every string goes through toWinAnsi because those fonts have no other
 * characters. The same document renders the same bytes: the PDF's dates (and so its file ID, which
 * pdfkit derives from them) come from the invoice, not the clock.
 */
import PDFDocument from 'pdfkit';
import type { InvoiceDocument, Span } from './invoiceDocument.js';
import { toWinAnsi } from './winAnsi.js';

const REGULAR = 'Helvetica';
const BOLD = 'Helvetica-Bold';
const MARGIN = 50;
const GREY = '#555555';
const RULE = '#bbbbbb';

const STATUS_LABELS: Readonly<Record<string, string>> = { open: 'Open', paid: 'Paid', void: 'Void', uncollectible: 'Uncollectible' };
const REASON_LABELS: Readonly<Record<string, string>> = {
  subscription_create: 'New subscription',
  renewal: 'Renewal',
  overage: 'Overage',
  plan_change: 'Plan change',
};

const statusLabel = (status: string) => STATUS_LABELS[status] ?? status;
const reasonLabel = (reason: string) => REASON_LABELS[reason] ?? reason.replace(/_/g, ' ');

/** UTC calendar date: an invoice must read the same wherever the server runs. */
const day = (date: Date) => date.toISOString().slice(0, 10);
// Period ends are exclusive instants; shown as is, like Stripe's "Jan 1 – Feb 1".
const span = (period: Span) => `${day(period.start)} \u2013 ${day(period.end)}`;

interface Column {
  title: string;
  width: number;
  align: 'left' | 'right';
}

type Pdf = PDFKit.PDFDocument;

/** Writes text at (x, y) in a box `width` wide, in WinAnsi; returns the height it took. */
function put(pdf: Pdf, text: string, x: number, y: number, options: { width: number; font?: string; size?: number; align?: 'left' | 'right'; color?: string }): number {
  const safe = toWinAnsi(text);
  pdf.font(options.font ?? REGULAR).fontSize(options.size ?? 10).fillColor(options.color ?? 'black');
  const layout = { width: options.width, align: options.align ?? 'left' };
  pdf.text(safe, x, y, layout);
  return pdf.heightOfString(safe, layout);
}

/** A block of lines stacked from (x, y); returns the y below it. */
function stack(pdf: Pdf, lines: ReadonlyArray<{ text: string; font?: string; color?: string }>, x: number, y: number, width: number, align: 'left' | 'right' = 'left'): number {
  let at = y;
  for (const line of lines) at += put(pdf, line.text, x, at, { width, font: line.font, color: line.color ?? 'black', align });
  return at;
}

function rule(pdf: Pdf, y: number): void {
  pdf.moveTo(MARGIN, y).lineTo(pdf.page.width - MARGIN, y).lineWidth(0.5).strokeColor(RULE).stroke();
}

function header(pdf: Pdf, doc: InvoiceDocument, width: number): number {
  const half = width / 2 - 10;
  const right = MARGIN + width - half;
  put(pdf, 'Invoice', MARGIN, MARGIN, { width: half, font: BOLD, size: 22 });
  const meta: Array<[string, string]> = [
    ['Invoice number', doc.number],
    ['Issued', day(doc.issuedAt)],
    ['Period', span(doc.period)],
    ['Status', statusLabel(doc.status)],
    ['Reason', reasonLabel(doc.reason)],
  ];
  let metaY = MARGIN;
  for (const [label, value] of meta) {
    put(pdf, label, right, metaY, { width: 90, color: GREY });
    metaY += put(pdf, value, right + 90, metaY, { width: half - 90, font: label === 'Invoice number' ? BOLD : REGULAR, align: 'right' });
  }

  const top = Math.max(MARGIN + 40, metaY + 20);
  const seller = doc.seller;
  const sellerEnd = stack(pdf, [
    { text: 'From', color: GREY },
    { text: seller.name, font: BOLD },
    ...seller.address.map((text) => ({ text })),
    ...(seller.email ? [{ text: seller.email }] : []),
    ...(seller.taxId ? [{ text: `Tax ID: ${seller.taxId}` }] : []),
  ], MARGIN, top, half);
  const customerEnd = stack(pdf, [
    { text: 'Bill to', color: GREY },
    { text: doc.customer.name, font: BOLD },
    { text: doc.customer.email },
    { text: `Customer ID: ${doc.customer.id}`, color: GREY },
  ], right, top, half);
  return Math.max(sellerEnd, customerEnd) + 24;
}

function columnsFor(doc: InvoiceDocument, width: number): Column[] {
  const numbers = [{ title: 'Qty', width: 50 }, { title: `Unit price (${doc.currency})`, width: 95 }, { title: `Amount (${doc.currency})`, width: 95 }];
  const rest = numbers.reduce((sum, c) => sum + c.width, 0);
  return [{ title: 'Description', width: width - rest, align: 'left' }, ...numbers.map((c) => ({ ...c, align: 'right' as const }))];
}

function tableHeader(pdf: Pdf, columns: readonly Column[], y: number): number {
  let x = MARGIN;
  let height = 0;
  for (const column of columns) {
    height = Math.max(height, put(pdf, column.title, x, y, { width: column.width - (column.align === 'left' ? 10 : 0), font: BOLD, size: 9, align: column.align }));
    x += column.width;
  }
  rule(pdf, y + height + 4);
  return y + height + 10;
}

/** The heights of a line's cells, measured before drawing so a row never splits across pages. */
function rowHeight(pdf: Pdf, cells: readonly string[], columns: readonly Column[], periodText: string): number {
  pdf.font(REGULAR).fontSize(10);
  const heights = cells.map((text, i) => pdf.heightOfString(toWinAnsi(text), { width: columns[i]!.width - (i === 0 ? 10 : 0) }));
  pdf.fontSize(8);
  heights[0] = heights[0]! + pdf.heightOfString(periodText, { width: columns[0]!.width - 10 });
  return Math.max(...heights);
}

function lines(pdf: Pdf, doc: InvoiceDocument, columns: readonly Column[], startY: number): number {
  const bottom = () => pdf.page.height - MARGIN;
  // pdfkit starts a page by itself when text runs past the bottom, which would scatter a row's
  // cells over pages: every page break is taken here, before anything that would not fit.
  const continueOnNewPage = () => {
    pdf.addPage();
    // A loose page still says whose invoice it belongs to.
    const marker = put(pdf, `Invoice ${doc.number} (continued)`, MARGIN, MARGIN, { width: columns[0]!.width, size: 8, color: GREY });
    return tableHeader(pdf, columns, MARGIN + marker + 8);
  };
  let y = startY + 60 > bottom() ? continueOnNewPage() : tableHeader(pdf, columns, startY);
  for (const line of doc.lines) {
    const cells = [line.description, line.quantity, line.unitPrice, line.amount];
    const periodText = span(line.period);
    const height = rowHeight(pdf, cells, columns, periodText);
    if (y + height > bottom()) y = continueOnNewPage();
    let x = MARGIN;
    cells.forEach((text, i) => {
      const column = columns[i]!;
      const used = put(pdf, text, x, y, { width: column.width - (i === 0 ? 10 : 0), align: column.align });
      if (i === 0) put(pdf, periodText, x, y + used, { width: column.width - 10, size: 8, color: GREY });
      x += column.width;
    });
    y += height + 8;
  }
  rule(pdf, y - 4);
  return y + 6;
}

function totals(pdf: Pdf, doc: InvoiceDocument, width: number, startY: number): void {
  const rows: Array<[string, string, boolean]> = [
    ['Subtotal', doc.subtotal, false],
    ['Tax', doc.tax, false],
    ['Total', doc.total, true],
  ];
  const needed = rows.length * 16 + 40;
  let y = startY;
  if (y + needed > pdf.page.height - MARGIN) {
    pdf.addPage();
    y = MARGIN;
  }
  const labelX = MARGIN + width - 240;
  for (const [label, amount, strong] of rows) {
    const font = strong ? BOLD : REGULAR;
    put(pdf, label, labelX, y, { width: 110, font });
    y += put(pdf, `${amount} ${doc.currency}`, labelX + 110, y, { width: 130, font, align: 'right' }) + 6;
  }
  put(pdf, `Amounts in ${doc.currency}. Invoice ${doc.number} for customer ${doc.customer.id}.`, MARGIN, y + 18, { width, size: 8, color: GREY });
}

/** The invoice as PDF bytes. */
export function renderInvoicePdf(doc: InvoiceDocument): Promise<Buffer> {
  const pdf = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    font: REGULAR,
    displayTitle: true,
    lang: 'en',
    info: {
      // Metadata strings are PDF text strings (UTF-16 when needed), not drawn: no WinAnsi limit.
      Title: `Invoice ${doc.number}`,
      Author: doc.seller.name,
      Creator: 'Tollgate',
      Producer: 'Tollgate (PDFKit)',
      CreationDate: doc.issuedAt,
      ModDate: doc.issuedAt,
    },
  });
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    pdf.on('data', (chunk: Buffer) => chunks.push(chunk));
    pdf.on('end', () => resolve(Buffer.concat(chunks)));
    pdf.on('error', reject);
    try {
      const width = pdf.page.width - 2 * MARGIN;
      const tableY = header(pdf, doc, width);
      totals(pdf, doc, width, lines(pdf, doc, columnsFor(doc, width), tableY));
    } catch (error) {
      reject(error);
    }
    // Ended either way, so a failed render leaves no stream open (a rejected promise ignores 'end').
    pdf.end();
  });
}

/**
 * One invoice of a customer: as JSON, and as a PDF rendered on request from the read model. The
 * PDF is not stored: rendering is cheap and deterministic, and a stored copy would go stale when
 * the invoice's status changes (open → paid).
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { SellerDetails } from '../../config/sellerDetails.js';
import { invoiceDocumentOf } from '../../documents/invoiceDocument.js';
import { renderInvoicePdf } from '../../documents/invoicePdf.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { customerIdSchema } from '../schemas.js';
import { invoiceView } from '../views.js';

export interface InvoiceDocumentRoutesDeps {
  db: Db;
  seller: SellerDetails;
}

/** What store/invoiceStore.ts issues: INV- and at least six digits. */
export const invoiceNumberSchema = z.string().regex(/^INV-[0-9]{6,18}$/, 'must be an invoice number such as INV-000042');

const invoiceParams = z.strictObject({ customerId: customerIdSchema, number: invoiceNumberSchema });

function paramsOf(req: Request): z.output<typeof invoiceParams> {
  const result = invoiceParams.safeParse(req.params);
  if (!result.success) throw validationError(result.error, 'path');
  return result.data;
}

export function invoiceDocumentRoutes(deps: InvoiceDocumentRoutesDeps): Router {
  const { db, seller } = deps;
  const router = Router();

  /** The customer's invoice with its lines and customer, or the 404 that says which is missing. */
  const findInvoice = async (customerId: string, number: string) => {
    // Both keys in one lookup: another customer's number is as unknown here as a number never issued.
    const invoice = await db.invoice.findFirst({
      where: { number, customerId },
      include: { lines: { orderBy: { position: 'asc' } }, customer: { select: { id: true, name: true, email: true } } },
    });
    if (invoice) return invoice;
    const customer = await db.customer.findUnique({ where: { id: customerId }, select: { id: true } });
    if (!customer) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    throw new ApiError(404, 'invoice_not_found', `Customer "${customerId}" has no invoice ${number}.`);
  };

  // Registered before the JSON route, whose `:number` would otherwise take "INV-000001.pdf" whole.
  router.get('/v1/customers/:customerId/invoices/:number.pdf', async (req, res) => {
    const { customerId, number } = paramsOf(req);
    const invoice = await findInvoice(customerId, number);
    const pdf = await renderInvoicePdf(invoiceDocumentOf(invoice, seller));
    res
      .status(200)
      .type('application/pdf')
      .set({
        'content-disposition': `inline; filename="${invoice.number}.pdf"`,
        // The status on it changes (open → paid): a browser may keep it, but must ask again.
        'cache-control': 'private, no-cache',
        'x-content-type-options': 'nosniff',
      })
      .send(pdf);
  });

  router.get('/v1/customers/:customerId/invoices/:number', async (req, res) => {
    const { customerId, number } = paramsOf(req);
    res.json(invoiceView(await findInvoice(customerId, number)));
  });

  return router;
}

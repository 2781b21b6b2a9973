/**
 * Settling invoices out of band with PAYMENT_PROVIDER=none: mark paid with a reference, or void.
 * Only an open invoice moves; everything else is refused with a stable code and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

/** A customer on Pro and the number of its first-period invoice (open: nothing collects it). */
async function customerWithOpenInvoice(): Promise<{ id: string; number: string }> {
  const id = `settle-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Acme', email: 'billing@acme.test', plan: 'pro' } });
  expect(created.status).toBe(201);
  const number = await eventually(async () => {
    const list = await api.request('GET', `/v1/customers/${id}/invoices`);
    return list.body.data[0]?.number as string | undefined;
  });
  return { id, number };
}

describe('out-of-band settlement (provider none)', () => {
  it('leaves a new invoice open, with no payment attempted', async () => {
    const { id, number } = await customerWithOpenInvoice();
    const invoice = await api.request('GET', `/v1/customers/${id}/invoices/${number}`);
    expect(invoice.body).toMatchObject({ status: 'open', hostedInvoiceUrl: null, payment: { provider: null, attempts: 0, lastError: null, paidAt: null, reference: null } });
  });

  it('marks an open invoice paid with the reference, once; the same Idempotency-Key answers the same', async () => {
    const { id, number } = await customerWithOpenInvoice();
    const headers = { 'idempotency-key': `mark-${randomUUID()}` };
    const paid = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'wire 2026-11-26 #4471' }, headers });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ number, status: 'paid', payment: { reference: 'wire 2026-11-26 #4471' } });
    expect(paid.body.payment.paidAt).toEqual(expect.any(String));

    const replay = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'wire 2026-11-26 #4471' }, headers });
    expect(replay).toEqual(paid);

    const again = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'another' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'invoice_not_open', details: { status: 'paid' } });
    const voided = await api.request('POST', `/v1/customers/${id}/invoices/${number}/void`);
    expect(voided.status).toBe(409);
    expect(voided.body.error.code).toBe('invoice_not_open');

    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id, number } });
    expect(stored).toMatchObject({ status: 'paid', paymentReference: 'wire 2026-11-26 #4471', voidedAt: null });
  });

  it('voids an open invoice; it cannot be marked paid afterwards', async () => {
    const { id, number } = await customerWithOpenInvoice();
    const voided = await api.request('POST', `/v1/customers/${id}/invoices/${number}/void`, { body: {} });
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: 'void', payment: { paidAt: null } });
    expect(voided.body.payment.voidedAt).toEqual(expect.any(String));
    const twice = await api.request('POST', `/v1/customers/${id}/invoices/${number}/void`, { body: {} });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'invoice_not_open']);
    const paid = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'late' } });
    expect(paid.status).toBe(409);
    expect(paid.body.error).toMatchObject({ code: 'invoice_not_open', details: { status: 'void' } });
  });

  it('refuses what is not an open invoice of this customer, changing nothing', async () => {
    const { id, number } = await customerWithOpenInvoice();
    const other = await customerWithOpenInvoice();
    const cases: Array<[string, unknown, number, string]> = [
      [`/v1/customers/${id}/invoices/INV-999999/mark-paid`, { reference: 'x' }, 404, 'invoice_not_found'],
      [`/v1/customers/${id}/invoices/${other.number}/mark-paid`, { reference: 'x' }, 404, 'invoice_not_found'],
      [`/v1/customers/nobody-${randomUUID().slice(0, 6)}/invoices/${number}/mark-paid`, { reference: 'x' }, 404, 'customer_not_found'],
      [`/v1/customers/${id}/invoices/42/mark-paid`, { reference: 'x' }, 400, 'validation_failed'],
      [`/v1/customers/${id}/invoices/${number}/mark-paid`, {}, 400, 'validation_failed'],
      [`/v1/customers/${id}/invoices/${number}/mark-paid`, { reference: '' }, 400, 'validation_failed'],
      [`/v1/customers/${id}/invoices/${number}/mark-paid`, { reference: 'x'.repeat(201) }, 400, 'validation_failed'],
      [`/v1/customers/${id}/invoices/${number}/mark-paid`, { reference: 'x', amount: '10.00' }, 400, 'validation_failed'],
      [`/v1/customers/${id}/invoices/${number}/void`, { reason: 'no' }, 400, 'validation_failed'],
    ];
    for (const [path, body, status, code] of cases) {
      const answer = await api.request('POST', path, { body });
      expect({ path, body, status: answer.status, code: answer.body?.error?.code }).toEqual({ path, body, status, code });
    }
    const noBody = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`);
    expect([noBody.status, noBody.body.error.code]).toEqual([400, 'invalid_json']);
    const wrongMethod = await api.request('GET', `/v1/customers/${id}/invoices/${number}/void`);
    expect(wrongMethod.status).toBe(405);

    const invoices = await api.database.db.invoice.findMany({ where: { customerId: { in: [id, other.id] } } });
    expect(invoices.map((i) => i.status)).toEqual(['open', 'open']);
  });

  it('answers 404 for the Stripe webhook endpoint when Stripe is not the provider', async () => {
    const answer = await api.request('POST', '/v1/stripe/webhooks', { body: { id: 'evt_1' }, auth: null, headers: { 'stripe-signature': 't=1,v1=abc' } });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('payments_not_configured');
  });
});

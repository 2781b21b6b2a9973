/** One invoice over HTTP, as JSON and as the PDF the invoice list links to. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { pdfText } from '../harness/pdfText.js';

let api: ApiHarness;

beforeAll(async () => {
  // createApp reads the seller from the environment when it is not handed one.
  vi.stubEnv('TOLLGATE_SELLER_NAME', 'Tollgate Test Seller Ltd');
  vi.stubEnv('TOLLGATE_SELLER_ADDRESS', '1 Invoice Row\\nLedger Town');
  vi.stubEnv('TOLLGATE_SELLER_TAX_ID', 'GB000000001');
  try {
    api = await startApiHarness();
  } finally {
    vi.unstubAllEnvs();
  }
});
afterAll(async () => {
  await api?.close();
});

const newId = () => `pdf-${randomUUID().slice(0, 8)}`;

interface InvoiceJson {
  number: string;
  pdfUrl: string;
  hostedInvoiceUrl: string | null;
  total: { amount: string; currency: string };
  lines: Array<{ description: string; amount: { amount: string } }>;
}

/** A customer on a paid plan, and the first-period invoice its workflow issues. */
async function customerWithInvoice(name = 'Acme Inc'): Promise<{ id: string; invoice: InvoiceJson }> {
  const id = newId();
  const created = await api.request('POST', '/v1/customers', { body: { id, name, email: 'billing@acme.test', plan: 'pro' } });
  expect(created.status).toBe(201);
  const invoice = await eventually(async () => {
    const res = await api.request('GET', `/v1/customers/${id}/invoices`);
    return res.body.data.length === 1 ? (res.body.data[0] as InvoiceJson) : undefined;
  });
  return { id, invoice };
}

async function get(path: string, method = 'GET') {
  const response = await fetch(`${api.baseUrl}${path}`, { method, headers: { authorization: `Bearer ${OPERATOR_KEY}` } });
  return { response, bytes: Buffer.from(await response.arrayBuffer()) };
}

const errorCode = (bytes: Buffer) => (JSON.parse(bytes.toString('utf8')) as { error: { code: string } }).error.code;

let acme: { id: string; invoice: InvoiceJson };
let other: { id: string; invoice: InvoiceJson };

beforeAll(async () => {
  [acme, other] = await Promise.all([customerWithInvoice(), customerWithInvoice('Other Co')]);
});

describe('GET /v1/customers/{customerId}/invoices/{number}.pdf', () => {
  it('the invoice list links to a PDF holding the number, every line, the totals, seller and customer', async () => {
    const { invoice } = acme;
    expect(invoice.pdfUrl).toBe(`/v1/customers/${acme.id}/invoices/${invoice.number}.pdf`);
    expect(invoice.hostedInvoiceUrl).toBeNull();

    const { response, bytes } = await get(invoice.pdfUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toBe(`inline; filename="${invoice.number}.pdf"`);
    expect(Number(response.headers.get('content-length'))).toBe(bytes.length);

    const { text } = await pdfText(bytes);
    expect(text).toContain(invoice.number);
    expect(invoice.lines.length).toBeGreaterThan(0);
    for (const line of invoice.lines) {
      expect(text).toContain(line.description);
      expect(text).toContain(line.amount.amount);
    }
    expect(text).toContain(`Total ${invoice.total.amount} ${invoice.total.currency}`);
    expect(text).toContain('Total 30.00 USD');
    for (const expected of ['Open', 'Acme Inc', 'billing@acme.test', acme.id, 'Tollgate Test Seller Ltd', '1 Invoice Row Ledger Town', 'Tax ID: GB000000001']) {
      expect(text).toContain(expected);
    }
  });

  it('renders the same bytes each time; HEAD answers the headers only', async () => {
    const first = await get(acme.invoice.pdfUrl);
    const again = await get(acme.invoice.pdfUrl);
    expect(again.bytes.equals(first.bytes)).toBe(true);
    const head = await get(acme.invoice.pdfUrl, 'HEAD');
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get('content-type')).toBe('application/pdf');
    expect(head.bytes.length).toBe(0);
  });

  it('an unknown number, another customer\'s number and an unknown customer are 404s in the error shape', async () => {
    const unknown = await get(`/v1/customers/${acme.id}/invoices/INV-999999.pdf`);
    expect(unknown.response.status).toBe(404);
    expect(unknown.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(errorCode(unknown.bytes)).toBe('invoice_not_found');

    const theirs = await get(`/v1/customers/${acme.id}/invoices/${other.invoice.number}.pdf`);
    expect(theirs.response.status).toBe(404);
    expect(errorCode(theirs.bytes)).toBe('invoice_not_found');
    // Under its own customer the same number is there: the 404 above is about ownership.
    expect((await get(other.invoice.pdfUrl)).response.status).toBe(200);

    const nobody = await get(`/v1/customers/nobody-${randomUUID().slice(0, 8)}/invoices/${acme.invoice.number}.pdf`);
    expect(nobody.response.status).toBe(404);
    expect(errorCode(nobody.bytes)).toBe('customer_not_found');
  });

  it('a malformed number is 400 validation_failed naming the parameter', async () => {
    for (const bad of ['nope', 'INV-12', 'inv-000001', 'INV-000001.pdf', '%20INV-000001']) {
      const res = await api.request('GET', `/v1/customers/${acme.id}/invoices/${bad}.pdf`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code, bad).toBe('validation_failed');
      expect(res.body.error.details.issues, bad).toEqual([expect.objectContaining({ path: 'number' })]);
    }
  });

  it('another method is 405 with Allow; no API key is 401', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await get(acme.invoice.pdfUrl, method);
      expect(res.response.status, method).toBe(405);
      expect(res.response.headers.get('allow'), method).toBe('GET, HEAD');
      expect(errorCode(res.bytes), method).toBe('method_not_allowed');
    }
    const anonymous = await api.request('GET', acme.invoice.pdfUrl, { auth: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
  });
});

describe('GET /v1/customers/{customerId}/invoices/{number}', () => {
  it('answers the invoice as the list shows it', async () => {
    const res = await api.request('GET', `/v1/customers/${acme.id}/invoices/${acme.invoice.number}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(acme.invoice);
  });

  it('404s another customer\'s number, 400s a malformed one, 405s another method', async () => {
    const theirs = await api.request('GET', `/v1/customers/${acme.id}/invoices/${other.invoice.number}`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('invoice_not_found');
    const bad = await api.request('GET', `/v1/customers/${acme.id}/invoices/latest`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    const wrong = await api.request('DELETE', `/v1/customers/${acme.id}/invoices/${acme.invoice.number}`);
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe('method_not_allowed');
  });

  it('both routes are in the OpenAPI document, the PDF as application/pdf', async () => {
    const { body } = await api.request('GET', '/openapi.json', { auth: null });
    expect(Object.keys(body.paths['/v1/customers/{customerId}/invoices/{number}.pdf'].get.responses['200'].content)).toEqual(['application/pdf']);
    expect(body.paths['/v1/customers/{customerId}/invoices/{number}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Invoice' });
    expect(JSON.stringify(body.paths['/v1/customers/{customerId}/invoices/{number}.pdf'].get.responses['404'])).toContain('invoice_not_found');
    expect(Object.keys(body.components.schemas.Invoice.properties)).toEqual(expect.arrayContaining(['pdfUrl', 'hostedInvoiceUrl']));
  });
});

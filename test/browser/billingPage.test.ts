/**
 * The reference billing page (web/billing/) as a person uses it: Chromium (playwright-core) opens
 * it with a customer session, against the real API, worker, PostgreSQL and Temporal dev server,
 * with Stripe played by stripe-mock behind the fault proxy and its hosted Checkout page by a
 * stand-in the browser is routed to. Each view is saved as a screenshot (test-results/screenshots;
 * UPDATE_SCREENSHOTS=1 refreshes docs/screenshots).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { launchChromium, saveScreenshot, watchPageProblems } from '../harness/browser.js';
import { projectRoot } from '../../scripts/tools.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, paidInvoice, sendWebhook, signedEvent, withSavedCard } from '../harness/stripeScenarios.js';

const WEBHOOK_SECRET = 'whsec_test_tollgate_billing_page';
/** The default catalog (PRODUCT.md) selling the money credits of the example catalog: $50, $100, $500, $5,000 packs or any amount from $10 to $10,000. */
const catalog = { ...loadCatalog(), credits: loadCatalog(path.join(projectRoot, 'config', 'examples', 'usage-metrics.json')).credits };

let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
let api: ApiHarness;
let browser: Browser;
let context: BrowserContext | undefined;
let problems: string[] = [];

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  api = await startApiHarness({
    catalog,
    payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false }),
    stripeWebhookSecret: WEBHOOK_SECRET,
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await proxy?.close();
  await mock?.stop();
});
afterEach(async () => {
  proxy.clearFaults();
  await context?.close();
  context = undefined;
  expect(problems).toEqual([]);
  problems = [];
});

/**
 * A customer whose saved card paid its first invoice (paid plans), optionally with a period begun
 * in the past (import). `savedCard: false`: the card is gone afterwards, so payments go to Checkout.
 */
async function customerOn(plan: string, options: { daysIntoPeriod?: number; savedCard?: boolean } = {}): Promise<string> {
  const id = `page-${randomUUID().slice(0, 8)}`;
  withSavedCard(proxy);
  proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice, times: Number.POSITIVE_INFINITY });
  const periodStart = options.daysIntoPeriod === undefined ? undefined : new Date(Date.now() - options.daysIntoPeriod * DAY_MS).toISOString();
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Page Co', email: 'billing@page.test', plan, ...(periodStart ? { periodStart } : {}) } });
  expect(created.status).toBe(201);
  if (plan !== 'free' && periodStart === undefined) {
    await eventually(async () => (await api.database.db.invoice.findFirst({ where: { customerId: id, status: 'paid' } })) ?? undefined);
  }
  if (options.savedCard === false) proxy.clearFaults();
  return id;
}

async function recordUsage(customerId: string, quantity: number): Promise<void> {
  const answer = await api.request('POST', '/v1/usage/events', { body: { customerId, metric: 'api_calls', quantity, idempotencyKey: randomUUID() } });
  expect(answer.status).toBe(200);
}

/** The page opened the way the README says: a session's billingPageUrl, in a fresh browser context. */
async function openBillingPage(customerId: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const session = await api.request('POST', `/v1/customers/${customerId}/sessions`, { body: {} });
  expect(session.status).toBe(201);
  context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  problems = watchPageProblems(page, api.baseUrl);
  await page.goto(`${api.baseUrl}${session.body.billingPageUrl}`);
  await expect.poll(() => page.url()).toBe(`${api.baseUrl}/billing/#overview`);
  await page.getByRole('heading', { level: 2, name: 'Overview' }).waitFor();
  return page;
}

async function show(page: Page, section: 'Overview' | 'Usage' | 'Plans' | 'Credits' | 'Invoices'): Promise<void> {
  await page.getByRole('navigation', { name: 'Billing sections' }).getByRole('link', { name: section }).click();
  await page.getByRole('heading', { level: 2, name: section }).waitFor();
}

const bar = (page: Page, metric = 'API calls') => page.getByRole('progressbar', { name: `${metric} used` });
/** The bar's colour: its filled part's background (the bar itself when it has no child). */
const fillColour = (page: Page) => bar(page).evaluate((element) => {
  const fill = element.firstElementChild ?? element;
  return (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(fill).backgroundColor;
});

describe('the billing page in Chromium', () => {
  it('the usage bar turns amber when events bring the customer to 80%, red at 100%', async () => {
    const id = await customerOn('basic');
    await recordUsage(id, 23_999);
    const page = await openBillingPage(id);
    await saveScreenshot(page, 'billing-overview');
    await show(page, 'Usage');
    await expect.poll(() => bar(page).getAttribute('data-level')).toBe('normal');
    await recordUsage(id, 1);
    await page.reload();
    await expect.poll(() => bar(page).getAttribute('data-level')).toBe('warning');
    expect(await bar(page).getAttribute('aria-valuenow')).toBe('80');
    await expect.poll(() => page.getByText('24,000 of 30,000 calls used (80%)').count()).toBe(1);
    const amber = await fillColour(page);
    await saveScreenshot(page, 'billing-usage');
    await recordUsage(id, 6_000);
    await page.reload();
    await expect.poll(() => bar(page).getAttribute('data-level')).toBe('exceeded');
    const red = await fillColour(page);
    expect(red).not.toBe(amber);
    expect(await page.getByText(/Limit reached/).count()).toBeGreaterThan(0);
  });

  it('an Enterprise customer over its limit sees the overage and what it will cost', async () => {
    const id = await customerOn('enterprise');
    await recordUsage(id, 1_010_000);
    const page = await openBillingPage(id);
    await show(page, 'Usage');
    await expect.poll(() => bar(page).getAttribute('data-level')).toBe('exceeded');
    await page.getByText('Overage: 10,000 calls, billed $5.00 on the next invoice').waitFor();
  });

  it('the yearly toggle shows Basic at $96.00/year (20% off twelve months)', async () => {
    const id = await customerOn('free');
    const page = await openBillingPage(id);
    await show(page, 'Plans');
    const basic = page.getByRole('article', { name: 'Basic' });
    await basic.getByText('$10.00/month').waitFor();
    await page.getByRole('radio', { name: /Yearly/ }).check();
    await basic.getByText('$96.00/year').waitFor();
    expect(await page.getByText(/save 20%/).count()).toBeGreaterThan(0);
    await page.getByRole('article', { name: 'Enterprise' }).getByText('$960.00/year').waitFor();
    await saveScreenshot(page, 'billing-plans');
  });

  it('an upgrade shows its preview, is confirmed, and the usage view shows the new limit', async () => {
    const id = await customerOn('basic');
    const page = await openBillingPage(id);
    await show(page, 'Plans');
    await page.getByRole('button', { name: 'Choose Pro' }).click();
    const preview = page.getByRole('region', { name: 'Change to Pro (monthly)' });
    await preview.getByText(/Charged now: \$\d+\.\d\d/).waitFor();
    await preview.getByText('Takes effect immediately').waitFor();
    await saveScreenshot(page, 'billing-change-preview');
    await preview.getByRole('button', { name: 'Confirm change' }).click();
    await page.getByRole('status').getByText('Your plan is now Pro.').waitFor();
    await show(page, 'Usage');
    await page.getByText('0 of 300,000 calls used (0%)').waitFor();
    const row = await api.database.db.subscription.findUniqueOrThrow({ where: { customerId: id } });
    expect(row.planId).toBe('pro');
  });

  it('a downgrade 4 days into the period with 5,000 calls used is refused, showing the allowance of 4,400', async () => {
    const id = await customerOn('pro', { daysIntoPeriod: 4 });
    await recordUsage(id, 5_000);
    const page = await openBillingPage(id);
    await show(page, 'Plans');
    await page.getByRole('button', { name: 'Choose Basic' }).click();
    const preview = page.getByRole('region', { name: 'Change to Basic (monthly)' });
    const refusal = preview.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.innerText()).toContain('So far this cycle you have used 5,000 calls; the Basic plan allows 4,400 at this point (of 30,000).');
    expect(await preview.getByRole('button', { name: 'Confirm change' }).count()).toBe(0);
    await saveScreenshot(page, 'billing-downgrade-refused');
    await preview.getByRole('button', { name: 'Back' }).click();
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.textContent')).toBe('Choose Basic');
    expect((await api.database.db.subscription.findUniqueOrThrow({ where: { customerId: id } })).planId).toBe('pro');
  });

  it('buying a credit pack goes through Stripe Checkout and the credits appear', async () => {
    const id = await customerOn('free', { savedCard: false });
    const page = await openBillingPage(id);
    // Stripe's hosted Checkout, played in the browser: a page with a Pay button; paying sends
    // Stripe's signed checkout.session.completed to the API and returns to the success URL
    // Tollgate gave Stripe for this session.
    await context!.route('https://checkout.stripe.com/**', async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname !== '/test-pay') {
        await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Stripe Checkout</title><h1>Pay Tollgate test</h1><a href="https://checkout.stripe.com/test-pay">Pay</a>' });
        return;
      }
      const session = proxy.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').at(-1)!;
      const event = signedEvent(WEBHOOK_SECRET, {
        id: `evt_${randomUUID().replaceAll('-', '')}`,
        type: 'checkout.session.completed',
        object: { id: 'cs_test_page', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_page', customer: null, metadata: { tollgate_customer_id: session.params['metadata[tollgate_customer_id]'], tollgate_invoice_id: session.params['metadata[tollgate_invoice_id]'] } },
      });
      expect((await sendWebhook(api.baseUrl, event)).status).toBe(200);
      await route.fulfill({ status: 303, headers: { location: session.params.success_url!.replace('{CHECKOUT_SESSION_ID}', 'cs_test_page') } });
    });
    await show(page, 'Credits');
    const balance = page.locator('dt', { hasText: 'Balance' }).locator('xpath=following-sibling::dd[1]');
    await balance.getByText(/\$0\.00/).waitFor();
    await page.getByRole('button', { name: 'Buy $100' }).click();
    await page.waitForURL('https://checkout.stripe.com/**');
    await page.getByRole('link', { name: 'Pay' }).click();
    await page.waitForURL(`${api.baseUrl}/billing/**`);
    await page.getByRole('heading', { level: 2, name: 'Credits' }).waitFor();
    await balance.getByText(/\$100\.00/).waitFor({ timeout: 30_000 });
    await page.getByRole('table', { name: 'Credit history' }).getByText('100.00').first().waitFor();
    await saveScreenshot(page, 'billing-credits');
    expect((await api.request('GET', `/v1/customers/${id}/credits`)).body.balance).toBe('100.00');
  });

  it('cancel, then reactivate, with the date it takes effect', async () => {
    const id = await customerOn('pro');
    const end = (await api.request('GET', `/v1/customers/${id}/subscription`)).body.currentPeriod.end as string;
    const endDate = new Date(end).toLocaleDateString('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' });
    const page = await openBillingPage(id);
    await page.getByRole('button', { name: 'Cancel subscription' }).click();
    await page.getByText(`Your subscription stays active until ${endDate}, then moves to the Free plan.`).waitFor();
    await page.getByRole('button', { name: 'Confirm cancellation' }).click();
    await page.getByRole('status').getByText(`Your subscription will end on ${endDate}.`).waitFor();
    await page.getByText(`Cancellation scheduled for ${endDate}`).waitFor();
    await saveScreenshot(page, 'billing-cancel-scheduled');
    expect((await api.database.db.subscription.findUniqueOrThrow({ where: { customerId: id } })).cancelAtPeriodEnd).toBe(true);
    await page.getByRole('button', { name: 'Reactivate subscription' }).click();
    await page.getByRole('status').getByText('Your subscription is active again.').waitFor();
    await page.getByRole('button', { name: 'Cancel subscription' }).waitFor();
    expect((await api.database.db.subscription.findUniqueOrThrow({ where: { customerId: id } })).cancelAtPeriodEnd).toBe(false);
  });

  it('invoices list with status and total, and the PDF downloads with the session', async () => {
    const id = await customerOn('pro');
    const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id } });
    const page = await openBillingPage(id);
    await show(page, 'Invoices');
    const table = page.getByRole('table', { name: 'Invoices' });
    await table.getByText(invoice.number).waitFor();
    await table.getByText('$30.00').first().waitFor();
    await saveScreenshot(page, 'billing-invoices');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download PDF for ${invoice.number}` }).click()]);
    const file = await download.path();
    expect(readFileSync(file).subarray(0, 5).toString('latin1')).toBe('%PDF-');
  });

  it('works by keyboard, fits a phone, and has no accessibility violations (axe-core) in any view', async () => {
    const id = await customerOn('basic');
    await recordUsage(id, 25_000);
    const page = await openBillingPage(id, { width: 375, height: 740 });
    // Keyboard: Tab to the Plans link, Enter, and the section's heading has the focus.
    for (let tab = 0; tab < 20; tab++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate<boolean>("document.activeElement?.textContent === 'Plans'")) break;
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: 'Plans' }).waitFor();
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.tagName')).toBe('H2');
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    for (const section of ['Overview', 'Usage', 'Plans', 'Credits', 'Invoices'] as const) {
      await show(page, section);
      await page.waitForLoadState('networkidle');
      const width = await page.evaluate<number>('document.documentElement.scrollWidth');
      expect(width, `${section} scrolls sideways on a phone`).toBeLessThanOrEqual(375);
      await page.evaluate(axe);
      const violations = await page.evaluate<string[]>('axe.run().then((r) => r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`))');
      expect(violations, `${section}`).toEqual([]);
      await saveScreenshot(page, `billing-phone-${section.toLowerCase()}`);
    }
  });

  it('the link\'s token is traded on opening, so the link in the history is dead; the header names the customer; a revoked session shows that it expired', async () => {
    const id = await customerOn('free');
    const session = await api.request('POST', `/v1/customers/${id}/sessions`, { body: {} });
    context = await browser.newContext();
    const page = await context.newPage();
    problems = watchPageProblems(page, api.baseUrl);
    const link = `${api.baseUrl}${session.body.billingPageUrl}`;
    await page.goto(link);
    await page.getByRole('heading', { level: 2, name: 'Overview' }).waitFor();
    await page.getByRole('banner').getByText('Page Co').waitFor();
    expect(page.url()).not.toContain(session.body.token);
    // The address with the token was replaced, not pushed: going back leaves the page.
    await page.goBack();
    expect(page.url()).not.toContain(session.body.token);
    await page.goForward();
    await page.getByRole('heading', { level: 2, name: 'Overview' }).waitFor();
    // The token in the link (and so in the browser's history) no longer works; the page's own does.
    expect((await api.request('GET', `/v1/customers/${id}`, { auth: session.body.token })).status).toBe(401);
    const live = await api.database.db.customerSession.findFirstOrThrow({ where: { customerId: id, revokedAt: null } });
    expect(live.id).not.toBe(session.body.id);
    expect(live.expiresAt.toISOString()).toBe(session.body.expiresAt);
    // Opening the link again, as from the history, shows it expired.
    const second = await context.newPage();
    await second.goto(link);
    await second.getByText('This billing link has expired or was revoked. Ask for a new one.').waitFor();
    await second.close();
    // Revoking the page's session: the next load says so.
    expect((await api.request('DELETE', `/v1/customers/${id}/sessions/${live.id}`)).status).toBe(200);
    await eventually(async () => {
      await page.reload();
      return await page.getByText('This billing link has expired or was revoked. Ask for a new one.').count() === 1 || undefined;
    }, 15_000, 500);
  });
});

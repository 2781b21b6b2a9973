/**
 * Plan-change rules from the catalog, through the API (issue 15): the seat-based EUR catalog's
 * period-end downgrades (no allowance, withdrawable, the cycle's downgrade given back), yearly →
 * monthly waiting for the period end, and one catalog version deciding a preview and its change
 * when the catalog is edited in between. Renewals come from test clocks.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../billing/catalog.js';
import { catalogVersionOf } from '../../billing/catalogVersion.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { insertCustomer } from '../../store/customerStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { advance, at, clockCustomer, createClock, invoicesByPeriod, subscriptionCard } from '../harness/testClocks.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
const USAGE_METRICS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/usage-metrics.json');

const change = (h: ApiHarness, id: string, body: Record<string, unknown>) => h.request('POST', `/v1/customers/${id}/subscription/change`, { body });

async function preview(h: ApiHarness, id: string, query: Record<string, string>) {
  const res = await h.request('GET', `/v1/customers/${id}/subscription/change-preview?${new URLSearchParams(query).toString()}`);
  expect(res.status).toBe(200);
  return res.body;
}

const card = subscriptionCard;

interface InvoiceJson { reason: string; issuedAt: string; period: { start: string; end: string }; total: { amount: string }; lines: Array<{ kind: string; description: string; amount: { amount: string } }> }
const invoicesOf = (h: ApiHarness, id: string) => invoicesByPeriod<InvoiceJson>(h, id);

describe('the seat-based EUR catalog: downgrades and seat removals at the period end', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApiHarness({ catalog: loadCatalog(SEATS_EUR) });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a downgrade with usage above the allowance is scheduled, withdrawn, scheduled again (the cycle\'s downgrade given back), and lands at the renewal', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'business');
    await advance(api, clock.id, at(2));
    // Two days in, Team's allowance for sessions is about 7,333 of 100,000: this is far above even its full limit.
    const usage = await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'sessions', quantity: 150_000, idempotencyKey: `${id}-sessions` } });
    expect(usage.status).toBe(200);

    // The plan picker lists the rules a billing page can explain changes by.
    const plans = await api.request('GET', `/v1/customers/${id}/plans`);
    expect(plans.body).toMatchObject({ changeRules: api.catalog.changeRules, catalogVersion: catalogVersionOf(api.catalog) });

    const seen = await preview(api, id, { plan: 'team' });
    expect(seen).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'period_end', rule: 0, plan: 'team', seats: 10, charged: { amount: '0.00' }, credited: { amount: '0.00' }, catalogVersion: catalogVersionOf(api.catalog) });

    const scheduled = await change(api, id, { plan: 'team', catalogVersion: seen.catalogVersion });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
    expect(scheduled.body.change).toMatchObject({ kind: 'downgrade', effective: 'period_end', charged: { amount: '0.00' }, credited: { amount: '0.00' }, invoiceNumber: null, catalogVersion: seen.catalogVersion });
    expect(await card(api, id)).toMatchObject({ plan: { id: 'business' }, scheduledChange: { plan: 'team', at: at(30) }, downgradesThisCycle: 1 });
    // The limit stays Business's until the renewal: usage is still admitted.
    const more = await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'sessions', quantity: 10, idempotencyKey: `${id}-more` } });
    expect(more.status).toBe(200);

    // Another downgrade while this one is counted: the once-per-cycle limit holds.
    const third = await change(api, id, { plan: 'personal' });
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe('downgrade_limit_reached');

    // Withdrawn: asking for what the subscription has now.
    const withdrawn = await change(api, id, { plan: 'business', seats: 10 });
    expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
    expect(withdrawn.body.change).toMatchObject({ kind: 'scheduled_change_cancelled' });
    expect(await card(api, id)).toMatchObject({ plan: { id: 'business' }, scheduledChange: null, downgradesThisCycle: 0 });

    // The downgrade it gave back can be made again in the same cycle.
    expect(await preview(api, id, { plan: 'team' })).toMatchObject({ allowed: true, effective: 'period_end' });
    const again = await change(api, id, { plan: 'team' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.change).toMatchObject({ kind: 'downgrade', effective: 'period_end' });
    expect(await card(api, id)).toMatchObject({ plan: { id: 'business' }, scheduledChange: { plan: 'team' }, downgradesThisCycle: 1 });

    // The renewal applies it: Team from the new period, priced as Team with its 10 seats (29 + 7 × 8).
    await advance(api, clock.id, at(31));
    expect(await card(api, id)).toMatchObject({ plan: { id: 'team' }, seats: 10, currentPeriod: { start: at(30), end: at(60) }, scheduledChange: null, downgradesThisCycle: 0 });
    const invoices = await invoicesOf(api, id);
    const renewal = invoices.find((i) => i.reason === 'renewal' && i.period.start === at(30))!;
    expect(renewal.lines.filter((l) => l.kind === 'plan' || l.kind === 'seats').map((l) => [l.kind, l.amount.amount])).toEqual([['plan', '29.00'], ['seats', '56.00']]);
    // Business's own invoice for the first period was not credited: nothing was given back for a period-end downgrade.
    expect(invoices.some((i) => i.lines.some((l) => l.kind === 'credit'))).toBe(false);
  });

  it('removing seats waits for the period end; adding seats is charged at once', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'team', { seats: 8 });
    const removed = await change(api, id, { seats: 5 });
    expect(removed.status).toBe(200);
    expect(removed.body.change).toMatchObject({ kind: 'seats_removed', effective: 'period_end' });
    expect(await card(api, id)).toMatchObject({ seats: 8, scheduledChange: { seats: 5 } });
    await advance(api, clock.id, at(31));
    expect(await card(api, id)).toMatchObject({ seats: 5, scheduledChange: null });
    const added = await change(api, id, { seats: 7 });
    expect(added.status).toBe(200);
    expect(added.body.change).toMatchObject({ kind: 'seats_added', effective: 'immediate' });
    expect(added.body.change.charged.amount).not.toBe('0.00');
    expect(await card(api, id)).toMatchObject({ seats: 7, scheduledChange: null });
  });

  it('yearly → monthly waits for the end of the year; the cycles in between keep the yearly plan', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'business', { interval: 'yearly' });
    await advance(api, clock.id, at(40));
    const seen = await preview(api, id, { interval: 'monthly' });
    expect(seen).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'period_end', rule: 2, charged: { amount: '0.00' }, credited: { amount: '0.00' } });
    const res = await change(api, id, { interval: 'monthly', catalogVersion: seen.catalogVersion });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'interval_change', effective: 'period_end', charged: { amount: '0.00' } });
    expect(await card(api, id)).toMatchObject({ interval: 'yearly', currentPeriod: { start: at(0), end: at(360) }, scheduledChange: { interval: 'monthly', at: at(360) } });

    await advance(api, clock.id, at(361));
    expect(await card(api, id)).toMatchObject({ interval: 'monthly', currentPeriod: { start: at(360), end: at(390) }, scheduledChange: null });
    const invoices = await invoicesOf(api, id);
    expect(invoices.map((i) => [i.reason, i.period.start, i.period.end])).toEqual([
      ['subscription_create', at(0), at(360)],
      ['renewal', at(360), at(390)],
    ]);
    // Business monthly with its 10 included seats: 99.00.
    expect(invoices[1]!.total.amount).toBe('99.00');
  });
});

describe('a catalog edited between a preview and its change', () => {
  let api: ApiHarness;
  const original = loadCatalog();
  // Basic costs more from now on; the rules are the default catalog's.
  const edited: Catalog = { ...original, plans: original.plans.map((p) => (p.id === 'basic' ? { ...p, price: { monthly: '12.00' } } : p)) };
  beforeAll(async () => {
    api = await startApiHarness({ catalog: original });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a change sent with the old preview\'s version is refused catalog_changed and changes nothing; a new preview\'s version is accepted', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'pro');
    const onBasic = await clockCustomer(api, clock.id, 'basic');
    const first = await preview(api, id, { plan: 'basic' });
    expect(first).toMatchObject({ allowed: true, effective: 'immediate', catalogVersion: catalogVersionOf(original) });

    const reload = await api.reloadCatalog(edited);
    expect(reload).toMatchObject({ reloaded: true, version: catalogVersionOf(edited), previous: catalogVersionOf(original) });
    const basicOf = async (customerId: string) => {
      const plans = await api.request('GET', `/v1/customers/${customerId}/plans`);
      return [plans.body.plans.find((p: { id: string }) => p.id === 'basic').prices.monthly.amount, plans.body.catalogVersion];
    };
    // The API serves the edited catalog at once: a new customer starts on it…
    const newcomer = await clockCustomer(api, clock.id, 'pro');
    expect(await basicOf(newcomer)).toEqual(['12.00', catalogVersionOf(edited)]);
    // …but a subscription decides with its own copy until its renewal, and so do its picker and preview.
    expect(await basicOf(id)).toEqual(['10.00', catalogVersionOf(original)]);
    expect(await card(api, onBasic)).toMatchObject({ plan: { id: 'basic', price: { amount: '10.00' } } });
    expect(await preview(api, id, { plan: 'basic' })).toMatchObject({ catalogVersion: catalogVersionOf(original) });

    // The renewal hands the subscription the edited catalog.
    await advance(api, clock.id, at(31));
    expect(await basicOf(id)).toEqual(['12.00', catalogVersionOf(edited)]);
    expect(await card(api, onBasic)).toMatchObject({ plan: { id: 'basic', price: { amount: '12.00' } } });
    const before = await card(api, id);
    expect(before).toMatchObject({ plan: { id: 'pro' }, currentPeriod: { start: at(30) } });

    const stale = await change(api, id, { plan: 'basic', catalogVersion: first.catalogVersion });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'catalog_changed', details: { previewedVersion: first.catalogVersion, catalogVersion: catalogVersionOf(edited) } });
    expect(stale.body.error.message).toMatch(/preview the change again/);
    expect(await card(api, id)).toEqual(before);

    const fresh = await preview(api, id, { plan: 'basic' });
    expect(fresh).toMatchObject({ allowed: true, kind: 'downgrade', catalogVersion: catalogVersionOf(edited) });
    const applied = await change(api, id, { plan: 'basic', catalogVersion: fresh.catalogVersion });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.change).toMatchObject({ kind: 'downgrade', effective: 'immediate', credited: fresh.credited, catalogVersion: catalogVersionOf(edited) });
    expect(await card(api, id)).toMatchObject({ plan: { id: 'basic', price: { amount: '12.00' } } });
  });

  it('a catalog that no longer prices a plan in use is refused and the API keeps the one it has', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'enterprise');
    expect(await api.reloadCatalog(edited)).toMatchObject({ reloaded: true });
    const current = catalogVersionOf(edited);
    const withoutEnterprise: Catalog = { ...edited, plans: edited.plans.filter((p) => p.id !== 'enterprise') };
    const refused = await api.reloadCatalog(withoutEnterprise);
    expect(refused).toEqual({ reloaded: false, problems: ['plan "enterprise" is in use but the catalog has no such plan'] });
    const inEuro: Catalog = { ...edited, currency: 'EUR' };
    expect(await api.reloadCatalog(inEuro)).toMatchObject({ reloaded: false, problems: [expect.stringMatching(/billed in USD but the catalog's currency is EUR/)] });
    const plans = await api.request('GET', `/v1/customers/${id}/plans`);
    expect(plans.body.plans.map((p: { id: string }) => p.id)).toContain('enterprise');
    expect(await preview(api, id, { plan: 'pro' })).toMatchObject({ catalogVersion: current });
  });

  it('a subscription whose catalog copy no process stored (a run begun before versions) is previewed with the copy its workflow answers, which is then stored', async () => {
    // Its own Basic is 11.00, a catalog this API never loaded.
    const own: Catalog = { ...original, plans: original.plans.map((p) => (p.id === 'basic' ? { ...p, price: { monthly: '11.00' } } : p)) };
    const id = `rules-legacy-${process.pid}`;
    const input = newSubscriptionInput({ catalog: own, customerId: id, planId: 'free', interval: 'monthly', seats: 1, now: Date.now() });
    await insertCustomer(api.database.db, { id, name: 'Legacy Co', email: 'legacy@rules.test' }, input);
    // As a row from before catalog versions: no version named, no copy stored.
    await api.database.db.subscription.update({ where: { customerId: id }, data: { catalogVersion: null } });
    await api.database.db.catalogVersion.delete({ where: { version: catalogVersionOf(own) } });
    await startSubscriptionWorkflow(api.temporal, api.taskQueue, input);

    const seen = await preview(api, id, { plan: 'basic' });
    expect(seen).toMatchObject({ allowed: true, kind: 'upgrade', catalogVersion: catalogVersionOf(own) });
    expect(seen.lines[0].description).toMatch(/Basic/);
    expect(await api.database.db.catalogVersion.count({ where: { version: catalogVersionOf(own) } })).toBe(1);
    const res = await change(api, id, { plan: 'basic', catalogVersion: seen.catalogVersion });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.change).toMatchObject({ charged: seen.charged, catalogVersion: catalogVersionOf(own) });
  });

  it('a malformed catalogVersion is refused as bad input; a well-formed one that names no catalog is refused catalog_changed', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    const before = await card(api, id);
    for (const bad of ['', 'v1', '0123456789ABCDEF', 42, null, '0123456789abcdef0']) {
      const res = await change(api, id, { plan: 'pro', catalogVersion: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    // Well formed but no catalog's: refused by the subscription, nothing changed.
    const unknown = await change(api, id, { plan: 'pro', catalogVersion: '0000000000000000' });
    expect(unknown.status).toBe(409);
    expect(unknown.body.error.code).toBe('catalog_changed');
    expect(await card(api, id)).toEqual(before);
  });
});

describe('a catalog rule that refuses a change', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApiHarness({ catalog: loadCatalog(USAGE_METRICS) });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('is refused with its reason (change_not_allowed) in the preview and the change, and nothing changes; other changes pass', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'enterprise');
    const refusal = { code: 'change_not_allowed', message: api.catalog.changeRules![0]!.reason, details: { rule: 0 } };
    expect(await preview(api, id, { plan: 'scale' })).toMatchObject({ allowed: false, refusal });
    const before = await card(api, id);
    const res = await change(api, id, { plan: 'scale' });
    expect(res.status).toBe(409);
    expect(res.body.error).toEqual(refusal);
    expect(await card(api, id)).toEqual(before);
    expect(await preview(api, id, { interval: 'yearly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'immediate' });
  });
});

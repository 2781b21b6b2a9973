/** Seat-based plans in EUR (config/examples/seats-eur.json: downgrades at the period end). */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { snapshotOfRow } from '../../store/subscriptionStore.js';
import { MAX_SEATS } from '../../billing/catalog.js';
import { changePlanUpdate, getStateQuery, MAX_UPDATES_PER_RUN, subscriptionWorkflowId } from '../../workflows/messages.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { isIdle, subscriptionHistory } from '../harness/subscriptionHistory.js';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApiHarness({ catalog: loadCatalog(new URL('../../config/examples/seats-eur.json', import.meta.url).pathname) });
});
afterAll(async () => {
  await api?.close();
});

async function customer(plan: string, seats: number, startedAgoMs: number): Promise<string> {
  const id = `seat-${randomUUID().slice(0, 8)}`;
  const res = await api.request('POST', '/v1/customers', {
    body: { id, name: 'Seat Co', email: 's@seat.test', plan, seats, periodStart: new Date(Date.now() - startedAgoMs).toISOString() },
  });
  expect(res.status).toBe(201);
  return id;
}
const change = (id: string, body: Record<string, unknown>) => api.request('POST', `/v1/customers/${id}/subscription/change`, { body });
const card = async (id: string) => (await api.request('GET', `/v1/customers/${id}/subscription`)).body;

describe('seats', () => {
  it('adding seats is charged prorated at once; removing seats waits for the next period', async () => {
    const id = await customer('team', 5, 15 * DAY_MS);
    const added = await change(id, { seats: 7 });
    expect(added.status).toBe(200);
    expect(added.body.change).toMatchObject({ kind: 'seats_added', effective: 'immediate', charged: { amount: '8.00', currency: 'EUR' } }); // 2 × €8 × 15/30
    expect(added.body.subscription.seats).toBe(7);

    const removed = await change(id, { seats: 4 });
    expect(removed.status).toBe(200);
    expect(removed.body.change).toMatchObject({ kind: 'seats_removed', effective: 'period_end', charged: { amount: '0.00' }, credited: { amount: '0.00' } });
    const c = await card(id);
    expect(c.seats).toBe(7);
    expect(c.scheduledChange).toMatchObject({ plan: null, seats: 4 });

    // Asking for what it has now withdraws the scheduled change.
    const withdrawn = await change(id, { seats: 7 });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.change).toMatchObject({ kind: 'scheduled_change_cancelled', charged: { amount: '0.00' }, credited: { amount: '0.00' } });
    expect((await card(id)).scheduledChange).toBeNull();
    expect((await change(id, { seats: 7 })).body.error.code).toBe('no_change');
  });

  it('a customer changing seats 1,000 times in a month: each run of the workflow holds a bounded history', async () => {
    const id = await customer('enterprise', 25, DAY_MS);
    const answers: Array<{ status: number; kind?: string; charged?: string; invoiceNumber?: string | null }> = [];
    let next = 0;
    // Eight clients at once, each asking for ever more seats (26, 27, … 1025): arriving out of
    // order, some are removals scheduled for the next period, the rest are charged at once.
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < 1_000) {
        const seats = 26 + next++;
        const res = await change(id, { seats });
        answers.push({ status: res.status, kind: res.body.change?.kind, charged: res.body.change?.charged?.amount, invoiceNumber: res.body.change?.invoiceNumber });
      }
    }));
    expect(answers.filter((a) => a.status !== 200 && a.status !== 409)).toEqual([]);
    const accepted = answers.filter((a) => a.status === 200);
    expect(accepted.length).toBeGreaterThan(900);

    const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(id));
    await eventually(async () => {
      if (!await isIdle(api.temporal, id)) return false;
      const { cycleNumber: _cycles, ...state } = await handle.query(getStateQuery);
      expect(snapshotOfRow(await api.database.db.subscription.findUniqueOrThrow({ where: { customerId: id } }))).toEqual(state);
      return true;
    }, 30_000);
    const history = await subscriptionHistory(api.temporal, id);
    expect(history.updates).toHaveLength(accepted.length);
    // A run continues-as-new after MAX_UPDATES_PER_RUN Updates (a few more may be in flight as it
    // does), within the same cycle: no run's history grows with the customer's activity.
    expect(history.runIds.length).toBeGreaterThanOrEqual(Math.floor(accepted.length / (MAX_UPDATES_PER_RUN + 8)));
    for (const runId of history.runIds) {
      const updates = history.updates.filter((u) => u.runId === runId).length;
      const events = history.events.filter((e) => e.runId === runId).length;
      expect(updates).toBeLessThanOrEqual(MAX_UPDATES_PER_RUN + 8);
      expect(events).toBeLessThan((MAX_UPDATES_PER_RUN + 8) * 12 + 50);
    }
    const state = await handle.query(getStateQuery);
    expect(state.cycleNumber).toBe(0); // still the first cycle
    // Every seat addition charged once, on its own invoice.
    const charged = accepted.filter((a) => a.kind === 'seats_added');
    expect(await api.database.db.invoice.count({ where: { customerId: id, reason: 'plan_change' } })).toBe(charged.filter((a) => a.invoiceNumber !== null).length);
    expect(charged.length).toBeGreaterThan(0);
  }, 300_000);

  it('never more than MAX_SEATS, even on a plan without a maximum: refused at the edge and by the workflow', async () => {
    const created = await api.request('POST', '/v1/customers', { body: { id: `seat-${randomUUID().slice(0, 8)}`, name: 'Huge Co', email: 'h@seat.test', plan: 'enterprise', seats: 3_000_000_000 } });
    expect(created.status).toBe(400);
    expect(created.body.error.details.issues[0].path).toBe('seats');
    const id = await customer('enterprise', 25, DAY_MS);
    for (const seats of [3_000_000_000, MAX_SEATS + 1]) {
      const res = await change(id, { seats });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect((await api.request('GET', `/v1/customers/${id}/subscription/change-preview?seats=${MAX_SEATS + 1}`)).status).toBe(400);
    // A caller that skips the API (any Temporal client) meets the same rule in the validator.
    const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(id));
    const state = await handle.query(getStateQuery);
    const refused = await handle.executeUpdate(changePlanUpdate, { args: [{ seats: MAX_SEATS + 1, usage: {}, usageCycleStart: state.cycleStart }] }).catch((error: unknown) => error);
    expect(((refused as { cause?: { type?: string } }).cause)?.type).toBe('invalid_seats');
    expect((await card(id)).seats).toBe(25);
  });

  it('never below the plan minimum', async () => {
    const id = await customer('business', 10, DAY_MS);
    const res = await change(id, { seats: 2 });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_seats');
    expect((await card(id)).seats).toBe(10);
  });

  it('with downgrades at the period end (the seats-eur catalog\'s rules), a downgrade keeps the plan until the period ends, then applies and is invoiced', async () => {
    const id = await customer('business', 10, 30 * DAY_MS - 6_000);
    const res = await change(id, { plan: 'team' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'downgrade', effective: 'period_end', credited: { amount: '0.00' } });
    expect(await card(id)).toMatchObject({ plan: { id: 'business' }, scheduledChange: { plan: 'team', seats: null, interval: null }, downgradesThisCycle: 1 });

    const invoice = await eventually(async () => (await api.request('GET', `/v1/customers/${id}/invoices`)).body.data[0], 30_000);
    // Team: €29 + 7 seats beyond the 3 included at €8.
    expect(invoice).toMatchObject({ reason: 'renewal', total: { amount: '85.00', currency: 'EUR' } });
    expect(invoice.lines.map((l: { kind: string; amount: { amount: string } }) => [l.kind, l.amount.amount])).toEqual([['plan', '29.00'], ['seats', '56.00']]);
    expect(await card(id)).toMatchObject({ plan: { id: 'team' }, seats: 10, scheduledChange: null, downgradesThisCycle: 0 });
  });
});

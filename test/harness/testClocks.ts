/**
 * Test clocks through the API, for the tests that drive them (test/api/testClocks.test.ts,
 * test/api/testClockPayments.test.ts, test/api/changeRules.test.ts): a clock made at an instant,
 * advances that wait until every customer on the clock has caught up, customers on a clock and
 * what they are shown (usage card, invoices).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import type { ApiHarness } from './apiHarness.js';
import { eventually } from './eventually.js';

/** Every clock starts here: a whole second, ahead of real time, so nothing real-time can be mistaken for it. */
export const T0 = Date.parse('2027-01-01T00:00:00.000Z');
/** The instant `days` after T0, as the API writes it. */
export const at = (days: number) => new Date(T0 + days * DAY_MS).toISOString();

export interface Clock {
  id: string;
  name: string | null;
  frozenTime: string;
  status: 'ready' | 'advancing';
  customers: string[];
  createdAt: string;
}

export async function createClock(h: ApiHarness, frozenTime = at(0)): Promise<Clock> {
  const name = `clock ${randomUUID().slice(0, 8)}`;
  const res = await h.request('POST', '/v1/test-clocks', { body: { frozenTime, name } });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ id: expect.stringMatching(/^clock_/), name, status: 'ready', customers: [] });
  expect(Date.parse(res.body.frozenTime)).toBe(Date.parse(frozenTime));
  return res.body as Clock;
}

export const getClock = (h: ApiHarness, clockId: string) => h.request('GET', `/v1/test-clocks/${encodeURIComponent(clockId)}`);

/**
 * Advances a clock and waits until every customer on it has caught up: the answer is 200 when
 * they did within the request, else 202 and GET answers "advancing" until they have.
 */
export async function advance(h: ApiHarness, clockId: string, to: string): Promise<Clock> {
  const res = await h.request('POST', `/v1/test-clocks/${encodeURIComponent(clockId)}/advance`, { body: { frozenTime: to } });
  return settledAdvance(h, clockId, to, res);
}

export async function settledAdvance(h: ApiHarness, clockId: string, to: string, res: { status: number; body: any }): Promise<Clock> {
  if (res.status !== 200 && res.status !== 202) throw new Error(`advance to ${to} answered ${res.status}: ${JSON.stringify(res.body)}`);
  let clock = res.body as Clock;
  if (res.status === 200) {
    expect(clock.status).toBe('ready');
  } else {
    expect(clock.status).toBe('advancing');
    clock = await eventually(async () => {
      const polled = await getClock(h, clockId);
      expect(polled.status).toBe(200);
      return polled.body.status === 'ready' ? (polled.body as Clock) : undefined;
    }, 120_000, 250);
  }
  expect(Date.parse(clock.frozenTime)).toBe(Date.parse(to));
  return clock;
}

/** The name a clock customer is created with (its alert emails carry it). */
export const clockCustomerName = (customerId: string) => `Clock Co ${customerId}`;

/** A customer on the clock (`extra`: more of POST /v1/customers' body, e.g. interval or seats); its id. */
export async function clockCustomer(h: ApiHarness, clockId: string, plan: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = `tc-${randomUUID().slice(0, 8)}`;
  const res = await h.request('POST', '/v1/customers', { body: { id, name: clockCustomerName(id), email: `${id}@clock.test`, plan, testClock: clockId, ...extra } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return id;
}

/** The customer's usage card (GET …/subscription). */
export async function subscriptionCard(h: ApiHarness, id: string) {
  const res = await h.request('GET', `/v1/customers/${id}/subscription`);
  expect(res.status).toBe(200);
  return res.body;
}

/** The customer's invoices, oldest period first, then by issue date (the API lists newest first). */
export async function invoicesByPeriod<T extends { period: { start: string }; issuedAt: string }>(h: ApiHarness, id: string): Promise<T[]> {
  const res = await h.request('GET', `/v1/customers/${id}/invoices?limit=100`);
  expect(res.status).toBe(200);
  return [...(res.body.data as T[])].sort((a, b) => Date.parse(a.period.start) - Date.parse(b.period.start) || Date.parse(a.issuedAt) - Date.parse(b.issuedAt));
}

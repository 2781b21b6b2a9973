/**
 * Test clocks through the API, for the tests that drive them (test/api/testClocks.test.ts,
 * test/api/testClockPayments.test.ts): a clock made at an instant, and advances that wait until
 * every customer on the clock has caught up.
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

/**
 * Usage alerts end to end: real SMTP and HTTP receivers on loopback stand in for the mail server,
 * Slack, Discord and Telegram; the API, the relay, the worker and the dev server are real.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';

let api: ApiHarness;
let smtp: SmtpReceiver;
let slack: HttpReceiver;
let discord: HttpReceiver;
let telegram: HttpReceiver;
const BOT_TOKEN = '123456789:AAHsecretsecretsecretsecretsecret';
const SLACK_SECRET = 'T0000/B0000/slacksecretslacksecret';
const DISCORD_SECRET = '4242/discordsecretdiscordsecret';

beforeAll(async () => {
  [smtp, slack, discord, telegram] = await Promise.all([startSmtpReceiver(), startHttpReceiver(), startHttpReceiver(), startHttpReceiver()]);
  api = await startApiHarness({ senders: { smtpUrl: smtp.url, telegramApiBaseUrl: telegram.baseUrl, timeoutMs: 2_000 } });
});
afterAll(async () => {
  await api?.close();
  await Promise.all([smtp?.close(), slack?.close(), discord?.close(), telegram?.close()]);
});
beforeEach(() => {
  for (const receiver of [smtp, slack, discord, telegram]) receiver.reset();
});

async function customerWithChannels(extra: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
  const id = `al-${randomUUID().slice(0, 8)}`;
  const name = `Alert Co ${id}`;
  expect((await api.request('POST', '/v1/customers', { body: { id, name, email: 'owner@alert.test', plan: 'basic', ...extra } })).status).toBe(201);
  const put = await api.request('PUT', `/v1/customers/${id}/alert-channels`, {
    body: {
      email: { to: ['ops@alert.test'] },
      slack: { webhookUrl: `${slack.baseUrl}/slack/${SLACK_SECRET}` },
      discord: { webhookUrl: `${discord.baseUrl}/discord/${DISCORD_SECRET}` },
      telegram: { botToken: BOT_TOKEN, chatId: '-1001234' },
    },
  });
  expect(put.status).toBe(200);
  return { id, name };
}

const usage = (customerId: string, key: string, quantity: number, timestamp?: string) =>
  ({ customerId, metric: 'api_calls', quantity, idempotencyKey: key, ...(timestamp ? { timestamp } : {}) });

const settle = () => new Promise((r) => setTimeout(r, 1_500));
const emailsFor = (name: string) => smtp.messages.filter((m) => m.subject.includes(name));

describe('alerts', () => {
  it('80% and 100% each arrive once per channel, even when events race', async () => {
    const { id, name } = await customerWithChannels();
    // Ten concurrent batches that together reach exactly 80% of 30,000.
    await Promise.all(Array.from({ length: 10 }, (_, b) =>
      api.request('POST', '/v1/usage/events/batch', { body: { events: Array.from({ length: 24 }, (_, i) => usage(id, `r-${b}-${i}`, 100)) } })));
    await eventually(() => emailsFor(name).length === 1 && slack.requests.length === 1 && discord.requests.length === 1 && telegram.requests.length === 1);
    expect(emailsFor(name)[0]).toMatchObject({ to: ['ops@alert.test'] });
    expect(emailsFor(name)[0]!.subject).toContain('80%');
    expect(emailsFor(name)[0]!.text).toContain('24,000 of 30,000');
    expect(JSON.stringify(slack.requests[0]!.body)).toContain('80%');
    expect(discord.requests[0]!.path).toBe(`/discord/${DISCORD_SECRET}`);
    expect(telegram.requests[0]).toMatchObject({ path: `/bot${BOT_TOKEN}/sendMessage`, body: expect.objectContaining({ chat_id: '-1001234' }) });

    await Promise.all(Array.from({ length: 6 }, (_, b) => api.request('POST', '/v1/usage/events', { body: usage(id, `top-${b}`, 1_000) })));
    await eventually(() => emailsFor(name).length === 2 && slack.requests.length === 2 && discord.requests.length === 2 && telegram.requests.length === 2);
    expect(emailsFor(name)[1]!.subject).toContain('limit reached');
    // Past the limit nothing more is admitted on Basic, and nothing is alerted again.
    expect((await api.request('POST', '/v1/usage/events', { body: usage(id, 'over', 1) })).status).toBe(429);
    await settle();
    expect([emailsFor(name).length, slack.requests.length, discord.requests.length, telegram.requests.length]).toEqual([2, 2, 2, 2]);

    const alerts = await api.request('GET', `/v1/customers/${id}/alerts`);
    expect(alerts.body.data.map((a: { threshold: number }) => a.threshold)).toEqual([100, 80]);
    for (const alert of alerts.body.data) {
      expect(alert.deliveries.map((d: { channel: string; status: string }) => `${d.channel}:${d.status}`).sort()).toEqual(['discord:delivered', 'email:delivered', 'slack:delivered', 'telegram:delivered']);
    }
  });

  it('a failing channel does not hold up the others; transient failures are retried, a 4xx is reported and not retried', async () => {
    const { id, name } = await customerWithChannels();
    discord.failNext(2, 500);
    slack.failAlways(404);
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'eighty', 24_000) });
    await eventually(() => emailsFor(name).length === 1 && telegram.requests.length === 1);
    await eventually(() => discord.requests.length === 1, 30_000);
    expect(discord.attempts.map((a) => a.status)).toEqual([500, 500, 204]);

    const report = await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${id}/alerts`);
      const deliveries: Array<{ channel: string; status: string; attempts: number; lastError: string | null }> = res.body.data[0]?.deliveries ?? [];
      return deliveries.length === 4 && deliveries.every((d) => d.status !== 'sending' && d.status !== 'retrying') ? deliveries : undefined;
    });
    const byChannel = Object.fromEntries(report.map((d) => [d.channel, d]));
    expect(byChannel.discord).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(byChannel.slack).toMatchObject({ status: 'failed', attempts: 1 });
    expect(byChannel.slack!.lastError).toContain('404');
    expect(byChannel.slack!.lastError).not.toContain('slacksecret');
    await settle();
    expect(slack.attempts).toHaveLength(1);
    slack.failAlways(null);
  });

  it('after renewal the alerts fire again for the new cycle', async () => {
    const periodStart = Date.now() - 30 * DAY_MS + 5_000;
    const { id, name } = await customerWithChannels({ periodStart: new Date(periodStart).toISOString() });
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'c1', 24_000, new Date(periodStart + 1_000).toISOString()) });
    await eventually(() => emailsFor(name).length === 1);
    await eventually(async () => {
      const card = await api.request('GET', `/v1/customers/${id}/subscription`);
      return Date.parse(card.body.currentCycle.start) === periodStart + 30 * DAY_MS;
    }, 30_000);
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'c2', 24_000) });
    await eventually(() => emailsFor(name).length === 2);
    expect(emailsFor(name).map((m) => m.subject.includes('80%'))).toEqual([true, true]);
  });

  it('a crash between recording usage and alerting still delivers the alert, exactly once', async () => {
    const { id, name } = await customerWithChannels();
    await api.stopWorker(); // no relay, no worker: as if the process died right after the usage commit
    try {
      expect((await api.request('POST', '/v1/usage/events', { body: usage(id, 'crash', 24_000) })).status).toBe(200);
      const pending = await api.database.db.usageAlert.findMany({ where: { customerId: id } });
      expect(pending).toHaveLength(1);
      expect(pending[0]!.signaledAt).toBeNull();
      await settle();
      expect(emailsFor(name)).toHaveLength(0);
    } finally {
      await api.startWorker();
    }
    await eventually(() => emailsFor(name).length === 1 && slack.requests.length === 1 && discord.requests.length === 1 && telegram.requests.length === 1);
    await settle();
    expect([emailsFor(name).length, slack.requests.length, discord.requests.length, telegram.requests.length]).toEqual([1, 1, 1, 1]);
  });

  it('after an upgrade, the new plan\'s 80% alerts again in the same cycle', async () => {
    const { id, name } = await customerWithChannels();
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'basic-80', 24_000) });
    await eventually(() => emailsFor(name).length === 1);
    expect((await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' } })).status).toBe(200);
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'pro-80', 216_000) });
    await eventually(() => emailsFor(name).length === 2);
    expect(emailsFor(name)[1]!.text).toContain('240,000 of 300,000');
  });

  it('channel secrets are never returned in full', async () => {
    const { id } = await customerWithChannels();
    const res = await api.request('GET', `/v1/customers/${id}/alert-channels`);
    const text = JSON.stringify(res.body);
    expect(res.status).toBe(200);
    expect(text).not.toContain(SLACK_SECRET);
    expect(text).not.toContain(DISCORD_SECRET);
    expect(text).not.toContain(BOT_TOKEN);
    expect(res.body.channels.email).toEqual({ to: ['ops@alert.test'] });
    const bad = await api.request('PUT', `/v1/customers/${id}/alert-channels`, { body: { slack: { webhookUrl: 'not a url' } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
  });
});

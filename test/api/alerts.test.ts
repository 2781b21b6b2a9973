/**
 * Usage alerts end to end: real SMTP and HTTP receivers on loopback stand in for the mail server,
 * Slack, Discord and Telegram; the API, the relay, the worker and the dev server are real.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAlertActivities } from '../../activities/alertActivities.js';
import { DEFAULT_WEBHOOK_POLICY } from '../../notifications/destinationGuard.js';
import type { Senders } from '../../notifications/senders.js';
import type { ThresholdCrossing } from '../../workflows/messages.js';

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
    // Distinctive answers: nothing of a destination's body may reach the delivery report.
    discord.failNext(2, 500, 'DISCORD-DESTINATION-BODY upstream exploded');
    slack.failAlways(400, { ok: false, error: 'SLACK-DESTINATION-BODY invalid_payload', message: 'SLACK-DESTINATION-BODY' });
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
    expect(byChannel.slack).toMatchObject({ status: 'failed', attempts: 1, lastError: 'Slack webhook answered 400' });
    await settle();
    expect(slack.attempts).toHaveLength(1);
    slack.failAlways(null);

    const rows = await api.database.db.alertDelivery.findMany({ where: { customerId: id } });
    const stored = JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    const answered = JSON.stringify((await api.request('GET', `/v1/customers/${id}/alerts`)).body);
    for (const text of [stored, answered]) {
      expect(text).not.toContain('DESTINATION-BODY');
      expect(text).not.toContain('slacksecret');
      expect(text).not.toContain('discordsecret');
    }
  });

  it('no transaction is held open while a destination takes its time', async () => {
    const { id, name } = await customerWithChannels();
    const held = discord.holdNext();
    await api.request('POST', '/v1/usage/events', { body: usage(id, 'held', 24_000) });
    await held.arrived;
    const client = new pg.Client({ connectionString: api.database.url });
    await client.connect();
    try {
      const arrivedAt = (await client.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
      await new Promise((r) => setTimeout(r, 300));
      // A transaction begun before the request reached Discord and still open now would be the
      // sender's: none may be. (Other short transactions come and go meanwhile.)
      const idle = await client.query(
        `SELECT pid, state, query FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND xact_start < $1`,
        [arrivedAt],
      );
      expect(idle.rows).toEqual([]);
      // The claim is committed (visible here) and does not lock the row.
      await client.query('BEGIN');
      const row = await client.query<{ status: string; leased: boolean }>(
        `SELECT status, lease_expires_at > now() AS leased FROM alert_deliveries
          WHERE customer_id = $1 AND channel = 'discord' FOR UPDATE NOWAIT`,
        [id],
      );
      await client.query('COMMIT');
      expect(row.rows).toEqual([{ status: 'sending', leased: true }]);
    } finally {
      held.release();
      await client.end();
    }
    await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${id}/alerts`);
      const deliveries: Array<{ channel: string; status: string }> = res.body.data[0]?.deliveries ?? [];
      return deliveries.find((d) => d.channel === 'discord')?.status === 'delivered';
    });
    expect(emailsFor(name)).toHaveLength(1);
    expect(discord.requests).toHaveLength(1);
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

describe('alert channels under the default webhook policy', () => {
  let strict: ApiHarness;
  beforeAll(async () => {
    strict = await startApiHarness({ withWorker: false, alertWebhooks: DEFAULT_WEBHOOK_POLICY });
  });
  afterAll(async () => {
    await strict?.close();
  });

  async function customer(): Promise<string> {
    const id = `wp-${randomUUID().slice(0, 8)}`;
    expect((await strict.request('POST', '/v1/customers', { body: { id, name: id, email: 'owner@alert.test', plan: 'basic' } })).status).toBe(201);
    return id;
  }

  it.each([
    ['plain http', { slack: { webhookUrl: 'http://hooks.slack.com/services/T0/B0/secret' } }, 'slack.webhookUrl', 'must be an https URL'],
    ['user info', { discord: { webhookUrl: 'https://user:pass@discord.com/api/webhooks/1/secret' } }, 'discord.webhookUrl', 'must not contain a user name or password'],
    ['a loopback literal', { slack: { webhookUrl: 'https://[::ffff:127.0.0.1]/hook' } }, 'slack.webhookUrl', 'must not name a private, loopback, link-local or other non-public address'],
    ['a metadata address', { discord: { webhookUrl: 'https://169.254.169.254/latest' } }, 'discord.webhookUrl', 'must not name a private, loopback, link-local or other non-public address'],
    ['an email local part over 64 characters', { email: { to: ['ok@alert.test', `${'a'.repeat(65)}@alert.test`] } }, 'email.to.1', 'the part before "@" must be at most 64 characters'],
    ['an email address over 254 characters', { email: { to: [`a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(60)}.test`] } }, 'email.to.0', 'must be at most 254 characters'],
  ])('PUT refuses %s (400 validation_failed with the field path)', async (_name, body, path, message) => {
    const id = await customer();
    const res = await strict.request('PUT', `/v1/customers/${id}/alert-channels`, { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.issues).toEqual([{ path, message }]);
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect((await strict.request('GET', `/v1/customers/${id}/alert-channels`)).body.channels).toEqual({});
  });

  it('PUT accepts https webhooks on public hosts', async () => {
    const id = await customer();
    const res = await strict.request('PUT', `/v1/customers/${id}/alert-channels`, {
      body: { slack: { webhookUrl: 'https://hooks.slack.com/services/T0/B0/secretsecretsecret' }, discord: { webhookUrl: 'https://discord.com/api/webhooks/1/secretsecretsecret' } },
    });
    expect(res.status).toBe(200);
  });
});

describe('delivery claims', () => {
  /** A crossing in a cycle of its own, so the customer's workflow never delivers it. */
  const crossing: ThresholdCrossing = { metric: 'api_calls', cycleStart: Date.parse('2000-01-01T00:00:00Z'), cycleEnd: Date.parse('2000-01-31T00:00:00Z'), threshold: 80, used: '80', limit: '100' };

  function blockingSenders() {
    const sent: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const senders: Senders = {
      async send(channel) {
        sent.push(channel.kind);
        await gate;
      },
      async close() {},
    };
    return { senders, sent, release };
  }

  const deliver = (senders: Senders, customerId: string, attempt = 1) => {
    const activities = createAlertActivities({ db: api.database.db, senders, catalog: () => api.catalog });
    return new MockActivityEnvironment({ attempt }).run(activities.deliverAlert, { customerId, channel: 'slack' as const, crossing });
  };

  it('two concurrent attempts never both send, and a delivered alert is not sent again', async () => {
    const { id } = await customerWithChannels();
    const { senders, sent, release } = blockingSenders();
    const first = deliver(senders, id);
    await eventually(() => sent.length === 1);
    await expect(deliver(senders, id, 2)).rejects.toMatchObject({ type: 'DeliveryInProgress' });
    release();
    expect(await first).toBe('delivered');
    expect(await deliver(senders, id, 3)).toBe('already_delivered');
    expect(sent).toEqual(['slack']);
  });

  it('the claim of an attempt that died expires, and the next attempt sends', async () => {
    const { id } = await customerWithChannels();
    await api.database.db.alertDelivery.create({
      data: { customerId: id, metric: crossing.metric, cycleStart: new Date(crossing.cycleStart), threshold: 80, limit: 100n, channel: 'slack', status: 'sending', attempts: 1, leaseId: randomUUID(), leaseExpiresAt: new Date(Date.now() - 1_000) },
    });
    const { senders, sent, release } = blockingSenders();
    release();
    expect(await deliver(senders, id, 2)).toBe('delivered');
    expect(sent).toEqual(['slack']);
    const row = await api.database.db.alertDelivery.findFirstOrThrow({ where: { customerId: id, channel: 'slack' } });
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, leaseId: null, leaseExpiresAt: null, lastError: null });
  });
});

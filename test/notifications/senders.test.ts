import { inspect } from 'node:util';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertMessage, type UsageAlert } from '../../notifications/alertMessage.js';
import { alertChannelsSchema, channelList, redactChannels, redactSecret, type ChannelConfig } from '../../notifications/channelConfig.js';
import {
  ChannelNotConfiguredError,
  PermanentDeliveryError,
  TransientDeliveryError,
  createSenders,
  type Senders,
} from '../../notifications/senders.js';
import { freePort } from '../../scripts/services/freePort.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';

const SLACK_SECRET = 'slackSecretPart0123456789abcdef';
const DISCORD_SECRET = 'discordSecretPart-0123456789_ABCDEF';
const BOT_SECRET = 'AAH-telegramSecret_0123456789abcdef';
const BOT_TOKEN = `123456789:${BOT_SECRET}`;
const SECRETS = [SLACK_SECRET, DISCORD_SECRET, BOT_SECRET];

const message = {
  subject: 'Acme: API calls at 80% of the Pro plan limit',
  text: 'Acme is approaching its limit of 30,000 calls on the Pro plan.\n24,000 of 30,000 calls used (80%) this billing cycle, which ends 2026-12-25.',
};
const flat = `${message.subject}\n${message.text}`;

/** Neither the message, the stack nor anything a logger would print of the error holds a secret. */
function expectNoSecrets(error: unknown): void {
  const printed = [error instanceof Error ? error.message : '', error instanceof Error ? (error.stack ?? '') : '', inspect(error, { depth: 10 }), JSON.stringify(error)].join('\n');
  for (const secret of SECRETS) expect(printed).not.toContain(secret);
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    expectNoSecrets(error);
    return error as Error;
  }
  throw new Error('expected the send to fail, and it succeeded');
}

describe('alertMessage', () => {
  const base: UsageAlert = {
    customerId: 'cus_1',
    customerName: 'Acme',
    planName: 'Pro',
    metric: 'api_calls',
    metricName: 'API calls',
    unit: 'call',
    threshold: 80,
    used: 24_000,
    limit: 30_000,
    cycleEnd: '2026-12-25T00:00:00.000Z',
  };

  it('words the 80% alert', () => {
    expect(alertMessage(base)).toEqual({
      subject: 'Acme: API calls at 80% of the Pro plan limit',
      text: 'Acme is approaching its limit of 30,000 calls on the Pro plan.\n24,000 of 30,000 calls used (80%) this billing cycle, which ends 2026-12-25.',
    });
  });

  it('words the 100% alert as the limit being reached, without saying whether usage is refused', () => {
    const result = alertMessage({ ...base, threshold: 100, used: 30_000 });
    expect(result).toEqual({
      subject: 'Acme: API calls limit reached on the Pro plan',
      text: 'Acme has reached its limit of 30,000 calls on the Pro plan.\n30,000 of 30,000 calls used (100%) this billing cycle, which ends 2026-12-25.',
    });
    expect(`${result.subject} ${result.text}`).not.toMatch(/refus|reject|block|overage|charge/i);
  });

  it('shows the real percentage when usage went past the threshold', () => {
    expect(alertMessage({ ...base, threshold: 100, used: 31_234_567, limit: 30_000_000 }).text).toContain('31,234,567 of 30,000,000 calls used (104%)');
    expect(alertMessage({ ...base, used: 24_999 }).text).toContain('24,999 of 30,000 calls used (83%)');
  });

  it('pluralizes lowercase unit words only, and keeps a singular limit singular', () => {
    expect(alertMessage({ ...base, unit: 'query' }).text).toContain('of 30,000 queries used');
    expect(alertMessage({ ...base, unit: 'calls' }).text).toContain('of 30,000 calls used');
    expect(alertMessage({ ...base, unit: 'GB', used: 0.8, limit: 1 }).text).toContain('0.8 of 1 GB used (80%)');
    expect(alertMessage({ ...base, unit: 'seat', used: 1, limit: 1, threshold: 100 }).text).toContain('its limit of 1 seat on');
  });

  it('keeps names from customers on one line', () => {
    const { subject } = alertMessage({ ...base, customerName: 'Evil\r\nBcc: victim@example.test' });
    expect(subject).toBe('Evil Bcc: victim@example.test: API calls at 80% of the Pro plan limit');
  });
});

describe('alertChannelsSchema', () => {
  const full = {
    email: { to: ['ops@acme.test', 'cfo@acme.test'] },
    slack: { webhookUrl: 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX' },
    discord: { webhookUrl: 'http://127.0.0.1:8080/api/webhooks/1/abc' },
    telegram: { botToken: BOT_TOKEN, chatId: -1001234567890 },
  };

  it('accepts a full configuration and turns a numeric chat id into a string', () => {
    const parsed = alertChannelsSchema.parse(full);
    expect(parsed.telegram?.chatId).toBe('-1001234567890');
    expect(parsed.email?.to).toEqual(['ops@acme.test', 'cfo@acme.test']);
  });

  it.each([
    ['no channels', {}],
    ['a string chat id', { telegram: { botToken: BOT_TOKEN, chatId: '42' } }],
    ['a channel name as chat id', { telegram: { botToken: BOT_TOKEN, chatId: '@acme_alerts' } }],
    ['20 addresses', { email: { to: Array.from({ length: 20 }, (_, i) => `ops${i}@acme.test`) } }],
  ])('accepts %s', (_name, input) => {
    expect(alertChannelsSchema.safeParse(input).success).toBe(true);
  });

  it.each([
    ['an unknown channel', { ...full, teams: { webhookUrl: 'https://example.test/x' } }],
    ['an unknown key in a channel', { slack: { webhookUrl: 'https://hooks.slack.com/x', channel: '#ops' } }],
    ['an invalid address', { email: { to: ['not-an-address'] } }],
    ['no addresses', { email: { to: [] } }],
    ['21 addresses', { email: { to: Array.from({ length: 21 }, (_, i) => `ops${i}@acme.test`) } }],
    ['an ftp webhook', { slack: { webhookUrl: 'ftp://hooks.slack.com/x' } }],
    ['a javascript: webhook', { discord: { webhookUrl: 'javascript:alert(1)' } }],
    ['a webhook that is not a URL', { discord: { webhookUrl: 'hooks.slack.com/x' } }],
    ['a bot token without its id', { telegram: { botToken: BOT_SECRET, chatId: '42' } }],
    ['a short bot token secret', { telegram: { botToken: '123:short', chatId: '42' } }],
    ['a fractional chat id', { telegram: { botToken: BOT_TOKEN, chatId: 1.5 } }],
    ['a chat id that is neither a number nor @name', { telegram: { botToken: BOT_TOKEN, chatId: 'acme alerts' } }],
    ['a missing chat id', { telegram: { botToken: BOT_TOKEN } }],
  ])('rejects %s', (_name, input) => {
    expect(alertChannelsSchema.safeParse(input).success).toBe(false);
  });

  it('can be described as JSON Schema for the API documentation', () => {
    const schema = z.toJSONSchema(alertChannelsSchema, { io: 'input', target: 'draft-2020-12' });
    expect(schema).toMatchObject({ type: 'object', additionalProperties: false });
  });

  it('lists channels in the order email, slack, discord, telegram', () => {
    const parsed = alertChannelsSchema.parse({ telegram: full.telegram, discord: full.discord, slack: full.slack, email: full.email });
    expect(channelList(parsed)).toEqual([
      { kind: 'email', to: ['ops@acme.test', 'cfo@acme.test'] },
      { kind: 'slack', webhookUrl: full.slack.webhookUrl },
      { kind: 'discord', webhookUrl: full.discord.webhookUrl },
      { kind: 'telegram', botToken: BOT_TOKEN, chatId: '-1001234567890' },
    ]);
    expect(channelList(alertChannelsSchema.parse({ discord: full.discord }))).toEqual([{ kind: 'discord', webhookUrl: full.discord.webhookUrl }]);
    expect(channelList({})).toEqual([]);
  });
});

describe('redaction', () => {
  it('masks webhook URLs and the bot token, and keeps addresses and the chat id', () => {
    const channels = alertChannelsSchema.parse({
      email: { to: ['ops@acme.test'] },
      slack: { webhookUrl: `https://hooks.slack.com/services/T000/B000/${SLACK_SECRET}` },
      discord: { webhookUrl: `https://discord.com/api/webhooks/123/${DISCORD_SECRET}` },
      telegram: { botToken: BOT_TOKEN, chatId: '@acme_alerts' },
    });
    const redacted = redactChannels(channels);
    expect(redacted).toEqual({
      email: { to: ['ops@acme.test'] },
      slack: { webhookUrl: 'https://hooks.slack.com/…cdef' },
      discord: { webhookUrl: 'https://discord.com/…CDEF' },
      telegram: { botToken: '123456789:…cdef', chatId: '@acme_alerts' },
    });
    const printed = JSON.stringify(redacted);
    for (const secret of [...SECRETS, 'T000/B000', '/api/webhooks/123']) expect(printed).not.toContain(secret);
  });

  it('drops user info from a webhook URL and masks short paths entirely', () => {
    expect(redactChannels({ slack: { webhookUrl: 'https://user:hunter2hunter2@example.test:8443/abc' } })).toEqual({
      slack: { webhookUrl: 'https://example.test:8443/…' },
    });
  });

  it('redactSecret shows at most the last 4 characters of a long secret and nothing of a short one', () => {
    expect(redactSecret('0123456789abcdefWXYZ')).toBe('…WXYZ');
    expect(redactSecret('short-secret')).toBe('…');
    expect(redactSecret('')).toBe('…');
  });

  it('redactSecret never returns a secret of 2 or more characters', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 2, maxLength: 80 }), (secret) => {
        const out = redactSecret(secret);
        expect(out.includes(secret)).toBe(false);
        expect(out.length).toBeLessThanOrEqual(5);
      }),
    );
  });
});

describe('senders against loopback receivers', () => {
  let smtp: SmtpReceiver;
  let web: HttpReceiver;
  let senders: Senders;
  let slack: ChannelConfig;
  let discord: ChannelConfig;
  let telegram: ChannelConfig;
  const email: ChannelConfig = { kind: 'email', to: ['ops@acme.test', 'cfo@acme.test'] };

  beforeAll(async () => {
    [smtp, web] = await Promise.all([startSmtpReceiver(), startHttpReceiver()]);
    senders = createSenders({ smtpUrl: smtp.url, telegramApiBaseUrl: web.baseUrl, timeoutMs: 5000 });
    slack = { kind: 'slack', webhookUrl: `${web.baseUrl}/slack/services/T000/B000/${SLACK_SECRET}` };
    discord = { kind: 'discord', webhookUrl: `${web.baseUrl}/discord/api/webhooks/123/${DISCORD_SECRET}` };
    telegram = { kind: 'telegram', botToken: BOT_TOKEN, chatId: '-100123' };
  });

  afterAll(async () => {
    await senders?.close();
    await Promise.all([smtp?.close(), web?.close()]);
  });

  beforeEach(() => {
    smtp.reset();
    web.reset();
  });

  describe('delivery', () => {
    it('sends an email once, to every address, with the subject and text', async () => {
      await senders.send(email, message);
      expect(smtp.messages).toEqual([{ from: 'alerts@tollgate.local', to: ['ops@acme.test', 'cfo@acme.test'], subject: message.subject, text: message.text }]);
    });

    it('uses the configured sender address', async () => {
      const custom = createSenders({ smtpUrl: smtp.url, emailFrom: 'Billing <billing@example.test>' });
      try {
        await custom.send({ kind: 'email', to: ['ops@acme.test'] }, message);
      } finally {
        await custom.close();
      }
      expect(smtp.messages.map((m) => m.from)).toEqual(['billing@example.test']);
    });

    it('posts to Slack once with the subject and text as `text`', async () => {
      await senders.send(slack, message);
      expect(web.requests).toEqual([{ method: 'POST', path: `/slack/services/T000/B000/${SLACK_SECRET}`, body: { text: flat }, contentType: 'application/json' }]);
    });

    it('escapes Slack control characters', async () => {
      await senders.send(slack, { subject: 'A&B <Ltd>', text: 'x > y' });
      expect(web.requests[0]?.body).toEqual({ text: 'A&amp;B &lt;Ltd&gt;\nx &gt; y' });
    });

    it('posts to Discord once with the subject and text as `content`, without pings', async () => {
      await senders.send(discord, message);
      expect(web.requests).toEqual([
        { method: 'POST', path: `/discord/api/webhooks/123/${DISCORD_SECRET}`, body: { content: flat, allowed_mentions: { parse: [] } }, contentType: 'application/json' },
      ]);
    });

    it('cuts Discord content to 2000 characters', async () => {
      await senders.send(discord, { subject: 'Long', text: 'x'.repeat(5000) });
      const content = (web.requests[0]?.body as { content: string }).content;
      expect(content).toHaveLength(2000);
      expect(content.startsWith('Long\nxxx')).toBe(true);
      expect(content.endsWith('x…')).toBe(true);
    });

    it('calls Telegram sendMessage once with chat_id and text', async () => {
      await senders.send(telegram, message);
      expect(web.requests).toEqual([{ method: 'POST', path: `/bot${BOT_TOKEN}/sendMessage`, body: { chat_id: '-100123', text: flat }, contentType: 'application/json' }]);
    });
  });

  describe('failures', () => {
    const httpChannels = ['slack', 'discord', 'telegram'] as const;
    const channelOf = (name: (typeof httpChannels)[number]): ChannelConfig => ({ slack, discord, telegram })[name];
    const label = { slack: 'Slack webhook', discord: 'Discord webhook', telegram: 'Telegram sendMessage' } as const;

    it.each(httpChannels.flatMap((name) => [400, 401, 403, 404, 410].map((status) => [name, status] as const)))(
      '%s answering %i is a permanent failure',
      async (name, status) => {
        web.failNext(1, status);
        const error = await failureOf(senders.send(channelOf(name), message));
        expect(error).toBeInstanceOf(PermanentDeliveryError);
        expect(error).toMatchObject({ code: 'permanent_delivery_failure', status });
        expect(error.message).toMatch(new RegExp(`^${label[name]} answered ${status}\\b`));
        expect(web.attempts).toHaveLength(1);
        expect(web.requests).toHaveLength(0);
      },
    );

    it.each(httpChannels.flatMap((name) => [500, 502, 503, 408, 429].map((status) => [name, status] as const)))(
      '%s answering %i is a transient failure, and the next attempt goes through',
      async (name, status) => {
        web.failNext(1, status);
        const error = await failureOf(senders.send(channelOf(name), message));
        expect(error).toBeInstanceOf(TransientDeliveryError);
        expect(error).toMatchObject({ code: 'transient_delivery_failure', status });
        expect(error.message).toMatch(new RegExp(`^${label[name]} answered ${status}\\b`));
        expect(web.requests).toHaveLength(0);
        await senders.send(channelOf(name), message);
        expect(web.attempts).toHaveLength(2);
        expect(web.requests).toHaveLength(1);
      },
    );

    it('reports Telegram’s description with the status', async () => {
      web.failNext(1, 401);
      const error = await failureOf(senders.send(telegram, message));
      expect(error.message).toBe('Telegram sendMessage answered 401: Unauthorized');
    });

    it('takes a 2xx Telegram answer without ok: true as a failure', async () => {
      web.failNext(1, 200, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
      const permanent = await failureOf(senders.send(telegram, message));
      expect(permanent).toBeInstanceOf(PermanentDeliveryError);
      expect(permanent.message).toBe('Telegram sendMessage answered 400: Bad Request: chat not found');

      web.failNext(1, 200, '<html>captive portal</html>');
      const transient = await failureOf(senders.send(telegram, message));
      expect(transient).toBeInstanceOf(TransientDeliveryError);
      expect(transient.message).toBe('Telegram sendMessage answered 200 without "ok": true');
    });

    it.each(httpChannels)('%s: an answer that echoes the secret is scrubbed from the error', async (name) => {
      // Each answer quotes its own secret, whole and as part of the path.
      const echo = { slack: `no_service for B000/${SLACK_SECRET}`, discord: `Unknown Webhook ${DISCORD_SECRET}`, telegram: `Unauthorized: bot${BOT_TOKEN} and ${BOT_SECRET}` }[name];
      web.failNext(1, 404, name === 'slack' ? echo : { ok: false, error_code: 404, description: echo, message: echo });
      const error = await failureOf(senders.send(channelOf(name), message));
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toContain('[redacted]');
    });

    it.each(['discord', 'telegram'] as const)('%s answering with a redirect is a permanent failure (not followed)', async (name) => {
      web.failNext(1, 302);
      const error = await failureOf(senders.send(channelOf(name), message));
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error).toMatchObject({ status: 302 });
      expect(web.attempts).toHaveLength(1);
    });

    it.each(httpChannels)('%s: a closed port is a transient failure', async (name) => {
      const port = await freePort();
      const closed = createSenders({ telegramApiBaseUrl: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
      const channel: ChannelConfig =
        name === 'slack'
          ? { kind: 'slack', webhookUrl: `http://127.0.0.1:${port}/slack/services/T000/B000/${SLACK_SECRET}` }
          : name === 'discord'
            ? { kind: 'discord', webhookUrl: `http://127.0.0.1:${port}/discord/api/webhooks/123/${DISCORD_SECRET}` }
            : telegram;
      const error = await failureOf(closed.send(channel, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error.message).toBe(`${label[name]} request failed: ECONNREFUSED`);
      await closed.close();
    });

    it.each(httpChannels)('%s: no answer within the timeout is a transient failure', async (name) => {
      const impatient = createSenders({ telegramApiBaseUrl: web.baseUrl, timeoutMs: 300 });
      web.stallNext(1);
      const error = await failureOf(impatient.send(channelOf(name), message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error.message).toBe(`${label[name]} request timed out after 300 ms`);
      expect(web.attempts).toHaveLength(1);
      expect(web.requests).toHaveLength(0);
      await impatient.close();
    });

    it('SMTP 550 is a permanent failure', async () => {
      smtp.failNext(1, 550);
      const error = await failureOf(senders.send(email, message));
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error).toMatchObject({ code: 'permanent_delivery_failure', status: 550 });
      expect(error.message).toMatch(/^SMTP server answered 550\b/);
      expect(smtp.messages).toHaveLength(0);
    });

    it('SMTP 451 is a transient failure, and the next attempt goes through', async () => {
      smtp.failNext(1, 451);
      const error = await failureOf(senders.send(email, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error).toMatchObject({ code: 'transient_delivery_failure', status: 451 });
      expect(error.message).toMatch(/^SMTP server answered 451\b/);
      expect(smtp.messages).toHaveLength(0);
      await senders.send(email, message);
      expect(smtp.messages).toHaveLength(1);
    });

    it('an SMTP server that is not there is a transient failure, and its password is not shown', async () => {
      const port = await freePort();
      const closed = createSenders({ smtpUrl: `smtp://alerts:${SLACK_SECRET}@127.0.0.1:${port}`, timeoutMs: 5000 });
      const error = await failureOf(closed.send(email, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error.message).toMatch(/^SMTP delivery failed \((ESOCKET|ECONNECTION)\/ECONNREFUSED\)/);
      await closed.close();
    });

    it('email without an SMTP server is not configured', async () => {
      const noSmtp = createSenders({});
      const error = await failureOf(noSmtp.send(email, message));
      expect(error).toBeInstanceOf(ChannelNotConfiguredError);
      expect(error).toMatchObject({ code: 'channel_not_configured' });
      await noSmtp.close();
    });
  });
});

import { inspect } from 'node:util';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertMessage, type UsageAlert } from '../../notifications/alertMessage.js';
import { agentFetch } from '../../notifications/agentFetch.js';
import { alertChannelsInputSchema, alertChannelsSchema, channelList, redactChannels, redactSecret, type ChannelConfig } from '../../notifications/channelConfig.js';
import { DEFAULT_WEBHOOK_POLICY, destinationAgents, guardedLookup, webhookUrlProblem, type WebhookPolicy } from '../../notifications/destinationGuard.js';
import { isPublicAddress } from '../../notifications/publicAddress.js';
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
/** The loopback receivers are plain http on 127.0.0.1. */
const LOOPBACK: WebhookPolicy = { allowHttp: true, allowPrivateNetworks: true };

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

describe('isPublicAddress', () => {
  it.each([
    '8.8.8.8', '1.1.1.1', '93.184.216.34', '100.63.255.255', '100.128.0.1', '172.15.255.255', '172.32.0.1', '192.169.0.1', '223.255.255.255',
    '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '[2606:4700::1]',
    '::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::8.8.8.8',
  ])('allows the public address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    ['unspecified', '0.0.0.0'], ['"this network"', '0.1.2.3'],
    ['RFC 1918', '10.0.0.1'], ['RFC 1918', '172.16.0.1'], ['RFC 1918', '172.31.255.255'], ['RFC 1918', '192.168.1.1'],
    ['CGNAT', '100.64.0.1'], ['CGNAT', '100.127.255.255'],
    ['loopback', '127.0.0.1'], ['loopback', '127.255.255.254'],
    ['link-local (cloud metadata)', '169.254.169.254'],
    ['IETF assignments', '192.0.0.8'], ['documentation', '192.0.2.1'], ['documentation', '198.51.100.7'], ['documentation', '203.0.113.9'],
    ['benchmarking', '198.18.0.1'], ['multicast', '224.0.0.1'], ['multicast', '239.255.255.250'], ['reserved', '240.0.0.1'], ['broadcast', '255.255.255.255'],
    ['IPv6 unspecified', '::'], ['IPv6 loopback', '::1'], ['IPv6 loopback in brackets', '[::1]'],
    ['ULA', 'fc00::1'], ['ULA', 'fd12:3456:789a::1'], ['link-local', 'fe80::1'], ['scoped link-local', 'fe80::1%eth0'],
    ['multicast', 'ff02::1'], ['documentation', '2001:db8::1'], ['documentation', '3fff::1'], ['Teredo', '2001:0:4136:e378::1'], ['6to4', '2002:7f00:1::1'],
    ['IPv4-compatible', '::127.0.0.1'], ['discard', '100::1'], ['local-use NAT64', '64:ff9b:1::a00:1'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'], ['IPv4-mapped loopback (hex)', '::ffff:7f00:1'], ['IPv4-mapped loopback (long)', '0:0:0:0:0:ffff:7f00:0001'],
    ['IPv4-mapped private', '::ffff:10.0.0.1'], ['IPv4-mapped link-local', '::ffff:169.254.169.254'], ['NAT64 of a private address', '64:ff9b::10.0.0.1'],
    ['a host name', 'localhost'], ['not an address', '999.1.1.1'], ['empty', ''],
  ])('refuses %s: %s', (_kind, address) => {
    expect(isPublicAddress(address)).toBe(false);
  });
});

describe('webhookUrlProblem', () => {
  const strict = DEFAULT_WEBHOOK_POLICY;
  const httpAllowed: WebhookPolicy = { allowHttp: true, allowPrivateNetworks: false };

  it('accepts https to a host name or a public address by default (names are checked at delivery)', () => {
    for (const url of ['https://hooks.slack.com/services/T/B/x', 'https://discord.com/api/webhooks/1/x', 'https://8.8.8.8/x', 'https://[2606:4700::1]:8443/x', 'https://localhost/x']) {
      expect(webhookUrlProblem(url, strict)).toBeUndefined();
    }
  });

  it('refuses plain http unless allowed', () => {
    expect(webhookUrlProblem('http://hooks.slack.com/services/T/B/x', strict)).toBe('must be an https URL');
    expect(webhookUrlProblem('http://hooks.slack.com/services/T/B/x', httpAllowed)).toBeUndefined();
    expect(webhookUrlProblem('ftp://hooks.slack.com/x', httpAllowed)).toBe('must be an http or https URL');
  });

  it('refuses user info, whatever the policy', () => {
    for (const url of ['https://user:pass@hooks.slack.com/x', 'https://user@hooks.slack.com/x', 'https://:pass@hooks.slack.com/x']) {
      expect(webhookUrlProblem(url, strict)).toBe('must not contain a user name or password');
      expect(webhookUrlProblem(url, LOOPBACK)).toBe('must not contain a user name or password');
    }
  });

  it.each([
    'https://127.0.0.1/x', 'https://0x7f.1/x', 'https://2130706433/x', 'https://017700000001/x', 'https://127.0.0.1./x', 'https://0/x',
    'https://[::1]/x', 'https://[::ffff:127.0.0.1]/x', 'https://[0:0:0:0:0:ffff:7f00:1]/x', 'https://169.254.169.254/latest/meta-data',
    'https://10.1.2.3/x', 'https://[fd00::1]/x', 'https://[fe80::1]/x', 'https://100.64.0.1/x',
  ])('refuses the non-public IP literal in %s unless private networks are allowed', (url) => {
    expect(webhookUrlProblem(url, strict)).toBe('must not name a private, loopback, link-local or other non-public address');
    expect(webhookUrlProblem(url, { allowHttp: false, allowPrivateNetworks: true })).toBeUndefined();
  });

  it('is what PUT …/alert-channels applies, with the field path', () => {
    const result = alertChannelsInputSchema(strict).safeParse({
      slack: { webhookUrl: 'http://hooks.slack.com/services/T/B/x' },
      discord: { webhookUrl: 'https://user:pass@discord.com/api/webhooks/1/x' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['slack.webhookUrl', 'must be an https URL'],
      ['discord.webhookUrl', 'must not contain a user name or password'],
    ]);
    expect(alertChannelsInputSchema(LOOPBACK).safeParse({ slack: { webhookUrl: 'http://127.0.0.1:9/slack' } }).success).toBe(true);
  });
});

describe('guardedLookup', () => {
  type Answer = Array<{ address: string; family: number }>;
  const lookupWith = (answer: Answer) =>
    guardedLookup((_hostname, _options, callback) => callback(null, answer));
  const run = (answer: Answer, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }>((resolve) => {
      lookupWith(answer)('hooks.example.test', { all }, (error, address, family) => resolve({ error, address, family }));
    });

  it('passes public answers through, as one address or all of them', async () => {
    const answer = [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }];
    expect(await run(answer, false)).toEqual({ error: null, address: '93.184.216.34', family: 4 });
    expect(await run(answer, true)).toMatchObject({ error: null, address: answer });
  });

  it.each([
    [[{ address: '127.0.0.1', family: 4 }]],
    [[{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.1', family: 4 }]],
    [[{ address: '::ffff:169.254.169.254', family: 6 }]],
    [[]],
  ])('refuses a name that resolves to a non-public address: %j', async (answer) => {
    const { error } = await run(answer, true);
    expect(error).toMatchObject({ code: 'ERR_DESTINATION_REFUSED' });
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
    senders = createSenders({ smtpUrl: smtp.url, telegramApiBaseUrl: web.baseUrl, timeoutMs: 5000, webhooks: LOOPBACK });
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
      expect(web.requests.map(({ method, path, body, contentType }) => ({ method, path, body, contentType }))).toEqual([{ method: 'POST', path: `/slack/services/T000/B000/${SLACK_SECRET}`, body: { text: flat }, contentType: 'application/json' }]);
    });

    it('escapes Slack control characters', async () => {
      await senders.send(slack, { subject: 'A&B <Ltd>', text: 'x > y' });
      expect(web.requests[0]?.body).toEqual({ text: 'A&amp;B &lt;Ltd&gt;\nx &gt; y' });
    });

    it('posts to Discord once with the subject and text as `content`, without pings', async () => {
      await senders.send(discord, message);
      expect(web.requests.map(({ method, path, body, contentType }) => ({ method, path, body, contentType }))).toEqual([
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
      expect(web.requests.map(({ method, path, body, contentType }) => ({ method, path, body, contentType }))).toEqual([{ method: 'POST', path: `/bot${BOT_TOKEN}/sendMessage`, body: { chat_id: '-100123', text: flat }, contentType: 'application/json' }]);
    });
  });

  describe('destinations', () => {
    const ofKind = (kind: 'slack' | 'discord', url: string): ChannelConfig => ({ kind, webhookUrl: url });
    const path = { slack: `/slack/services/T000/B000/${SLACK_SECRET}`, discord: `/discord/api/webhooks/123/${DISCORD_SECRET}` } as const;
    const label = { slack: 'Slack webhook', discord: 'Discord webhook' } as const;

    it.each(['slack', 'discord'] as const)('%s: by default, http and user info are refused before anything is sent', async (kind) => {
      const strict = createSenders({ timeoutMs: 2000 });
      try {
        const http = await failureOf(strict.send(ofKind(kind, `${web.baseUrl}${path[kind]}`), message));
        expect(http).toBeInstanceOf(PermanentDeliveryError);
        expect(http.message).toBe(`${label[kind]} URL refused: it must be an https URL`);
        const credentials = await failureOf(strict.send(ofKind(kind, `https://user:pass@example.test${path[kind]}`), message));
        expect(credentials).toBeInstanceOf(PermanentDeliveryError);
        expect(credentials.message).toBe(`${label[kind]} URL refused: it must not contain a user name or password`);
      } finally {
        await strict.close();
      }
      expect(web.attempts).toHaveLength(0);
    });

    it.each(['slack', 'discord'] as const)('%s: a loopback destination is refused by default, as a permanent failure, and reached when allowed', async (kind) => {
      const httpOnly = createSenders({ timeoutMs: 2000, webhooks: { allowHttp: true } });
      try {
        for (const host of [`127.0.0.1:${web.port}`, `[::ffff:127.0.0.1]:${web.port}`, `0x7f.1:${web.port}`]) {
          const error = await failureOf(httpOnly.send(ofKind(kind, `http://${host}${path[kind]}`), message));
          expect(error).toBeInstanceOf(PermanentDeliveryError);
          expect(error.message).toBe(`${label[kind]} URL refused: it must not name a private, loopback, link-local or other non-public address`);
        }
        // A name is resolved at delivery, and the address connected to is what is checked.
        const byName = await failureOf(httpOnly.send(ofKind(kind, `http://localhost:${web.port}${path[kind]}`), message));
        expect(byName).toBeInstanceOf(PermanentDeliveryError);
        expect(byName.message).toBe(`${label[kind]} refused: the destination is not a public address`);
      } finally {
        await httpOnly.close();
      }
      expect(web.attempts).toHaveLength(0);

      await senders.send(ofKind(kind, `http://localhost:${web.port}${path[kind]}`), message); // LOOPBACK policy
      expect(web.requests).toHaveLength(1);
    });

    it('the guarded agents refuse non-public addresses at connection time, whoever makes the request', async () => {
      const agents = destinationAgents({ allowPrivateNetworks: false });
      const guardedFetch = agentFetch(agents);
      try {
        for (const url of [`http://127.0.0.1:${web.port}/x`, `http://[::ffff:127.0.0.1]:${web.port}/x`, `http://localhost:${web.port}/x`]) {
          await expect(guardedFetch(url, { method: 'POST', body: '{}' })).rejects.toMatchObject({ code: 'ERR_DESTINATION_REFUSED' });
        }
      } finally {
        agents.destroy();
      }
      expect(web.attempts).toHaveLength(0);
    });

    it('Telegram’s API base is operator configuration: a loopback base is used as configured', async () => {
      const strict = createSenders({ telegramApiBaseUrl: web.baseUrl, timeoutMs: 2000 });
      try {
        await strict.send(telegram, message);
      } finally {
        await strict.close();
      }
      expect(web.requests).toHaveLength(1);
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

    it('reports the status and nothing of Telegram’s description', async () => {
      web.failNext(1, 401, { ok: false, error_code: 401, description: 'Unauthorized: whatever the far end says' });
      const error = await failureOf(senders.send(telegram, message));
      expect(error.message).toBe('Telegram sendMessage answered 401');
    });

    it('takes a 2xx Telegram answer without ok: true as a failure', async () => {
      web.failNext(1, 200, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
      const permanent = await failureOf(senders.send(telegram, message));
      expect(permanent).toBeInstanceOf(PermanentDeliveryError);
      expect(permanent).toMatchObject({ status: 400 });
      expect(permanent.message).toBe('Telegram sendMessage answered 200 with error_code 400');

      web.failNext(1, 200, '<html>captive portal</html>');
      const transient = await failureOf(senders.send(telegram, message));
      expect(transient).toBeInstanceOf(TransientDeliveryError);
      expect(transient.message).toBe('Telegram sendMessage answered 200 without "ok": true');
    });

    it.each(httpChannels.flatMap((name) => [400, 404, 500].map((status) => [name, status] as const)))(
      '%s answering %i: nothing of the answer’s body reaches the error, not even an echoed secret',
      async (name, status) => {
        const echo = { slack: `DESTINATION-BODY no_service for B000/${SLACK_SECRET}`, discord: `DESTINATION-BODY Unknown Webhook ${DISCORD_SECRET}`, telegram: `DESTINATION-BODY bot${BOT_TOKEN}` }[name];
        web.failNext(1, status, name === 'slack' ? echo : { ok: false, error_code: status, description: echo, message: echo });
        const error = await failureOf(senders.send(channelOf(name), message));
        expect(error.message).toBe(`${label[name]} answered ${status}`);
        expect(inspect(error, { depth: 10 })).not.toContain('DESTINATION-BODY');
      },
    );

    it.each(httpChannels)('%s answering with a redirect is a permanent failure (not followed)', async (name) => {
      web.failNext(1, 302);
      const error = await failureOf(senders.send(channelOf(name), message));
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error).toMatchObject({ status: 302 });
      expect(web.attempts).toHaveLength(1);
    });

    it.each(httpChannels)('%s: a closed port is a transient failure', async (name) => {
      const port = await freePort();
      const closed = createSenders({ telegramApiBaseUrl: `http://127.0.0.1:${port}`, timeoutMs: 5000, webhooks: LOOPBACK });
      const channel: ChannelConfig =
        name === 'slack'
          ? { kind: 'slack', webhookUrl: `http://127.0.0.1:${port}/slack/services/T000/B000/${SLACK_SECRET}` }
          : name === 'discord'
            ? { kind: 'discord', webhookUrl: `http://127.0.0.1:${port}/discord/api/webhooks/123/${DISCORD_SECRET}` }
            : telegram;
      const error = await failureOf(closed.send(channel, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error.message).toBe(`${label[name]} request failed: connection refused`);
      await closed.close();
    });

    it.each(httpChannels)('%s: no answer within the timeout is a transient failure', async (name) => {
      const impatient = createSenders({ telegramApiBaseUrl: web.baseUrl, timeoutMs: 300, webhooks: LOOPBACK });
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
      expect(error.message).toBe('SMTP server answered 550'); // not the server's reply text
      expect(smtp.messages).toHaveLength(0);
    });

    it('SMTP 451 is a transient failure, and the next attempt goes through', async () => {
      smtp.failNext(1, 451);
      const error = await failureOf(senders.send(email, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error).toMatchObject({ code: 'transient_delivery_failure', status: 451 });
      expect(error.message).toBe('SMTP server answered 451');
      expect(smtp.messages).toHaveLength(0);
      await senders.send(email, message);
      expect(smtp.messages).toHaveLength(1);
    });

    it('an SMTP server that is not there is a transient failure, and its password is not shown', async () => {
      const port = await freePort();
      const closed = createSenders({ smtpUrl: `smtp://alerts:${SLACK_SECRET}@127.0.0.1:${port}`, timeoutMs: 5000 });
      const error = await failureOf(closed.send(email, message));
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect(error.message).toMatch(/^SMTP delivery failed \((ESOCKET|ECONNECTION)\/ECONNREFUSED\)$/);
      expect(error.message).not.toContain('127.0.0.1');
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

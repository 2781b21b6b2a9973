/**
 * Credits notices: the message text of every kind, and delivery against a real PostgreSQL and real
 * SMTP and HTTP receivers on loopback (the senders are the production ones). The activity runs in
 * Temporal's MockActivityEnvironment, so each call is one attempt with the attempt number given.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CREDIT_NOTICE_MAX_ATTEMPTS, createCreditNoticeActivities } from '../../activities/creditNoticeActivities.js';
import type { ChannelKind } from '../../notifications/channelConfig.js';
import { creditNoticeMessage } from '../../notifications/creditNoticeMessage.js';
import { createSenders, type Senders } from '../../notifications/senders.js';
import type { CreditNotice } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';

const PAY_URL = 'https://pay.example.test/c/acct_1/card?s=ap';
const RETRY_AT = Date.parse('2026-12-01T09:30:00.000Z');

const base: CreditNotice = {
  noticeId: 'credits:tokens:7:low',
  kind: 'credits_low',
  balance: '400000 tokens',
  threshold: '500000 tokens',
  amount: null,
  reason: null,
  payUrl: null,
  nextRetryAt: null,
};

const recharge: CreditNotice = {
  ...base,
  noticeId: 'credits:tokens:7:recharge:1',
  kind: 'recharge_failed',
  balance: '0 tokens',
  amount: '10.00 EUR',
  reason: 'Your card was declined.',
  payUrl: PAY_URL,
  nextRetryAt: RETRY_AT,
};

const message = (notice: CreditNotice, customerName = 'Acme') => creditNoticeMessage({ customerName, notice });

describe('creditNoticeMessage', () => {
  it('credits_low: the balance under the threshold', () => {
    expect(message(base)).toEqual({
      subject: 'Acme: credit balance is low',
      text: [
        'Your credit balance is 400000 tokens, below your threshold of 500000 tokens.',
        'Buy credits or turn on auto-recharge to keep usage flowing.',
      ].join('\n'),
    });
  });

  it('credits_low without a threshold: just low', () => {
    expect(message({ ...base, threshold: null })).toEqual({
      subject: 'Acme: credit balance is low',
      text: ['Your credit balance is low: 400000 tokens.', 'Buy credits or turn on auto-recharge to keep usage flowing.'].join('\n'),
    });
    // A threshold that is only blanks is no threshold either.
    expect(message({ ...base, threshold: ' \n ' }).text.split('\n')[0]).toBe('Your credit balance is low: 400000 tokens.');
  });

  it('credits_exhausted: usage past the plan is refused', () => {
    expect(message({ ...base, kind: 'credits_exhausted', balance: '0 tokens' })).toEqual({
      subject: 'Acme: credits used up',
      text: 'Your credit balance is 0 tokens: usage past your plan is refused until you buy credits.',
    });
  });

  it('recharge_failed: the amount, the reason, the next retry and the link to update the card', () => {
    expect(message(recharge)).toEqual({
      subject: 'Acme: auto-recharge payment failed',
      text: [
        'Auto-recharge could not charge 10.00 EUR: Your card was declined.',
        'We will try again on 2026-12-01.',
        `Update your card: ${PAY_URL}`,
      ].join('\n'),
    });
  });

  it('recharge_failed without a retry, a link or a reason; a bare reason ends with a full stop', () => {
    expect(message({ ...recharge, nextRetryAt: null, payUrl: null, reason: 'insufficient funds' }).text).toBe(
      ['Auto-recharge could not charge 10.00 EUR: insufficient funds.', 'We will not try again automatically.', 'Please update your card.'].join('\n'),
    );
    expect(message({ ...recharge, reason: null }).text.split('\n')[0]).toBe('Auto-recharge could not charge 10.00 EUR.');
    expect(message({ ...recharge, reason: '   ' }).text.split('\n')[0]).toBe('Auto-recharge could not charge 10.00 EUR.');
  });

  it('recharge_off: turned off after repeated failures, with the balance and the link', () => {
    const off: CreditNotice = { ...recharge, kind: 'recharge_off', nextRetryAt: null, balance: '1200 tokens' };
    expect(message(off)).toEqual({
      subject: 'Acme: auto-recharge turned off',
      text: [
        'Auto-recharge could not charge 10.00 EUR: Your card was declined.',
        'After repeated failures auto-recharge has been turned off. Your balance is 1200 tokens. Update your card and turn it back on.',
        `Update your card: ${PAY_URL}`,
      ].join('\n'),
    });
    expect(message({ ...off, payUrl: null }).text).toBe(
      [
        'Auto-recharge could not charge 10.00 EUR: Your card was declined.',
        'After repeated failures auto-recharge has been turned off. Your balance is 1200 tokens. Update your card and turn it back on.',
      ].join('\n'),
    );
  });

  it('recharge_limit_reached: the limit and what was spent, or as much of it as is known', () => {
    const limited: CreditNotice = {
      ...base,
      kind: 'recharge_limit_reached',
      balance: '50 tokens',
      amount: '10.00 EUR',
      spendingLimit: '100.00 EUR',
      spent: '100.00 EUR',
    };
    expect(message(limited)).toEqual({
      subject: 'Acme: auto-recharge spending limit reached',
      text: [
        "Auto-recharge did not buy credits: this billing cycle's spending limit of 100.00 EUR is reached (100.00 EUR spent).",
        'Your balance is 50 tokens. Raise the limit or buy credits.',
      ].join('\n'),
    });
    const first = (n: CreditNotice) => message(n).text.split('\n')[0];
    expect(first({ ...limited, spent: null })).toBe("Auto-recharge did not buy credits: this billing cycle's spending limit of 100.00 EUR is reached.");
    expect(first({ ...limited, spendingLimit: null })).toBe("Auto-recharge did not buy credits: this billing cycle's spending limit is reached (100.00 EUR spent).");
    expect(first({ ...limited, spendingLimit: undefined, spent: undefined })).toBe("Auto-recharge did not buy credits: this billing cycle's spending limit is reached.");
  });

  it('without a customer name there is no prefix', () => {
    expect(message(base, ' ').subject).toBe('credit balance is low');
  });

  it('keeps every outside value on one line, clips a long reason and shows only http(s) links', () => {
    const evil = message(
      {
        ...recharge,
        balance: '0\ntokens',
        amount: '10.00\r\nEUR',
        reason: 'declined\n\nClick https://phish.example.test now\u0000',
        payUrl: 'https://pay.example.test/x\nInjected: line',
      },
      'Evil\r\nBcc: victim@example.test\n',
    );
    expect(evil.subject).toBe('Evil Bcc: victim@example.test: auto-recharge payment failed');
    expect(evil.text.split('\n')).toEqual([
      'Auto-recharge could not charge 10.00 EUR: declined Click https://phish.example.test now.',
      'We will try again on 2026-12-01.',
      'Update your card: https://pay.example.test/xInjected:%20line',
    ]);

    const off = message({ ...recharge, kind: 'recharge_off', reason: 'line one\r\nline two\n\nline three' });
    expect(off.text.split('\n')).toHaveLength(3);
    expect(off.text.split('\n')[0]).toBe('Auto-recharge could not charge 10.00 EUR: line one line two line three.');

    const long = message({ ...recharge, reason: 'x'.repeat(2_000) });
    const first = long.text.split('\n')[0]!;
    expect(first).toBe(`Auto-recharge could not charge 10.00 EUR: ${'x'.repeat(299)}…`);
    expect(long.text.split('\n')).toHaveLength(3);

    expect(message({ ...recharge, payUrl: 'javascript:alert(1)' }).text.split('\n')[2]).toBe('Please update your card.');
    expect(message({ ...recharge, kind: 'recharge_off', payUrl: 'javascript:alert(1)' }).text.split('\n')).toHaveLength(2);
    expect(message({ ...recharge, payUrl: 'not a url' }).text.split('\n')[2]).toBe('Please update your card.');
  });
});

describe('deliverCreditNotice', () => {
  let database: TestDatabase;
  let smtp: SmtpReceiver;
  let hooks: HttpReceiver;
  let senders: Senders;

  beforeAll(async () => {
    [database, smtp, hooks] = await Promise.all([createTestDatabase(), startSmtpReceiver(), startHttpReceiver()]);
    // The loopback receivers are plain http on 127.0.0.1.
    senders = createSenders({ smtpUrl: smtp.url, timeoutMs: 2_000, webhooks: { allowHttp: true, allowPrivateNetworks: true } });
  });
  afterAll(async () => {
    await senders?.close();
    await Promise.all([database?.close(), smtp?.close(), hooks?.close()]);
  });
  beforeEach(() => {
    smtp.reset();
    hooks.reset();
  });

  async function customer(options: { name?: string } = {}): Promise<{ id: string; name: string; slackPath: string; discordPath: string }> {
    const id = `cn-${randomUUID().slice(0, 8)}`;
    const name = options.name ?? `Credit Co ${id}`;
    const slackPath = `/slack/${id}`;
    const discordPath = `/discord/${id}`;
    const channels = {
      email: { to: ['billing-ops@credit.test'] },
      slack: { webhookUrl: `${hooks.baseUrl}${slackPath}` },
      discord: { webhookUrl: `${hooks.baseUrl}${discordPath}` },
    };
    await database.db.customer.create({ data: { id, name, email: 'owner@credit.test', alertChannels: { create: { channels } } } });
    return { id, name, slackPath, discordPath };
  }

  const notice = (overrides: Partial<CreditNotice> = {}): CreditNotice => ({
    ...recharge,
    noticeId: `credits:tokens:${randomUUID().slice(0, 8)}:recharge:1`,
    ...overrides,
  });

  function deliver(args: { customerId: string; channel: ChannelKind; notice: CreditNotice }, attempt = 1) {
    const activities = createCreditNoticeActivities({ db: database.db, senders });
    return new MockActivityEnvironment({ attempt }).run(activities.deliverCreditNotice, args);
  }

  const rowsOf = (customerId: string) => database.db.paymentNoticeDelivery.findMany({ where: { customerId }, orderBy: [{ noticeId: 'asc' }, { channel: 'asc' }] });
  const expectedText = ['Auto-recharge could not charge 10.00 EUR: Your card was declined.', 'We will try again on 2026-12-01.', `Update your card: ${PAY_URL}`].join('\n');

  it('delivers once by email, Slack and Discord, and records each delivery', async () => {
    const { id, name, slackPath, discordPath } = await customer();
    const n = notice();
    for (const channel of ['email', 'slack', 'discord'] as const) await deliver({ customerId: id, channel, notice: n });

    expect(smtp.messages).toHaveLength(1);
    const email = smtp.messages[0]!;
    expect(email.to).toEqual(['billing-ops@credit.test']);
    expect(email.subject).toBe(`${name}: auto-recharge payment failed`);
    expect(email.text).toBe(expectedText);

    expect(hooks.requests.map((r) => r.path)).toEqual([slackPath, discordPath]);
    // Slack's mrkdwn escaping turns & into &amp; (Slack shows it as &).
    expect((hooks.requests[0]!.body as { text: string }).text).toBe(`${name}: auto-recharge payment failed\n${expectedText.replace(/&/g, '&amp;')}`);
    expect((hooks.requests[1]!.body as { content: string }).content).toBe(`${name}: auto-recharge payment failed\n${expectedText}`);

    const rows = await rowsOf(id);
    expect(rows.map((r) => ({ channel: r.channel, noticeId: r.noticeId, status: r.status, attempts: r.attempts, lastError: r.lastError, leaseId: r.leaseId }))).toEqual([
      { channel: 'discord', noticeId: n.noticeId, status: 'delivered', attempts: 1, lastError: null, leaseId: null },
      { channel: 'email', noticeId: n.noticeId, status: 'delivered', attempts: 1, lastError: null, leaseId: null },
      { channel: 'slack', noticeId: n.noticeId, status: 'delivered', attempts: 1, lastError: null, leaseId: null },
    ]);
    expect(rows.every((r) => r.deliveredAt instanceof Date)).toBe(true);
  });

  it('the same noticeId is never sent twice; another noticeId is', async () => {
    const { id } = await customer();
    const n = notice({ kind: 'credits_low', amount: null, reason: null, payUrl: null, nextRetryAt: null, balance: '400000 tokens' });
    for (const attempt of [1, 2]) {
      await deliver({ customerId: id, channel: 'email', notice: n }, attempt);
      await deliver({ customerId: id, channel: 'slack', notice: n }, attempt);
    }
    // The same id with other contents (a replayed or buggy caller) is still the same notice.
    await deliver({ customerId: id, channel: 'email', notice: { ...n, kind: 'credits_exhausted', balance: '0 tokens' } }, 3);
    expect([smtp.messages.length, hooks.requests.length]).toEqual([1, 1]);
    expect(smtp.messages[0]!.text).toBe(
      ['Your credit balance is 400000 tokens, below your threshold of 500000 tokens.', 'Buy credits or turn on auto-recharge to keep usage flowing.'].join('\n'),
    );
    expect((await rowsOf(id)).map((r) => [r.channel, r.status, r.attempts])).toEqual([['email', 'delivered', 1], ['slack', 'delivered', 1]]);

    const exhausted = notice({ noticeId: `${n.noticeId}:exhausted`, kind: 'credits_exhausted', balance: '0 tokens' });
    await deliver({ customerId: id, channel: 'email', notice: exhausted });
    await deliver({ customerId: id, channel: 'slack', notice: exhausted });
    expect([smtp.messages.length, hooks.requests.length]).toEqual([2, 2]);
    expect(smtp.messages[1]!.text).toBe('Your credit balance is 0 tokens: usage past your plan is refused until you buy credits.');
  });

  it('a Slack 500 leaves a retrying row and a retryable failure; the next attempt delivers', async () => {
    const { id } = await customer();
    const n = notice();
    hooks.failNext(1, 500, 'SLACK-DESTINATION-BODY upstream exploded');
    await expect(deliver({ customerId: id, channel: 'slack', notice: n })).rejects.toMatchObject({
      type: 'TransientDeliveryError', nonRetryable: false, message: 'Slack webhook answered 500',
    });
    expect(await rowsOf(id)).toMatchObject([{ channel: 'slack', status: 'retrying', attempts: 1, lastError: 'Slack webhook answered 500', deliveredAt: null }]);

    await deliver({ customerId: id, channel: 'slack', notice: n }, 2);
    expect(hooks.attempts.map((a) => a.status)).toEqual([500, 200]);
    expect(await rowsOf(id)).toMatchObject([{ status: 'delivered', attempts: 2, lastError: null }]);
  });

  it('the last attempt\'s transient failure is reported failed; a 4xx is permanent at once', async () => {
    const { id } = await customer();
    hooks.failNext(1, 503);
    await expect(deliver({ customerId: id, channel: 'discord', notice: notice({ noticeId: 'credits:t:1' }) }, CREDIT_NOTICE_MAX_ATTEMPTS)).rejects.toMatchObject({
      type: 'TransientDeliveryError',
    });
    hooks.failNext(1, 404);
    await expect(deliver({ customerId: id, channel: 'discord', notice: notice({ noticeId: 'credits:t:2' }) })).rejects.toMatchObject({
      type: 'PermanentDeliveryError', nonRetryable: true, message: 'Discord webhook answered 404',
    });
    expect(await rowsOf(id)).toMatchObject([
      { noticeId: 'credits:t:1', status: 'failed', attempts: CREDIT_NOTICE_MAX_ATTEMPTS, lastError: 'Discord webhook answered 503' },
      { noticeId: 'credits:t:2', status: 'failed', attempts: 1, lastError: 'Discord webhook answered 404' },
    ]);
  });

  it('a channel the customer does not have is skipped, and reported so', async () => {
    const { id } = await customer();
    await deliver({ customerId: id, channel: 'telegram', notice: notice() });
    expect(await rowsOf(id)).toMatchObject([{ channel: 'telegram', status: 'skipped', lastError: 'the telegram channel is no longer configured' }]);
  });

  it('an error of ours is reported as a fixed phrase and retried', async () => {
    const { id } = await customer();
    const unknownKind = notice({ kind: 'credits_gone' as CreditNotice['kind'] });
    await expect(deliver({ customerId: id, channel: 'email', notice: unknownKind })).rejects.toMatchObject({
      type: 'CreditNoticeDeliveryError', nonRetryable: false, message: 'internal error while preparing or sending the credit notice',
    });
    expect(await rowsOf(id)).toMatchObject([{ status: 'retrying', lastError: 'internal error while preparing or sending the credit notice' }]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('names and reasons with line breaks cannot add lines or headers', async () => {
    const { id } = await customer({ name: 'Evil Co\r\nBcc: victim@evil.test\r\n\r\nInjected body' });
    const n = notice({ reason: 'declined\n\nWe will refund you: https://phish.evil.test', payUrl: 'https://pay.example.test/x\nInjected: line' });
    await deliver({ customerId: id, channel: 'email', notice: n });
    const email = smtp.messages[0]!;
    expect(email.to).toEqual(['billing-ops@credit.test']);
    expect(email.subject).toBe('Evil Co Bcc: victim@evil.test Injected body: auto-recharge payment failed');
    expect(email.text.split('\n')).toEqual([
      'Auto-recharge could not charge 10.00 EUR: declined We will refund you: https://phish.evil.test.',
      'We will try again on 2026-12-01.',
      'Update your card: https://pay.example.test/xInjected:%20line',
    ]);
  });
});

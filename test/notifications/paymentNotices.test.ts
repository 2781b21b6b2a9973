/**
 * Payment notices: the message text, and delivery against a real PostgreSQL and real SMTP and
 * HTTP receivers on loopback (the senders are the production ones). The activity runs in
 * Temporal's MockActivityEnvironment, so each call is one attempt with the attempt number given.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPaymentNoticeActivities, PAYMENT_NOTICE_MAX_ATTEMPTS } from '../../activities/paymentNoticeActivities.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import type { ChannelKind } from '../../notifications/channelConfig.js';
import { paymentNoticeMessage, type PaymentNoticeFacts } from '../../notifications/paymentNoticeMessage.js';
import { createSenders, type Senders } from '../../notifications/senders.js';
import type { PaymentNotice } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';

const PAY_URL = 'https://pay.example.test/i/acct_1/inv_42?s=ap';

describe('paymentNoticeMessage', () => {
  const failed: PaymentNoticeFacts = {
    customerName: 'Acme',
    kind: 'payment_failed',
    invoiceNumber: 'INV-000042',
    amount: '30.00 USD',
    reason: 'Your card was declined.',
    payUrl: PAY_URL,
    nextRetryAt: '2026-12-01T09:30:00.000Z',
    finalAction: null,
    planName: 'Pro',
    fallbackPlanName: 'Free',
    periodEnd: '2026-12-25T00:00:00.000Z',
  };
  const final = (finalAction: PaymentNoticeFacts['finalAction']): PaymentNoticeFacts => ({ ...failed, kind: 'payment_final', nextRetryAt: null, finalAction });

  it('words a failed payment with its next retry and the link to update the card', () => {
    expect(paymentNoticeMessage(failed)).toEqual({
      subject: 'Acme: payment for invoice INV-000042 failed',
      text: [
        'Payment for invoice INV-000042 (30.00 USD) failed: Your card was declined.',
        'We will try again on 2026-12-01.',
        `Update your card: ${PAY_URL}`,
      ].join('\n'),
    });
  });

  it('says so when no retry is left, when there is no link, and ends a bare reason with a full stop', () => {
    expect(paymentNoticeMessage({ ...failed, nextRetryAt: null, payUrl: null, reason: 'insufficient funds' }).text).toBe(
      ['Payment for invoice INV-000042 (30.00 USD) failed: insufficient funds.', 'We will not try again automatically.', 'Please update your card.'].join('\n'),
    );
    expect(paymentNoticeMessage({ ...failed, reason: '  ' }).text.split('\n')[0]).toBe('Payment for invoice INV-000042 (30.00 USD) failed.');
  });

  it('final, fallback plan: moved to the fallback plan now', () => {
    expect(paymentNoticeMessage(final('fallback_plan'))).toEqual({
      subject: 'Acme: moved to the Free plan after failed payments',
      text: [
        'Payment for invoice INV-000042 (30.00 USD) failed: Your card was declined.',
        'That was the last attempt: the subscription has been moved to the Free plan now.',
        `Pay the invoice: ${PAY_URL}`,
      ].join('\n'),
    });
  });

  it('final, cancel: cancelled at the period end', () => {
    expect(paymentNoticeMessage(final('cancel'))).toEqual({
      subject: 'Acme: subscription to be cancelled after failed payments',
      text: [
        'Payment for invoice INV-000042 (30.00 USD) failed: Your card was declined.',
        'That was the last attempt: the subscription to the Pro plan will be cancelled at the end of the current period (2026-12-25).',
        `Pay the invoice: ${PAY_URL}`,
      ].join('\n'),
    });
    expect(paymentNoticeMessage({ ...final('cancel'), periodEnd: null }).text).toContain('cancelled at the end of the current period.');
  });

  it('final, mark uncollectible: the invoice is marked uncollectible and the plan kept', () => {
    expect(paymentNoticeMessage({ ...final('mark_uncollectible'), payUrl: null })).toEqual({
      subject: 'Acme: invoice INV-000042 marked uncollectible',
      text: [
        'Payment for invoice INV-000042 (30.00 USD) failed: Your card was declined.',
        'That was the last attempt: invoice INV-000042 has been marked uncollectible. The subscription stays on the Pro plan.',
      ].join('\n'),
    });
  });

  it('final without an action still says no further attempt is made', () => {
    expect(paymentNoticeMessage(final(null)).text.split('\n')[1]).toBe('That was the last attempt: we will not try again automatically.');
  });

  it('keeps every outside value on one line and shows only http(s) links', () => {
    const evil = paymentNoticeMessage({
      ...failed,
      customerName: 'Evil\r\nBcc: victim@example.test\n',
      invoiceNumber: 'INV-1\nSubject: hi',
      reason: 'declined\n\nClick https://phish.example.test now\u0000',
      payUrl: 'https://pay.example.test/x\nInjected: line',
      planName: 'Pro\nplan',
    });
    expect(evil.subject).not.toMatch(/[\r\n]/);
    const lines = evil.text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('Payment for invoice INV-1 Subject: hi (30.00 USD) failed: declined Click https://phish.example.test now.');
    expect(lines[2]).toMatch(/^Update your card: https:\/\/pay\.example\.test\/\S+$/);
    expect(paymentNoticeMessage({ ...failed, payUrl: 'javascript:alert(1)' }).text.split('\n')[2]).toBe('Please update your card.');
    const long = paymentNoticeMessage({ ...failed, reason: 'x'.repeat(1_000) });
    expect(long.text.split('\n')[0]!.length).toBeLessThan(400);
  });
});

describe('deliverPaymentNotice', () => {
  let database: TestDatabase;
  let smtp: SmtpReceiver;
  let slack: HttpReceiver;
  let senders: Senders;
  const catalog = loadCatalog();

  beforeAll(async () => {
    [database, smtp, slack] = await Promise.all([createTestDatabase(), startSmtpReceiver(), startHttpReceiver()]);
    // The loopback receivers are plain http on 127.0.0.1.
    senders = createSenders({ smtpUrl: smtp.url, timeoutMs: 2_000, webhooks: { allowHttp: true, allowPrivateNetworks: true } });
  });
  afterAll(async () => {
    await senders?.close();
    await Promise.all([database?.close(), smtp?.close(), slack?.close()]);
  });
  beforeEach(() => {
    smtp.reset();
    slack.reset();
  });

  async function customer(options: { name?: string; emailChannel?: boolean; slack?: boolean } = {}): Promise<{ id: string; name: string; slackPath: string }> {
    const id = `pn-${randomUUID().slice(0, 8)}`;
    const name = options.name ?? `Notice Co ${id}`;
    const slackPath = `/slack/${id}`;
    const channels = {
      ...(options.emailChannel === false ? {} : { email: { to: ['billing-ops@notice.test'] } }),
      ...(options.slack === false ? {} : { slack: { webhookUrl: `${slack.baseUrl}${slackPath}` } }),
    };
    const start = new Date('2026-11-25T00:00:00.000Z');
    const end = new Date('2026-12-25T00:00:00.000Z');
    await database.db.customer.create({
      data: {
        id, name, email: 'owner@notice.test',
        alertChannels: { create: { channels } },
        subscription: {
          create: {
            workflowId: `subscription-${id}`, planId: 'pro', interval: 'monthly', seats: 1, status: 'past_due', currency: 'USD',
            periodStart: start, periodEnd: end, cycleStart: start, cycleEnd: end, version: 1,
          },
        },
      },
    });
    return { id, name, slackPath };
  }

  const notice = (overrides: Partial<PaymentNotice> = {}): PaymentNotice => ({
    noticeId: `inv_${randomUUID().slice(0, 8)}:failed:1`,
    kind: 'payment_failed',
    invoiceNumber: 'INV-000042',
    amountMinor: '3000',
    currency: 'USD',
    reason: 'Your card was declined.',
    payUrl: PAY_URL,
    nextRetryAt: Date.parse('2026-12-01T00:00:00.000Z'),
    finalAction: null,
    ...overrides,
  });

  function deliver(args: { customerId: string; channel: ChannelKind; notice: PaymentNotice }, attempt = 1, using: Senders = senders) {
    const activities = createPaymentNoticeActivities({ db: database.db, senders: using, catalog: () => catalog });
    return new MockActivityEnvironment({ attempt }).run(activities.deliverPaymentNotice, args);
  }

  const rowsOf = (customerId: string) => database.db.paymentNoticeDelivery.findMany({ where: { customerId }, orderBy: { channel: 'asc' } });
  const slackText = (index = 0) => (slack.requests[index]!.body as { text: string }).text;

  it('delivers by email and Slack with the invoice number, amount, reason and pay link', async () => {
    const { id, name, slackPath } = await customer();
    const n = notice();
    await deliver({ customerId: id, channel: 'email', notice: n });
    await deliver({ customerId: id, channel: 'slack', notice: n });

    expect(smtp.messages).toHaveLength(1);
    const email = smtp.messages[0]!;
    expect(email.to).toEqual(['billing-ops@notice.test']);
    expect(email.subject).toBe(`${name}: payment for invoice INV-000042 failed`);
    expect(email.text).toBe(
      ['Payment for invoice INV-000042 (30.00 USD) failed: Your card was declined.', 'We will try again on 2026-12-01.', `Update your card: ${PAY_URL}`].join('\n'),
    );
    expect(slack.requests).toHaveLength(1);
    expect(slack.requests[0]!.path).toBe(slackPath);
    // Slack's mrkdwn escaping turns & into &amp; (Slack shows it as &).
    expect(slackText()).toBe(`${name}: payment for invoice INV-000042 failed\n${email.text.replace(/&/g, '&amp;')}`);

    const rows = await rowsOf(id);
    expect(rows.map((r) => ({ channel: r.channel, noticeId: r.noticeId, status: r.status, attempts: r.attempts, lastError: r.lastError, leaseId: r.leaseId }))).toEqual([
      { channel: 'email', noticeId: n.noticeId, status: 'delivered', attempts: 1, lastError: null, leaseId: null },
      { channel: 'slack', noticeId: n.noticeId, status: 'delivered', attempts: 1, lastError: null, leaseId: null },
    ]);
    expect(rows.every((r) => r.deliveredAt instanceof Date)).toBe(true);
  });

  it('a final notice names what happened, with the catalog\'s plan names', async () => {
    const { id } = await customer({ slack: false });
    await deliver({ customerId: id, channel: 'email', notice: notice({ kind: 'payment_final', noticeId: 'inv_x:final', nextRetryAt: null, finalAction: 'fallback_plan' }) });
    await deliver({ customerId: id, channel: 'email', notice: notice({ kind: 'payment_final', noticeId: 'inv_y:final', nextRetryAt: null, finalAction: 'cancel', amountMinor: '123456', currency: 'JPY' }) });
    expect(smtp.messages.map((m) => m.text.split('\n')[1])).toEqual([
      'That was the last attempt: the subscription has been moved to the Free plan now.',
      'That was the last attempt: the subscription to the Pro plan will be cancelled at the end of the current period (2026-12-25).',
    ]);
    expect(smtp.messages[1]!.text).toContain('(123456 JPY)');
  });

  it('without configured addresses, email goes to the customer\'s billing email', async () => {
    const { id } = await customer({ emailChannel: false });
    await deliver({ customerId: id, channel: 'email', notice: notice() });
    expect(smtp.messages.map((m) => m.to)).toEqual([['owner@notice.test']]);
  });

  it('the same notice is never sent twice; another notice is', async () => {
    const { id } = await customer();
    const n = notice();
    for (const attempt of [1, 2]) {
      await deliver({ customerId: id, channel: 'email', notice: n }, attempt);
      await deliver({ customerId: id, channel: 'slack', notice: n }, attempt);
    }
    // A redelivery of the same id with other contents (a replayed or buggy caller) is still the same notice.
    await deliver({ customerId: id, channel: 'slack', notice: { ...n, reason: 'something else' } }, 3);
    expect([smtp.messages.length, slack.requests.length]).toEqual([1, 1]);
    expect((await rowsOf(id)).map((r) => [r.channel, r.status, r.attempts])).toEqual([['email', 'delivered', 1], ['slack', 'delivered', 1]]);

    await deliver({ customerId: id, channel: 'slack', notice: notice({ noticeId: `${n.noticeId}-2` }) });
    expect(slack.requests).toHaveLength(2);
  });

  it('a Slack 500 leaves a retrying row and throws a retryable failure; the next attempt delivers', async () => {
    const { id } = await customer();
    const n = notice();
    slack.failNext(1, 500, 'SLACK-DESTINATION-BODY upstream exploded');
    const failure = await deliver({ customerId: id, channel: 'slack', notice: n }).then(() => undefined, (error: unknown) => error);
    expect(failure).toMatchObject({ type: 'TransientDeliveryError', nonRetryable: false, message: 'Slack webhook answered 500' });
    expect(await rowsOf(id)).toMatchObject([{ channel: 'slack', status: 'retrying', attempts: 1, lastError: 'Slack webhook answered 500', leaseId: null, leaseExpiresAt: null, deliveredAt: null }]);

    await deliver({ customerId: id, channel: 'slack', notice: n }, 2);
    expect(slack.attempts.map((a) => a.status)).toEqual([500, 200]);
    expect(await rowsOf(id)).toMatchObject([{ status: 'delivered', attempts: 2, lastError: null }]);
  });

  it('the last attempt\'s transient failure is reported failed', async () => {
    const { id } = await customer();
    slack.failNext(1, 503);
    await expect(deliver({ customerId: id, channel: 'slack', notice: notice() }, PAYMENT_NOTICE_MAX_ATTEMPTS)).rejects.toMatchObject({ type: 'TransientDeliveryError' });
    expect(await rowsOf(id)).toMatchObject([{ status: 'failed', attempts: PAYMENT_NOTICE_MAX_ATTEMPTS, lastError: 'Slack webhook answered 503' }]);
  });

  it('a 4xx is a PermanentDeliveryError: not retryable, reported failed, nothing of the answer kept', async () => {
    const { id } = await customer();
    slack.failAlways(404, { ok: false, error: 'SLACK-DESTINATION-BODY no_service' });
    try {
      await expect(deliver({ customerId: id, channel: 'slack', notice: notice() })).rejects.toMatchObject({
        type: 'PermanentDeliveryError', nonRetryable: true, message: 'Slack webhook answered 404',
      });
    } finally {
      slack.failAlways(null);
    }
    const rows = await rowsOf(id);
    expect(rows).toMatchObject([{ status: 'failed', attempts: 1, lastError: 'Slack webhook answered 404' }]);
    expect(JSON.stringify(rows)).not.toContain('DESTINATION-BODY');
    expect(JSON.stringify(rows)).not.toContain('/slack/'); // no destination in the report
  });

  it('a channel the customer does not have is skipped, and reported so', async () => {
    const { id } = await customer();
    await deliver({ customerId: id, channel: 'telegram', notice: notice() });
    expect(await rowsOf(id)).toMatchObject([{ channel: 'telegram', status: 'skipped', lastError: 'the telegram channel is no longer configured' }]);
  });

  it('an error of ours is reported as a fixed phrase and retried', async () => {
    const { id } = await customer();
    await expect(deliver({ customerId: id, channel: 'email', notice: notice({ currency: 'XXX' }) })).rejects.toMatchObject({
      type: 'PaymentNoticeDeliveryError', nonRetryable: false, message: 'internal error while preparing or sending the payment notice',
    });
    expect(await rowsOf(id)).toMatchObject([{ status: 'retrying', lastError: 'internal error while preparing or sending the payment notice' }]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('names with line breaks cannot add lines or headers, by email or Slack', async () => {
    const { id } = await customer({ name: 'Evil Co\r\nBcc: victim@evil.test\r\n\r\nInjected body' });
    const n = notice({
      invoiceNumber: 'INV-9\nSubject: free money',
      reason: 'declined\n\nWe will refund you: https://phish.evil.test',
      payUrl: 'https://pay.example.test/x\nInjected: line',
    });
    await deliver({ customerId: id, channel: 'email', notice: n });
    await deliver({ customerId: id, channel: 'slack', notice: n });

    const email = smtp.messages[0]!;
    expect(email.to).toEqual(['billing-ops@notice.test']);
    expect(email.subject).toBe('Evil Co Bcc: victim@evil.test Injected body: payment for invoice INV-9 Subject: free money failed');
    const lines = email.text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^Payment for invoice INV-9 Subject: free money \(30\.00 USD\) failed: declined We will refund you: https:\/\/phish\.evil\.test\.$/);
    expect(lines[1]).toBe('We will try again on 2026-12-01.');
    expect(lines[2]).toBe('Update your card: https://pay.example.test/xInjected:%20line');
    expect(slackText().split('\n')).toHaveLength(4); // the subject, then the same three lines
  });

  it('two concurrent attempts never both send, and the claim of an attempt that died expires', async () => {
    const { id } = await customer();
    const sent: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const blocking: Senders = {
      async send(channel) {
        sent.push(channel.kind);
        await gate;
      },
      async close() {},
    };
    const n = notice();
    const first = deliver({ customerId: id, channel: 'slack', notice: n }, 1, blocking);
    await eventually(() => sent.length === 1);
    await expect(deliver({ customerId: id, channel: 'slack', notice: n }, 2, blocking)).rejects.toMatchObject({ type: 'DeliveryInProgress', nonRetryable: false });
    release();
    await first;
    expect(sent).toEqual(['slack']);

    // A claim left behind by an attempt that died: once its lease has expired, the next attempt sends.
    const stale = notice();
    await database.db.paymentNoticeDelivery.create({
      data: { customerId: id, noticeId: stale.noticeId, channel: 'slack', status: 'sending', attempts: 1, leaseId: randomUUID(), leaseExpiresAt: new Date(Date.now() - 1_000) },
    });
    await deliver({ customerId: id, channel: 'slack', notice: stale }, 2);
    expect(slack.requests).toHaveLength(1);
    expect(await database.db.paymentNoticeDelivery.findUniqueOrThrow({ where: { customerId_noticeId_channel: { customerId: id, noticeId: stale.noticeId, channel: 'slack' } } }))
      .toMatchObject({ status: 'delivered', attempts: 2, leaseId: null, leaseExpiresAt: null });
  });
});

/**
 * Delivery of one alert message to one channel: email (SMTP), Slack and Discord webhooks, and the
 * Telegram Bot API. A failure is classified so the caller knows whether to retry:
 *
 * - PermanentDeliveryError: the destination is wrong (HTTP 3xx/4xx other than 408 and 429, SMTP
 *   5xx other than 503), or refused by the webhook policy (see destinationGuard.ts). Retrying
 *   would get the same answer.
 * - TransientDeliveryError: network errors, timeouts, HTTP 5xx, 408 and 429, SMTP 4xx and 503.
 * - ChannelNotConfiguredError: this deployment cannot send on the channel at all (no SMTP server).
 *
 * Error messages end up in the delivery report that the API returns, in logs and in workflow
 * history, so they are fixed phrases of ours plus status codes: never text from the destination's
 * answer (it is whatever the far end chose to say, possibly quoting the request), never the
 * request (webhook URLs, the bot token and the SMTP password are secrets), and no `cause` (the
 * library errors' messages and causes can hold the URL). Nothing here logs.
 */
import http from 'node:http';
import https from 'node:https';
import { IncomingWebhook, type FetchFunction } from '@slack/webhook';
import { createTransport, type NodemailerError } from 'nodemailer';
import { agentFetch } from './agentFetch.js';
import type { ChannelConfig } from './channelConfig.js';
import { DEFAULT_WEBHOOK_POLICY, DESTINATION_REFUSED, destinationAgents, webhookUrlProblem, type WebhookPolicy } from './destinationGuard.js';

export class PermanentDeliveryError extends Error {
  readonly code = 'permanent_delivery_failure';
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

export class TransientDeliveryError extends Error {
  readonly code = 'transient_delivery_failure';
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}

export class ChannelNotConfiguredError extends Error {
  readonly code = 'channel_not_configured';
  constructor(message: string) {
    super(message);
    this.name = 'ChannelNotConfiguredError';
  }
}

export interface SenderOptions {
  /** e.g. smtp://user:pass@mail.example.com:587; unset: email alerts fail with ChannelNotConfiguredError. */
  smtpUrl?: string;
  emailFrom?: string;
  /** Default https://api.telegram.org */
  telegramApiBaseUrl?: string;
  /** Per request (HTTP) or per connection phase (SMTP: connect, greeting, socket idle). Default 10000. */
  timeoutMs?: number;
  /** Where customer-supplied webhooks (Slack, Discord) may go; default https to public addresses only. */
  webhooks?: Partial<WebhookPolicy>;
}

export interface AlertText {
  subject: string;
  text: string;
}

export interface Senders {
  send(channel: ChannelConfig, message: AlertText): Promise<void>;
  close(): Promise<void>;
}

export interface WebhookPoster {
  /**
   * POSTs to a host's webhook endpoint (issue 12) under the same address rules as alert webhooks;
   * answers the status. Throws PermanentDeliveryError for a URL or destination the rules refuse,
   * TransientDeliveryError for a network failure or timeout.
   */
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<{ status: number }>;
  close(): void;
}

export function createWebhookPoster(options: Pick<SenderOptions, 'webhooks' | 'timeoutMs'>): WebhookPoster {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy: WebhookPolicy = { ...DEFAULT_WEBHOOK_POLICY, ...options.webhooks };
  const agents = destinationAgents(policy);
  const fetchFn = agentFetch(agents);
  return {
    async post(url, body, headers) {
      const what = 'webhook endpoint';
      assertWebhookUrl(what, url, policy);
      try {
        const response = await fetchFn(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'Tollgate-webhooks' }, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
        await response.text();
        return { status: response.status };
      } catch (error) {
        throw networkFailure(what, error, timeoutMs);
      }
    },
    close() {
      agents.destroy();
    },
  };
}

const DEFAULT_FROM = 'Tollgate <alerts@tollgate.local>';
const DEFAULT_TELEGRAM_API = 'https://api.telegram.org';
const DEFAULT_TIMEOUT_MS = 10_000;
const DISCORD_MAX_CONTENT = 2000;
const TELEGRAM_MAX_TEXT = 4096;
const USER_AGENT = 'Tollgate-alerts';

type DeliveryError = PermanentDeliveryError | TransientDeliveryError;

/** HTTP statuses worth retrying; every other non-2xx answer means the destination is wrong. */
function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** SMTP replies worth retrying: 4xx, and 503 (bad command sequence: a new session can succeed). */
function isPermanentSmtpCode(code: number): boolean {
  return code >= 500 && code < 600 && code !== 503;
}

/** Classified by the status; the message is the status code and nothing of the answer's body. */
function httpFailure(what: string, status: number, message = `${what} answered ${status}`): DeliveryError {
  return isTransientStatus(status) ? new TransientDeliveryError(message, status) : new PermanentDeliveryError(message, status);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node's AggregateError (every address of a name failed) carries the per-address errors.
  const errors: unknown = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  return errorCode((error as { cause?: unknown }).cause);
}

/** A fixed phrase per kind of network failure; the error's own message can name the host or the URL. */
function networkFailureKind(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NODATA':
    case 'EAI_NONAME':
      return 'DNS lookup failed';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'connection reset';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
      return 'network unreachable';
    default:
      if (code && /CERT|TLS|SSL|UNABLE_TO_|SELF_SIGNED/.test(code)) return 'TLS handshake failed';
      return 'no answer';
  }
}

/** A request that got no answer: worth retrying, unless the destination itself was refused. */
function networkFailure(what: string, error: unknown, timeoutMs: number): DeliveryError {
  const code = errorCode(error);
  if (code === DESTINATION_REFUSED) return new PermanentDeliveryError(`${what} refused: the destination is not a public address`);
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError' || code === 'ETIMEDOUT') return new TransientDeliveryError(`${what} request timed out after ${timeoutMs} ms`);
  return new TransientDeliveryError(`${what} request failed: ${networkFailureKind(code)}`);
}

/** Checks a webhook URL against the policy before use (settings can be stricter than when it was saved). */
function assertWebhookUrl(what: string, url: string, policy: WebhookPolicy): void {
  const problem = webhookUrlProblem(url, policy);
  if (problem) throw new PermanentDeliveryError(`${what} URL refused: it ${problem}`);
}

/** At most `max` UTF-16 code units, cut between code points, ending in '…' when cut. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max - 1) break;
    out += char;
  }
  return `${out}…`;
}

/** Slack mrkdwn treats &, < and > as control characters. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The shape @slack/webhook 8 throws: IncomingWebhookHTTPError / IncomingWebhookRequestError. */
interface SlackWebhookErrorShape {
  code?: unknown;
  statusCode?: unknown;
  original?: unknown;
}

/** Nodemailer's error codes are short upper-case identifiers; anything else is not shown. */
function smtpCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Z][A-Z0-9_]{0,39}$/.test(value) ? value : undefined;
}

function createEmailSender(options: SenderOptions, timeoutMs: number) {
  const { smtpUrl } = options;
  if (!smtpUrl) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(smtpUrl);
  } catch {
    throw new Error('the SMTP URL is not a valid URL'); // not the URL itself: it can hold a password
  }
  let transport: ReturnType<typeof createTransport>;
  try {
    transport = createTransport({
      url: smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      // A plain smtp:// server on this machine is a test or a local relay: no STARTTLS upgrade.
      ignoreTLS: parsed.protocol === 'smtp:' && isLoopbackHost(parsed.hostname),
    });
  } catch {
    throw new Error('the SMTP URL is not usable'); // nodemailer's message can quote the URL
  }
  const from = options.emailFrom ?? DEFAULT_FROM;

  function failure(error: unknown): DeliveryError {
    const e: NodemailerError = error instanceof Error ? error : new Error(String(error));
    if (typeof e.responseCode === 'number' && Number.isInteger(e.responseCode)) {
      // The reply code only: the reply text is the server's, and can echo the envelope or more.
      const message = `SMTP server answered ${e.responseCode}`;
      return isPermanentSmtpCode(e.responseCode) ? new PermanentDeliveryError(message, e.responseCode) : new TransientDeliveryError(message, e.responseCode);
    }
    const code = smtpCode(e.code) ?? 'unknown';
    const original = smtpCode(e.originalCode);
    const message = `SMTP delivery failed (${code}${original ? `/${original}` : ''})`;
    // A message nodemailer refuses to send (no valid recipients, too many) is refused again on retry.
    return code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'EMAXRECIPIENTS' ? new PermanentDeliveryError(message) : new TransientDeliveryError(message);
  }

  return {
    async send(to: readonly string[], message: AlertText): Promise<void> {
      if (to.length === 0) throw new PermanentDeliveryError('the email channel has no recipients');
      try {
        await transport.sendMail({ from, to: [...to], subject: message.subject, text: message.text });
      } catch (error) {
        throw failure(error);
      }
    },
    close(): void {
      transport.close();
    },
  };
}

export function createSenders(options: SenderOptions): Senders {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy: WebhookPolicy = { ...DEFAULT_WEBHOOK_POLICY, ...options.webhooks };
  const telegramBase = (options.telegramApiBaseUrl ?? DEFAULT_TELEGRAM_API).replace(/\/+$/, '');
  if (!URL.canParse(telegramBase) || !/^https?:$/.test(new URL(telegramBase).protocol)) throw new Error('the Telegram API base URL must be an http or https URL');
  const email = createEmailSender(options, timeoutMs);
  // Slack and Discord URLs come from customers: their connections go through the guard.
  const webhookAgents = destinationAgents(policy);
  const webhookFetch = agentFetch(webhookAgents);
  // The Telegram API base is operator configuration (TELEGRAM_API_BASE_URL), not customer input,
  // and the customer's parts of the request (bot token, chat id) are validated so they can only
  // form a path and a body on that host. It is deliberately not guarded: an operator may run a
  // local Bot API server on loopback or a private network, and should not have to open customer
  // webhooks to private networks to do so.
  const operatorAgents = { http: new http.Agent(), https: new https.Agent() };
  const telegramFetch = agentFetch(operatorAgents);

  async function postJson(what: string, fetchFn: FetchFunction, url: string, payload: unknown): Promise<{ status: number; ok: boolean; body: string }> {
    try {
      const response = await fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
        body: JSON.stringify(payload),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: response.status, ok: response.ok, body: await response.text() };
    } catch (error) {
      throw networkFailure(what, error, timeoutMs);
    }
  }

  async function sendSlack(webhookUrl: string, message: AlertText): Promise<void> {
    const what = 'Slack webhook';
    assertWebhookUrl(what, webhookUrl, policy);
    try {
      await new IncomingWebhook(webhookUrl, { timeout: timeoutMs, fetch: webhookFetch }).send({ text: slackEscape(`${message.subject}\n${message.text}`) });
    } catch (error) {
      const e: SlackWebhookErrorShape = typeof error === 'object' && error !== null ? error : {};
      if (e.code === 'slack_webhook_http_error' && typeof e.statusCode === 'number') throw httpFailure(what, e.statusCode);
      throw networkFailure(what, e.code === 'slack_webhook_request_error' ? e.original : error, timeoutMs);
    }
  }

  async function sendDiscord(webhookUrl: string, message: AlertText): Promise<void> {
    const what = 'Discord webhook';
    assertWebhookUrl(what, webhookUrl, policy);
    const content = truncate(`${message.subject}\n${message.text}`, DISCORD_MAX_CONTENT);
    // No @everyone / role / user pings, whatever the customer's or plan's names contain.
    const answer = await postJson(what, webhookFetch, webhookUrl, { content, allowed_mentions: { parse: [] } });
    if (!answer.ok) throw httpFailure(what, answer.status);
  }

  async function sendTelegram(botToken: string, chatId: string, message: AlertText): Promise<void> {
    const what = 'Telegram sendMessage';
    const url = `${telegramBase}/bot${botToken}/sendMessage`;
    const text = truncate(`${message.subject}\n${message.text}`, TELEGRAM_MAX_TEXT);
    const answer = await postJson(what, telegramFetch, url, { chat_id: chatId, text });
    if (!answer.ok) throw httpFailure(what, answer.status);
    const json = parseJson(answer.body);
    if (typeof json !== 'object' || json === null || (json as { ok?: unknown }).ok !== true) {
      // A 2xx that is not a Bot API success: trust an error_code that is an HTTP status, else try again later.
      const errorCodeField: unknown = (json as { error_code?: unknown } | null)?.error_code;
      if (typeof errorCodeField === 'number' && Number.isInteger(errorCodeField) && errorCodeField >= 300 && errorCodeField <= 599) {
        throw httpFailure(what, errorCodeField, `${what} answered ${answer.status} with error_code ${errorCodeField}`);
      }
      throw new TransientDeliveryError(`${what} answered ${answer.status} without "ok": true`, answer.status);
    }
  }

  return {
    async send(channel, message) {
      switch (channel.kind) {
        case 'email':
          if (!email) throw new ChannelNotConfiguredError('email alerts need an SMTP server, and none is configured');
          return email.send(channel.to, message);
        case 'slack':
          return sendSlack(channel.webhookUrl, message);
        case 'discord':
          return sendDiscord(channel.webhookUrl, message);
        case 'telegram':
          return sendTelegram(channel.botToken, channel.chatId, message);
        default: {
          const unknown: never = channel;
          throw new ChannelNotConfiguredError(`unknown channel kind ${String((unknown as { kind?: unknown }).kind)}`);
        }
      }
    },
    async close() {
      email?.close();
      webhookAgents.destroy();
      operatorAgents.http.destroy();
      operatorAgents.https.destroy();
    },
  };
}

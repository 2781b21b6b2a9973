/**
 * Delivery of one alert message to one channel: email (SMTP), Slack and Discord webhooks, and the
 * Telegram Bot API. A failure is classified so the caller knows whether to retry:
 *
 * - PermanentDeliveryError: the destination is wrong (HTTP 3xx/4xx other than 408 and 429, SMTP
 *   5xx other than 503). Retrying would get the same answer.
 * - TransientDeliveryError: network errors, timeouts, HTTP 5xx, 408 and 429, SMTP 4xx and 503.
 * - ChannelNotConfiguredError: this deployment cannot send on the channel at all (no SMTP server).
 *
 * Webhook URLs, the bot token and the SMTP password are secrets: error messages are written here
 * from status codes and the answers' short descriptions, never from the request, and carry no
 * `cause` (the library errors' messages and causes can hold the URL). Nothing here logs.
 */
import { IncomingWebhook } from '@slack/webhook';
import { createTransport, type NodemailerError } from 'nodemailer';
import type { ChannelConfig } from './channelConfig.js';

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
}

export interface AlertText {
  subject: string;
  text: string;
}

export interface Senders {
  send(channel: ChannelConfig, message: AlertText): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_FROM = 'Tollgate <alerts@tollgate.local>';
const DEFAULT_TELEGRAM_API = 'https://api.telegram.org';
const DEFAULT_TIMEOUT_MS = 10_000;
const DISCORD_MAX_CONTENT = 2000;
const TELEGRAM_MAX_TEXT = 4096;
const MAX_DETAIL = 200;

type DeliveryError = PermanentDeliveryError | TransientDeliveryError;

/** HTTP statuses worth retrying; every other non-2xx answer means the destination is wrong. */
function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** SMTP replies worth retrying: 4xx, and 503 (bad command sequence: a new session can succeed). */
function isPermanentSmtpCode(code: number): boolean {
  return code >= 500 && code < 600 && code !== 503;
}

/** Replaces every secret (4+ characters) in `text`, flattens it to one line and caps its length. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL - 1)}…` : out;
}

/** The strings of a URL that must not be shown: the whole URL, its path and query, and their decoded forms. */
function urlSecrets(url: string): string[] {
  const secrets = [url];
  const decode = (value: string): string => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  try {
    const parsed = new URL(url);
    secrets.push(parsed.href, `${parsed.pathname}${parsed.search}`, parsed.pathname, decode(parsed.pathname));
    if (parsed.password) secrets.push(parsed.password, decode(parsed.password));
    // Webhook tokens are path segments (…/webhooks/<id>/<token>, …/services/T…/B…/<token>): an
    // answer that quotes only part of the path must not show them either.
    for (const segment of parsed.pathname.split('/')) if (segment.length >= 8) secrets.push(segment, decode(segment));
    for (const value of parsed.searchParams.values()) if (value.length >= 8) secrets.push(value);
  } catch {
    // not a URL: the whole string is the secret
  }
  // Longest first, so a shorter secret never leaves part of a longer one behind.
  return [...new Set(secrets)].filter((s) => s.length > 1).sort((a, b) => b.length - a.length);
}

function httpFailure(what: string, status: number, detail: string | undefined, secrets: readonly string[]): DeliveryError {
  const clean = detail ? scrub(detail, secrets) : '';
  const message = `${what} answered ${status}${clean ? `: ${clean}` : ''}`;
  return isTransientStatus(status) ? new TransientDeliveryError(message, status) : new PermanentDeliveryError(message, status);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return errorCode((error as { cause?: unknown }).cause);
}

/** A request that got no answer: always worth retrying. */
function networkFailure(what: string, error: unknown, timeoutMs: number, secrets: readonly string[]): TransientDeliveryError {
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') return new TransientDeliveryError(`${what} request timed out after ${timeoutMs} ms`);
  const code = errorCode(error);
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  return new TransientDeliveryError(`${what} request failed: ${scrub(detail, secrets)}`);
}

/** Checks a webhook or API URL before use, so that fetch never reports it back in an error. */
function assertHttpUrl(what: string, url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new PermanentDeliveryError(`${what} URL is not a valid URL`);
  }
  if (protocol !== 'https:' && protocol !== 'http:') throw new PermanentDeliveryError(`${what} URL must be http or https`);
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

async function readBody(response: Response): Promise<string> {
  try {
    return await response.text();
  } catch {
    return '';
  }
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function stringField(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === 'string' ? field : typeof field === 'number' ? String(field) : undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The shape @slack/webhook 8 throws: IncomingWebhookHTTPError / IncomingWebhookRequestError (fetch based, no axios). */
interface SlackWebhookErrorShape {
  code?: unknown;
  statusCode?: unknown;
  body?: unknown;
  original?: unknown;
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
  const secrets = urlSecrets(smtpUrl);
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
  } catch (error) {
    throw new Error(`the SMTP URL is not usable: ${scrub(error instanceof Error ? error.message : String(error), secrets)}`);
  }
  const from = options.emailFrom ?? DEFAULT_FROM;

  function failure(error: unknown): DeliveryError {
    const e: NodemailerError = error instanceof Error ? error : new Error(String(error));
    if (typeof e.responseCode === 'number') {
      const message = `SMTP server answered ${e.responseCode}${e.response ? `: ${scrub(e.response, secrets)}` : ''}`;
      return isPermanentSmtpCode(e.responseCode) ? new PermanentDeliveryError(message, e.responseCode) : new TransientDeliveryError(message, e.responseCode);
    }
    const code = e.code ?? 'unknown';
    const original = e.originalCode ? `/${e.originalCode}` : '';
    const message = `SMTP delivery failed (${code}${original}): ${scrub(e.message, secrets)}`;
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
  const telegramBase = (options.telegramApiBaseUrl ?? DEFAULT_TELEGRAM_API).replace(/\/+$/, '');
  const email = createEmailSender(options, timeoutMs);

  async function postJson(what: string, url: string, payload: unknown, secrets: readonly string[]): Promise<{ status: number; ok: boolean; body: string }> {
    assertHttpUrl(what, url);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        // A webhook that redirects is misconfigured; following it would turn the POST into a GET.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: response.status, ok: response.ok, body: await readBody(response) };
    } catch (error) {
      throw networkFailure(what, error, timeoutMs, secrets);
    }
  }

  async function sendSlack(webhookUrl: string, message: AlertText): Promise<void> {
    const what = 'Slack webhook';
    const secrets = urlSecrets(webhookUrl);
    assertHttpUrl(what, webhookUrl);
    try {
      await new IncomingWebhook(webhookUrl, { timeout: timeoutMs }).send({ text: slackEscape(`${message.subject}\n${message.text}`) });
    } catch (error) {
      const e: SlackWebhookErrorShape = typeof error === 'object' && error !== null ? error : {};
      if (e.code === 'slack_webhook_http_error' && typeof e.statusCode === 'number') {
        throw httpFailure(what, e.statusCode, typeof e.body === 'string' ? e.body : undefined, secrets);
      }
      throw networkFailure(what, e.code === 'slack_webhook_request_error' ? e.original : error, timeoutMs, secrets);
    }
  }

  async function sendDiscord(webhookUrl: string, message: AlertText): Promise<void> {
    const what = 'Discord webhook';
    const secrets = urlSecrets(webhookUrl);
    const content = truncate(`${message.subject}\n${message.text}`, DISCORD_MAX_CONTENT);
    // No @everyone / role / user pings, whatever the customer's or plan's names contain.
    const answer = await postJson(what, webhookUrl, { content, allowed_mentions: { parse: [] } }, secrets);
    if (!answer.ok) throw httpFailure(what, answer.status, stringField(parseJson(answer.body), 'message') ?? answer.body, secrets);
  }

  async function sendTelegram(botToken: string, chatId: string, message: AlertText): Promise<void> {
    const what = 'Telegram sendMessage';
    const url = `${telegramBase}/bot${botToken}/sendMessage`;
    const secrets = [...urlSecrets(url), botToken, botToken.slice(botToken.indexOf(':') + 1)];
    const text = truncate(`${message.subject}\n${message.text}`, TELEGRAM_MAX_TEXT);
    const answer = await postJson(what, url, { chat_id: chatId, text }, secrets);
    const json = parseJson(answer.body);
    const description = stringField(json, 'description');
    if (!answer.ok) throw httpFailure(what, answer.status, description ?? answer.body, secrets);
    if (typeof json !== 'object' || json === null || (json as { ok?: unknown }).ok !== true) {
      // A 2xx that is not a Bot API success: trust its error_code if it has one, else try again later.
      const errorCodeField = Number(stringField(json, 'error_code'));
      if (Number.isInteger(errorCodeField) && errorCodeField >= 300) throw httpFailure(what, errorCodeField, description, secrets);
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
    },
  };
}

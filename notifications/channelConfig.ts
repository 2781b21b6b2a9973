/**
 * A customer's usage-alert channels, as the API accepts and stores them. Webhook URLs and the
 * Telegram bot token are secrets: they are stored whole and only ever shown through
 * redactChannels (the API's answers) or not at all (error messages, logs, workflow history).
 */
import { z } from 'zod';
import { webhookUrlProblem, type WebhookPolicy } from './destinationGuard.js';
import { emailAddress } from './emailAddress.js';

// The stored shape: http is allowed here so that channels saved under a laxer policy still parse;
// the policy is applied on input (alertChannelsInputSchema) and again at delivery.
const webhookUrl = z.url({ protocol: /^https?$/ }).max(2048);

export const alertChannelsSchema = z.strictObject({
  email: z.strictObject({ to: z.array(z.email()).min(1).max(20) }).optional(),
  slack: z.strictObject({ webhookUrl }).optional(),
  discord: z.strictObject({ webhookUrl }).optional(),
  telegram: z
    .strictObject({
      botToken: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'must be a Telegram bot token (<bot id>:<secret>)'),
      chatId: z.union([z.string().regex(/^-?\d+$|^@\w+$/, 'must be a numeric chat id or an @channel name'), z.number().int()]).transform(String),
    })
    .optional(),
});

/**
 * What PUT …/alert-channels accepts: the stored shape, with webhook URLs held to the policy and
 * addresses to RFC 5321's lengths (rules for input: rows stored before them still parse).
 */
export function alertChannelsInputSchema(policy: WebhookPolicy) {
  return alertChannelsSchema.superRefine((channels, ctx) => {
    for (const [index, address] of (channels.email?.to ?? []).entries()) {
      const parsed = emailAddress.safeParse(address);
      if (!parsed.success) ctx.addIssue({ code: 'custom', path: ['email', 'to', index], message: parsed.error.issues[0]?.message ?? 'invalid email address' });
    }
    for (const kind of ['slack', 'discord'] as const) {
      const url = channels[kind]?.webhookUrl;
      const problem = url === undefined ? undefined : webhookUrlProblem(url, policy);
      if (problem) ctx.addIssue({ code: 'custom', path: [kind, 'webhookUrl'], message: problem });
    }
  });
}

export type AlertChannels = z.output<typeof alertChannelsSchema>;
/** The same shape as AlertChannels with every secret masked (see redactChannels). */
export type RedactedAlertChannels = AlertChannels;

export type ChannelKind = 'email' | 'slack' | 'discord' | 'telegram';

export type ChannelConfig =
  | { kind: 'email'; to: string[] }
  | { kind: 'slack'; webhookUrl: string }
  | { kind: 'discord'; webhookUrl: string }
  | { kind: 'telegram'; botToken: string; chatId: string };

/** The configured channels, in the order email, slack, discord, telegram. */
export function channelList(channels: AlertChannels): ChannelConfig[] {
  const list: ChannelConfig[] = [];
  if (channels.email) list.push({ kind: 'email', to: [...channels.email.to] });
  if (channels.slack) list.push({ kind: 'slack', webhookUrl: channels.slack.webhookUrl });
  if (channels.discord) list.push({ kind: 'discord', webhookUrl: channels.discord.webhookUrl });
  if (channels.telegram) list.push({ kind: 'telegram', botToken: channels.telegram.botToken, chatId: channels.telegram.chatId });
  return list;
}

/** Secrets shorter than this are masked entirely: showing their last 4 characters would give away too much. */
const MIN_LENGTH_TO_SHOW_TAIL = 16;

/** '…' followed by the last 4 characters, or just '…' when the value is too short to show any of it. */
export function redactSecret(value: string): string {
  return value.length >= MIN_LENGTH_TO_SHOW_TAIL ? `…${value.slice(-4)}` : '…';
}

/** Scheme and host stay visible (they tell which service it is), the path and query are masked. */
function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return redactSecret(value);
  }
  // User info (user:password@), if any, is dropped; the tail comes from path, query and fragment only.
  return `${url.protocol}//${url.host}/${redactSecret(`${url.pathname}${url.search}${url.hash}`)}`;
}

/** The bot id (public: it is the bot's user id) stays visible, the secret after the colon is masked. */
function redactBotToken(token: string): string {
  const colon = token.indexOf(':');
  return colon < 0 ? redactSecret(token) : `${token.slice(0, colon)}:${redactSecret(token.slice(colon + 1))}`;
}

/** The channels with webhook URLs and the bot token masked; email addresses and the chat id stay. */
export function redactChannels(channels: AlertChannels): RedactedAlertChannels {
  const redacted: RedactedAlertChannels = {};
  if (channels.email) redacted.email = { to: [...channels.email.to] };
  if (channels.slack) redacted.slack = { webhookUrl: redactUrl(channels.slack.webhookUrl) };
  if (channels.discord) redacted.discord = { webhookUrl: redactUrl(channels.discord.webhookUrl) };
  if (channels.telegram) redacted.telegram = { botToken: redactBotToken(channels.telegram.botToken), chatId: channels.telegram.chatId };
  return redacted;
}

/**
 * Process settings from the environment, parsed once with zod so a bad value stops start-up with
 * a clear message instead of failing later.
 */
import { z } from 'zod';
import type { WebhookPolicy } from '../notifications/destinationGuard.js';
import { paymentSettingsShape, requirePaymentKeys } from './paymentSettings.js';

/** "true" or "false" (the default), as a boolean. */
const flag = z.enum(['true', 'false']).default('false').transform((value) => value === 'true');

const shared = {
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL'),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('tollgate-subscriptions'),
  /** "true" connects to Temporal over TLS (Temporal Cloud or a TLS-enabled cluster). */
  TEMPORAL_TLS: z.enum(['true', 'false']).default('false'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TOLLGATE_CATALOG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Customer webhook URLs (Slack, Discord) must be https and reach public addresses. These relax
   * that for tests and private deployments; the API applies them when channels are saved, the
   * worker when it delivers, so set them alike on both.
   */
  ALERT_WEBHOOKS_ALLOW_HTTP: flag,
  ALERT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS: flag,
  /**
   * The host's own webhook endpoints (POST /v1/webhook-endpoints), apart from customers' alert
   * webhooks: a host's backend often sits on a private network, and allowing that must not let
   * customer sessions point Slack/Discord URLs at it.
   */
  WEBHOOK_ENDPOINTS_ALLOW_HTTP: flag,
  WEBHOOK_ENDPOINTS_ALLOW_PRIVATE_NETWORKS: flag,
  ...paymentSettingsShape,
};

const workerSchema = z.object({
  ...shared,
  /** SMTP server for alert emails, e.g. smtp://user:pass@mail.example.com:587. Unset: email alerts are reported as skipped. */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  ALERT_EMAIL_FROM: z.string().min(3).optional(),
  /**
   * Telegram Bot API base URL (a local Bot API server, or a loopback receiver in tests). Operator
   * configuration, so the webhook policy does not apply to it.
   */
  TELEGRAM_API_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Worker tuning (worker/workerTuning.ts says what each is and why its default). */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000).optional(),
  WORKER_MAX_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(1_000).optional(),
  WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).optional(),
  WORKER_STICKY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3_600).optional(),
  /** Database connections of the worker's pool (its activities' transactions). */
  WORKER_DB_CONNECTIONS: z.coerce.number().int().min(1).max(200).default(20),
}).superRefine(requirePaymentKeys(['STRIPE_SECRET_KEY']));
const apiSchema = z.object({
  ...shared,
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  TOLLGATE_OPERATOR_KEY: z.string().min(16, 'must be at least 16 characters'),
  /** Usage group commit: transactions in flight at once, and most events in one (see api/usage/usageRecorder.ts). */
  USAGE_FLUSH_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  USAGE_FLUSH_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(5_000),
  /** The allow/refuse check's in-process view (api/usage/usageView.ts): customers kept, and an entry's age limit. */
  USAGE_VIEW_MAX_CUSTOMERS: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  USAGE_VIEW_MAX_AGE_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  /** Where Checkout and the billing portal send the customer back when the request names no URL. */
  CHECKOUT_SUCCESS_URL: z.url({ protocol: /^https?$/ }).optional(),
  CHECKOUT_CANCEL_URL: z.url({ protocol: /^https?$/ }).optional(),
  BILLING_PORTAL_RETURN_URL: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Browser origins (comma-separated, e.g. `https://app.example.com`) whose pages may call the API
   * with a customer session: CORS answers them and no one else. Unset: none.
   */
  /** Requests a second per caller and API process (api/access/rateLimits.ts): server keys, customer sessions, and keys on /v1/usage. */
  RATE_LIMIT_KEY_PER_SECOND: z.coerce.number().int().min(1).max(1_000_000).default(100),
  RATE_LIMIT_SESSION_PER_SECOND: z.coerce.number().int().min(1).max(1_000_000).default(20),
  RATE_LIMIT_USAGE_PER_SECOND: z.coerce.number().int().min(1).max(10_000_000).default(50_000),
  /** Lookups of secrets not yet cached (a key's first request, or made-up ones) per client address. */
  RATE_LIMIT_LOOKUPS_PER_SECOND: z.coerce.number().int().min(1).max(1_000_000).default(50),
  /**
   * "true" opens the test clock routes (issue 14): customers on a clock of their own, advanced
   * through the API. Off by default, and refused with live Stripe keys.
   */
  TOLLGATE_TEST_CLOCKS: flag,
  TOLLGATE_CORS_ORIGINS: z.string().default('').transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean))
    // Compared with the browser's Origin header as is: only the form a browser sends is accepted
    // (lower case, no default port, no path), so a setting cannot silently never match.
    .pipe(z.array(z.string().refine((origin) => {
      try {
        return /^https?:$/.test(new URL(origin).protocol) && new URL(origin).origin === origin;
      } catch {
        return false;
      }
    }, 'each origin must be written as a browser sends it: scheme://host[:port], lower case, no default port, no path or trailing slash'))),
}).superRefine(requirePaymentKeys(['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'])).superRefine((settings, context) => {
  // A test clock runs months of renewals in seconds: never where they would charge real cards.
  if (settings.TOLLGATE_TEST_CLOCKS && settings.PAYMENT_PROVIDER === 'stripe' && /^(sk|rk)_live_/.test(settings.STRIPE_SECRET_KEY ?? '')) {
    context.addIssue({ code: 'custom', path: ['TOLLGATE_TEST_CLOCKS'], message: 'test clocks are refused with live Stripe keys (STRIPE_SECRET_KEY is sk_live_…/rk_live_…): use test-mode keys, or turn test clocks off' });
  }
});

export type WorkerSettings = z.output<typeof workerSchema>;
export type ApiSettings = z.output<typeof apiSchema>;

/** The webhook policy (notifications/destinationGuard.ts) these settings describe. */
/** The host webhook endpoints' policy (issue 12), apart from the alert webhooks'. */
export function webhookEndpointPolicy(settings: Pick<WorkerSettings, 'WEBHOOK_ENDPOINTS_ALLOW_HTTP' | 'WEBHOOK_ENDPOINTS_ALLOW_PRIVATE_NETWORKS'>): WebhookPolicy {
  return { allowHttp: settings.WEBHOOK_ENDPOINTS_ALLOW_HTTP, allowPrivateNetworks: settings.WEBHOOK_ENDPOINTS_ALLOW_PRIVATE_NETWORKS };
}

export function alertWebhookPolicy(settings: Pick<WorkerSettings, 'ALERT_WEBHOOKS_ALLOW_HTTP' | 'ALERT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS'>): WebhookPolicy {
  return { allowHttp: settings.ALERT_WEBHOOKS_ALLOW_HTTP, allowPrivateNetworks: settings.ALERT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS };
}

export class SettingsError extends Error {
  readonly code = 'invalid_settings';
}

function parse<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv): T {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const loadWorkerSettings = (env: NodeJS.ProcessEnv = process.env): WorkerSettings => parse(workerSchema, env);
export const loadApiSettings = (env: NodeJS.ProcessEnv = process.env): ApiSettings => parse(apiSchema, env);

/**
 * Process settings from the environment, parsed once with zod so a bad value stops start-up with
 * a clear message instead of failing later.
 */
import { z } from 'zod';

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
};

const workerSchema = z.object({
  ...shared,
  /** SMTP server for alert emails, e.g. smtp://user:pass@mail.example.com:587. Unset: email alerts are reported as skipped. */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  ALERT_EMAIL_FROM: z.string().min(3).optional(),
  /** Telegram Bot API base URL (tests point it at a loopback receiver). */
  TELEGRAM_API_BASE_URL: z.url().optional(),
});
const apiSchema = z.object({
  ...shared,
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  TOLLGATE_OPERATOR_KEY: z.string().min(16, 'must be at least 16 characters'),
  /** Usage group commit: transactions in flight at once, and most events in one (see api/usage/usageRecorder.ts). */
  USAGE_FLUSH_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  USAGE_FLUSH_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(5_000),
});

export type WorkerSettings = z.output<typeof workerSchema>;
export type ApiSettings = z.output<typeof apiSchema>;

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

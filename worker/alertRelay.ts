/**
 * Turns the usage_alerts outbox (and credit_alerts, its twin for credit balances) into workflow signals. A crossing is written in the same
 * transaction as the usage that caused it, so it cannot be lost; this relay signals the
 * subscription workflow and only then marks the row, so a crash in between signals again — the
 * workflow ignores a crossing it has already handled, and deliveries are idempotent per channel.
 * Rows are claimed with SKIP LOCKED, so several workers share the outbox without waiting.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../store/databaseErrors.js';
import type { Db } from '../store/db.js';
import { creditBalanceSignal, subscriptionWorkflowId, TASK_QUEUE_DEFAULT, thresholdCrossedSignal } from '../workflows/messages.js';
import { relayWebhooksOnce } from './webhookRelay.js';
import { recordWebhookEvent } from '../store/webhookOutbox.js';
import { formatNanos } from '../billing/money.js';

const byCustomer = (a: { customer_id: string }, b: { customer_id: string }) => (a.customer_id < b.customer_id ? -1 : a.customer_id > b.customer_id ? 1 : 0);

interface PendingAlert {
  id: bigint;
  customer_id: string;
  metric: string;
  cycle_start: Date;
  cycle_end: Date;
  threshold: number;
  used: bigint;
  limit: bigint;
}

/** Relays up to `batch` pending crossings; returns how many were handled. */
export async function relayAlertsOnce(db: Db, temporal: Client, logger: Logger, batch = 100): Promise<number> {
  return db.$transaction(async (tx) => {
    const pending = await tx.$queryRaw<PendingAlert[]>`
      SELECT id, customer_id, metric, cycle_start, cycle_end, threshold, used, "limit" FROM usage_alerts
      WHERE signaled_at IS NULL ORDER BY id LIMIT ${batch} FOR UPDATE SKIP LOCKED`;
    const done: bigint[] = [];
    for (const alert of pending) {
      const threshold = alert.threshold === 100 ? 100 : 80;
      try {
        await temporal.workflow.getHandle(subscriptionWorkflowId(alert.customer_id)).signal(thresholdCrossedSignal, {
          metric: alert.metric,
          cycleStart: alert.cycle_start.getTime(),
          cycleEnd: alert.cycle_end.getTime(),
          threshold,
          used: alert.used.toString(),
          limit: alert.limit.toString(),
        });
        done.push(alert.id);
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) {
          // No running subscription to alert for (it ended): nothing will ever take this signal.
          logger.warn({ customerId: alert.customer_id, alertId: alert.id.toString() }, 'alert for a subscription that is not running; dropped from the outbox');
          done.push(alert.id);
          continue;
        }
        throw error;
      }
    }
    if (done.length > 0) await tx.$executeRaw`UPDATE usage_alerts SET signaled_at = now() WHERE id = ANY(${done}::bigint[])`;
    // Marked once, so reported to the host once: in the same transaction as the mark.
    // In customer order: two relays' batches take the customers' numbering locks in one order.
    for (const alert of pending.filter((a) => done.includes(a.id)).sort(byCustomer)) {
      await recordWebhookEvent(tx, {
        customerId: alert.customer_id,
        type: 'usage.threshold_crossed',
        data: { metric: alert.metric, threshold: alert.threshold, used: alert.used.toString(), limit: alert.limit.toString(), cycleStart: alert.cycle_start.toISOString(), cycleEnd: alert.cycle_end.toISOString() },
      });
    }
    return pending.length;
  }, { timeout: 60_000 });
}

interface PendingCreditAlert {
  id: bigint;
  customer_id: string;
  unit: string;
  kind: 'low' | 'exhausted' | 'recharge';
  crossing: number;
  balance: string;
  threshold: string | null;
}

/** Relays up to `batch` pending credit balance crossings (credit_alerts) the same way; returns how many were handled. */
export async function relayCreditAlertsOnce(db: Db, temporal: Client, logger: Logger, batch = 100): Promise<number> {
  return db.$transaction(async (tx) => {
    const pending = await tx.$queryRaw<PendingCreditAlert[]>`
      SELECT id, customer_id, unit, kind, crossing, balance_nanos::text AS balance, threshold_nanos::text AS threshold FROM credit_alerts
      WHERE signaled_at IS NULL ORDER BY id LIMIT ${batch} FOR UPDATE SKIP LOCKED`;
    const done: bigint[] = [];
    for (const alert of pending) {
      try {
        await temporal.workflow.getHandle(subscriptionWorkflowId(alert.customer_id)).signal(creditBalanceSignal, {
          unit: alert.unit,
          crossing: alert.crossing,
          kind: alert.kind,
          balanceNanos: alert.balance,
          thresholdNanos: alert.threshold,
        });
        done.push(alert.id);
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) {
          logger.warn({ customerId: alert.customer_id, creditAlertId: alert.id.toString() }, 'credit alert for a subscription that is not running; dropped from the outbox');
          done.push(alert.id);
          continue;
        }
        throw error;
      }
    }
    if (done.length > 0) await tx.$executeRaw`UPDATE credit_alerts SET signaled_at = now() WHERE id = ANY(${done}::bigint[])`;
    // A balance under its threshold or run out (not a recharge request, which is Tollgate's own business).
    for (const alert of pending.filter((a) => done.includes(a.id) && a.kind !== 'recharge').sort(byCustomer)) {
      await recordWebhookEvent(tx, {
        customerId: alert.customer_id,
        type: 'credits.low',
        data: { unit: alert.unit, balance: formatNanos(BigInt(alert.balance)), threshold: alert.threshold === null ? null : formatNanos(BigInt(alert.threshold)), exhausted: alert.kind === 'exhausted' },
      });
    }
    return pending.length;
  }, { timeout: 60_000 });
}

/**
 * Polls the outbox until stopped. A failed round (PostgreSQL restarting, Temporal unreachable) is
 * logged and retried, waiting twice as long after each failure in a row, up to `maxBackoffMs`; the
 * rows stay in the outbox meanwhile, so nothing is lost. An outage is logged once, not every poll.
 */
export function startAlertRelay(args: { db: Db; temporal: Client; logger: Logger; intervalMs?: number; maxBackoffMs?: number; /** Where webhook deliveries run (worker/webhookRelay.ts relays those too). */ taskQueue?: string }): { stop(): Promise<void> } {
  const interval = args.intervalMs ?? 250;
  const maxBackoff = Math.max(interval, args.maxBackoffMs ?? 5_000);
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      let handled = 0;
      try {
        handled = await relayAlertsOnce(args.db, args.temporal, args.logger);
        handled += await relayCreditAlertsOnce(args.db, args.temporal, args.logger);
        handled += await relayWebhooksOnce(args.db, args.temporal, args.taskQueue ?? TASK_QUEUE_DEFAULT);
        if (failures > 0) args.logger.info({ failures }, 'alert relay recovered');
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!isDatabaseUnavailable(error)) args.logger.error({ err: error }, 'alert relay failed; retrying');
        else if (failures === 1) args.logger.warn({ reason: error instanceof Error ? error.message.trim().split('\n').at(-1) : String(error) }, 'alert relay: database unavailable; retrying until it is back');
      }
      const delay = failures > 0 ? Math.min(maxBackoff, interval * 2 ** Math.min(failures - 1, 16)) : handled === 0 ? interval : 0;
      if (delay > 0 && !stopped) {
        // stop() cuts the wait short and clears the timer, so a stopped relay keeps no process alive.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => { clearTimeout(timer); resolve(); };
        });
        wake = undefined;
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

/**
 * Closing a usage cycle at renewal: its counters are marked closed (created closed when no usage
 * arrived, so a late event cannot reopen them) and their final usage returned for overage pricing.
 * Counters are locked in metric order, the same order the usage ledger uses, so a renewal and
 * concurrent usage never deadlock; events that lose the race are refused with `period_closed`.
 */
import type { OverageCharge } from '../billing/overage.js';
import type { Tx } from './invoiceStore.js';

export async function closeCycle(tx: Tx, args: { customerId: string; metrics: string[]; cycleStart: number; cycleEnd: number }): Promise<Map<string, bigint>> {
  const metrics = [...args.metrics].sort();
  const rows = await tx.$queryRawUnsafe<Array<{ metric: string; used: bigint }>>(
    `INSERT INTO usage_counters AS c (customer_id, metric, cycle_start, cycle_end, closed)
     SELECT $1, m, $3::timestamptz, $4::timestamptz, true FROM unnest($2::text[]) WITH ORDINALITY AS t(m, n) ORDER BY n
     ON CONFLICT (customer_id, metric, cycle_start) DO UPDATE SET closed = true
     RETURNING metric, used`,
    args.customerId,
    metrics,
    new Date(args.cycleStart),
    new Date(args.cycleEnd),
  );
  return new Map(rows.map((r) => [r.metric, BigInt(r.used)]));
}

export async function recordOverage(
  tx: Tx,
  args: { customerId: string; planId: string; currency: string; cycleStart: number; cycleEnd: number; charges: readonly OverageCharge[]; invoiceId?: string },
): Promise<void> {
  for (const charge of args.charges) {
    await tx.overageCharge.upsert({
      where: { customerId_metric_cycleStart: { customerId: args.customerId, metric: charge.metric, cycleStart: new Date(args.cycleStart) } },
      update: {},
      create: {
        customerId: args.customerId,
        metric: charge.metric,
        cycleStart: new Date(args.cycleStart),
        cycleEnd: new Date(args.cycleEnd),
        planId: args.planId,
        included: charge.included,
        used: charge.used,
        overage: charge.overage,
        unitPrice: charge.unitPrice,
        amountMinor: charge.amountMinor,
        currency: args.currency,
        invoiceId: args.invoiceId ?? null,
      },
    });
  }
}

/**
 * The credit ledger outside the usage hot path (store/creditLedger.ts has that): grants, the
 * purchases that sell credits, auto-recharge settings and the reads the API shows. A grant is one
 * row in credit_transactions keyed by its reference (purchase:<id>, grant:<id>), written under the
 * balance row's lock, so a repeated grant (a webhook twice, a retried step) finds its row and adds
 * nothing.
 */
import type { Catalog } from '../billing/catalog.js';
import { creditUnitOf } from '../billing/creditPricing.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Db } from './db.js';
import type { Tx } from './invoiceStore.js';

export interface CreditGrant {
  customerId: string;
  unit: string;
  kind: 'purchase' | 'recharge' | 'grant' | 'refund';
  /** Signed nanos: a refund takes credits back (never more than the balance holds). */
  creditsNanos: bigint;
  reference: string;
  grantType?: 'promotional' | 'manual';
  reason?: string;
  invoiceId?: string;
  amountMinor?: bigint;
  currency?: string;
  /** The threshold when the customer set none (the catalog's): a grant that lifts the balance to it re-arms the low-balance alert. */
  defaultThresholdNanos?: bigint;
}

export interface GrantResult {
  granted: boolean;
  creditsNanos: bigint;
  balanceNanos: bigint;
}

interface AccountRow {
  balance_nanos: string;
  threshold_nanos: string | null;
}

async function lockAccount(tx: Tx, customerId: string, unit: string): Promise<AccountRow> {
  const rows = await tx.$queryRaw<AccountRow[]>`
    INSERT INTO credit_accounts AS a (customer_id, unit) VALUES (${customerId}, ${unit})
    ON CONFLICT (customer_id, unit) DO UPDATE SET unit = a.unit
    RETURNING balance_nanos::text, threshold_nanos::text`;
  return rows[0]!;
}

/** Adds (or for a refund takes back) credits once per reference, inside the caller's transaction. */
export async function grantCredits(tx: Tx, grant: CreditGrant): Promise<GrantResult> {
  const account = await lockAccount(tx, grant.customerId, grant.unit);
  // Under the balance lock: a concurrent grant with this reference has committed or not started.
  const done = await tx.$queryRaw<Array<{ credits_nanos: string; balance_after_nanos: string }>>`
    SELECT credits_nanos::text, balance_after_nanos::text FROM credit_transactions WHERE customer_id = ${grant.customerId} AND reference = ${grant.reference}`;
  if (done[0]) return { granted: false, creditsNanos: BigInt(done[0].credits_nanos), balanceNanos: BigInt(account.balance_nanos) };
  const before = BigInt(account.balance_nanos);
  // A refund never takes more than is left: what was consumed is gone.
  const credits = grant.creditsNanos < 0n && -grant.creditsNanos > before ? -before : grant.creditsNanos;
  const after = before + credits;
  const threshold = account.threshold_nanos === null ? grant.defaultThresholdNanos : BigInt(account.threshold_nanos);
  // A grant that lifts the balance back re-arms the alerts: the next fall alerts (and recharges) again.
  const rearmLow = credits > 0n && (threshold === undefined || after >= threshold);
  const rearmExhausted = credits > 0n && after > 0n;
  await tx.$executeRaw`
    UPDATE credit_accounts SET balance_nanos = ${after.toString()}::numeric,
      below_threshold = CASE WHEN ${rearmLow} THEN false ELSE below_threshold END,
      exhausted = CASE WHEN ${rearmExhausted} THEN false ELSE exhausted END,
      updated_at = now()
    WHERE customer_id = ${grant.customerId} AND unit = ${grant.unit}`;
  await tx.$executeRaw`
    INSERT INTO credit_transactions (customer_id, unit, kind, credits_nanos, balance_after_nanos, reference, grant_type, reason, invoice_id, amount_minor, currency)
    VALUES (${grant.customerId}, ${grant.unit}, ${grant.kind}, ${credits.toString()}::numeric, ${after.toString()}::numeric, ${grant.reference},
      ${grant.grantType ?? null}, ${grant.reason ?? null}, ${grant.invoiceId ?? null}::uuid, ${grant.amountMinor ?? null}, ${grant.currency ?? null})`;
  return { granted: true, creditsNanos: credits, balanceNanos: after };
}

export interface PurchaseRecord {
  id: string;
  customerId: string;
  unit: string;
  kind: 'purchase' | 'recharge';
  packId: string | null;
  packs: number;
  creditsNanos: bigint;
  amountMinor: bigint;
  currency: string;
  invoiceId: string;
  cycleStart: number;
}

/**
 * Records a purchase against its invoice (inside the invoice's transaction); a repeat finds the
 * first. An id already naming another purchase (another customer's, another invoice) is an
 * error, never a silent hit: that invoice would sell credits nobody is granted.
 */
export async function storePurchase(tx: Tx, purchase: PurchaseRecord): Promise<void> {
  const inserted = await tx.$queryRaw<Array<{ id: string }>>`
    INSERT INTO credit_purchases (id, customer_id, unit, kind, pack_id, packs, credits_nanos, amount_minor, currency, invoice_id, cycle_start)
    VALUES (${purchase.id}, ${purchase.customerId}, ${purchase.unit}, ${purchase.kind}, ${purchase.packId}, ${purchase.packs}, ${purchase.creditsNanos.toString()}::numeric,
      ${purchase.amountMinor}, ${purchase.currency}, ${purchase.invoiceId}::uuid, ${new Date(purchase.cycleStart)})
    ON CONFLICT (id) DO NOTHING
    RETURNING id`;
  if (inserted.length > 0) return;
  const existing = await tx.creditPurchase.findUniqueOrThrow({ where: { id: purchase.id } });
  if (existing.customerId !== purchase.customerId || existing.invoiceId !== purchase.invoiceId) {
    throw new Error(`credit purchase id ${purchase.id} already names another purchase (customer ${existing.customerId}, invoice ${existing.invoiceId})`);
  }
}

/**
 * The credits an invoice sells, granted in the transaction that marks it paid (store/paymentStore.ts
 * recordPaid): an invoice is paid once, so its credits are granted once, whichever way the payment
 * came (off-session, Checkout, a webhook, an operator's mark-paid).
 */
export async function grantPurchaseOfInvoice(tx: Tx, invoiceId: string, defaultThresholdNanos?: bigint): Promise<GrantResult | undefined> {
  const rows = await tx.$queryRaw<Array<{ id: string; customer_id: string; unit: string; kind: 'purchase' | 'recharge'; credits_nanos: string; amount_minor: bigint; currency: string }>>`
    SELECT id, customer_id, unit, kind, credits_nanos::text, amount_minor, currency FROM credit_purchases WHERE invoice_id = ${invoiceId}::uuid`;
  const purchase = rows[0];
  if (!purchase) return undefined;
  // A recharge paid, whichever way (a retry, the customer on the invoice page, an operator): no failures left to show.
  if (purchase.kind === 'recharge') await tx.$executeRaw`UPDATE credit_accounts SET recharge_failures = 0 WHERE customer_id = ${purchase.customer_id} AND unit = ${purchase.unit}`;
  return grantCredits(tx, {
    customerId: purchase.customer_id,
    unit: purchase.unit,
    kind: purchase.kind,
    creditsNanos: BigInt(purchase.credits_nanos),
    reference: `purchase:${purchase.id}`,
    invoiceId,
    amountMinor: BigInt(purchase.amount_minor),
    currency: purchase.currency,
    ...(defaultThresholdNanos !== undefined ? { defaultThresholdNanos } : {}),
  });
}

/** What auto-recharge spent (or has an open invoice for) in the cycle starting at `cycleStart`: void invoices and refunded money do not count. */
export async function rechargeSpentMinor(tx: Tx | Db, customerId: string, cycleStart: number): Promise<bigint> {
  // Less what was refunded of them (credits/purchases/{id}/refund): the limit counts money kept.
  const rows = await tx.$queryRaw<Array<{ spent: bigint | null }>>`
    SELECT (sum(p.amount_minor) - coalesce(sum(r.amount_minor), 0))::bigint AS spent
    FROM credit_purchases p JOIN invoices i ON i.id = p.invoice_id
    LEFT JOIN credit_transactions r ON r.customer_id = p.customer_id AND r.reference = 'refund:' || p.id
    WHERE p.customer_id = ${customerId} AND p.kind = 'recharge' AND p.cycle_start = ${new Date(cycleStart)} AND i.status IN ('open', 'paid')`;
  return rows[0]?.spent ?? 0n;
}

export interface CreditAccountRecord {
  balanceNanos: bigint;
  thresholdNanos: bigint | null;
  belowThreshold: boolean;
  exhausted: boolean;
  autoRecharge: boolean;
  rechargePackId: string | null;
  spendingLimitMinor: bigint | null;
  rechargeFailures: number;
  autoRechargeOffReason: string | null;
  autoRechargeOffAt: Date | null;
}

const toBig = (value: Prisma.Decimal | null): bigint | null => (value === null ? null : BigInt(value.toFixed(0)));

export async function creditAccountOf(db: Tx | Db, customerId: string, unit: string): Promise<CreditAccountRecord> {
  const row = await db.creditAccount.findUnique({ where: { customerId_unit: { customerId, unit } } });
  if (!row) {
    return { balanceNanos: 0n, thresholdNanos: null, belowThreshold: false, exhausted: false, autoRecharge: false, rechargePackId: null, spendingLimitMinor: null, rechargeFailures: 0, autoRechargeOffReason: null, autoRechargeOffAt: null };
  }
  return {
    balanceNanos: toBig(row.balanceNanos)!,
    thresholdNanos: toBig(row.thresholdNanos),
    belowThreshold: row.belowThreshold,
    exhausted: row.exhausted,
    autoRecharge: row.autoRecharge,
    rechargePackId: row.rechargePackId,
    spendingLimitMinor: row.spendingLimitMinor,
    rechargeFailures: row.rechargeFailures,
    autoRechargeOffReason: row.autoRechargeOffReason,
    autoRechargeOffAt: row.autoRechargeOffAt,
  };
}

/** The balance the usage card shows (0 when the catalog sells no credits or the customer has none). */
export async function creditBalanceNanos(db: Db, catalog: Catalog, customerId: string): Promise<bigint> {
  const unit = creditUnitOf(catalog);
  return unit ? (await creditAccountOf(db, customerId, unit.id)).balanceNanos : 0n;
}

/** Locks the account row for a recharge decision (creating it when missing) and reads it. */
export async function lockAccountForRecharge(tx: Tx, customerId: string, unit: string): Promise<CreditAccountRecord> {
  await lockAccount(tx, customerId, unit);
  return creditAccountOf(tx, customerId, unit);
}

export interface AutoRechargeSettings {
  enabled: boolean;
  thresholdNanos: bigint | null;
  packId: string | null;
  spendingLimitMinor: bigint | null;
}

/**
 * Saves a customer's threshold and auto-recharge settings. A balance already under the new
 * threshold is a crossing (an outbox row: alerted, and recharged when on); turning auto-recharge
 * on while already under it asks for a recharge. Turning it on again clears an earlier turn-off.
 */
export async function saveAutoRecharge(db: Db, customerId: string, unit: string, settings: AutoRechargeSettings, defaultThresholdNanos: bigint | undefined): Promise<CreditAccountRecord> {
  return db.$transaction(async (tx) => {
    const before = await lockAccountForRecharge(tx, customerId, unit);
    const threshold = settings.thresholdNanos ?? defaultThresholdNanos;
    const under = threshold !== undefined && before.balanceNanos < threshold;
    await tx.$executeRaw`
      UPDATE credit_accounts SET threshold_nanos = ${settings.thresholdNanos?.toString() ?? null}::numeric,
        auto_recharge = ${settings.enabled}, recharge_pack_id = ${settings.packId}, spending_limit_minor = ${settings.spendingLimitMinor},
        below_threshold = ${under},
        recharge_failures = CASE WHEN ${settings.enabled} AND NOT auto_recharge THEN 0 ELSE recharge_failures END,
        auto_recharge_off_reason = CASE WHEN ${settings.enabled} THEN NULL ELSE auto_recharge_off_reason END,
        auto_recharge_off_at = CASE WHEN ${settings.enabled} THEN NULL ELSE auto_recharge_off_at END,
        updated_at = now()
      WHERE customer_id = ${customerId} AND unit = ${unit}`;
    // Newly under the threshold: a crossing (alerted, and recharged when on). Already under it
    // with auto-recharge on (just turned on, a higher limit, another pack): a recharge is asked for;
    // one already under way makes this a no-op in the workflow.
    if (under && !before.belowThreshold) await insertCrossing(tx, { customerId, unit, kind: 'low', balanceNanos: before.balanceNanos, thresholdNanos: threshold });
    else if (under && settings.enabled) await insertCrossing(tx, { customerId, unit, kind: 'recharge', balanceNanos: before.balanceNanos, thresholdNanos: threshold });
    return creditAccountOf(tx, customerId, unit);
  });
}

/**
 * At a renewal: a customer with auto-recharge on whose balance is still under the threshold gets
 * a `recharge` outbox row (the last cycle's recharges may have hit the spending limit, failed or
 * been voided; a new cycle brings a fresh limit). At most one per cycle: a repeated renewal step
 * finds the row it wrote.
 */
export async function requestRechargeAtRenewal(tx: Tx, args: { customerId: string; unit: string; defaultThresholdNanos: bigint | undefined; cycleStart: number }): Promise<void> {
  const rows = await tx.$queryRaw<Array<{ balance_nanos: string; threshold_nanos: string | null; auto_recharge: boolean }>>`
    SELECT balance_nanos::text, threshold_nanos::text, auto_recharge FROM credit_accounts WHERE customer_id = ${args.customerId} AND unit = ${args.unit} FOR UPDATE`;
  const account = rows[0];
  if (!account?.auto_recharge) return;
  const threshold = account.threshold_nanos === null ? args.defaultThresholdNanos : BigInt(account.threshold_nanos);
  if (threshold === undefined || BigInt(account.balance_nanos) >= threshold) return;
  const asked = await tx.$queryRaw<Array<{ id: bigint }>>`
    SELECT id FROM credit_alerts WHERE customer_id = ${args.customerId} AND unit = ${args.unit} AND kind = 'recharge'
      AND (cycle_start = ${new Date(args.cycleStart)} OR (cycle_start IS NULL AND created_at >= ${new Date(args.cycleStart)})) LIMIT 1`;
  if (asked.length > 0) return;
  await insertCrossing(tx, { customerId: args.customerId, unit: args.unit, kind: 'recharge', balanceNanos: BigInt(account.balance_nanos), thresholdNanos: threshold, cycleStart: args.cycleStart });
}

/** One outbox row under a new crossing number (the account row is locked by the caller). */
async function insertCrossing(tx: Tx, args: { customerId: string; unit: string; kind: 'low' | 'recharge'; balanceNanos: bigint; thresholdNanos: bigint | undefined; cycleStart?: number }): Promise<void> {
  const rows = await tx.$queryRaw<Array<{ crossings: number }>>`
    UPDATE credit_accounts SET crossings = crossings + 1 WHERE customer_id = ${args.customerId} AND unit = ${args.unit} RETURNING crossings`;
  await tx.$executeRaw`
    INSERT INTO credit_alerts (customer_id, unit, kind, crossing, balance_nanos, threshold_nanos, cycle_start)
    VALUES (${args.customerId}, ${args.unit}, ${args.kind}, ${rows[0]!.crossings}, ${args.balanceNanos.toString()}::numeric, ${args.thresholdNanos?.toString() ?? null}::numeric,
      ${args.cycleStart === undefined ? null : new Date(args.cycleStart)}::timestamptz)`;
}

/** Counts a failed recharge (shown by the API), or clears the count after a success. */
export async function recordRechargeOutcome(db: Db, customerId: string, unit: string, failures: number): Promise<void> {
  await db.creditAccount.updateMany({ where: { customerId, unit }, data: { rechargeFailures: failures } });
}

/** Turns auto-recharge off after repeated failures, saying why. */
export async function turnOffAutoRecharge(db: Db, customerId: string, unit: string, reason: string, at: Date): Promise<void> {
  await db.creditAccount.updateMany({ where: { customerId, unit, autoRecharge: true }, data: { autoRecharge: false, autoRechargeOffReason: reason.slice(0, 500), autoRechargeOffAt: at } });
}

/**
 * Consumption rows: credit_consumption, and each counter's latest day still on the counter
 * (store/creditLedger.ts CounterCreditDay) — a (metric, cycle, day) is in exactly one of them.
 * The counter carries no unit: its day is the catalog's unit's, as the ledger drew it.
 */
const CONSUMPTION_ROWS = (customerId: string, unit: string) => Prisma.sql`
  SELECT metric, cycle_start, day, quantity, credits_nanos, events, first_at, last_at FROM credit_consumption WHERE customer_id = ${customerId} AND unit = ${unit}
  UNION ALL
  SELECT metric, cycle_start, credit_day, credit_day_quantity, credit_day_nanos, credit_day_events, credit_day_first_at, credit_day_last_at FROM usage_counters
  WHERE customer_id = ${customerId} AND credit_day IS NOT NULL AND credit_day_events > 0`;

/** Credits drawn by usage in one cycle: per metric, in units past the plan and in credits. */
export async function consumptionOfCycle(db: Db, customerId: string, unit: string, cycleStart: number): Promise<Array<{ metric: string; quantity: bigint; creditsNanos: bigint }>> {
  const rows = await db.$queryRaw<Array<{ metric: string; quantity: string; credits_nanos: string }>>`
    SELECT metric, sum(quantity)::text AS quantity, sum(credits_nanos)::text AS credits_nanos FROM (${CONSUMPTION_ROWS(customerId, unit)}) c
    WHERE cycle_start = ${new Date(cycleStart)} GROUP BY metric ORDER BY metric`;
  return rows.map((r) => ({ metric: r.metric, quantity: BigInt(r.quantity), creditsNanos: BigInt(r.credits_nanos) }));
}

export type HistoryEntry = { at: Date; key: string } & (
  | { type: 'purchase' | 'recharge' | 'grant' | 'refund'; creditsNanos: bigint; balanceAfterNanos: bigint; reference: string; grantType: string | null; reason: string | null; invoiceId: string | null; amountMinor: bigint | null; currency: string | null }
  | { type: 'consumption'; day: string; metric: string; quantity: bigint; creditsNanos: bigint; events: bigint; firstAt: Date }
);

/** Where a history page ends: entries strictly after it in (time, key) descending order come next. */
export interface HistoryCursor {
  at: Date;
  key: string;
}

/**
 * The history, newest first: balance changes one by one, consumption per metric per day (its `at`
 * is the day's last draw, so a day still being drawn moves up). Ordered by (time, key) — the key
 * tells apart entries of one instant, so a page never splits or loses a tie. Keys compare
 * byte-wise (COLLATE "C") in PostgreSQL, as in JavaScript.
 */
export async function creditHistory(db: Db, customerId: string, unit: string, args: { limit: number; before?: Date; after?: HistoryCursor }): Promise<HistoryEntry[]> {
  const at = args.after?.at ?? args.before ?? new Date('9999-12-31T00:00:00Z');
  // With only a time, everything of that instant is excluded (the key sorts below every real one).
  const key = args.after?.key ?? '';
  const [transactions, consumption] = await Promise.all([
    db.$queryRaw<Array<{ key: string; kind: 'purchase' | 'recharge' | 'grant' | 'refund'; created_at: Date; credits_nanos: string; balance_after_nanos: string; reference: string; grant_type: string | null; reason: string | null; invoice_id: string | null; amount_minor: bigint | null; currency: string | null }>>`
      SELECT * FROM (
        SELECT 't:' || lpad(id::text, 20, '0') COLLATE "C" AS key, kind, created_at, credits_nanos::text, balance_after_nanos::text, reference, grant_type, reason, invoice_id::text, amount_minor, currency
        FROM credit_transactions WHERE customer_id = ${customerId} AND unit = ${unit} AND created_at <= ${at}) t
      WHERE created_at < ${at} OR key < ${key} COLLATE "C"
      ORDER BY created_at DESC, key COLLATE "C" DESC LIMIT ${args.limit}`,
    db.$queryRaw<Array<{ key: string; metric: string; day: Date; last_at: Date; first_at: Date; quantity: string; credits_nanos: string; events: bigint }>>`
      SELECT * FROM (
        SELECT 'c:' || lpad((extract(epoch from cycle_start) * 1000)::bigint::text, 15, '0') || ':' || day::text || ':' || metric COLLATE "C" AS key,
          metric, day, last_at, first_at, quantity::text, credits_nanos::text, events
        FROM (${CONSUMPTION_ROWS(customerId, unit)}) rows WHERE last_at <= ${at}) c
      WHERE last_at < ${at} OR key < ${key} COLLATE "C"
      ORDER BY last_at DESC, key COLLATE "C" DESC LIMIT ${args.limit}`,
  ]);
  const entries: HistoryEntry[] = [
    ...transactions.map((t) => ({
      key: t.key, type: t.kind, at: t.created_at, creditsNanos: BigInt(t.credits_nanos), balanceAfterNanos: BigInt(t.balance_after_nanos), reference: t.reference,
      grantType: t.grant_type, reason: t.reason, invoiceId: t.invoice_id, amountMinor: t.amount_minor, currency: t.currency,
    })),
    ...consumption.map((c) => ({
      key: c.key, type: 'consumption' as const, at: c.last_at, day: c.day.toISOString().slice(0, 10), metric: c.metric, quantity: BigInt(c.quantity), creditsNanos: BigInt(c.credits_nanos), events: c.events, firstAt: c.first_at,
    })),
  ];
  return entries.sort((a, b) => b.at.getTime() - a.at.getTime() || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0)).slice(0, args.limit);
}


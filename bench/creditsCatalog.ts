/**
 * The bench's catalog: the default one (config/catalog.json) plus a `credits` section (money
 * credits, one pack) and a `metered` plan whose api_calls include nothing and draw credits past
 * that, so EVERY event of a metered customer draws from its balance. The API runs the whole bench
 * on this one catalog, so the plain scenarios (enterprise, free) and the credits ones share the
 * same API process, PostgreSQL and run.
 *
 * Credits customers get a balance far above what any run can draw (1e30 nanos, NUMERIC(38,0)
 * holds 1e38) and no threshold, so no event is refused and no low-balance alert is written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { parseCatalog, type Catalog, type CatalogInput } from '../billing/catalog.js';
import { requireCreditUnit } from '../billing/creditPricing.js';
import { parseNanos } from '../billing/money.js';
import { DEFAULT_CATALOG_PATH } from '../config/loadCatalog.js';
import { CONSUMPTION_ROWS_OF_CUSTOMERS } from '../store/creditLedger.js';

/** The plan of the credits customers. */
export const CREDITS_PLAN = 'metered';
/** Credits (USD) one api_calls unit draws on that plan. */
export const CREDITS_UNIT_PRICE = '0.0005';
export const CREDITS_UNIT_PRICE_NANOS = parseNanos(CREDITS_UNIT_PRICE);
/** The balance every credits customer starts with, in nanos (1e21 USD). */
export const CREDITS_START_BALANCE_NANOS = 10n ** 30n;

export function benchCatalogInput(): CatalogInput {
  const base = JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as CatalogInput;
  if (base.credits) throw new Error(`${DEFAULT_CATALOG_PATH} already has a "credits" section; the bench adds its own`);
  if (base.plans.some((p) => p.id === CREDITS_PLAN)) throw new Error(`${DEFAULT_CATALOG_PATH} already has a plan "${CREDITS_PLAN}"`);
  const tier = Math.max(...base.plans.map((p) => p.tier)) + 1;
  return {
    ...base,
    credits: {
      unit: 'money',
      packs: [{ id: 'usd_100', name: '$100', price: '100.00' }],
      customAmount: { min: '10.00', max: '10000.00' },
    },
    plans: [
      ...base.plans,
      {
        id: CREDITS_PLAN,
        name: 'Metered',
        tier,
        price: { monthly: '0' },
        limits: Object.fromEntries(base.metrics.map((m) => [m.id, { included: 0, overLimit: { policy: 'credits', unitPrice: CREDITS_UNIT_PRICE } }])),
      },
    ],
  };
}

/** Writes the bench catalog into `dir` (validated first, as the API will) and returns its path and parsed form. */
export function writeBenchCatalog(dir: string): { file: string; catalog: Catalog } {
  const input = benchCatalogInput();
  const file = path.join(dir, 'bench-catalog.json');
  const catalog = parseCatalog(input, file);
  writeFileSync(file, `${JSON.stringify(input, null, 2)}\n`);
  return { file, catalog };
}

/** Gives each customer its (huge) credit balance, straight into credit_accounts: no threshold, no auto-recharge. */
export async function seedCreditBalances(client: pg.ClientBase, catalog: Catalog, customerIds: readonly string[]): Promise<void> {
  const unit = requireCreditUnit(catalog);
  await client.query(
    `INSERT INTO credit_accounts (customer_id, unit, balance_nanos)
     SELECT customer_id, $2, $3::numeric FROM unnest($1::text[]) AS t(customer_id)`,
    [customerIds, unit.id, CREDITS_START_BALANCE_NANOS.toString()],
  );
}

export interface CreditLedgerCheck {
  customers: number;
  /** Σ (start balance − balance now). */
  drawnNanos: bigint;
  /** Σ credit_consumption.credits_nanos. */
  consumedNanos: bigint;
  /** Σ credit_consumption.quantity (units paid with credits). */
  consumedUnits: bigint;
  /** Σ credit_consumption.events. */
  consumptionEvents: bigint;
  /** usage_events rows of these customers (every one counted: refused events are deleted). */
  countedEvents: bigint;
  /** Σ usage_counters.used. */
  counterUsed: bigint;
  /** countedEvents × unit price. */
  expectedNanos: bigint;
  /** credit_alerts rows written for these customers (none expected: no threshold, never exhausted). */
  alerts: bigint;
  /** Everything adds up (no problems). */
  ok: boolean;
  problems: string[];
}

/** Does the ledger add up for these customers? balance drawn == Σ consumption == counted events × price. */
export async function checkCreditLedger(client: pg.ClientBase, catalog: Catalog, customerIds: readonly string[]): Promise<CreditLedgerCheck> {
  const unit = requireCreditUnit(catalog);
  const one = async (sql: string, params: unknown[]) => BigInt((await client.query<{ n: string | null }>(sql, params)).rows[0]?.n ?? '0');
  const ids = [...customerIds];
  const start = CREDITS_START_BALANCE_NANOS.toString();
  const drawnNanos = await one(`SELECT sum($3::numeric - balance_nanos)::text AS n FROM credit_accounts WHERE customer_id = ANY($1::text[]) AND unit = $2`, [ids, unit.id, start]);
  const consumedNanos = await one(`SELECT sum(credits_nanos)::text AS n FROM ${CONSUMPTION_ROWS_OF_CUSTOMERS} c`, [ids, unit.id]);
  const consumedUnits = await one(`SELECT sum(quantity)::text AS n FROM ${CONSUMPTION_ROWS_OF_CUSTOMERS} c`, [ids, unit.id]);
  const consumptionEvents = await one(`SELECT sum(events)::text AS n FROM ${CONSUMPTION_ROWS_OF_CUSTOMERS} c`, [ids, unit.id]);
  const countedEvents = await one(`SELECT count(*)::text AS n FROM usage_events WHERE customer_id = ANY($1::text[])`, [ids]);
  const counterUsed = await one(`SELECT sum(used)::text AS n FROM usage_counters WHERE customer_id = ANY($1::text[])`, [ids]);
  const alerts = await one(`SELECT count(*)::text AS n FROM credit_alerts WHERE customer_id = ANY($1::text[])`, [ids]);
  // The bench sends quantity 1 on a plan that includes nothing: every counted event is one unit drawn.
  const expectedNanos = countedEvents * CREDITS_UNIT_PRICE_NANOS;
  const problems: string[] = [];
  if (drawnNanos !== consumedNanos) problems.push(`balance drawn ${drawnNanos} ≠ Σ credit_consumption.credits_nanos ${consumedNanos}`);
  if (consumedNanos !== expectedNanos) problems.push(`Σ credit_consumption.credits_nanos ${consumedNanos} ≠ counted events ${countedEvents} × ${CREDITS_UNIT_PRICE_NANOS} = ${expectedNanos}`);
  if (consumedUnits !== countedEvents) problems.push(`Σ credit_consumption.quantity ${consumedUnits} ≠ counted events ${countedEvents}`);
  if (consumptionEvents !== countedEvents) problems.push(`Σ credit_consumption.events ${consumptionEvents} ≠ counted events ${countedEvents}`);
  if (counterUsed !== countedEvents) problems.push(`Σ usage_counters.used ${counterUsed} ≠ counted events ${countedEvents}`);
  if (alerts !== 0n) problems.push(`${alerts} credit_alerts row(s) written (none expected)`);
  return { customers: ids.length, drawnNanos, consumedNanos, consumedUnits, consumptionEvents, countedEvents, counterUsed, expectedNanos, alerts, ok: problems.length === 0, problems };
}

/**
 * Auto-recharge against the real database (issue 10): the spending limit per billing cycle holds
 * over random thresholds, packs, limits and consumption; a recharge buys whole packs at the pack's
 * price, enough to clear the shortfall unless the limit caps it; a repeated recharge id returns
 * its first invoice and issues no second; limit_reached only when even one more pack would pass
 * the limit. Usage draws credits through recordUsage (the token catalog's Personal plan: 1 token
 * per enrichment token past 1,000,000), recharges are paid with recordPaid (which grants them).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditActivities } from '../../activities/creditActivities.js';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import type { Catalog } from '../../billing/catalog.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { creditAccountOf, grantCredits, rechargeSpentMinor, requestRechargeAtRenewal, saveAutoRecharge } from '../../store/creditStore.js';
import { insertCustomer } from '../../store/customerStore.js';
import { createPool } from '../../store/db.js';
import { recordClosed, recordPaid } from '../../store/paymentStore.js';
import { recordUsage } from '../../store/usageLedger.js';
import type { RechargePreparation } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
const NANOS = 1_000_000_000n;
const UNIT = 'tokens';
const PLAN = 'personal';
const METRIC = 'enrichment_tokens';
const INCLUDED = 1_000_000n;
/** The catalog's packs, restated (tokens, price in EUR cents) so the expectations do not read the pricing code. */
const PACKS = {
  starter: { credits: 1_000_000n, priceMinor: 500n },
  standard: { credits: 2_500_000n, priceMinor: 1_000n },
  pro: { credits: 7_000_000n, priceMinor: 2_500n },
  enterprise: { credits: 15_000_000n, priceMinor: 5_000n },
} as const;
type PackId = keyof typeof PACKS;
const CATALOG_THRESHOLD = 500_000n * NANOS;
const DEFAULT_LIMIT_MINOR = 5_000n;

let database: TestDatabase;
let pool: pg.Pool;
let catalog: Catalog;

beforeAll(async () => {
  database = await createTestDatabase();
  pool = createPool(database.url, { max: 4, name: 'recharge' });
  catalog = loadCatalog(SEATS_EUR);
});
afterAll(async () => {
  await pool?.end();
  await database?.close();
});

/**
 * prepareRecharge reads only the provider's name (it issues an invoice; charging is a later
 * step). Any other property read fails the test, so that stays true.
 */
function namedProvider(name: 'stripe' | 'none', reads: Set<string>): PaymentProvider {
  return new Proxy({ name } as unknown as PaymentProvider, {
    get(target, property) {
      reads.add(String(property));
      if (property === 'name') return name;
      return () => { throw new Error(`prepareRecharge used payments.${String(property)}`); };
    },
  });
}

let customers = 0;
async function newCustomer(prefix: string): Promise<{ customerId: string; cycleStart: number; now: number }> {
  const customerId = `${prefix}-${process.pid}-${++customers}`;
  const now = Date.now();
  const input = newSubscriptionInput({ catalog, customerId, planId: PLAN, interval: 'monthly', seats: 1, importedPeriodStart: now - 86_400_000, now });
  await insertCustomer(database.db, { id: customerId, name: 'Recharge Co', email: `${customerId}@example.test` }, input);
  // The plan's included tokens, used up (no credits drawn).
  const seeded = await recordUsage(pool, catalog, [{ group: 0, customerId, metric: METRIC, quantity: INCLUDED, idempotencyKey: 'seed', occurredAt: now }]);
  expect(seeded[0]!.status).toBe('counted');
  return { customerId, cycleStart: input.cycleStart, now };
}

async function grant(customerId: string, tokens: bigint): Promise<void> {
  if (tokens === 0n) return;
  await database.db.$transaction((tx) => grantCredits(tx, { customerId, unit: UNIT, kind: 'grant', creditsNanos: tokens * NANOS, reference: `grant:initial:${customerId}`, grantType: 'promotional', reason: 'recharge test' }));
}

const balanceOf = async (customerId: string) => (await creditAccountOf(database.db, customerId, UNIT)).balanceNanos;
const invoicesOf = (customerId: string) => database.db.invoice.count({ where: { customerId } });

/** The rule, restated: whole packs to clear the shortfall (at least one), never past the limit left. */
function expectedDecision(args: { balance: bigint; threshold: bigint; pack: PackId; limit: bigint; spent: bigint }):
  | { kind: 'not_needed' } | { kind: 'limit_reached' } | { kind: 'buy'; packs: bigint; capped: boolean } {
  const shortfall = args.threshold - args.balance;
  if (shortfall <= 0n) return { kind: 'not_needed' };
  const pack = PACKS[args.pack];
  const perPack = pack.credits * NANOS;
  const wanted = (shortfall + perPack - 1n) / perPack;
  const left = args.limit - args.spent;
  const affordable = left > 0n ? left / pack.priceMinor : 0n;
  if (affordable === 0n) return { kind: 'limit_reached' };
  return wanted <= affordable ? { kind: 'buy', packs: wanted, capped: false } : { kind: 'buy', packs: affordable, capped: true };
}

const stepArb = fc.record({
  /** Tokens drawn past the plan before the recharge step: a share of the balance (percent), plus a few more (which may leave it short: refused whole). */
  draw: fc.record({ percent: fc.integer({ min: 0, max: 100 }), extra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100_000 })) }),
  /** What happens to an invoiced recharge: paid (its credits granted), left open, or voided. */
  settle: fc.constantFrom('pay', 'pay', 'pay', 'pay', 'pay', 'open', 'void'),
});
const caseArb = fc.record({
  pack: fc.constantFrom<PackId>('starter', 'starter', 'standard', 'standard', 'pro', 'enterprise'),
  /** The customer's threshold in tokens, or none (the catalog's 500,000). */
  threshold: fc.option(fc.oneof(fc.integer({ min: 0, max: 20_000_000 }), fc.integer({ min: 1, max: 3_000_000 })), { nil: null, freq: 6 }),
  /** The customer's spending limit in cents (0 to 100.00 EUR, often not a multiple of the pack), or none (the catalog's 50.00). */
  limit: fc.option(fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 5_000, max: 10_000 }), fc.constantFrom(0, 500, 1_000, 2_500, 5_000, 10_000)), { nil: null, freq: 6 }),
  initial: fc.oneof(fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 0, max: 12_000_000 })),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 10 }),
});

describe('auto-recharge and its spending limit', () => {
  it('never spends past the limit in the cycle; whole packs at their price; idempotent per recharge id', async () => {
    let runs = 0;
    await fc.assert(fc.asyncProperty(caseArb, async ({ pack, threshold, limit, initial, steps }) => {
      runs += 1;
      const { customerId, cycleStart } = await newCustomer('ar');
      const reads = new Set<string>();
      const activities = createCreditActivities({ db: database.db, payments: namedProvider('stripe', reads), catalog: () => catalog });
      await grant(customerId, BigInt(initial));
      await saveAutoRecharge(database.db, customerId, UNIT, {
        enabled: true, thresholdNanos: threshold === null ? null : BigInt(threshold) * NANOS, packId: pack, spendingLimitMinor: limit === null ? null : BigInt(limit),
      }, CATALOG_THRESHOLD);
      const thresholdNanos = threshold === null ? CATALOG_THRESHOLD : BigInt(threshold) * NANOS;
      const limitMinor = limit === null ? DEFAULT_LIMIT_MINOR : BigInt(limit);
      const price = PACKS[pack].priceMinor;
      let spent = 0n; // recharges invoiced in the cycle and not voided (open or paid)

      for (const [n, step] of steps.entries()) {
        const at = Date.now();
        const held = await balanceOf(customerId);
        const draw = (held / NANOS) * BigInt(step.draw.percent) / 100n + BigInt(step.draw.extra);
        if (draw > 0n) {
          const [outcome] = await recordUsage(pool, catalog, [{ group: 0, customerId, metric: METRIC, quantity: draw, idempotencyKey: `draw-${n}`, occurredAt: at }]);
          // 1 token per token past the plan: paid from the balance, or refused whole.
          expect(outcome!.status).toBe(draw * NANOS <= held ? 'counted' : 'refused');
        }
        const balance = await balanceOf(customerId);
        expect(balance).toBe(draw * NANOS <= held ? held - draw * NANOS : held);
        const invoicesBefore = await invoicesOf(customerId);
        const rechargeId = `recharge-${customerId}-${n}`;
        const args = { customerId, rechargeId, cycleStart, at };
        // Two deliveries of the same step at once: one decision.
        const [decision, twin] = await Promise.all([activities.prepareRecharge(args), activities.prepareRecharge(args)]);
        const expected = expectedDecision({ balance, threshold: thresholdNanos, pack, limit: limitMinor, spent });
        const context = JSON.stringify({ n, balance: balance.toString(), threshold: thresholdNanos.toString(), pack, limit: limitMinor.toString(), spent: spent.toString(), decision });

        if (expected.kind !== 'buy') {
          expect(decision.status, context).toBe(expected.kind);
          expect(twin.status, context).toBe(expected.kind);
          expect(await invoicesOf(customerId), context).toBe(invoicesBefore);
          if (decision.status === 'limit_reached') {
            // Only when even one more pack would pass the limit.
            expect(spent + price > limitMinor, context).toBe(true);
            expect(decision).toMatchObject({ spentMinor: spent.toString(), limitMinor: limitMinor.toString(), amountMinor: price.toString(), balanceNanos: balance.toString() });
          }
        } else {
          expect(decision.status, context).toBe('invoiced');
          const invoiced = decision as Extract<RechargePreparation, { status: 'invoiced' }>;
          expect(twin, context).toEqual(invoiced);
          expect(await invoicesOf(customerId), context).toBe(invoicesBefore + 1);
          const purchase = await database.db.creditPurchase.findUniqueOrThrow({ where: { id: rechargeId }, include: { invoice: { include: { lines: true } } } });
          expect(purchase.packs, context).toBeGreaterThanOrEqual(1);
          expect(BigInt(purchase.packs), context).toBe(expected.packs);
          expect(purchase).toMatchObject({ customerId, kind: 'recharge', packId: pack, unit: UNIT, currency: 'EUR', invoiceId: invoiced.invoiceId });
          expect(purchase.amountMinor, context).toBe(BigInt(purchase.packs) * price);
          expect(BigInt(purchase.creditsNanos.toFixed(0)), context).toBe(BigInt(purchase.packs) * PACKS[pack].credits * NANOS);
          expect(purchase.cycleStart.getTime()).toBe(cycleStart);
          expect(invoiced).toMatchObject({ amountMinor: purchase.amountMinor.toString(), creditsNanos: purchase.creditsNanos.toFixed(0), invoiceNumber: purchase.invoice.number });
          expect(purchase.invoice).toMatchObject({ status: 'open', reason: 'credit_recharge', totalMinor: purchase.amountMinor, paymentProvider: 'stripe' });
          expect(purchase.invoice.lines.map((l) => [l.quantity, l.amountMinor])).toEqual([[BigInt(purchase.packs), purchase.amountMinor]]);
          spent += purchase.amountMinor;

          if (step.settle === 'pay') {
            expect(await recordPaid(database.db, invoiced.invoiceId, { reference: `pi_${rechargeId}`, at: new Date(at), lowBalanceThresholdNanos: CATALOG_THRESHOLD })).toBe(true);
            const after = await balanceOf(customerId);
            expect(after, context).toBe(balance + BigInt(purchase.creditsNanos.toFixed(0)));
            // Not capped by the limit: the shortfall is cleared in one charge.
            if (!expected.capped) expect(after >= thresholdNanos, context).toBe(true);
            // Paid twice (a webhook again): granted once.
            expect(await recordPaid(database.db, invoiced.invoiceId, { reference: `pi_${rechargeId}`, at: new Date(at) })).toBe(false);
            expect(await balanceOf(customerId)).toBe(after);
          } else if (step.settle === 'void') {
            expect(await recordClosed(database.db, invoiced.invoiceId, 'void', { at: new Date(at) })).toBe(true);
            spent -= purchase.amountMinor;
            expect(await balanceOf(customerId)).toBe(balance);
          }

          // The same recharge id again, later: the same invoice, and no second one.
          const invoicesNow = await invoicesOf(customerId);
          const again = await activities.prepareRecharge({ ...args, at: Date.now() });
          expect(again).toMatchObject({ status: 'invoiced', invoiceId: invoiced.invoiceId, invoiceNumber: invoiced.invoiceNumber, amountMinor: invoiced.amountMinor, creditsNanos: invoiced.creditsNanos });
          expect(await invoicesOf(customerId)).toBe(invoicesNow);
        }

        // The limit holds after every step, as the store sums it.
        const stored = await rechargeSpentMinor(database.db, customerId, cycleStart);
        expect(stored, context).toBe(spent);
        expect(stored <= limitMinor, context).toBe(true);
        expect(await balanceOf(customerId) >= 0n).toBe(true);
      }
      expect([...reads]).toEqual(expect.arrayContaining(['name']));
      expect([...reads].filter((p) => p !== 'name')).toEqual([]);
    }), { numRuns: 25 });
    expect(runs).toBeGreaterThanOrEqual(25);
  });

  it('racing recharges with different ids (a burst past the workflow) still stop at the spending limit', async () => {
    const reads = new Set<string>();
    const activities = createCreditActivities({ db: database.db, payments: namedProvider('stripe', reads), catalog: () => catalog });
    const { customerId, cycleStart } = await newCustomer('burst');
    // Balance 0, threshold 2,500,000 tokens: three Starter packs (15.00 EUR) clear it; the limit is 50.00.
    await saveAutoRecharge(database.db, customerId, UNIT, { enabled: true, thresholdNanos: 2_500_000n * NANOS, packId: 'starter', spendingLimitMinor: 5_000n }, CATALOG_THRESHOLD);
    const decisions = await Promise.all(Array.from({ length: 6 }, (_, i) => activities.prepareRecharge({ customerId, rechargeId: `${customerId}-${i}`, cycleStart, at: Date.now() })));
    // Each decision sees the ones before it (open invoices count against the limit): 15.00 three times, then the 5.00 left, then nothing.
    const amounts = decisions.flatMap((d) => (d.status === 'invoiced' ? [d.amountMinor] : [])).sort();
    expect(amounts).toEqual(['1500', '1500', '1500', '500']);
    expect(decisions.filter((d) => d.status === 'limit_reached')).toHaveLength(2);
    expect(await rechargeSpentMinor(database.db, customerId, cycleStart)).toBe(5_000n);
    expect(await invoicesOf(customerId)).toBe(4);
  });

  // The workflow names a recharge `recharge:<customer>:<unit>:<crossing>` (workflows/creditsWork.ts):
  // ids are unique across customers. Should two customers ever send the same id, the second is
  // refused (the step fails, visibly), never handed the first one's invoice.
  it('a recharge id is one customer\'s: the same id for another customer never answers with the first one\'s invoice', async () => {
    const reads = new Set<string>();
    const activities = createCreditActivities({ db: database.db, payments: namedProvider('stripe', reads), catalog: () => catalog });
    const a = await newCustomer('same-id-a');
    const b = await newCustomer('same-id-b');
    for (const c of [a, b]) {
      await saveAutoRecharge(database.db, c.customerId, UNIT, { enabled: true, thresholdNanos: 1_000_000n * NANOS, packId: 'starter', spendingLimitMinor: 5_000n }, CATALOG_THRESHOLD);
    }
    const first = await activities.prepareRecharge({ customerId: a.customerId, rechargeId: `${UNIT}:1`, cycleStart: a.cycleStart, at: Date.now() });
    expect(first.status).toBe('invoiced');
    await expect(activities.prepareRecharge({ customerId: b.customerId, rechargeId: `${UNIT}:1`, cycleStart: b.cycleStart, at: Date.now() })).rejects.toThrow(/already names another purchase/);
    expect(await invoicesOf(b.customerId)).toBe(0);
    // Named per customer, as the workflow names them, each gets its own.
    const own = await activities.prepareRecharge({ customerId: b.customerId, rechargeId: `recharge:${b.customerId}:${UNIT}:1`, cycleStart: b.cycleStart, at: Date.now() });
    expect(own.status).toBe('invoiced');
    const invoiceB = await database.db.invoice.findUniqueOrThrow({ where: { id: (own as { invoiceId: string }).invoiceId } });
    expect(invoiceB.customerId).toBe(b.customerId);
  });

  it('answers off with auto-recharge off (or no pack, or no provider to charge), and not_needed at or above the threshold', async () => {
    const reads = new Set<string>();
    const stripe = createCreditActivities({ db: database.db, payments: namedProvider('stripe', reads), catalog: () => catalog });
    const none = createCreditActivities({ db: database.db, payments: namedProvider('none', reads), catalog: () => catalog });
    const threshold = 2_000_000n * NANOS;
    const prepare = (activities: typeof stripe, customerId: string, cycleStart: number, id: string) =>
      activities.prepareRecharge({ customerId, rechargeId: `${customerId}-${id}`, cycleStart, at: Date.now() });

    // Never configured, balance 0: off.
    const fresh = await newCustomer('off');
    expect(await prepare(stripe, fresh.customerId, fresh.cycleStart, 'a')).toEqual({ status: 'off' });

    // Configured but off, far under the threshold: off.
    await saveAutoRecharge(database.db, fresh.customerId, UNIT, { enabled: false, thresholdNanos: threshold, packId: 'standard', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, fresh.customerId, fresh.cycleStart, 'b')).toEqual({ status: 'off' });

    // On, but the provider is `none` (nothing could be charged): off.
    await saveAutoRecharge(database.db, fresh.customerId, UNIT, { enabled: true, thresholdNanos: threshold, packId: 'standard', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(none, fresh.customerId, fresh.cycleStart, 'c')).toEqual({ status: 'off' });

    // On with a pack the catalog no longer sells: off.
    await saveAutoRecharge(database.db, fresh.customerId, UNIT, { enabled: true, thresholdNanos: threshold, packId: 'gone', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, fresh.customerId, fresh.cycleStart, 'd')).toEqual({ status: 'off' });
    expect(await invoicesOf(fresh.customerId)).toBe(0);

    // On, balance exactly at the threshold, then above it: not_needed.
    const at = await newCustomer('at');
    await grant(at.customerId, 2_000_000n);
    await saveAutoRecharge(database.db, at.customerId, UNIT, { enabled: true, thresholdNanos: threshold, packId: 'starter', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, at.customerId, at.cycleStart, 'a')).toEqual({ status: 'not_needed' });
    await saveAutoRecharge(database.db, at.customerId, UNIT, { enabled: true, thresholdNanos: threshold - 1n, packId: 'starter', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, at.customerId, at.cycleStart, 'b')).toEqual({ status: 'not_needed' });
    // One token under it: a recharge (one Starter pack).
    const [drawn] = await recordUsage(pool, catalog, [{ group: 0, customerId: at.customerId, metric: METRIC, quantity: 1n, idempotencyKey: 'one', occurredAt: Date.now() }]);
    expect(drawn!.status).toBe('counted');
    await saveAutoRecharge(database.db, at.customerId, UNIT, { enabled: true, thresholdNanos: threshold, packId: 'starter', spendingLimitMinor: 10_000n }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, at.customerId, at.cycleStart, 'c')).toMatchObject({ status: 'invoiced', amountMinor: '500', creditsNanos: (1_000_000n * NANOS).toString() });

    // The catalog's default threshold (500,000 tokens) when the customer set none.
    const byDefault = await newCustomer('default');
    await grant(byDefault.customerId, 500_000n);
    await saveAutoRecharge(database.db, byDefault.customerId, UNIT, { enabled: true, thresholdNanos: null, packId: 'starter', spendingLimitMinor: null }, CATALOG_THRESHOLD);
    expect(await prepare(stripe, byDefault.customerId, byDefault.cycleStart, 'a')).toEqual({ status: 'not_needed' });
    expect([...reads].filter((p) => p !== 'name')).toEqual([]);
  });
});

describe('a renewal asks for a recharge again', () => {
  it('once per cycle, only with auto-recharge on and the balance under its threshold', async () => {
    const { customerId } = await newCustomer('renewal');
    const nextCycle = Date.now() - 1_000;
    const ask = () => database.db.$transaction((tx) => requestRechargeAtRenewal(tx, { customerId, unit: UNIT, defaultThresholdNanos: CATALOG_THRESHOLD, cycleStart: nextCycle }));
    const recharges = () => database.db.creditAlert.count({ where: { customerId, kind: 'recharge' } });
    await ask();
    expect(await recharges()).toBe(0); // no account, no auto-recharge
    await saveAutoRecharge(database.db, customerId, UNIT, { enabled: false, thresholdNanos: 500_000n * NANOS, packId: 'starter', spendingLimitMinor: null }, CATALOG_THRESHOLD);
    await ask();
    expect(await recharges()).toBe(0); // off
    await database.db.$transaction((tx) => grantCredits(tx, { customerId, unit: UNIT, kind: 'grant', creditsNanos: 600_000n * NANOS, reference: 'grant:renewal', grantType: 'manual', reason: 'test' }));
    await saveAutoRecharge(database.db, customerId, UNIT, { enabled: true, thresholdNanos: 500_000n * NANOS, packId: 'starter', spendingLimitMinor: null }, CATALOG_THRESHOLD);
    await ask();
    expect(await recharges()).toBe(0); // above the threshold
    await recordUsage(pool, catalog, [{ group: 0, customerId, metric: METRIC, quantity: 300_000n, idempotencyKey: 'under', occurredAt: Date.now() }]);
    expect(await balanceOf(customerId)).toBe(300_000n * NANOS);
    await ask();
    await ask(); // a repeated renewal step
    expect(await recharges()).toBe(1);
    const alerts = await database.db.creditAlert.findMany({ where: { customerId }, orderBy: { crossing: 'asc' } });
    // Set while at 0 (low), fallen under it by usage after the grant (low), then the renewal's request.
    expect(alerts.map((a) => [a.kind, a.crossing])).toEqual([['low', 1], ['low', 2], ['recharge', 3]]);
  });
});

/** JSON views of credits. Credits are exact decimal strings in the catalog's credit unit; money has its currency. */
import type { Catalog } from '../../billing/catalog.js';
import { defaultSpendingLimitMinor } from '../../billing/autoRecharge.js';
import { creditsMoneyNanos, formatCredits, nanosToMinor, packCreditsNanos, packPriceMinor, type CreditUnit } from '../../billing/creditPricing.js';
import { moneyView } from '../../billing/money.js';
import { catalogThresholdNanos } from '../../store/creditLedger.js';
import type { CreditAccountRecord, HistoryEntry } from '../../store/creditStore.js';

const iso = (d: Date | number) => new Date(d).toISOString();

export function creditSummaryView(args: {
  catalog: Catalog;
  unit: CreditUnit;
  customerId: string;
  account: CreditAccountRecord;
  cycle: { start: number; end: number };
  consumption: Array<{ metric: string; quantity: bigint; creditsNanos: bigint }>;
  spentMinor: bigint;
}) {
  const { catalog, unit, account } = args;
  const currency = catalog.currency;
  const credits = (nanos: bigint) => formatCredits(nanos, unit, currency);
  const value = (nanos: bigint) => moneyView(nanosToMinor(creditsMoneyNanos(nanos, unit), currency), currency);
  const consumed = args.consumption.reduce((sum, c) => sum + c.creditsNanos, 0n);
  const threshold = account.thresholdNanos ?? catalogThresholdNanos(catalog) ?? null;
  const limit = account.spendingLimitMinor ?? defaultSpendingLimitMinor(catalog);
  return {
    customerId: args.customerId,
    unit: unit.name,
    balance: credits(account.balanceNanos),
    balanceValue: value(account.balanceNanos),
    cycle: { start: iso(args.cycle.start), end: iso(args.cycle.end) },
    consumedThisCycle: {
      credits: credits(consumed),
      value: value(consumed),
      byMetric: args.consumption.map((c) => ({ metric: c.metric, quantity: c.quantity.toString(), credits: credits(c.creditsNanos), value: value(c.creditsNanos) })),
    },
    lowBalanceThreshold: threshold === null ? null : credits(threshold),
    autoRecharge: {
      enabled: account.autoRecharge,
      status: account.autoRecharge ? (account.rechargeFailures > 0 ? 'retrying' : 'on') : account.autoRechargeOffReason ? 'turned_off' : 'off',
      packId: account.rechargePackId,
      threshold: threshold === null ? null : credits(threshold),
      spendingLimit: moneyView(limit, currency),
      spentThisCycle: moneyView(args.spentMinor, currency),
      failures: account.rechargeFailures,
      turnedOffReason: account.autoRechargeOffReason,
      turnedOffAt: account.autoRechargeOffAt ? iso(account.autoRechargeOffAt) : null,
    },
    packs: (catalog.credits?.packs ?? []).map((p) => ({ id: p.id, name: p.name, credits: credits(packCreditsNanos(p)), price: moneyView(packPriceMinor(p, currency), currency) })),
    customAmount: catalog.credits?.customAmount ? { min: { amount: catalog.credits.customAmount.min, currency }, max: { amount: catalog.credits.customAmount.max, currency } } : null,
  };
}

export function historyEntryView(entry: HistoryEntry, unit: CreditUnit, currency: string, invoiceNumbers: ReadonlyMap<string, string>) {
  const credits = (nanos: bigint) => formatCredits(nanos, unit, currency);
  if (entry.type === 'consumption') {
    return {
      type: 'consumption' as const,
      at: iso(entry.at),
      day: entry.day,
      metric: entry.metric,
      quantity: entry.quantity.toString(),
      credits: credits(-entry.creditsNanos),
      events: Number(entry.events),
      firstAt: iso(entry.firstAt),
    };
  }
  return {
    type: entry.type,
    at: iso(entry.at),
    credits: credits(entry.creditsNanos),
    balanceAfter: credits(entry.balanceAfterNanos),
    reference: entry.reference,
    invoiceNumber: entry.invoiceId ? invoiceNumbers.get(entry.invoiceId) ?? null : null,
    amount: entry.amountMinor !== null && entry.currency ? moneyView(entry.amountMinor, entry.currency) : null,
    grantType: entry.grantType,
    reason: entry.reason,
  };
}

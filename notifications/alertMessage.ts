/**
 * The human message of a usage alert: the same subject and text go out by email (as subject and
 * body) and by Slack, Discord and Telegram (subject as the first line). The message does not say
 * whether further usage is refused: that depends on the plan and is the host app's business.
 */

export interface UsageAlert {
  customerId: string;
  customerName: string;
  planName: string;
  metric: string;
  metricName: string;
  /** Singular or plural unit name, e.g. 'call' or 'calls'; a lowercase word is pluralized as needed. */
  unit: string;
  threshold: 80 | 100;
  used: number;
  limit: number;
  /** ISO timestamp of the end of the billing cycle. */
  cycleEnd: string;
}

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });

/** Names come from customers and the catalog: keep them on one line (no header or line injection). */
function oneLine(value: string): string {
  return value.replace(/[\s\p{Cc}]+/gu, ' ').trim();
}

/** English plural of a lowercase unit word ('call' → 'calls', 'query' → 'queries'); anything else ('GB') is kept. */
function plural(unit: string): string {
  if (!/^[a-z]+$/.test(unit) || unit.endsWith('s')) return unit;
  if (/(x|z|ch|sh)$/.test(unit)) return `${unit}es`;
  if (/[^aeiou]y$/.test(unit)) return `${unit.slice(0, -1)}ies`;
  return `${unit}s`;
}

function quantity(count: number, unit: string): string {
  const name = oneLine(unit);
  return `${numberFormat.format(count)} ${count === 1 ? name : plural(name)}`;
}

function day(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? oneLine(iso) : date.toISOString().slice(0, 10);
}

export function alertMessage(a: UsageAlert): { subject: string; text: string } {
  const customer = oneLine(a.customerName) || a.customerId;
  const metric = oneLine(a.metricName) || a.metric;
  const planName = oneLine(a.planName);
  const plan = planName ? `the ${planName} plan` : 'its plan';
  const percent = a.limit > 0 ? Math.floor((a.used * 100) / a.limit) : a.threshold;
  const usage = `${numberFormat.format(a.used)} of ${quantity(a.limit, a.unit)} used (${percent}%) this billing cycle, which ends ${day(a.cycleEnd)}.`;
  if (a.threshold === 100) {
    return {
      subject: `${customer}: ${metric} limit reached on ${plan}`,
      text: `${customer} has reached its limit of ${quantity(a.limit, a.unit)} on ${plan}.\n${usage}`,
    };
  }
  return {
    subject: `${customer}: ${metric} at ${a.threshold}% of ${plan} limit`,
    text: `${customer} is approaching its limit of ${quantity(a.limit, a.unit)} on ${plan}.\n${usage}`,
  };
}

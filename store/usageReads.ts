/** Usage as the usage card reads it: the counters of one cycle. */
import type { Db } from './db.js';

export async function usageOfCycle(db: Db, customerId: string, cycleStart: number): Promise<Map<string, bigint>> {
  const counters = await db.usageCounter.findMany({ where: { customerId, cycleStart: new Date(cycleStart) }, select: { metric: true, used: true } });
  return new Map(counters.map((c) => [c.metric, c.used]));
}

/**
 * The instant a customer's requests are judged at: real time, or its test clock's frozen instant
 * (issue 14). Usage timestamps, the change preview and a new subscription's start read it, so a
 * customer on a test clock lives on the same time line as its workflow.
 *
 * Clocks are read only when they can matter: when test clocks are on, or when a customer already
 * runs on one (turning them off later must not move those customers to real time). Otherwise no
 * request pays a database round trip for it.
 */
import type { Db } from '../../store/db.js';
import { anyCustomerOnATestClock, clocksOfCustomers, type CustomerClock } from '../../store/testClockStore.js';
import { ApiError } from '../errors.js';

export const advancingError = (customerId: string) =>
  new ApiError(409, 'test_clock_advancing', `The test clock of customer "${customerId}" is advancing; try again once it has caught up (in a few seconds per month advanced).`);

const REMEMBER_REAL_TIME_MS = 60_000;
const MAX_REMEMBERED = 200_000;

export class CustomerTime {
  private readClocks: boolean;
  /** Customers known to be on real time, until when (epoch ms). */
  private readonly onRealTime = new Map<string, number>();

  constructor(private readonly db: Db, clocksEnabled: boolean, private readonly realNow: () => number = Date.now) {
    this.readClocks = clocksEnabled;
  }

  /**
   * Reads clocks from now on when some customer is on one (called at start-up). When that cannot be
   * told, it reads them on every request rather than judge a clock customer at real time.
   */
  async init(): Promise<void> {
    if (this.readClocks) return;
    try {
      this.readClocks = await anyCustomerOnATestClock(this.db);
    } catch (error) {
      this.readClocks = true;
      throw error;
    }
  }

  /** The clocks of those customers that run on one (empty when none can). */
  async clocksOf(customerIds: readonly string[]): Promise<Map<string, CustomerClock>> {
    const clocks = new Map<string, CustomerClock>();
    if (!this.readClocks) return clocks;
    const at = this.realNow();
    const unknown = customerIds.filter((id) => (this.onRealTime.get(id) ?? 0) <= at);
    if (unknown.length === 0) return clocks;
    for (const [id, clock] of await clocksOfCustomers(this.db, unknown)) {
      if (clock) clocks.set(id, clock);
      else this.rememberRealTime(id, at);
    }
    return clocks;
  }

  /**
   * A customer's clock is fixed when it is created, so one on real time stays there: remembered
   * for a minute (the id could be removed and made again on a clock), so the usage hot path of
   * real-time customers costs no round trip for clocks.
   */
  private rememberRealTime(customerId: string, at: number): void {
    if (this.onRealTime.size >= MAX_REMEMBERED) this.onRealTime.clear();
    this.onRealTime.set(customerId, at + REMEMBER_REAL_TIME_MS);
  }

  /**
   * The instant `customerId`'s rules read now. A clock that is advancing is refused: the workflow
   * is somewhere between its old and new instant, and nothing should be judged at either.
   */
  async nowFor(customerId: string): Promise<number> {
    const clock = (await this.clocksOf([customerId])).get(customerId);
    if (!clock) return this.realNow();
    if (clock.status === 'advancing') throw advancingError(customerId);
    return clock.frozenTime;
  }
}

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
  new ApiError(409, 'test_clock_advancing', `The test clock of customer "${customerId}" is advancing; try again once it has caught up (GET /v1/test-clocks/{clockId}).`);

export class CustomerTime {
  private readClocks: boolean;

  constructor(private readonly db: Db, readonly clocksEnabled: boolean, private readonly realNow: () => number = Date.now) {
    this.readClocks = clocksEnabled;
  }

  /** Reads clocks from now on when some customer is on one (called at start-up). */
  async init(): Promise<void> {
    if (!this.readClocks) this.readClocks = await anyCustomerOnATestClock(this.db);
  }

  readClocksAlways(): void {
    this.readClocks = true;
  }

  now(): number {
    return this.realNow();
  }

  /** The clocks of those customers that run on one (empty when none can). */
  async clocksOf(customerIds: readonly string[]): Promise<Map<string, CustomerClock>> {
    return this.readClocks ? clocksOfCustomers(this.db, customerIds) : new Map();
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

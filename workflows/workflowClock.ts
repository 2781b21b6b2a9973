/**
 * The time a subscription's rules read: the workflow's own clock, or a test clock (issue 14).
 *
 * A subscription on a test clock keeps its own instant, frozen between advances. An advance sets
 * a later target; the main loop then steps the clock from deadline to deadline (renewals, dunning
 * retries, Checkout pages lapsing, recharge retries) in order, doing at each what it does on real
 * time, until no deadline is left before the target, and the clock rests there. The rules are the
 * same code either way: only where `now()` comes from and how a deadline is waited for differ.
 *
 * On real time `now()` is `Date.now()` and the workflow waits with its own inline `condition`, as
 * before clocks existed, so runs recorded before replay as they ran. A run on a clock records the
 * `test-clock` patch marker (TEST_CLOCK_PATCH), so one an older worker began on real time replays
 * on real time.
 */
import { condition } from '@temporalio/workflow';
import type { TestClockPosition } from './messages.js';

export class WorkflowClock {
  private readonly test: TestClockPosition | undefined;
  /** Whether the main loop rests (waits for a later target or for work), so the clock has caught up. */
  private resting = false;

  constructor(test: TestClockPosition | undefined) {
    this.test = test ? { ...test, target: Math.max(test.target, test.now) } : undefined;
  }

  get testClockId(): string | undefined {
    return this.test?.id;
  }

  now(): number {
    return this.test ? this.test.now : Date.now();
  }

  /** A later target for the test clock (an advance); false on real time, or for a target not later than the one set. */
  advanceTo(target: number): boolean {
    if (!this.test || target <= this.test.target) return false;
    this.test.target = target;
    return true;
  }

  /** Whether an advance is under way: the clock has not yet reached its target. */
  advancing(): boolean {
    return this.test !== undefined && this.test.now < this.test.target;
  }

  /**
   * Waits until `wake()` holds or the instant `at` has come. On a test clock the instant comes when
   * the target reaches it: the clock then stands at `at` exactly (never past a deadline unseen).
   * On real time the workflow waits inline instead (an extra await would reorder its commands).
   */
  async waitUntil(at: number, wake: () => boolean): Promise<void> {
    const test = this.test;
    if (!test) throw new Error('waitUntil is for a test clock; on real time the workflow waits with condition() itself');
    for (;;) {
      if (wake()) return;
      if (test.target >= at) {
        test.now = Math.max(test.now, at);
        return;
      }
      test.now = test.target;
      this.resting = true;
      try {
        await condition(() => wake() || test.target > test.now);
      } finally {
        this.resting = false;
      }
    }
  }

  /** Where the test clock stands, for the API's advance (undefined on real time). */
  position(busy: boolean): (TestClockPosition & { caughtUp: boolean }) | undefined {
    if (!this.test) return undefined;
    return { ...this.test, caughtUp: this.resting && !busy && this.test.now >= this.test.target };
  }

  /** The clock handed to the next run (continue-as-new). */
  carry(): { testClock: TestClockPosition } | Record<string, never> {
    return this.test ? { testClock: { ...this.test } } : {};
  }
}

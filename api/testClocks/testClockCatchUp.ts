/**
 * Bringing a test clock's customers to its instant (issue 14). The clock row says where the clock
 * is (store/testClockStore.ts); each subscription workflow steps its own copy of the clock from
 * deadline to deadline up to that instant (workflows/workflowClock.ts). An advance is over when
 * every one of them reports it has caught up: at the instant, resting, with nothing in flight.
 *
 * Idempotent and resumable: a workflow behind the clock's instant is signalled again (the signal
 * only ever raises its target), so an API that died mid-advance, a signal that was lost, or a
 * workflow started just before the advance is caught up by the next GET of the clock.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import { crossingsUnrelayed, findTestClock, finishAdvance, type TestClockRecord } from '../../store/testClockStore.js';
import { advanceTestClockSignal, subscriptionWorkflowId, testClockQuery } from '../../workflows/messages.js';

export interface CatchUpDeps {
  db: Db;
  temporal: Client;
  logger: Logger;
}

/** How long one question to a workflow may take before it counts as not caught up (its worker may be down). */
const ASK_TIMEOUT_MS = 5_000;
const POLL_MS = 150;

type Progress = 'caught_up' | 'behind';

/** A customer row whose workflow never started (its API died between the two) stops counting after this. */
const NEVER_STARTED_AFTER_MS = 60_000;

async function progressOf(deps: CatchUpDeps, clock: TestClockRecord, customerId: string): Promise<Progress> {
  const handle = deps.temporal.workflow.getHandle(subscriptionWorkflowId(customerId));
  const ask = <T>(call: () => Promise<T>) => deps.temporal.withDeadline(Date.now() + ASK_TIMEOUT_MS, call);
  try {
    // Ended (its clock deleted, or terminated by an operator mid-advance): nothing to wait for. A
    // query would still answer, from its history, where it stopped.
    const status = await ask(() => handle.describe()).then((d) => d.status.name, (error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    if (status === undefined) {
      // Not started yet (the customer joined just before the advance began): it will be, and is
      // signalled then. A row whose workflow never started, or no row, has nothing to catch up.
      const customer = await deps.db.customer.findUnique({ where: { id: customerId }, select: { createdAt: true } });
      return customer && Date.now() - customer.createdAt.getTime() < NEVER_STARTED_AFTER_MS ? 'behind' : 'caught_up';
    }
    if (status !== 'RUNNING') return 'caught_up';
    const position = await ask(() => handle.query(testClockQuery));
    // A subscription that is not on this clock (cannot happen through the API) has nothing to catch up.
    if (!position || position.id !== clock.id) return 'caught_up';
    if (position.target < clock.frozenTime) {
      await ask(() => handle.signal(advanceTestClockSignal, { clockId: clock.id, to: clock.frozenTime }));
      return 'behind';
    }
    return position.caughtUp && position.now >= clock.frozenTime ? 'caught_up' : 'behind';
  } catch (error) {
    deps.logger.warn({ err: error, customerId, clockId: clock.id }, 'test clock: could not ask a subscription how far it is');
    return 'behind';
  }
}

/**
 * Waits up to `waitMs` for the clock's customers to catch up with its instant; true (and the
 * clock marked ready) when they all did.
 */
export async function catchUp(deps: CatchUpDeps, clock: TestClockRecord, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    // Crossings recorded before the advance reach each workflow before it moves on, in their own cycle.
    const pending = clock.customers.length > 0 && await crossingsUnrelayed(deps.db, clock.customers);
    if (!pending) {
      const progress = await Promise.all(clock.customers.map((customerId) => progressOf(deps, clock, customerId)));
      if (progress.every((p) => p === 'caught_up')) {
        await finishAdvance(deps.db, clock.id, clock.frozenTime);
        return true;
      }
    }
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Finishes advances nobody is waiting for (the caller went away after a 202, or the API that
 * began one died): every few seconds, each clock still advancing is checked once. Idempotent, so
 * several API processes may each run one.
 */
export function startTestClockFinisher(deps: CatchUpDeps, everyMs = 2_000): { stop(): Promise<void> } {
  let round: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (round) return;
    round = (async () => {
      const advancing = await deps.db.testClock.findMany({ where: { status: 'advancing' }, select: { id: true } });
      for (const { id } of advancing) {
        const clock = await findTestClock(deps.db, id);
        if (clock?.status === 'advancing') await catchUp(deps, clock, 0);
      }
    })().catch((error: unknown) => deps.logger.warn({ err: error }, 'test clock finisher: a round failed; trying again'))
      .finally(() => { round = undefined; });
  }, everyMs);
  timer.unref();
  // A round under way finishes before the connections it uses are closed.
  return { stop: async () => { clearInterval(timer); await round; } };
}

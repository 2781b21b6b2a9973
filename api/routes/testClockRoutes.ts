/**
 * Test clocks (issue 14): create one at an instant, put customers on it (POST /v1/customers with
 * `testClock`), advance it, delete it. An advance moves the clock's instant, then every
 * subscription on it steps through what falls due on the way, in order (api/testClocks/
 * testClockCatchUp.ts); the call answers 200 once all have caught up, or 202 while they still are
 * (GET the clock until it is `ready`). Closed unless TOLLGATE_TEST_CLOCKS is on.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Router, type Request } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Db } from '../../store/db.js';
import { beginAdvance, createTestClock, findTestClock, listTestClocks, markTestClockDeleted, type TestClockRecord } from '../../store/testClockStore.js';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { ApiError, validationError } from '../errors.js';
import { catchUp } from '../testClocks/testClockCatchUp.js';
import { advanceTestClockBody, createTestClockBody, MAX_ADVANCE_MS, testClockParams } from '../testClocks/testClockSchemas.js';

export interface TestClockRoutesDeps {
  db: Db;
  temporal: Client;
  logger: Logger;
  /** TOLLGATE_TEST_CLOCKS: off, every route answers 404 test_clocks_disabled. */
  testClocks: boolean;
  now?: () => number;
}

/** How long an advance waits for its customers before answering 202 (GET then polls). */
const ADVANCE_WAIT_MS = 20_000;

export const testClocksDisabled = () => new ApiError(404, 'test_clocks_disabled', 'Test clocks are off on this server; TOLLGATE_TEST_CLOCKS=true turns them on (never with live payment keys).');

function testClockView(clock: TestClockRecord) {
  return {
    id: clock.id,
    name: clock.name,
    frozenTime: new Date(clock.frozenTime).toISOString(),
    status: clock.status,
    customers: clock.customers,
    createdAt: new Date(clock.createdAt).toISOString(),
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'path'): T {
  if (where === 'body' && value === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

export function testClockRoutes(deps: TestClockRoutesDeps): Router {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  router.use('/v1/test-clocks', (_req, _res, next) => {
    next(deps.testClocks ? undefined : testClocksDisabled());
  });

  const clockOf = async (req: Request): Promise<TestClockRecord> => {
    const { clockId } = parse(testClockParams, req.params, 'path');
    const clock = await findTestClock(db, clockId);
    if (!clock || clock.status === 'deleted') throw new ApiError(404, 'test_clock_not_found', `No test clock "${clockId}".`);
    return clock;
  };
  /** The clock as it is now; an advance under way is checked on (and its stragglers nudged) first. */
  const current = async (clock: TestClockRecord, wait: number): Promise<TestClockRecord> => {
    if (clock.status !== 'advancing') return clock;
    await catchUp(deps, clock, wait);
    return (await findTestClock(db, clock.id)) ?? clock;
  };

  router.post('/v1/test-clocks', async (req, res) => {
    const body = parse(createTestClockBody, req.body, 'body');
    const clock = await createTestClock(db, { frozenTime: Date.parse(body.frozenTime), name: body.name });
    res.status(201).location(`/v1/test-clocks/${clock.id}`).json(testClockView(clock));
  });

  router.get('/v1/test-clocks', async (_req, res) => {
    res.json({ testClocks: (await listTestClocks(db)).map(testClockView) });
  });

  router.get('/v1/test-clocks/:clockId', async (req, res) => {
    res.json(testClockView(await current(await clockOf(req), 0)));
  });

  router.post('/v1/test-clocks/:clockId/advance', async (req, res) => {
    parse(testClockParams, req.params, 'path');
    const body = parse(advanceTestClockBody, req.body, 'body');
    const clock = await clockOf(req);
    const to = Date.parse(body.frozenTime);
    if (clock.status === 'advancing') {
      throw new ApiError(409, 'test_clock_advancing', `Test clock "${clock.id}" is still advancing to ${new Date(clock.frozenTime).toISOString()}; GET it until it is ready.`);
    }
    if (to <= clock.frozenTime) {
      throw new ApiError(422, 'invalid_advance', `A test clock only moves forward: ${body.frozenTime} is not later than its instant ${new Date(clock.frozenTime).toISOString()}.`);
    }
    if (to - clock.frozenTime > MAX_ADVANCE_MS) {
      throw new ApiError(422, 'invalid_advance', `One advance moves a test clock at most ${MAX_ADVANCE_MS / 86_400_000} days; advance in steps.`);
    }
    const advancing = await beginAdvance(db, clock.id, to);
    if (!advancing) {
      // Another advance, or a deletion, took the clock between the read and the update.
      if ((await findTestClock(db, clock.id))?.status === 'deleted') throw new ApiError(404, 'test_clock_not_found', `No test clock "${clock.id}".`);
      throw new ApiError(409, 'test_clock_advancing', `Test clock "${clock.id}" began another advance meanwhile; GET it until it is ready.`);
    }
    deps.logger.info({ clockId: clock.id, from: new Date(clock.frozenTime).toISOString(), to: body.frozenTime, customers: advancing.customers.length }, 'test clock advancing');
    const done = await current(advancing, ADVANCE_WAIT_MS);
    if (done.status === 'deleted') throw new ApiError(404, 'test_clock_not_found', `Test clock "${clock.id}" was deleted during the advance.`);
    res.status(done.status === 'ready' ? 200 : 202).location(`/v1/test-clocks/${clock.id}`).json(testClockView(done));
  });

  // Marked deleted first: from then on no customer joins and no advance begins. Its customers are
  // read after that, so one that joined just before is among them; one whose workflow is not
  // started yet is ended by its own creation, which checks the clock again once it has started it.
  // Repeating the call finishes what a failed one left (a deleted clock answers it again).
  router.delete('/v1/test-clocks/:clockId', async (req, res) => {
    const { clockId } = parse(testClockParams, req.params, 'path');
    if (!(await findTestClock(db, clockId))) throw new ApiError(404, 'test_clock_not_found', `No test clock "${clockId}".`);
    await markTestClockDeleted(db, clockId, new Date(now()));
    const clock = (await findTestClock(db, clockId))!;
    const ended: string[] = [];
    for (const customerId of clock.customers) {
      try {
        await deps.temporal.withDeadline(Date.now() + 10_000, () => deps.temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).terminate(`test clock ${clock.id} deleted`));
      } catch (error) {
        // Not running (not started yet, or ended before): ended all the same.
        if (!(error instanceof WorkflowNotFoundError)) {
          deps.logger.error({ err: error, clockId, customerId }, 'test clock deleted: could not end a customer');
          throw new ApiError(503, 'temporal_unavailable', `Test clock "${clockId}" is deleted, but customer "${customerId}" could not be ended yet; repeat the call.`);
        }
      }
      ended.push(customerId);
    }
    deps.logger.info({ clockId: clock.id, customers: ended.length }, 'test clock deleted');
    res.json({ id: clock.id, deleted: true, customersEnded: ended });
  });

  return router;
}

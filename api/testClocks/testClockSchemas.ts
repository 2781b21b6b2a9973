/** Test clock requests (issue 14), parsed at the edge; the OpenAPI document is generated from these. */
import { z } from 'zod';
import { safeText, testClockIdSchema } from '../schemas.js';

/** The longest one advance may be: about three years, so one call's work stays bounded (36 renewals of a 30-day cycle). */
export const MAX_ADVANCE_MS = 3 * 366 * 86_400_000;

/**
 * Clocks live between 2000 and 2100: every period they reach then stays within what JSON dates,
 * the payment provider and Temporal's Datetime search attributes all take (four-digit years, after 1970).
 */
export const EARLIEST_CLOCK_TIME = Date.parse('2000-01-01T00:00:00Z');
export const LATEST_CLOCK_TIME = Date.parse('2100-01-01T00:00:00Z');
const instant = z.iso.datetime({ offset: true })
  .refine((value) => Date.parse(value) >= EARLIEST_CLOCK_TIME && Date.parse(value) <= LATEST_CLOCK_TIME, 'must be between 2000-01-01 and 2100-01-01');

export const createTestClockBody = z.strictObject({
  frozenTime: instant.describe('Where the clock starts (ISO 8601), past or future.'),
  name: safeText().trim().min(1).max(200).optional().describe('A label to find it by.'),
});

export const advanceTestClockBody = z.strictObject({
  frozenTime: instant.describe('Where to move the clock: later than its instant, by at most three years.'),
});

export const testClockParams = z.strictObject({ clockId: testClockIdSchema });

/**
 * Rate limits per caller (a key, the operator key included, or a customer session), per API
 * process, in one-second windows (rate-limiter-flexible's in-memory limiter: a well-kept library
 * whose fixed windows and reset times are what `Retry-After` needs). Three budgets: server keys on
 * the ordinary routes, customer sessions (a browser) on theirs, and the usage routes, whose
 * budget is far higher (they take thousands of requests a second from one backend; the bench's
 * load stays under it). Past the budget: 429 `rate_limited` with `Retry-After` in whole seconds.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from '../errors.js';
import type { Principal } from './principal.js';

export interface RateLimitSettings {
  /** Requests a second a server key may send to the routes outside /v1/usage. */
  keyPerSecond: number;
  /** Requests a second a customer session may send. */
  sessionPerSecond: number;
  /** Requests a second a server key may send to /v1/usage routes. */
  usagePerSecond: number;
  /**
   * Database lookups of secrets a client address may cause a second (secrets not cached yet:
   * a key's first request, or made-up ones). Before a credential is known there is no caller to
   * count against, so a flood of made-up secrets is limited by where it comes from.
   */
  lookupsPerSecond?: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitSettings = { keyPerSecond: 100, sessionPerSecond: 20, usagePerSecond: 50_000, lookupsPerSecond: 50 };

export type RouteFamily = 'usage' | 'other';

const callerOf = (principal: Principal) => (principal.kind === 'key' ? `key:${principal.keyId ?? 'operator'}` : `session:${principal.sessionId}`);

export class RateLimits {
  private readonly keys: RateLimiterMemory;
  private readonly sessions: RateLimiterMemory;
  private readonly usage: RateLimiterMemory;
  private readonly lookups: RateLimiterMemory;

  constructor(readonly settings: RateLimitSettings = DEFAULT_RATE_LIMITS) {
    this.keys = new RateLimiterMemory({ points: settings.keyPerSecond, duration: 1 });
    this.sessions = new RateLimiterMemory({ points: settings.sessionPerSecond, duration: 1 });
    this.usage = new RateLimiterMemory({ points: settings.usagePerSecond, duration: 1 });
    this.lookups = new RateLimiterMemory({ points: settings.lookupsPerSecond ?? DEFAULT_RATE_LIMITS.lookupsPerSecond!, duration: 1 });
  }

  /** Counts a credential lookup against the client address; rejects with the 429 once its budget is spent. */
  async admitLookup(address: string): Promise<void> {
    try {
      await this.lookups.consume(address);
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      const seconds = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
      throw new ApiError(429, 'rate_limited', `Too many unknown keys or tokens from this address: at most ${this.lookups.points} a second. Retry after ${seconds} s.`, { limitPerSecond: this.lookups.points, retryAfterSeconds: seconds }, { 'retry-after': String(seconds) });
    }
  }

  /** Counts the request against its caller's budget; rejects with the 429 once it is spent. */
  async admit(principal: Principal, family: RouteFamily): Promise<void> {
    const limiter = family === 'usage' ? this.usage : principal.kind === 'session' ? this.sessions : this.keys;
    try {
      await limiter.consume(callerOf(principal));
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      const seconds = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
      throw new ApiError(429, 'rate_limited', `Too many requests from this ${principal.kind === 'key' ? 'key' : 'session'}: at most ${limiter.points} a second here. Retry after ${seconds} s.`, { limitPerSecond: limiter.points, retryAfterSeconds: seconds }, { 'retry-after': String(seconds) });
    }
  }
}


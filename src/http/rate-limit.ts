import type { NextFunction, Request, Response } from 'express';
import { rateLimited } from '../shared/errors.ts';

/**
 * RATE_LIMIT_PER_SECOND per access key: a token bucket of RATE_LIMIT_BURST tokens refilled at
 * the rate, kept in each instance's memory. Per instance, not shared through Postgres: the
 * limit guards an instance's own CPU and pool, a shared bucket would put a write on one hot row
 * in front of every request (the transactional path aims at a POST p99 of 100 ms), and with N
 * instances behind a balancer a key gets at most N × the rate, which the README says.
 */
export interface RateLimiter {
  /** 0 when the request may go on, else the seconds until a token is there */
  take(key: string, nowMs: number): number;
}

/** undefined when `perSecond` is 0 (no limit). */
export function createRateLimiter(perSecond: number, burst: number): RateLimiter | undefined {
  if (perSecond <= 0) return undefined;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key, nowMs) {
      const b = buckets.get(key) ?? { tokens: burst, at: nowMs };
      b.tokens = Math.min(burst, b.tokens + (Math.max(0, nowMs - b.at) / 1000) * perSecond);
      b.at = nowMs;
      if (buckets.size > 10_000 && !buckets.has(key)) {
        // Keys are authenticated, so this is many keys, not an attack: drop the full (idle) buckets.
        for (const [k, v] of buckets) if (v.tokens + ((nowMs - v.at) / 1000) * perSecond >= burst) buckets.delete(k);
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return (1 - b.tokens) / perSecond;
    },
  };
}

/** After authentication: 429 {"error":{"errorCode":"420","message":"Rate Limited"}} with Retry-After. */
export function rateLimitByKey(limiter: RateLimiter | undefined, now: () => number = Date.now) {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!limiter || !req.accessKey) return next();
    const wait = limiter.take(req.accessKey, now());
    if (wait > 0) return next(rateLimited(wait));
    next();
  };
}

import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { admitLargeBodies, createByteBudget } from '../../src/http/body-budget.ts';
import { createRateLimiter } from '../../src/http/rate-limit.ts';

describe('createByteBudget', () => {
  it('admits while the bytes fit, then in turn (FIFO) as earlier bodies are released', async () => {
    const budget = createByteBudget(100, 4);
    const a = await budget.acquire(60, 1000);
    expect(a).toBeDefined();
    const order: string[] = [];
    const b = budget.acquire(60, 1000).then((r) => {
      order.push('b');
      return r;
    });
    const c = budget.acquire(10, 1000).then((r) => {
      order.push('c');
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    // c would fit beside a, but does not overtake b
    expect(order).toEqual([]);
    expect(budget.waiting()).toBe(2);
    a!();
    const [rb, rc] = await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
    expect(budget.inUse()).toBe(70);
    rb!();
    rc!();
    rc!(); // a second release changes nothing
    expect(budget.inUse()).toBe(0);
  });

  it('a body larger than the whole budget goes alone; a wait past waitMs or a full queue gets nothing', async () => {
    const budget = createByteBudget(100, 1);
    const big = await budget.acquire(500, 0);
    expect(budget.inUse()).toBe(100);
    const timedOut = budget.acquire(10, 30);
    expect(await budget.acquire(10, 1000)).toBeUndefined(); // queue (1) full
    expect(await timedOut).toBeUndefined();
    expect(budget.waiting()).toBe(0);
    big!();
    expect(await budget.acquire(10, 0)).toBeDefined();
  });
});

describe('createRateLimiter', () => {
  it('is a token bucket per key: burst, then the rate; 0 is no limit', () => {
    const limiter = createRateLimiter(2, 3)!;
    const t = 1_000_000;
    expect([0, 1, 2].map(() => limiter.take('k', t))).toEqual([0, 0, 0]);
    expect(limiter.take('k', t)).toBeCloseTo(0.5);
    expect(limiter.take('other', t)).toBe(0);
    expect(limiter.take('k', t + 500)).toBe(0);
    expect(limiter.take('k', t + 500)).toBeGreaterThan(0);
    expect(createRateLimiter(0, 1)).toBeUndefined();
  });
});

describe('admitLargeBodies', () => {
  it('a client that hangs up while its body waits for the budget gives its bytes back', async () => {
    const budget = createByteBudget(1_000, 4);
    const held = await budget.acquire(1_000, 0);
    const req = Object.assign(new EventEmitter(), {
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
      is: () => 'application/json',
      destroyed: false,
    }) as unknown as Request;
    const res = Object.assign(new EventEmitter(), { destroyed: false }) as unknown as Response;
    let nextCalled = false;
    const admitted = admitLargeBodies(budget, { minBytes: 100, maxBytes: 10_000, waitMs: 5_000 })(req, res, () => {
      nextCalled = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(budget.waiting()).toBe(1);
    // the client goes away while it waits
    (req as unknown as { destroyed: boolean }).destroyed = true;
    (res as unknown as { destroyed: boolean }).destroyed = true;
    res.emit('close');
    held!();
    await admitted;
    expect(nextCalled).toBe(false);
    expect(budget.inUse()).toBe(0);
  });
});

import { describe, expect, it } from '@jest/globals';
import { createLimiter } from '../../src/shared/limiter.ts';

/** A promise and its resolver (open() lets the waiting fn go on). */
function gate() {
  const { promise: opened, resolve: open } = Promise.withResolvers<void>();
  return { open, opened };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('createLimiter', () => {
  it('runs at most `limit` at once; of those waiting, the lowest priority goes next', async () => {
    const slot = createLimiter(1);
    const order: string[] = [];
    const first = gate();
    const runs = [
      slot(async () => {
        order.push('a');
        await first.opened;
      }),
      slot(async () => void order.push('low'), 5),
      slot(async () => void order.push('high'), 1),
    ];
    await tick();
    expect(order).toEqual(['a']);
    first.open();
    await Promise.all(runs);
    expect(order).toEqual(['a', 'high', 'low']);
  });

  it('release() gives the place to the next caller while fn goes on; calling it again, or settling after it, frees nothing more', async () => {
    const slot = createLimiter(1);
    const order: string[] = [];
    const recorded = gate();
    const a = slot(async (release) => {
      order.push('a sends');
      release();
      release();
      await recorded.opened;
      order.push('a recorded');
    });
    const b = slot(async () => {
      order.push('b sends');
    });
    const c = gate();
    const cRun = slot(async () => {
      order.push('c sends');
      await c.opened;
    });
    const d = slot(async () => void order.push('d sends'));
    await tick();
    // b went while a was still being recorded, then c; d waits for c (a's double release freed one place only)
    expect(order).toEqual(['a sends', 'b sends', 'c sends']);
    recorded.open();
    await a;
    await b;
    await tick();
    expect(order).toEqual(['a sends', 'b sends', 'c sends', 'a recorded']);
    c.open();
    await Promise.all([cRun, d]);
    expect(order).toEqual(['a sends', 'b sends', 'c sends', 'a recorded', 'd sends']);
  });

  it('a throw gives the place back', async () => {
    const slot = createLimiter(1);
    await expect(slot(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(slot(async () => 'next')).resolves.toBe('next');
  });
});

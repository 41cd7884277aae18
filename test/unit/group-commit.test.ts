import { describe, expect, it } from '@jest/globals';
import { groupCommit } from '../../src/shared/group-commit.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A groupCommit whose write notes each batch and hands its items back; with `holdFirst`, the
 * first write goes on until `endFirst()`.
 */
function noting(maxBatch: number, lingerMs = 0, { holdFirst = false } = {}) {
  const batches: number[][] = [];
  let endFirst!: () => void;
  const firstWritten = new Promise<void>((r) => (endFirst = r));
  const apply = groupCommit(
    async (items: number[]) => {
      batches.push(items);
      if (holdFirst && batches.length === 1) await firstWritten;
      return items;
    },
    maxBatch,
    1,
    lingerMs,
  );
  return { batches, apply, endFirst };
}

describe('groupCommit', () => {
  it('batches what arrives while a batch is written, at most maxBatch, and hands each caller its result', async () => {
    const batches: number[][] = [];
    const apply = groupCommit(async (items: number[]) => {
      batches.push(items);
      await sleep(5);
      return items.map((x) => x * 10);
    }, 3);
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((x) => apply(x)));
    expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6, 7]]);
  });

  it('a write that throws before returning its promise fails its batch only; the queue goes on', async () => {
    let calls = 0;
    const apply = groupCommit((items: number[]) => {
      calls++;
      if (items.includes(1)) throw new Error('sync throw');
      return Promise.resolve(items);
    }, 10);
    await expect(apply(1)).rejects.toThrow('sync throw');
    await expect(apply(2)).resolves.toBe(2);
    expect(calls).toBe(2);
  });

  it('writes at most inFlight batches at once', async () => {
    let writing = 0;
    let most = 0;
    const apply = groupCommit(
      async (items: number[]) => {
        most = Math.max(most, ++writing);
        await sleep(5);
        writing--;
        return items;
      },
      1,
      2,
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => apply(i)));
    expect(most).toBe(2);
  });

  it('with lingerMs, items arriving a little apart share a batch; a full batch goes at once', async () => {
    const { batches, apply } = noting(3, 50);
    const first = apply(1);
    await sleep(5);
    const second = apply(2);
    expect(batches).toEqual([]);
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);
    // three at once fill a batch: no wait for the linger
    const t0 = performance.now();
    await Promise.all([3, 4, 5].map((x) => apply(x)));
    expect(batches.at(-1)).toEqual([3, 4, 5]);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it("with lingerMs, items queued behind a write still wait out the first one's linger, and later ones join them", async () => {
    const batches: number[][] = [];
    const apply = groupCommit(
      async (items: number[]) => {
        batches.push(items);
        await sleep(50);
        return items;
      },
      10,
      1,
      200,
    );
    const all = [apply(1)];
    // 2 comes while [1] is written (from 200 ms to 250), 3 after that write ended and before 2 has waited 200 ms:
    // a batch that went as soon as the write ended would hold 2 alone
    await sleep(210);
    all.push(apply(2));
    await sleep(90);
    all.push(apply(3));
    await Promise.all(all);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('without lingerMs, a lone item is written at once', async () => {
    const { batches, apply } = noting(3);
    void apply(1);
    await Promise.resolve();
    expect(batches).toEqual([[1]]);
  });

  /** What a promise settled to, or 'lingered' when it still waits after `ms` (the tests' linger is 10 s). */
  const within = <T>(p: Promise<T>, ms = 1_000) => Promise.race([p, new Promise<'lingered'>((r) => setTimeout(() => r('lingered'), ms).unref())]);

  it('an urgent item ends the linger: its batch, with what waited before it, goes at once', async () => {
    const { batches, apply } = noting(10, 10_000);
    const all = [apply(1), apply(2)];
    await sleep(5);
    expect(batches).toEqual([]);
    all.push(apply(3, { urgent: true }));
    expect(await within(Promise.all(all))).toEqual([1, 2, 3]);
    expect(batches).toEqual([[1, 2, 3]]);
    // the urgency went with its batch: the next lone item lingers again
    const fourth = apply(4);
    await sleep(20);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(await within(Promise.all([fourth, apply(5, { urgent: true })]))).toEqual([4, 5]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('an urgent item behind a write goes as soon as the write ends, not after the linger', async () => {
    const { batches, apply, endFirst } = noting(10, 10_000, { holdFirst: true });
    const first = apply(1, { urgent: true });
    await sleep(5);
    expect(batches).toEqual([[1]]);
    const second = [apply(2), apply(3, { urgent: true })];
    endFirst();
    expect(await within(Promise.all([first, ...second]))).toEqual([1, 2, 3]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it("an urgent item left for the next batch by maxBatch still ends that batch's linger", async () => {
    const { batches, apply } = noting(2, 10_000);
    expect(await within(Promise.all([apply(1), apply(2), apply(3, { urgent: true })]))).toEqual([1, 2, 3]);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it("calls an item's taken when its batch starts, not before", async () => {
    const taken: number[] = [];
    const { apply, endFirst } = noting(10, 0, { holdFirst: true });
    const first = apply(1, { taken: () => taken.push(1) });
    const second = apply(2, { taken: () => taken.push(2) });
    await sleep(5);
    // 1 is being written; 2 waits behind it
    expect(taken).toEqual([1]);
    endFirst();
    await Promise.all([first, second]);
    expect(taken).toEqual([1, 2]);
  });

  it('a taken that throws fails its group like the write would; the queue goes on', async () => {
    const { apply } = noting(10);
    const failing = apply(1, {
      taken: () => {
        throw new Error('count lost');
      },
    });
    await expect(failing).rejects.toThrow('count lost');
    await expect(apply(2)).resolves.toBe(2);
  });
});

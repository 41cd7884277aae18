import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { claimAgainAtOnce, createLoopWakeups } from '../../src/modules/delivery/loop-wakeups.ts';

const POLL = 1_000;
const LINGER = 10;

/** A loop waiting in next(): `woke` says when (fake ms) it went on, undefined while it waits. */
function waiting(w: ReturnType<typeof createLoopWakeups>) {
  const loop: { woke?: number } = {};
  void w.next().then(() => (loop.woke = Date.now()));
  return loop;
}

describe('createLoopWakeups', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  const make = () => createLoopWakeups({ pollMs: POLL, lingerMs: LINGER, now: () => Date.now() });

  it('a lone notification wakes one idle loop at once; the others wait for their poll', async () => {
    const w = make();
    const a = waiting(w);
    const b = waiting(w);
    await jest.advanceTimersByTimeAsync(500);
    w.notified();
    await jest.advanceTimersByTimeAsync(0);
    expect(a.woke).toBe(500);
    expect(b.woke).toBeUndefined();
    await jest.advanceTimersByTimeAsync(POLL);
    expect(b.woke).toBe(POLL);
  });

  it('under a stream the woken loop waits for company, and the notifications meanwhile wake no other loop', async () => {
    const w = make();
    await jest.advanceTimersByTimeAsync(100);
    const a = waiting(w);
    const b = waiting(w);
    const c = waiting(w);
    w.notified(); // the first in 100 ms: not a stream, a claims at once
    await jest.advanceTimersByTimeAsync(4);
    expect(a.woke).toBe(100);
    w.notified(); // 4 ms after the one before: a stream, b waits for company
    await jest.advanceTimersByTimeAsync(3);
    w.notified(); // while b lingers: b's claim takes this one's mail too
    await jest.advanceTimersByTimeAsync(0);
    expect(b.woke).toBeUndefined();
    await jest.advanceTimersByTimeAsync(LINGER - 3);
    expect(b.woke).toBe(104 + LINGER);
    expect(c.woke).toBeUndefined();
    expect(w.idle).toBe(1);
  });

  it('a notification that found no loop idle is taken by the next loop done, unless a claim started since', async () => {
    const w = make();
    w.notified(); // every loop busy
    const a = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.woke).toBe(0);
    w.notified(); // every loop busy again, but a claim starts after it: that claim sees its mail
    w.claiming();
    const b = waiting(w);
    await jest.advanceTimersByTimeAsync(POLL - 1);
    expect(b.woke).toBeUndefined();
  });

  it('a wake-up that found no loop idle (a full claim, a retry due) and a failed claim leave the next loop done to claim at once', async () => {
    const w = make();
    w.wake();
    const a = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.woke).toBe(0);
    w.claimFailed();
    const b = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(b.woke).toBe(0);
    const c = waiting(w);
    await jest.advanceTimersByTimeAsync(POLL - 1);
    expect(c.woke).toBeUndefined();
  });

  it('a loop taking up a notification after the stream has ended does not wait for company', async () => {
    const w = make();
    w.notified();
    await jest.advanceTimersByTimeAsync(4);
    w.notified(); // a stream, every loop busy
    await jest.advanceTimersByTimeAsync(100);
    const a = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.woke).toBe(104);
  });

  it('of the loops done while a notification found none idle, only the first takes it up', async () => {
    const w = make();
    w.notified();
    const a = waiting(w);
    const b = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(a.woke).toBe(0);
    expect(b.woke).toBeUndefined();
  });

  it('stop wakes every idle loop, and after it no loop waits or lingers', async () => {
    const w = make();
    const a = waiting(w);
    const b = waiting(w);
    w.stop();
    await jest.advanceTimersByTimeAsync(0);
    expect([a.woke, b.woke]).toEqual([0, 0]);
    w.notified();
    w.notified(); // a stream, but stopping: nobody waits for company
    const c = waiting(w);
    await jest.advanceTimersByTimeAsync(0);
    expect(c.woke).toBe(0);
  });
});

describe('claimAgainAtOnce', () => {
  it('a full claim and a batch that gave mails back claim again at once; a short claim and one held back whole wait', () => {
    expect(claimAgainAtOnce({ asked: 50, claimed: 50, released: 0, allHeld: false })).toBe(true);
    expect(claimAgainAtOnce({ asked: 50, claimed: 30, released: 20, allHeld: false })).toBe(true);
    expect(claimAgainAtOnce({ asked: 50, claimed: 30, released: 0, allHeld: false })).toBe(false);
    expect(claimAgainAtOnce({ asked: 50, claimed: 50, released: 0, allHeld: true })).toBe(false);
    expect(claimAgainAtOnce({ asked: 50, claimed: 0, released: 0, allHeld: false })).toBe(false);
  });
});

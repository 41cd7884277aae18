import { describe, expect, it } from '@jest/globals';
import { batchRecording } from '../../src/modules/delivery/result-recorder.ts';
import type { GroupCommitOptions } from '../../src/shared/group-commit.ts';

/** A recorder that holds each outcome until the test says it is recorded. */
function heldRecorder() {
  const calls: { outcome: number; opts: GroupCommitOptions; done: () => void }[] = [];
  const record = (outcome: number, opts: GroupCommitOptions) => new Promise<void>((done) => calls.push({ outcome, opts, done }));
  const urgency = () => calls.map((c) => [c.outcome, c.opts.urgent]);
  return { calls, record, urgency };
}

describe('batchRecording', () => {
  it("marks an outcome urgent once the batch's backlog of outcomes waits for a group, and not after they are recorded", async () => {
    const held = heldRecorder();
    const record = batchRecording(held.record, 3);
    const waiting = [record(1), record(2), record(3), record(4)];
    expect(held.urgency()).toEqual([
      [1, false],
      [2, false],
      [3, true],
      [4, true],
    ]);
    for (const c of held.calls.splice(0)) c.done();
    await Promise.all(waiting);
    const next = record(5);
    expect(held.urgency()).toEqual([[5, false]]);
    held.calls[0]!.done();
    await next;
  });

  it('outcomes already in a group being written do not count: what comes back meanwhile may wait for company', async () => {
    const held = heldRecorder();
    const record = batchRecording(held.record, 3);
    const writing = [record(1), record(2), record(3)];
    // the three go into a group being written (taken, not yet recorded); taken twice counts once
    for (const c of held.calls) c.opts.taken!();
    held.calls[0]!.opts.taken!();
    const meanwhile = [record(4), record(5)];
    expect(held.urgency().slice(3)).toEqual([
      [4, false],
      [5, false],
    ]);
    const third = record(6);
    expect(held.urgency().at(-1)).toEqual([6, true]);
    for (const c of held.calls.splice(0)) c.done();
    await Promise.all([...writing, ...meanwhile, third]);
    // every place given back once: the next is the first of a new backlog
    const next = record(7);
    expect(held.urgency()).toEqual([[7, false]]);
    held.calls[0]!.done();
    await next;
  });

  it('a failed recording leaves the backlog too, and its error reaches the caller', async () => {
    const seen: (boolean | undefined)[] = [];
    const record = batchRecording(async (outcome: number, opts: GroupCommitOptions) => {
      seen.push(opts.urgent);
      if (outcome === 1) throw new Error('refused');
    }, 2);
    await expect(record(1)).rejects.toThrow('refused');
    await record(2);
    expect(seen).toEqual([false, false]);
  });
});

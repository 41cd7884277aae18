import { describe, expect, it } from '@jest/globals';
import { batchRecording } from '../../src/modules/delivery/result-recorder.ts';

describe('batchRecording', () => {
  it("marks an outcome urgent once the batch's backlog of outcomes waits for recording, and not after they are recorded", async () => {
    const calls: { outcome: number; urgent: boolean; done: () => void }[] = [];
    const record = batchRecording((outcome: number, urgent: boolean) => new Promise<void>((done) => calls.push({ outcome, urgent, done })), 3);
    const waiting = [record(1), record(2), record(3), record(4)];
    expect(calls.map((c) => [c.outcome, c.urgent])).toEqual([
      [1, false],
      [2, false],
      [3, true],
      [4, true],
    ]);
    for (const c of calls.splice(0)) c.done();
    await Promise.all(waiting);
    const next = record(5);
    expect(calls.map((c) => [c.outcome, c.urgent])).toEqual([[5, false]]);
    calls[0]!.done();
    await next;
  });

  it('a failed recording leaves the backlog too, and its error reaches the caller', async () => {
    const seen: boolean[] = [];
    const record = batchRecording(async (outcome: number, urgent: boolean) => {
      seen.push(urgent);
      if (outcome === 1) throw new Error('refused');
    }, 2);
    await expect(record(1)).rejects.toThrow('refused');
    await record(2);
    expect(seen).toEqual([false, false]);
  });
});

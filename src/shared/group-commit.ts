/**
 * Group commit: items handed in while batches are being written go in the next batch (at most
 * `maxBatch`), so many concurrent callers cost one transaction per round instead of one each.
 * At most `inFlight` batches are written at once (1: one after the other, in arrival order; more
 * overlap one batch's round trips and commit with the next's). Each caller's promise settles
 * when its batch does: with the batch's result for its item, or with the batch's error.
 */
export function groupCommit<T, R = undefined>(write: (items: T[]) => Promise<R[] | undefined>, maxBatch: number, inFlight = 1): (item: T) => Promise<R> {
  const queued: { item: T; done: (r: R) => void; failed: (err: unknown) => void }[] = [];
  let writing = 0;
  const next = () => {
    if (writing >= inFlight || !queued.length) return;
    writing++;
    const group = queued.splice(0, maxBatch);
    // A write that throws before returning its promise settles its batch too (never a wedged queue).
    Promise.resolve()
      .then(() => write(group.map((g) => g.item)))
      .then(
        (results) => {
          for (const [i, g] of group.entries()) g.done(results?.[i] as R);
        },
        (err) => {
          for (const g of group) g.failed(err);
        },
      )
      .finally(() => {
        writing--;
        next();
      });
  };
  return (item: T) =>
    new Promise<R>((done, failed) => {
      queued.push({ item, done, failed });
      next();
    });
}

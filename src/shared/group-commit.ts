/**
 * Group commit: items handed in while a batch is being written go in the next batch (at most
 * `maxBatch`), so many concurrent callers cost one transaction per round instead of one each.
 * Each caller's promise settles when its batch does: with the batch's result for its item, or
 * with the batch's error. One batch at a time, in arrival order.
 */
export function groupCommit<T, R = undefined>(write: (items: T[]) => Promise<R[] | undefined>, maxBatch: number): (item: T) => Promise<R> {
  const queued: { item: T; done: (r: R) => void; failed: (err: unknown) => void }[] = [];
  let busy = false;
  const next = () => {
    if (busy || !queued.length) return;
    busy = true;
    const group = queued.splice(0, maxBatch);
    write(group.map((g) => g.item))
      .then(
        (results) => {
          for (const [i, g] of group.entries()) g.done(results?.[i] as R);
        },
        (err) => {
          for (const g of group) g.failed(err);
        },
      )
      .finally(() => {
        busy = false;
        next();
      });
  };
  return (item: T) =>
    new Promise<R>((done, failed) => {
      queued.push({ item, done, failed });
      next();
    });
}

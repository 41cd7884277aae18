/** How an item is handed in. */
export interface GroupCommitOptions {
  /** its caller can hand in nothing more until it is written: its batch goes without the linger */
  urgent?: boolean;
  /** called once its batch is being written */
  taken?: () => void;
}

/**
 * Group commit: items handed in while batches are being written go in the next batch (at most
 * `maxBatch`), so many concurrent callers cost one transaction per round instead of one each.
 * At most `inFlight` batches are written at once (1: one after the other, in arrival order; more
 * overlap one batch's round trips and commit with the next's). Each caller's promise settles
 * when its batch does: with the batch's result for its item, or with the batch's error.
 *
 * With `lingerMs`, a batch starts once its first item has waited that long (or `maxBatch` items
 * are queued), whether or not a write was under way meanwhile: callers that arrive a little
 * apart (mails coming back from SMTP connections one by one) share a commit instead of one
 * each, and at a steady rate a batch holds what arrives in `lingerMs` rather than in one write.
 * An item handed in as `urgent` ends the linger: its batch starts as soon as fewer than
 * `inFlight` writes are under way. `taken` is called once an item's batch is being written
 * (before `write`; a `taken` that throws fails its batch like the write would).
 */
export function groupCommit<T, R = undefined>(
  write: (items: T[]) => Promise<R[] | undefined>,
  maxBatch: number,
  inFlight = 1,
  lingerMs = 0,
): (item: T, opts?: GroupCommitOptions) => Promise<R> {
  const queued: { item: T; at: number; urgent: boolean; taken?: () => void; done: (r: R) => void; failed: (err: unknown) => void }[] = [];
  let writing = 0;
  let urgentQueued = 0;
  let lingering: NodeJS.Timeout | undefined;
  const next = () => {
    if (writing >= inFlight || !queued.length) return;
    if (lingerMs > 0 && queued.length < maxBatch && urgentQueued === 0) {
      const wait = queued[0]!.at + lingerMs - performance.now();
      if (wait > 0) {
        lingering ??= setTimeout(() => {
          lingering = undefined;
          next();
        }, wait);
        return;
      }
    }
    clearTimeout(lingering);
    lingering = undefined;
    writing++;
    const group = queued.splice(0, maxBatch);
    for (const g of group) if (g.urgent) urgentQueued--;
    // A write that throws before returning its promise settles its batch too (never a wedged queue).
    Promise.resolve()
      .then(() => {
        for (const g of group) g.taken?.();
        return write(group.map((g) => g.item));
      })
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
  return (item: T, { urgent = false, taken }: GroupCommitOptions = {}) =>
    new Promise<R>((done, failed) => {
      if (urgent) urgentQueued++;
      queued.push({ item, at: performance.now(), urgent, taken, done, failed });
      next();
    });
}

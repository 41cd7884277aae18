/**
 * Runs `fn` within the limit. `fn` may give its place up before it returns by calling `release`
 * (a mail's domain transaction slot once the transaction ended, while it is still recorded);
 * otherwise, and in any case, the place is given up when it settles.
 */
export type Limiter = <R>(fn: (release: () => void) => Promise<R>, priority?: number) => Promise<R>;

/** At most `limit` calls of the returned function run at once; of those waiting, the lowest `priority` goes next (then the first come). */
export function createLimiter(limit: number): Limiter {
  let running = 0;
  const waiting: { priority: number; go: () => void }[] = [];
  return async (fn, priority = 0) => {
    if (running >= limit) {
      await new Promise<void>((go) => {
        let i = waiting.length;
        while (i > 0 && waiting[i - 1]!.priority > priority) i--;
        waiting.splice(i, 0, { priority, go });
      });
    } else running++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      if (next) next.go();
      else running--;
    };
    try {
      return await fn(release);
    } finally {
      release();
    }
  };
}

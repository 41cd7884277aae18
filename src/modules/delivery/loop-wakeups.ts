/** Why an idle claim loop woke: a NOTIFY on mails_due, or anything else (its poll, a retry falling due, stop, a full claim). */
type Wake = 'notified' | 'other';

export interface WakeupOptions {
  /** an idle loop looks for due mails this often without a notification (POLL_MS) */
  pollMs: number;
  /** under a stream of notifications, a loop about to claim waits this long for company (CLAIM_LINGER_MS) */
  lingerMs: number;
  now?: () => number;
}

/**
 * Whether a loop claims again at once after a batch (else it waits in next()): a full claim may
 * have left more due mails, and mails the batch gave back when its window ran out are due again
 * now, with no NOTIFY to say so. A batch the limits held back whole waits: claiming again at once
 * would spin through a backlog the same limits hold.
 */
export function claimAgainAtOnce(batch: { asked: number; claimed: number; released: number; allHeld: boolean }): boolean {
  return batch.released > 0 || (batch.claimed === batch.asked && !batch.allHeld);
}

/**
 * When a process's claim loops claim, between batches. A notification (a NOTIFY on mails_due),
 * a retry falling due or a loop that claimed a full batch wakes one idle loop, which claims; one
 * that found no loop idle is left for the next loop done with its batch (`unclaimed`), so a
 * steady trickle of small requests takes about a claim each, not one per loop (each claim after
 * the first finding nothing), and no wake-up is lost while every loop is busy. Under a stream of
 * notifications (the last came less than `lingerMs` after the one before) the loop about to claim
 * for one waits `lingerMs` for company first, and the notifications meanwhile wake no other loop:
 * their mails go in the same claim, and the batch's other statements (recipients, limits, block
 * lists, roll-up) are shared by them too.
 */
export function createLoopWakeups(opts: WakeupOptions) {
  const now = opts.now ?? (() => performance.now());
  const idle: ((why: Wake) => void)[] = [];
  let notifiedAt = -Infinity;
  let streaming = false;
  /** loops lingering now */
  let lingering = 0;
  let unclaimed = false;
  let stopping = false;

  /** Wakes one idle loop; with none idle, the next loop done claims at once. */
  function wake(why: Wake = 'other') {
    const loop = idle.shift();
    if (loop) loop(why);
    else if (!stopping) unclaimed = true;
  }

  function waitForWork(): Promise<Wake> {
    return new Promise((resolve) => {
      const done = (why: Wake) => {
        clearTimeout(timer);
        const i = idle.indexOf(done);
        if (i >= 0) idle.splice(i, 1);
        resolve(why);
      };
      const timer = setTimeout(done, opts.pollMs, 'other');
      idle.push(done);
    });
  }

  async function linger(): Promise<void> {
    // a stream that has ended (nothing heard for lingerMs) brings no company
    if (!streaming || stopping || now() - notifiedAt >= opts.lingerMs) return;
    lingering++;
    try {
      await new Promise((r) => setTimeout(r, opts.lingerMs));
    } finally {
      lingering--;
    }
  }

  return {
    /** Wakes one idle loop (a retry falls due, a claim was full); with none idle, the next loop done claims at once. */
    wake: () => wake(),
    /** Mails may be due (a NOTIFY on mails_due): a lingering loop's claim takes them; else an idle loop claims, or the next loop done. */
    notified() {
      const t = now();
      streaming = t - notifiedAt < opts.lingerMs;
      notifiedAt = t;
      if (lingering) return;
      wake('notified');
    },
    /** A claim starts: it sees every mail notified so far (a NOTIFY comes after its commit). */
    claiming() {
      unclaimed = false;
    },
    /** A claim failed: what it would have taken up is left for the next loop done. */
    claimFailed() {
      if (!stopping) unclaimed = true;
    },
    /**
     * A loop whose claim was short (or held back whole, or failed) waits here for more: at once for
     * a notification no loop was woken for, else for a notification, a wake() or its poll; then,
     * under a stream, for company.
     */
    async next(): Promise<void> {
      if (stopping) return;
      if (unclaimed) unclaimed = false;
      else if ((await waitForWork()) !== 'notified') return;
      await linger();
    },
    /** Wakes every idle loop for good: nothing lingers any more. */
    stop() {
      stopping = true;
      unclaimed = false;
      for (const loop of idle.splice(0)) loop('other');
    },
    /** loops waiting in next() (tests) */
    get idle() {
      return idle.length;
    },
  };
}

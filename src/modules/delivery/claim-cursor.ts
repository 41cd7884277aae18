import type { ClaimedMail } from './delivery.repository.ts';

/**
 * How long a claim looks back behind the cursor: a request's id is taken when its POST begins but
 * the request becomes visible when the POST commits, so a claim may move past the id of a
 * request not yet committed. Started from where the cursor stood this long ago at the latest,
 * the claims find such a request in their order instead of when they next go round, which
 * under a steady stream of new requests is when the stream pauses (mails 30-49 s late at 200
 * requests a second in bench:transactional). 250 ms is above the POST's p99 at that rate (92-236
 * ms), which bounds how long an id stays invisible. Each claim probes the requests still
 * sending in that range again (their mails are leased, so they are skipped): with 1 s, about 200
 * of them at 200 requests a second, the end-to-end p50 was 2.2-2.7 s against 0.23-1.3 s without
 * the look-back (bench:transactional, 2 runs each); with 250 ms, 244 ms in one run.
 */
export const CURSOR_LOOK_BACK_MS = 250;

/**
 * Where a process's claims start (claimDueMails' `after`): the last request, in the claims'
 * wrapping order, that a claim reached after the cursor (part 1) or from the first again
 * (part 2); part 0, the oldest requests behind the cursor, leaves it where it is. With more
 * requests due than one claim probes, the claims go round them all. The claim loops of a process
 * share it; claims that overlap may finish in any order, so it moves forward only, except when a
 * claim went round or mails were given back.
 */
export function createClaimCursor(now: () => number = Date.now, lookBackMs = CURSOR_LOOK_BACK_MS) {
  let cursor = 0n;
  /** the values the cursor had, each until `until`, within the look-back */
  let earlier: { cursor: bigint; until: number }[] = [];

  function set(next: bigint) {
    if (next === cursor) return;
    earlier.push({ cursor, until: now() });
    cursor = next;
  }

  return {
    /** Where the next claim starts: the lowest the cursor stood within the look-back. */
    start(): string {
      const since = now() - lookBackMs;
      earlier = earlier.filter((e) => e.until > since);
      let start = cursor;
      for (const e of earlier) if (e.cursor < start) start = e.cursor;
      return String(start);
    },

    /** A claim reached these requests. */
    claimed(claimed: Pick<ClaimedMail, 'request_id' | 'part'>[]) {
      const wrapped = extremeRequest(claimed, [2], 'last');
      const ahead = extremeRequest(claimed, [1], 'last');
      if (wrapped !== undefined) set(wrapped);
      else if (ahead !== undefined && ahead > cursor) set(ahead);
    },

    /**
     * A batch gave mails of these requests back unsent (its window ran out): the cursor goes just
     * before the first of them unless it already is, so the next claim takes them first, in turn
     * with newer requests. Part 0's requests are left out: they come first in every claim anyway,
     * and the cursor going back to the oldest request would start the round over.
     */
    released(released: Pick<ClaimedMail, 'request_id' | 'part'>[]) {
      const first = extremeRequest(released, [1, 2], 'first');
      if (first !== undefined && first - 1n < cursor) set(first - 1n);
    },

    /** where it stands (tests) */
    get position(): string {
      return String(cursor);
    },
  };
}

/** The first or last request id (ids beyond 2^53 compared exactly) among the mails of these claim parts. */
function extremeRequest(mails: Pick<ClaimedMail, 'request_id' | 'part'>[], parts: ClaimedMail['part'][], which: 'first' | 'last'): bigint | undefined {
  let found: bigint | undefined;
  for (const m of mails) {
    if (!parts.includes(m.part)) continue;
    const id = BigInt(m.request_id);
    if (found === undefined || (which === 'last' ? id > found : id < found)) found = id;
  }
  return found;
}

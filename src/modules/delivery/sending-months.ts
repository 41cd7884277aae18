import type { Db } from '../../db/schema.ts';
import type { HistoryRange } from '../../db/history-range.ts';
import { sendingMonths } from './delivery.repository.ts';

/** How long the claims of a process use one reading of the range they look in. */
export const SENDING_MONTHS_MAX_AGE_MS = 1_000;

/**
 * The created_at range a process's claims look in (delivery.repository.ts' sendingMonths), read
 * at most once every `maxAgeMs` however many loops claim: one small statement a second instead
 * of one a claim. A request that starts sending with mails older than the range read (a
 * confirm-and-send request made days ago, sent now) is claimed by the first claim after the
 * range is read again: within about two seconds (a second for the range, the loops' poll).
 */
export function createSendingMonths(db: Db, maxAgeMs = SENDING_MONTHS_MAX_AGE_MS): () => Promise<HistoryRange> {
  let cached: { at: number; range: HistoryRange } | undefined;
  let reading: Promise<HistoryRange> | undefined;
  return () => {
    if (cached && performance.now() - cached.at < maxAgeMs) return Promise.resolve(cached.range);
    if (!reading) {
      const at = performance.now();
      reading = sendingMonths(db)
        .then((range) => {
          cached = { at, range };
          return range;
        })
        .finally(() => {
          reading = undefined;
        });
    }
    return reading;
  };
}

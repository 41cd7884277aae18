import type { HistoryRange } from '../../db/history-range.ts';
import * as repo from './delivery.repository.ts';
import { renewThrottleSlots } from './throttle.repository.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { CANCEL_WATCH_MS, LEASE_MS, LEASE_RENEW_MS } from './delivery-settings.ts';

/**
 * While a claimed batch is being sent: its leases are renewed (a stalled relay can take minutes)
 * with its domain transaction slots, and its requests are watched for a cancel, so that what is claimed but not yet handed to SMTP
 * can stop. stop() ends both.
 */
export function watchBatch(deps: Pick<DeliveryDeps, 'db' | 'logger'>, token: string, requestIds: string[], months: HistoryRange) {
  let cancelled = new Set<string>();
  const renew = setInterval(() => {
    repo.renewLeases(deps.db, token, LEASE_MS, months).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'lease renewal failed'));
    // the batch's domain transaction slots live as long as its mails' leases
    renewThrottleSlots(deps.db, token, LEASE_MS).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'slot renewal failed'));
  }, LEASE_RENEW_MS);
  const watch = setInterval(() => {
    repo
      .cancelledAmong(deps.db, requestIds)
      .then((ids) => {
        if (ids.size) cancelled = ids;
      })
      .catch(() => undefined);
  }, CANCEL_WATCH_MS);
  return {
    /** the requests found cancelled since the claim */
    cancelled: () => cancelled,
    stop() {
      clearInterval(renew);
      clearInterval(watch);
    },
  };
}

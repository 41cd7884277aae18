import type { AppDeps } from '../../deps.ts';
import type { JobRun } from '../../jobs/job.ts';
import { dropHistoryMonth, historyMonths, monthHeldBy } from './history-partitions.ts';
import { limitLockWait, purgeBatch, type PurgedBatch } from './retention.repository.ts';

/** Requests per purge transaction: short transactions, so nothing waits long on them. */
const PURGE_BATCH_REQUESTS = 1_000;
/** ... and about this many recipients (a 100,000-recipient request goes alone). */
const PURGE_BATCH_RECIPIENTS = 20_000;
/** One run stops after this long; the next scheduled run goes on where it stopped. */
const PURGE_RUN_MS = 10 * 60_000;

/** A confirm-and-send request can be sent now only this long after it was made (console guide). */
const UNCONFIRMED_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** The instant before which finished requests are purged (pure). */
function purgeCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * 24 * 3600 * 1000);
}

/**
 * Job: deletes finished requests older than RETENTION_DAYS, with everything that belongs to
 * them. History goes by whole months (the partitions of mails and recipients): a month wholly
 * older than the cutoff is dropped at once, unless a request of it is still to be stored or sent
 * (P, R or I); such a month's finished requests are purged row by row, as the rest of it is
 * whenever it is dropped. Then, in small batches until none is left (or the run's time is up, or
 * the process stops), the finished requests made before the first month not yet wholly past:
 * those of the months dropped (their mails and recipients are gone already), of the months held,
 * and those whose rows sit in the default partition (a month without partitions). So history is
 * kept RETENTION_DAYS and up to a month longer: until its whole month is past. Idempotent and
 * resumable: each month and each batch commits on its own and the next run starts over from the
 * oldest left.
 */
export async function purgeHistory(
  deps: Pick<AppDeps, 'db' | 'config' | 'logger' | 'now'>,
  opts: JobRun & { maxRequests?: number; maxRecipients?: number; maxMs?: number } = {},
): Promise<PurgedBatch> {
  const total: PurgedBatch = { requests: 0, mails: 0, recipients: 0 };
  // RETENTION_DAYS; 0 keeps everything
  const { retentionDays } = deps.config;
  if (retentionDays <= 0) return total;
  const cutoff = purgeCutoff(deps.now(), retentionDays);
  const log = deps.logger.child({ job: 'purge-history', cutoff: cutoff.toISOString() });
  const started = performance.now();
  let lastLog = started;
  let batches = 0;
  const unconfirmedBefore = () => new Date(Math.min(cutoff.getTime(), deps.now().getTime() - UNCONFIRMED_MAX_AGE_MS));
  // the first month not yet wholly past the cutoff: its requests wait until it is, and go with it
  let keptFrom: Date | undefined;
  for (const month of await historyMonths(deps.db)) {
    if (month.to > cutoff) {
      keptFrom = month.from;
      break;
    }
    if (opts.isStopping?.()) return total;
    const dropped = await deps.db.transaction().execute(async (tx) => {
      await limitLockWait(tx);
      const heldBy = await monthHeldBy(tx, month, unconfirmedBefore());
      if (heldBy) {
        log.info(
          { month: month.from.toISOString(), requestId: heldBy },
          'a month past retention holds a request not finished: its finished ones are purged row by row',
        );
        return null;
      }
      return dropHistoryMonth(tx, month);
    });
    if (!dropped) continue;
    total.mails += dropped.mails;
    total.recipients += dropped.recipients;
    log.info({ month: month.from.toISOString(), ...dropped }, 'history month dropped');
  }
  const before = keptFrom && keptFrom < cutoff ? keptFrom : cutoff;
  for (;;) {
    if (opts.isStopping?.() || performance.now() - started > (opts.maxMs ?? PURGE_RUN_MS)) {
      log.info({ ...total, batches }, 'history purge paused; the next run goes on');
      return total;
    }
    const batch = await deps.db.transaction().execute(async (tx) => {
      // Never queue behind a lock for long (an unsubscribe click on an old recipient, say): the
      // batch fails and the next run retries it.
      await limitLockWait(tx);
      return purgeBatch(tx, before, opts.maxRequests ?? PURGE_BATCH_REQUESTS, opts.maxRecipients ?? PURGE_BATCH_RECIPIENTS, unconfirmedBefore());
    });
    if (batch.requests === 0) break;
    batches++;
    total.requests += batch.requests;
    total.mails += batch.mails;
    total.recipients += batch.recipients;
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log.info({ ...total, batches }, 'purging history');
    }
  }
  if (total.requests > 0) log.info({ ...total, batches, ms: Math.round(performance.now() - started) }, 'history purged');
  return total;
}

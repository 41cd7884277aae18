import type { AppDeps } from '../../deps.ts';
import type { JobRun } from '../../jobs/job.ts';
import type { Logger } from '../../logger.ts';
import { countHistoryMonth, deleteMonthRequests, dropHistoryMonth, type HistoryMonth, historyMonths, monthHeldBy } from './history-partitions.ts';
import { limitLockWait, purgeBatch, type PurgedBatch } from './retention.repository.ts';

/** Requests per purge transaction: short transactions, so nothing waits long on them. */
const PURGE_BATCH_REQUESTS = 1_000;
/** ... and about this many recipients (a 100,000-recipient request goes alone). */
const PURGE_BATCH_RECIPIENTS = 20_000;
/** Requests of a dropped month deleted per statement (their mails and recipients are gone already). */
const MONTH_REQUESTS_BATCH = 5_000;
/** One run stops after this long; the next scheduled run goes on where it stopped. */
const PURGE_RUN_MS = 10 * 60_000;

/** A confirm-and-send request can be sent now only this long after it was made (console guide). */
const UNCONFIRMED_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** The instant before which finished requests are purged (pure). */
function purgeCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * 24 * 3600 * 1000);
}

/**
 * Drops the months wholly past the cutoff that nothing holds (oldest first), each with its
 * requests' rows after it, and adds what went to `total`. A month held, or whose tables stay busy
 * past the lock_timeout, is left: its finished requests go row by row (purgeHistory), and the
 * next run tries again.
 */
async function dropPastMonths(
  deps: Pick<AppDeps, 'db'>,
  past: HistoryMonth[],
  run: { log: Logger; total: PurgedBatch; timeUp: () => boolean; unconfirmedBefore: () => Date },
): Promise<void> {
  const { log, total, timeUp, unconfirmedBefore } = run;
  for (const month of past) {
    if (timeUp()) break;
    const heldBy = await monthHeldBy(deps.db, month, unconfirmedBefore());
    if (heldBy) {
      log.info(
        { month: month.from.toISOString(), requestId: heldBy },
        'a month past retention holds a request not finished: its finished ones are purged row by row',
      );
      continue;
    }
    const rows = await countHistoryMonth(deps.db, month);
    let dropped: boolean;
    try {
      dropped = await deps.db.transaction().execute(async (tx) => {
        await limitLockWait(tx);
        return dropHistoryMonth(tx, month, unconfirmedBefore());
      });
    } catch (err) {
      // (a lock not had within the lock_timeout, or a deadlock): the next run tries again
      log.warn({ month: month.from.toISOString(), err: (err as Error).message }, 'a month past retention could not be dropped now');
      continue;
    }
    if (!dropped) continue;
    total.mails += rows.mails;
    total.recipients += rows.recipients;
    log.info({ month: month.from.toISOString(), ...rows }, 'history month dropped');
    // Its requests at once, so that the views don't list requests whose mails are gone for long
    // (what a stop or a kill leaves, purgeHistory's row-wise purge takes).
    for (;;) {
      if (timeUp()) break;
      const deleted = await deleteMonthRequests(deps.db, month, MONTH_REQUESTS_BATCH);
      total.requests += deleted;
      if (deleted < MONTH_REQUESTS_BATCH) break;
    }
  }
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
  const timeUp = () => opts.isStopping?.() || performance.now() - started > (opts.maxMs ?? PURGE_RUN_MS);
  const months = await historyMonths(deps.db);
  // the first month not yet wholly past the cutoff: its requests wait until it is, and go with it
  const keptFrom = months.find((m) => m.to > cutoff)?.from;
  await dropPastMonths(
    deps,
    months.filter((m) => m.to <= cutoff),
    { log, total, timeUp, unconfirmedBefore },
  );
  const before = keptFrom && keptFrom < cutoff ? keptFrom : cutoff;
  for (;;) {
    if (timeUp()) {
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

import type { Tx } from '../../db/schema.ts';
import type { Config } from '../../config.ts';
import type { AppDeps } from '../../deps.ts';
import type { Logger } from '../../logger.ts';
import type { JobRun } from '../../jobs/job.ts';
import { finishRequestIfDone, finishStoring } from '../lifecycle/lifecycle.service.ts';
import { reservationJobsFor, START_RESERVATION, type StartReservationPayload } from '../lifecycle/start-reservation.job.ts';
import { partitionStatistics, type PartitionStatistics } from './partition-statistics.ts';
import * as repo from './requests.repository.ts';
import type { MailTarget } from './store-batches.repository.ts';
import { STORE_RECIPIENTS, type StoreRecipientsPayload } from './store-recipients.job.ts';

/**
 * The store-recipients job's loop for a large JSON request's payload (address-book groups and
 * recipient files are stored in parts at once: store-in-parts.ts). The request waits in P; each
 * batch is one transaction holding the request's row lock: the source stores the next mails after
 * `stored_count` (seq stored_count+1 …), and the same transaction moves `stored_count` on; the
 * claim loops send the stored mails meanwhile (when due). So a crash at any point resumes after the last
 * committed batch, and nothing is stored twice. A request no longer in P (cancelled) stops
 * the loop; a stopping worker, or a run past its budget (pg-boss expires long jobs), hands the
 * rest to a new job. When the source is used up the request moves from P to I (sending now)
 * or R (reserved, or waiting for confirmation) in the last batch's transaction.
 */

export type StoringRequest = NonNullable<Awaited<ReturnType<typeof repo.lockRequest>>>;

export interface RecipientSource {
  /** for the logs */
  name: string;
  /** Stores the next batch after `req.stored_count`: how many mails, and whether nothing is left. */
  storeBatch(tx: Tx, req: StoringRequest, target: MailTarget): Promise<{ stored: number; exhausted: boolean }>;
  /** Runs in the last batch's transaction once the source is used up (drop a payload, settle counts). */
  finish?(tx: Tx, req: StoringRequest, storedCount: number): Promise<void>;
}

export type StoreDeps = Pick<AppDeps, 'db' | 'queue' | 'logger' | 'now'> & { config?: Pick<Config, 'storeParallelism'> };

/** When a request's mails first fall due: null while it waits for confirmation. */
export function firstAttemptOf(req: Pick<StoringRequest, 'confirm_and_send' | 'reservation_at' | 'created_at'>): Date | null {
  return req.confirm_and_send ? null : (req.reservation_at ?? req.created_at);
}

/** Whether the request's mails are due at `now` (the claim loops send them while it is stored). */
export function isDue(req: Pick<StoringRequest, 'confirm_and_send' | 'reservation_at' | 'created_at'>, now: Date): boolean {
  const at = firstAttemptOf(req);
  return at !== null && at.getTime() <= now.getTime();
}

/**
 * Every mail is stored: the request leaves P, in the transaction that stored the last ones
 * (holding the request's row lock). F when nothing was stored, else I (due now) or R.
 */
export async function leaveStoring(deps: StoreDeps, tx: Tx, req: StoringRequest, storedCount: number, log: Logger): Promise<void> {
  if (storedCount === 0) {
    // The source selected nobody by the time it was read (groups emptied meanwhile): nothing to send.
    await finishStoring(tx, req.id, 'F', deps.now(), null);
    log.warn('no recipient was left to store');
    return;
  }
  const nextAttemptAt = firstAttemptOf(req);
  await finishStoring(tx, req.id, isDue(req, deps.now()) ? 'I' : 'R', deps.now(), nextAttemptAt);
  await deps.queue.insertInTx<StartReservationPayload>(tx, START_RESERVATION, reservationJobsFor(req.id, nextAttemptAt, deps.now()));
  log.info({ recipients: storedCount }, 'request stored');
}

/** A run hands over to a new job after this long, so no job outlives pg-boss's expiry. */
export const RUN_BUDGET_MS = 240_000;

export async function storeInBatches(deps: StoreDeps, requestId: string, source: RecipientSource, run: JobRun = {}): Promise<void> {
  const log = deps.logger.child({ requestId, source: source.name });
  const started = Date.now();
  let storedByRun = 0;
  let statistics: PartitionStatistics | undefined;
  try {
    for (;;) {
      if (run.isStopping?.() || Date.now() - started > RUN_BUDGET_MS) {
        // stored_count (and the source's own cursor) say where the next job goes on.
        await deps.queue.insert<StoreRecipientsPayload>(STORE_RECIPIENTS, [{ data: { requestId } }]);
        log.info({ stored: storedByRun }, 'storing handed over to a new job');
        return;
      }
      const { done, stored } = await deps.db.transaction().execute(async (tx) => {
        const req = await repo.lockRequest(tx, requestId);
        if (req?.status !== 'P') return { done: true, stored: 0 };
        statistics ??= partitionStatistics(deps.db, req.created_at, log, () => isDue(req, deps.now()));
        const nextAttemptAt = firstAttemptOf(req);
        const from = req.stored_count;
        const target: MailTarget = { requestId, projectId: req.project_id, idDay: req.id_day, nextAttemptAt, createdAt: req.created_at };
        const batchStart = performance.now();
        const { stored, exhausted } = await source.storeBatch(tx, req, target);
        const storedCount = from + stored;
        if (stored > 0) {
          await repo.setStoredCount(tx, requestId, storedCount);
          log.debug({ stored: storedCount, ms: Math.round(performance.now() - batchStart) }, 'stored recipients');
        }
        if (!exhausted) return { done: false, stored };
        await source.finish?.(tx, req, storedCount);
        await leaveStoring(deps, tx, req, storedCount, log);
        return { done: true, stored };
      });
      storedByRun += stored;
      statistics?.added(stored);
      if (done) {
        statistics?.storeEnded();
        break;
      }
    }
    await finishRequestIfDone(deps, requestId);
  } finally {
    // an analysis still running does not outlive the job, whichever way it ends
    await statistics?.settled();
  }
}

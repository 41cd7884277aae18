import type { Transporter } from 'nodemailer';
import { connectDb } from '../db/connect.ts';
import type { AppDeps } from '../deps.ts';
import { listen } from '../db/listen.ts';
import { createDeliveryWorker } from '../modules/delivery/claim-loops.ts';
import { inFlightPerLoop } from '../modules/delivery/delivery-settings.ts';
import { DUE_CHANNEL, startReservation } from '../modules/lifecycle/lifecycle.service.ts';
import { storeRecipients, sweepStoring } from '../modules/requests/requests.service.ts';
import { finishCancellation } from '../modules/requests/request-actions.service.ts';
import { cleanupFiles } from '../modules/files/files.service.ts';
import { cleanupRecipientFiles } from '../modules/recipient-files/recipient-files.service.ts';
import { removeExpiredTemplateBackups, runTemplateBackup } from '../modules/templates/template-backups.service.ts';
import { purgeHistory } from '../modules/retention/retention.service.ts';
import { runExport } from '../modules/exports/export.job.ts';
import { expireExports } from '../modules/exports/exports.service.ts';
import { expireSendBlocks } from '../modules/send-block/send-block.service.ts';
import { langOfAdPrefix } from '../modules/unsubscribes/unsubscribe-message.ts';
import { unsubscribeKeyFor } from '../modules/unsubscribes/unsubscribes.service.ts';
import { timeJob } from '../metrics.ts';
import { QUEUES, isExportJob, isCancelRequestJob, isStartReservationJob, isStoreRecipientsJob, isTemplateBackupJob, type JobRun } from './queue.ts';

export interface Workers {
  /**
   * stop claiming new work; resolves when the delivery loops have recorded what they hold. The
   * caller then stops the queue, which waits for running jobs.
   */
  stop(): Promise<void>;
  /** one sweep now (it also runs every SWEEP_INTERVAL_MS); returns what it restarted (lost reservations, lost storing) */
  sweepNow(): Promise<number>;
}

export const SWEEP_INTERVAL_MS = 15_000;
/** When the clean-up of unused uploads and expired template backups runs (cron). */
export const CLEANUP_FILES_CRON = '*/10 * * * *';
/** When finished requests older than RETENTION_DAYS are purged (cron; only with RETENTION_DAYS > 0). */
export const PURGE_HISTORY_CRON = '17 * * * *';
/** When expired export files are deleted and lost export runs failed (cron). */
export const EXPIRE_EXPORTS_CRON = '*/10 * * * *';
/** When lapsed send-block entries are removed (they stop blocking at their time anyway). */
export const EXPIRE_SEND_BLOCKS_CRON = '* * * * *';

// New jobs arrive by NOTIFY at once; deferred ones (retries, reservations) are found by the
// 1 s poll, which NOTIFY does not cover (pg-boss would otherwise relax it to 30 s).
const POLLING = { batchSize: 1, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1 } as const;

/**
 * Registers this process's job handlers. Payloads are checked; a bad one is dropped with a log
 * line. Besides the app's deps, workers alone use the LISTEN connection's URL and the SMTP transport.
 */
export async function registerWorkers(deps: Pick<AppDeps, 'config' | 'db' | 'queue' | 'logger' | 'now'> & { databaseUrl: string; transport: Transporter }): Promise<Workers> {
  const { boss } = deps.queue;
  const log = deps.logger.child({ component: 'worker' });
  // The claim loops have their own connections: the API's load can't hold a claim or a record
  // back, and their fixed statements are planned once per connection (see genericPlans).
  const deliveryDb = connectDb(deps.databaseUrl, {
    max: 2 + 3 * deps.config.workerConcurrency,
    genericPlans: true,
    applicationName: 'outbound-mailer-delivery',
    onError: (err) => log.warn({ err: err.message }, 'database connection lost; reconnecting on next use'),
  });
  const delivery = createDeliveryWorker({
    db: deliveryDb.db,
    transport: deps.transport,
    logger: log,
    retry: { retryLimit: deps.config.retryLimit, baseDelayMs: deps.config.retryBaseDelayMs },
    now: deps.now,
    dataDir: deps.config.dataDir,
    unsubscribe: { key: unsubscribeKeyFor(deps.config), baseUrl: deps.config.publicBaseUrl, lang: langOfAdPrefix(deps.config.adTitlePrefix) },
    loops: deps.config.workerConcurrency,
    claimBatch: deps.config.deliveryClaimBatch,
    inFlight: inFlightPerLoop(deps.config.smtpMaxConnections, deps.config.workerConcurrency),
  });
  delivery.start();
  const dueListener = listen(deps.databaseUrl, DUE_CHANNEL, () => delivery.notified(), log);
  let stopping = false;
  const jobRun: JobRun = { isStopping: () => stopping };

  async function handle<T extends { requestId: string }>(queue: string, concurrency: number, isPayload: (d: unknown) => d is T, run: (data: T, jobId: string) => Promise<void>) {
    await boss.work(queue, { ...POLLING, localConcurrency: concurrency }, async ([job]) => {
      if (!job || !isPayload(job.data)) return log.error({ queue, jobId: job?.id }, 'bad job payload; dropped');
      try {
        const data = job.data;
        await timeJob(queue, () => run(data, job.id));
      } catch (err) {
        // pg-boss retries the job; the log says why.
        log.error({ err, queue, jobId: job.id, requestId: job.data.requestId }, 'job failed');
        throw err;
      }
    });
  }

  await handle(QUEUES.storeRecipients, 1, isStoreRecipientsJob, (d, jobId) => storeRecipients({ ...deps, logger: log.child({ jobId }) }, d.requestId, jobRun));
  await handle(QUEUES.cancelRequest, 1, isCancelRequestJob, (d, jobId) => finishCancellation({ ...deps, logger: log.child({ jobId }) }, d.requestId));
  await handle(QUEUES.startReservation, 1, isStartReservationJob, (d) => startReservation(deps.db, d.requestId));
  // templates/ still takes its own dependency objects (being split elsewhere; see deps.ts for the rule)
  const files = { db: deps.db, dataDir: deps.config.dataDir, now: deps.now };
  await handle(QUEUES.backupTemplates, 1, isTemplateBackupJob, (d, jobId) => runTemplateBackup({ ...files, logger: log.child({ jobId }) }, d.requestId));
  const withLog = { ...deps, logger: log };
  await boss.work(QUEUES.cleanupFiles, POLLING, async () => {
    await cleanupFiles(withLog);
    await cleanupRecipientFiles(withLog);
    await removeExpiredTemplateBackups(files);
  });
  await boss.schedule(QUEUES.cleanupFiles, CLEANUP_FILES_CRON);
  if (deps.config.retentionDays > 0) {
    await boss.work(QUEUES.purgeHistory, POLLING, async () => {
      await purgeHistory(withLog, jobRun);
    });
    await boss.schedule(QUEUES.purgeHistory, PURGE_HISTORY_CRON);
  } else {
    // Retention switched off: a schedule left by an earlier configuration must not purge anything.
    await boss.unschedule(QUEUES.purgeHistory);
  }
  // One export at a time per process: each streams its rows, so memory stays flat at any size.
  await boss.work(QUEUES.createExport, { ...POLLING, localConcurrency: 1 }, async ([job]) => {
    if (!job || !isExportJob(job.data)) return log.error({ queue: QUEUES.createExport, jobId: job?.id }, 'bad job payload; dropped');
    try {
      const { exportId } = job.data;
      await timeJob(QUEUES.createExport, () => runExport({ ...deps, logger: log.child({ jobId: job.id }) }, exportId, jobRun));
    } catch (err) {
      // A shutdown interrupts a run on purpose (it says so itself); anything else is an error.
      if (!stopping) log.error({ err, queue: QUEUES.createExport, jobId: job.id, exportId: job.data.exportId }, 'job failed');
      throw err;
    }
  });
  await boss.work(QUEUES.expireExports, POLLING, async () => {
    await expireExports(withLog);
  });
  await boss.schedule(QUEUES.expireExports, EXPIRE_EXPORTS_CRON);
  await boss.work(QUEUES.expireSendBlocks, POLLING, async () => {
    const n = await expireSendBlocks(deps);
    if (n) log.info({ expired: n }, 'send-block entries expired');
  });
  await boss.schedule(QUEUES.expireSendBlocks, EXPIRE_SEND_BLOCKS_CRON);

  const sweepAll = async () => (await delivery.sweep()) + (await sweepStoring(withLog));
  const sweeper = setInterval(() => {
    sweepAll().catch((err) => log.warn({ err: (err as Error).message }, 'sweep failed'));
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  return {
    async stop() {
      stopping = true;
      clearInterval(sweeper);
      await dueListener.close();
      await delivery.stop();
      await deliveryDb.close();
    },
    sweepNow: sweepAll,
  };
}

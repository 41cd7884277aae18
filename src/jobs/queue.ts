import { PgBoss, fromKysely } from 'pg-boss';
import type { Tx } from '../db/schema.ts';
import type { Logger } from '../logger.ts';

/**
 * Queue names and payloads. Jobs carry ids only; handlers check the payload and claim the
 * rows they work on with guarded updates, so a job run twice does nothing twice.
 */
export const QUEUES = {
  /** store the recipients of a large request (status P) as mails and recipient rows */
  storeRecipients: 'store-recipients',
  /** at a reservation's time: the request starts sending (R -> I) and the claim loops are woken */
  startReservation: 'start-reservation',
  /** cancel what is left of a cancelled request (large requests, mails held by workers) */
  cancelRequest: 'cancel-request',
  /** write a template backup (createTemplateExportRequest); requestId is the backup's sid */
  // (named before the code said "backup": jobs queued under this name in running deployments must still be taken)
  backupTemplates: 'export-templates',
  /** periodic: remove unused uploads (24 h) and expired template backups */
  cleanupFiles: 'cleanup-files',
  /** periodic: delete finished requests older than RETENTION_DAYS (src/modules/retention) */
  purgeHistory: 'purge-history',
  /** periodic: send-block entries whose time is up are removed (history D / SYSTEM) */
  expireSendBlocks: 'expire-send-blocks',
  /** write an export's .xlsx (createExport) */
  createExport: 'export',
  /** periodic: expired export files, exports whose job was lost, orphaned export files */
  expireExports: 'expire-exports',
} as const;

/** What a long job run learns from its worker: the process is stopping, so hand the rest over rather than be cut off. */
export interface JobRun {
  isStopping?: () => boolean;
}

export interface StoreRecipientsJob {
  requestId: string;
}
export type CancelRequestJob = StoreRecipientsJob;
export type StartReservationJob = StoreRecipientsJob;
export type TemplateBackupJob = StoreRecipientsJob;
export interface ExportJob {
  exportId: string;
}
export function isExportJob(d: unknown): d is ExportJob {
  return typeof d === 'object' && d !== null && typeof (d as ExportJob).exportId === 'string' && /^\d+$/.test((d as ExportJob).exportId);
}

export function isStoreRecipientsJob(d: unknown): d is StoreRecipientsJob {
  return typeof d === 'object' && d !== null && typeof (d as StoreRecipientsJob).requestId === 'string' && /^\d+$/.test((d as StoreRecipientsJob).requestId);
}
export const isCancelRequestJob = (d: unknown): d is CancelRequestJob => isStoreRecipientsJob(d);
export const isTemplateBackupJob = (d: unknown): d is TemplateBackupJob => isStoreRecipientsJob(d);
export const isStartReservationJob = (d: unknown): d is StartReservationJob => isStoreRecipientsJob(d);

export interface JobQueue {
  boss: PgBoss;
  /** enqueue inside the caller's transaction: the rows and their jobs commit together */
  insertInTx<T extends object>(tx: Tx, name: string, jobs: { data: T; startAfter?: Date }[]): Promise<void>;
  insert<T extends object>(name: string, jobs: { data: T; startAfter?: Date; singletonKey?: string; singletonSeconds?: number }[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startQueue(connectionString: string, logger: Logger, opts: { schedule?: boolean } = {}): Promise<JobQueue> {
  const boss = new PgBoss({
    connectionString,
    max: 4,
    useListenNotify: true,
    schedule: opts.schedule ?? true,
    application_name: 'outbound-mailer-queue',
    // Job heartbeats are checked in the monitor pass (60 s by default): every 5 s, a worker killed
    // mid-job has its job retried within heartbeatSeconds + 5 s, instead of a minute later.
    superviseIntervalSeconds: 5,
    monitorIntervalSeconds: 5,
  });
  boss.on('error', (err: Error) => logger.error({ err }, 'job queue error'));
  boss.on('warning', (w: unknown) => logger.warn({ warning: w }, 'job queue warning'));
  await boss.start();
  await boss.createQueue(QUEUES.storeRecipients, { retryLimit: 10, retryDelay: 2, retryBackoff: true, expireInSeconds: 600, heartbeatSeconds: 10, notify: true });
  await boss.createQueue(QUEUES.cancelRequest, { retryLimit: 20, retryDelay: 2, retryBackoff: true, expireInSeconds: 600, heartbeatSeconds: 10, notify: true });
  // Mails are not sent by jobs: claim loops take due mails from our own tables (src/modules/delivery).
  // A reservation's job only starts its request; the sweep starts one whose job was lost.
  await boss.createQueue(QUEUES.startReservation, { retryLimit: 20, retryDelay: 2, retryBackoff: true, expireInSeconds: 60, notify: true });
  // retryLimit is TEMPLATE_BACKUP_MAX_ATTEMPTS: the run after the last allowed attempt fails the backup (F) rather than leave it in I
  await boss.createQueue(QUEUES.backupTemplates, { retryLimit: 6, retryDelay: 5, retryBackoff: true, expireInSeconds: 900, notify: true });
  // A run killed mid-file stops its heartbeats and is retried soon; it starts the file again.
  // retryLimit is EXPORT_MAX_ATTEMPTS: the run after the last allowed attempt fails the export
  // with a message instead of leaving it in I (src/modules/exports/export.job.ts).
  await boss.createQueue(QUEUES.createExport, { retryLimit: 3, retryDelay: 2, expireInSeconds: 3600, heartbeatSeconds: 10, notify: true });
  // Periodic and idempotent: a missed or failed run is made up by the next one.
  await boss.createQueue(QUEUES.expireExports, { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' });
  await boss.createQueue(QUEUES.cleanupFiles, { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' });
  // A run stops itself after PURGE_RUN_MS (10 min); the next hourly run goes on.
  await boss.createQueue(QUEUES.purgeHistory, { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' });
  await boss.createQueue(QUEUES.expireSendBlocks, { retryLimit: 0, expireInSeconds: 600, policy: 'exclusive' });
  // Only the options given are passed: an undefined startAfter would not mean "now" to pg-boss.
  const toInsert = <T extends object>(jobs: { data: T; startAfter?: Date; singletonKey?: string; singletonSeconds?: number }[]) =>
    jobs.map((j) => Object.fromEntries(Object.entries(j).filter(([, v]) => v !== undefined)));
  return {
    boss,
    async insertInTx(tx, name, jobs) {
      if (jobs.length) await boss.insert(name, toInsert(jobs), { db: fromKysely(tx) });
    },
    async insert(name, jobs) {
      if (jobs.length) await boss.insert(name, toInsert(jobs));
    },
    async stop() {
      await boss.stop({ graceful: true, timeout: 20_000, close: true });
    },
  };
}

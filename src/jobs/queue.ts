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
  /** send a range of a request's mails (by seq) */
  deliverChunk: 'deliver-chunk',
} as const;

export interface StoreRecipientsJob {
  requestId: string;
}
export interface DeliverChunkJob {
  requestId: string;
  fromSeq: number;
  toSeq: number;
}

export function isStoreRecipientsJob(d: unknown): d is StoreRecipientsJob {
  return typeof d === 'object' && d !== null && typeof (d as StoreRecipientsJob).requestId === 'string' && /^\d+$/.test((d as StoreRecipientsJob).requestId);
}
export function isDeliverChunkJob(d: unknown): d is DeliverChunkJob {
  const j = d as DeliverChunkJob;
  return isStoreRecipientsJob(d) && Number.isInteger(j.fromSeq) && Number.isInteger(j.toSeq) && j.fromSeq <= j.toSeq;
}

export interface JobQueue {
  boss: PgBoss;
  /** enqueue inside the caller's transaction: the rows and their jobs commit together */
  insertInTx<T extends object>(tx: Tx, name: string, jobs: { data: T; startAfter?: Date }[]): Promise<void>;
  insert<T extends object>(name: string, jobs: { data: T; startAfter?: Date }[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startQueue(connectionString: string, logger: Logger, opts: { schedule?: boolean } = {}): Promise<JobQueue> {
  const boss = new PgBoss({
    connectionString,
    max: 4,
    useListenNotify: true,
    schedule: opts.schedule ?? true,
    application_name: 'outbound-mailer-queue',
  });
  boss.on('error', (err: Error) => logger.error({ err }, 'job queue error'));
  boss.on('warning', (w: unknown) => logger.warn({ warning: w }, 'job queue warning'));
  await boss.start();
  await boss.createQueue(QUEUES.storeRecipients, { retryLimit: 10, retryDelay: 5, retryBackoff: true, expireInSeconds: 600, notify: true });
  // A chunk's rows carry their own leases; the job is only the trigger. A worker killed mid-chunk
  // leaves the job active until it expires, then pg-boss retries it and the rows are reclaimed.
  await boss.createQueue(QUEUES.deliverChunk, { retryLimit: 20, retryDelay: 5, retryBackoff: true, expireInSeconds: 900, notify: true });
  const toInsert = <T extends object>(jobs: { data: T; startAfter?: Date }[]) =>
    jobs.map((j) => (j.startAfter ? { data: j.data, startAfter: j.startAfter } : { data: j.data }));
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

import { PgBoss, fromKysely } from 'pg-boss';
import type { Tx } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import { ON_DEMAND_JOBS, PERIODIC_JOBS } from './registry.ts';

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
  for (const job of [...ON_DEMAND_JOBS, ...PERIODIC_JOBS]) await boss.createQueue(job.name, job.queue);
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

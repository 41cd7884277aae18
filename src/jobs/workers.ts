import type { Transporter } from 'nodemailer';
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import { listen } from '../db/listen.ts';
import { DUE_CHANNEL } from '../modules/delivery/delivery.repository.ts';
import { createDeliveryWorker, inFlightPerLoop } from '../modules/delivery/delivery.service.ts';
import { sweepStoring } from '../modules/requests/requests.service.ts';
import { langOfAdPrefix } from '../modules/unsubscribes/unsubscribe-message.ts';
import { unsubscribeKeyFor } from '../modules/unsubscribes/unsubscribes.service.ts';
import { timeJob } from '../metrics.ts';
import type { JobContext } from './job.ts';
import type { JobQueue } from './queue.ts';
import { ON_DEMAND_JOBS, PERIODIC_JOBS } from './registry.ts';

export interface Workers {
  /**
   * stop claiming new work; resolves when the delivery loops have recorded what they hold. The
   * caller then stops the queue, which waits for running jobs.
   */
  stop(): Promise<void>;
  /** one sweep now (it also runs every SWEEP_INTERVAL_MS); returns what it restarted (lost reservations, lost storing) */
  sweepNow(): Promise<number>;
}

const SWEEP_INTERVAL_MS = 15_000;

// New jobs arrive by NOTIFY at once; deferred ones (retries, reservations) are found by the
// 1 s poll, which NOTIFY does not cover (pg-boss would otherwise relax it to 30 s). One job of a
// queue at a time per process: an export streams its rows, so memory stays flat at any size.
const POLLING = { batchSize: 1, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, localConcurrency: 1 } as const;

/** Registers this process's job handlers. Payloads are checked; a bad one is dropped with a log line. */
export async function registerWorkers(deps: { config: Readonly<Config>; databaseUrl: string; db: Db; queue: JobQueue; transport: Transporter; logger: Logger; now: () => Date }): Promise<Workers> {
  const { boss } = deps.queue;
  const log = deps.logger.child({ component: 'worker' });
  const delivery = createDeliveryWorker({
    db: deps.db,
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
  const context = (logger: Logger): JobContext => ({ db: deps.db, queue: deps.queue, config: deps.config, logger, now: deps.now, isStopping: () => stopping });

  for (const job of ON_DEMAND_JOBS) {
    await boss.work(job.name, POLLING, async ([pgJob]) => {
      if (!pgJob || !job.isPayload(pgJob.data)) return log.error({ queue: job.name, jobId: pgJob?.id }, 'bad job payload; dropped');
      const data = pgJob.data;
      try {
        await timeJob(job.name, () => job.run(context(log.child({ jobId: pgJob.id })), data));
      } catch (err) {
        // pg-boss retries the job; the log says why.
        if (!(stopping && job.interruptedByShutdown)) log.error({ ...data, err, queue: job.name, jobId: pgJob.id }, 'job failed');
        throw err;
      }
    });
  }
  for (const job of PERIODIC_JOBS) {
    if (job.enabled && !job.enabled(deps.config)) {
      await boss.unschedule(job.name);
      continue;
    }
    await boss.work(job.name, POLLING, () => job.run(context(log)));
    await boss.schedule(job.name, job.schedule);
  }

  const sweepAll = async () => (await delivery.sweep()) + (await sweepStoring({ db: deps.db, queue: deps.queue, logger: log, now: deps.now }));
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
    },
    sweepNow: sweepAll,
  };
}

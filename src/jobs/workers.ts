import type { MailTransport } from '../modules/delivery/transport.ts';
import { connectDb } from '../db/connect.ts';
import { listen } from '../db/listen.ts';
import type { AppDeps } from '../deps.ts';
import type { Logger } from '../logger.ts';
import { createDeliveryWorker } from '../modules/delivery/claim-loops.ts';
import { createWebhookWorker } from '../modules/webhooks/webhook-worker.ts';
import { DUE_CHANNEL } from '../modules/lifecycle/lifecycle.service.ts';
import { sweepStoring } from '../modules/requests/requests.service.ts';
import { timeJob } from '../metrics.ts';
import type { JobContext } from './job.ts';
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

/**
 * Registers this process's job handlers and starts its claim loops. Payloads are checked; a bad
 * one is dropped with a log line. Besides the app's deps, workers alone use the LISTEN
 * connection's URL and the SMTP transport.
 */
export async function registerWorkers(
  deps: Pick<AppDeps, 'config' | 'db' | 'queue' | 'logger' | 'now' | 'box' | 'blobs'> & { databaseUrl: string; transport: MailTransport },
): Promise<Workers> {
  const { boss } = deps.queue;
  const log = deps.logger.child({ component: 'worker' });
  // The claim loops have their own connections: the API's load can't hold a claim or a record back.
  const deliveryDb = connectDb(deps.databaseUrl, {
    max: 2 + 3 * deps.config.workerConcurrency,
    applicationName: 'outbound-mailer-delivery',
    onError: (err) => log.warn({ err: err.message }, 'database connection lost; reconnecting on next use'),
  });
  const delivery = createDeliveryWorker({ ...deps, db: deliveryDb.db, logger: log });
  delivery.start();
  // Webhook deliveries: their own loops on the app's pool (a few short statements per batch).
  const webhooks = createWebhookWorker({ config: deps.config, db: deps.db, logger: log.child({ component: 'webhooks' }), now: deps.now, box: deps.box });
  webhooks.start();
  const dueListener = listen(deps.databaseUrl, DUE_CHANNEL, () => delivery.notified(), log);
  let stopping = false;
  const context = (logger: Logger): JobContext => ({
    db: deps.db,
    queue: deps.queue,
    config: deps.config,
    blobs: deps.blobs,
    logger,
    now: deps.now,
    isStopping: () => stopping,
  });

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

  const sweepAll = async () => (await delivery.sweep()) + (await sweepStoring({ ...deps, logger: log }));
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
      await webhooks.stop();
      await deliveryDb.close();
    },
    sweepNow: sweepAll,
  };
}

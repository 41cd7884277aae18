import type { Transporter } from 'nodemailer';
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import { createDeliveryWorker } from '../modules/delivery/delivery.service.ts';
import { storeRecipients } from '../modules/requests/requests.service.ts';
import { QUEUES, isDeliverChunkJob, isStoreRecipientsJob, type JobQueue } from './queue.ts';

/** Registers this process's job handlers. Payloads are checked; a bad one is dropped with a log line. */
export async function registerWorkers(deps: { config: Readonly<Config>; db: Db; queue: JobQueue; transport: Transporter; logger: Logger; now: () => Date }) {
  const { boss } = deps.queue;
  const log = deps.logger.child({ component: 'worker' });
  const delivery = createDeliveryWorker({
    db: deps.db,
    queue: deps.queue,
    transport: deps.transport,
    logger: log,
    retry: { retryLimit: deps.config.retryLimit, baseDelayMs: deps.config.retryBaseDelayMs },
    now: deps.now,
  });

  await boss.work(QUEUES.storeRecipients, { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1 }, async ([job]) => {
    if (!job || !isStoreRecipientsJob(job.data)) return log.error({ jobId: job?.id }, 'bad store-recipients payload');
    try {
      await storeRecipients({ db: deps.db, queue: deps.queue, logger: log.child({ jobId: job.id }), now: deps.now }, job.data.requestId);
    } catch (err) {
      log.error({ err, jobId: job.id, requestId: job.data.requestId }, 'store-recipients failed');
      throw err;
    }
  });
  await boss.work(
    QUEUES.deliverChunk,
    // New jobs arrive by NOTIFY at once; deferred ones (retries, reservations) are found by the
    // 1 s poll, which NOTIFY does not cover (pg-boss would otherwise relax it to 30 s).
    { localConcurrency: deps.config.workerConcurrency, batchSize: 1, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1 },
    async ([job]) => {
      if (!job || !isDeliverChunkJob(job.data)) return log.error({ jobId: job?.id }, 'bad deliver-chunk payload');
      try {
        await delivery.deliverChunk(job.data);
      } catch (err) {
        // pg-boss retries the job; the log says why.
        log.error({ err, jobId: job.id, requestId: job.data.requestId }, 'deliver-chunk failed');
        throw err;
      }
    },
  );
}

import type { OnDemandJob, PeriodicJob } from './job.ts';
import { startReservationJob } from '../modules/lifecycle/start-reservation.job.ts';
import { exportJob } from '../modules/exports/export.job.ts';
import { expireExportsJob } from '../modules/exports/expire-exports.job.ts';
import { cleanupFilesJob } from '../modules/files/cleanup-files.job.ts';
import { cancelRequestJob } from '../modules/requests/cancel-request.job.ts';
import { storeRecipientsJob } from '../modules/requests/store-recipients.job.ts';
import { historyPartitionsJob } from '../modules/retention/history-partitions.job.ts';
import { purgeHistoryJob } from '../modules/retention/purge-history.job.ts';
import { expireSendBlocksJob } from '../modules/send-block/expire-send-blocks.job.ts';
import { templateBackupJob } from '../modules/templates/template-backup.job.ts';

/** Every pg-boss job, once: queue.ts creates their queues, workers.ts works them and schedules the periodic ones. */
export const ON_DEMAND_JOBS: readonly OnDemandJob<object>[] = [storeRecipientsJob, cancelRequestJob, startReservationJob, templateBackupJob, exportJob];
export const PERIODIC_JOBS: readonly PeriodicJob[] = [cleanupFilesJob, historyPartitionsJob, purgeHistoryJob, expireSendBlocksJob, expireExportsJob];

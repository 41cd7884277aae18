import type { PeriodicJob } from '../../jobs/job.ts';
import { ensureHistoryPartitions, MONTHS_AHEAD } from './history-partitions.ts';

/** Makes the monthly partitions of mails and recipients ahead of time (the migration made the first ones). */
export const HISTORY_PARTITIONS = 'history-partitions';

export const historyPartitionsJob: PeriodicJob = {
  name: HISTORY_PARTITIONS,
  queue: { retryLimit: 0, expireInSeconds: 600, policy: 'exclusive' },
  // Daily: MONTHS_AHEAD months are always there, so a month of missed runs loses nothing (rows
  // of a month without partitions would wait in the default partition until a run makes it).
  schedule: '41 3 * * *',
  async run(ctx) {
    const made = await ensureHistoryPartitions(ctx.db, ctx.now());
    if (made > 0) ctx.logger.info({ job: HISTORY_PARTITIONS, made, monthsAhead: MONTHS_AHEAD }, 'history partitions made');
  },
};

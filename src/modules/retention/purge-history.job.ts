import type { PeriodicJob } from '../../jobs/job.ts';
import { purgeHistory } from './retention.service.ts';

/** Deletes finished requests older than RETENTION_DAYS; only worked with RETENTION_DAYS > 0. */
export const PURGE_HISTORY = 'purge-history';

export const purgeHistoryJob: PeriodicJob = {
  name: PURGE_HISTORY,
  // A run stops itself after PURGE_RUN_MS (10 min); the next hourly run goes on.
  queue: { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' },
  schedule: '17 * * * *',
  // Retention switched off: a schedule left by an earlier configuration must not purge anything.
  enabled: (config) => config.retentionDays > 0,
  async run(ctx) {
    await purgeHistory(ctx, { isStopping: ctx.isStopping });
  },
};

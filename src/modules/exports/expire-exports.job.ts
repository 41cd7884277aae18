import type { PeriodicJob } from '../../jobs/job.ts';
import { expireExports } from './exports.service.ts';

/** Deletes expired export files, fails exports whose run was lost, removes orphaned export files. */
export const EXPIRE_EXPORTS = 'expire-exports';

export const expireExportsJob: PeriodicJob = {
  name: EXPIRE_EXPORTS,
  queue: { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' },
  schedule: '*/10 * * * *',
  async run(ctx) {
    await expireExports(ctx);
  },
};

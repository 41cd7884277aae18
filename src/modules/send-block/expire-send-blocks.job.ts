import type { PeriodicJob } from '../../jobs/job.ts';
import { expireSendBlocks } from './send-block.service.ts';

/** Removes send-block entries whose time is up (history D / SYSTEM); they stop blocking at their time anyway. */
export const EXPIRE_SEND_BLOCKS = 'expire-send-blocks';

export const expireSendBlocksJob: PeriodicJob = {
  name: EXPIRE_SEND_BLOCKS,
  queue: { retryLimit: 0, expireInSeconds: 600, policy: 'exclusive' },
  schedule: '* * * * *',
  async run(ctx) {
    const n = await expireSendBlocks(ctx);
    if (n) ctx.logger.info({ expired: n }, 'send-block entries expired');
  },
};

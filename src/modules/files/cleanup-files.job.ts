import type { PeriodicJob } from '../../jobs/job.ts';
import { cleanupRecipientFiles } from '../recipient-files/recipient-files.service.ts';
import { removeExpiredTemplateExports } from '../templates/templates.service.ts';
import { cleanupFiles } from './files.service.ts';

/** Removes unused uploads (attachments and recipient files) and expired template backups. */
export const CLEANUP_FILES = 'cleanup-files';

export const cleanupFilesJob: PeriodicJob = {
  name: CLEANUP_FILES,
  queue: { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' },
  schedule: '*/10 * * * *',
  async run(ctx) {
    const files = { db: ctx.db, dataDir: ctx.config.dataDir, now: ctx.now };
    await cleanupFiles({ ...files, logger: ctx.logger });
    await cleanupRecipientFiles({ ...files, logger: ctx.logger });
    await removeExpiredTemplateExports(files);
  },
};

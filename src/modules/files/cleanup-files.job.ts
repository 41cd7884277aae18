import type { PeriodicJob } from '../../jobs/job.ts';
import { cleanupRecipientFiles } from '../recipient-files/recipient-files.service.ts';
import { removeExpiredTemplateBackups } from '../templates/template-backups.service.ts';
import { cleanupFiles } from './files.service.ts';

/** Removes unused uploads (attachments and recipient files) and expired template backups. */
export const CLEANUP_FILES = 'cleanup-files';

export const cleanupFilesJob: PeriodicJob = {
  name: CLEANUP_FILES,
  queue: { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' },
  schedule: '*/10 * * * *',
  async run(ctx) {
    await cleanupFiles(ctx);
    await cleanupRecipientFiles(ctx);
    await removeExpiredTemplateBackups(ctx);
  },
};

import type { PeriodicJob } from '../../jobs/job.ts';
import { cleanupRecipientFiles } from '../recipient-files/recipient-files.service.ts';
import { removeExpiredTemplateBackups } from '../templates/template-backups.service.ts';
import { cleanupFiles } from './files.service.ts';

/** Removes unused uploads (attachments and recipient files), expired template backups and what dead puts left in the blob store. */
export const CLEANUP_FILES = 'cleanup-files';

export const cleanupFilesJob: PeriodicJob = {
  name: CLEANUP_FILES,
  queue: { retryLimit: 0, expireInSeconds: 1800, policy: 'exclusive' },
  schedule: '*/10 * * * *',
  async run(ctx) {
    await cleanupFiles(ctx);
    await cleanupRecipientFiles(ctx);
    await removeExpiredTemplateBackups(ctx);
    // A put that lives longer than a day is not one.
    await ctx.blobs.removeAbandoned(new Date(ctx.now().getTime() - 86_400_000));
  },
};

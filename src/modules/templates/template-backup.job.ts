import { isRequestIdPayload, type OnDemandJob, type RequestIdPayload } from '../../jobs/job.ts';
import { runTemplateBackup } from './template-backups.service.ts';

/**
 * Writes a template backup (createTemplateExportRequest); requestId is the backup's sid. The
 * queue was named before the code said "backup": jobs queued under it in running deployments
 * must still be taken.
 */
export const BACKUP_TEMPLATES = 'export-templates';
export type TemplateBackupPayload = RequestIdPayload;

export const templateBackupJob: OnDemandJob<TemplateBackupPayload> = {
  name: BACKUP_TEMPLATES,
  // retryLimit is TEMPLATE_BACKUP_MAX_ATTEMPTS (template-backups.service.ts): the run after the last
  // allowed attempt fails the backup (F) rather than leave it in I.
  queue: { retryLimit: 6, retryDelay: 5, retryBackoff: true, expireInSeconds: 900, notify: true },
  isPayload: isRequestIdPayload,
  run: (ctx, data) => runTemplateBackup(ctx, data.requestId),
};

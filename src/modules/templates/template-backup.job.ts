import { isRequestIdPayload, type OnDemandJob, type RequestIdPayload } from '../../jobs/job.ts';
import { runTemplateExport } from './templates.service.ts';

/** Writes a template backup (createTemplateExportRequest); requestId is the backup's sid. */
export const EXPORT_TEMPLATES = 'export-templates';
export type TemplateBackupPayload = RequestIdPayload;

export const templateBackupJob: OnDemandJob<TemplateBackupPayload> = {
  name: EXPORT_TEMPLATES,
  // retryLimit is TEMPLATE_EXPORT_MAX_ATTEMPTS (templates.service.ts): the run after the last
  // allowed attempt fails the backup (F) rather than leave it in I.
  queue: { retryLimit: 6, retryDelay: 5, retryBackoff: true, expireInSeconds: 900, notify: true },
  isPayload: isRequestIdPayload,
  run: (ctx, data) => runTemplateExport({ db: ctx.db, dataDir: ctx.config.dataDir, now: ctx.now, logger: ctx.logger }, data.requestId),
};

import type { Db } from '../../db/schema.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import type { Lang } from '../../shared/i18n.ts';
import { toPage, type Page, type Paging, type SortKey } from '../../http/paging.ts';
import { toStructure, toTemplate, toTemplateBackup, type Template, type TemplateBackup, type TemplateStructure } from './templates.mapper.ts';
import * as repo from './templates.repository.ts';
import { parsePathSid } from './validate-template.ts';

/** Template views, project-scoped: another project's sids answer 77103 like unknown ones. */

export async function getTemplate(db: Db, projectId: string, rawSid: string, timeZone: string): Promise<Template> {
  const sid = parsePathSid('templateSid', 'template', rawSid);
  const row = await repo.findTemplate(db, projectId, sid);
  if (!row) throw notFound(`templateSid: template ${rawSid} does not exist`);
  const category = row.category_sid === null ? undefined : await repo.findCategory(db, projectId, row.category_sid);
  return toTemplate(row, category, timeZone);
}

export async function getTemplateStructure(db: Db, projectId: string, onlyInUse: boolean, timeZone: string): Promise<TemplateStructure> {
  const [categories, templates] = await Promise.all([repo.allCategories(db, projectId), repo.templateOutline(db, projectId, onlyInUse)]);
  return toStructure(categories, templates, timeZone);
}

export interface MailTemplate {
  sid: string;
  name: string;
  senderAddress: string;
  senderName: string | null;
  title: string;
  body: string;
}

/**
 * The template createMailRequest's templateSid names. Unknown or another project's: 400/77103;
 * deleted (isUse false): 400/77102, saying so.
 */
export async function templateForMail(db: Db, projectId: string, templateSid: number): Promise<MailTemplate> {
  const row = Number.isSafeInteger(templateSid) && templateSid > 0 ? await repo.findTemplate(db, projectId, String(templateSid)) : undefined;
  if (!row) throw notFound(`templateSid: template ${templateSid} does not exist`);
  if (!row.is_use) throw badRequest(`templateSid: template ${templateSid} ("${row.name}") is deleted (isUse: false); restore it to use it`);
  return { sid: row.sid, name: row.name, senderAddress: row.sender_address, senderName: row.sender_name, title: row.title, body: row.body };
}

const BACKUP_SORT_COLUMNS = { createUtc: 'requested_at', sid: 'sid', statusCode: 'status' } as const;
export const BACKUP_SORT_PROPERTIES = Object.keys(BACKUP_SORT_COLUMNS);
export const DEFAULT_BACKUP_SORT: readonly SortKey[] = [{ property: 'createUtc', direction: 'DESC' }];

/** getTemplateExportRequestList: the project's backups. */
export async function getTemplateBackupList(
  db: Db,
  projectId: string,
  q: { paging: Paging; sort: SortKey[] },
  view: { lang: Lang; timeZone: string; publicBaseUrl: string; now: Date },
): Promise<Page<TemplateBackup>> {
  let qb = db.selectFrom('template_exports').select(repo.BACKUP_COLUMNS).where('project_id', '=', projectId);
  for (const key of q.sort) {
    qb = qb.orderBy(BACKUP_SORT_COLUMNS[key.property as keyof typeof BACKUP_SORT_COLUMNS], key.direction === 'ASC' ? 'asc' : 'desc');
  }
  const [rows, total] = await Promise.all([
    qb
      .orderBy('sid', q.sort[0]?.direction === 'ASC' ? 'asc' : 'desc')
      .limit(q.paging.size)
      .offset(q.paging.page * q.paging.size)
      .execute(),
    repo.countBackups(db, projectId),
  ]);
  return toPage(
    rows.map((r) => toTemplateBackup(r, view)),
    total,
    q.paging,
    q.sort,
  );
}

import type { AppDeps } from '../../deps.ts';
import type { Tx } from '../../db/schema.ts';
import { notFound } from '../../shared/errors.ts';
import { lockParent, parseLowerSid, placeAmongSiblings } from './place-in-tree.ts';
import { toTemplate, type Template, type TemplateCreate, type TemplateLocation, type TemplateUpdate } from './templates.mapper.ts';
import * as repo from './templates.repository.ts';
import { checkName, parseParentSid, parsePathSid, validateTemplateFields } from './validate-template.ts';

/** NCP's template operations (categories: categories.service.ts; backups: template-backups.service.ts). */

type Deps = Pick<AppDeps, 'db' | 'config' | 'now'>;

const templateNotFound = (raw: string) => notFound(`templateSid: template ${raw} does not exist`);

export async function createTemplate(deps: Deps, projectId: string, body: TemplateCreate): Promise<Template> {
  const fields = validateTemplateFields(body);
  const categorySid = parseParentSid('categorySid', body.categorySid) ?? null;
  return deps.db.transaction().execute(async (tx) => {
    const category = await lockParent(tx, projectId, 'categorySid', categorySid);
    const row = await repo.insertTemplate(tx, {
      project_id: projectId,
      category_sid: categorySid,
      position: await repo.nextPosition(tx, 'templates', projectId, categorySid),
      name: fields.name,
      description: fields.description,
      title: fields.title,
      body: fields.body,
      sender_address: fields.senderAddress,
      sender_name: fields.senderName,
      is_use: fields.isUse,
      created_at: deps.now(),
      updated_at: deps.now(),
    });
    return toTemplate(row, category, deps.config.displayTimezone);
  });
}

/** Runs `change` on the locked template and answers with the result. */
async function changeTemplate(
  deps: Deps,
  projectId: string,
  rawSid: string,
  change: (tx: Tx, row: NonNullable<Awaited<ReturnType<typeof repo.lockTemplate>>>) => Promise<Awaited<ReturnType<typeof repo.updateTemplate>>>,
): Promise<Template> {
  const sid = parsePathSid('templateSid', 'template', rawSid);
  return deps.db.transaction().execute(async (tx) => {
    const row = await repo.lockTemplate(tx, projectId, sid);
    if (!row) throw templateNotFound(rawSid);
    const updated = await change(tx, row);
    const category = updated.category_sid === null ? undefined : await repo.findCategory(tx, projectId, updated.category_sid);
    return toTemplate(updated, category, deps.config.displayTimezone);
  });
}

/** updateTemplate: a full replacement of everything but the category. */
export async function updateTemplate(deps: Deps, projectId: string, rawSid: string, body: TemplateUpdate): Promise<Template> {
  const f = validateTemplateFields(body);
  return changeTemplate(deps, projectId, rawSid, (tx, row) =>
    repo.updateTemplate(
      tx,
      row.sid,
      { name: f.name, description: f.description, title: f.title, body: f.body, sender_address: f.senderAddress, sender_name: f.senderName, is_use: f.isUse },
      deps.now(),
    ),
  );
}

export async function updateTemplateLocationOrName(deps: Deps, projectId: string, rawSid: string, body: TemplateLocation): Promise<Template> {
  const name = checkName('templateName', body.templateName);
  const parentSid = parseParentSid('parentSid', body.parentSid);
  const lowerSid = parseLowerSid(body.lowerSid);
  return changeTemplate(deps, projectId, rawSid, async (tx, row) => {
    const to = parentSid === undefined ? row.category_sid : parentSid;
    await lockParent(tx, projectId, 'parentSid', to);
    await placeAmongSiblings(tx, 'templates', projectId, row.sid, { from: row.category_sid, to }, lowerSid);
    return repo.updateTemplate(tx, row.sid, { name, category_sid: to }, deps.now());
  });
}

/** deleteTemplate: a soft delete (isUse false), undone by restoreTemplate. */
export async function deleteTemplate(deps: Deps, projectId: string, rawSid: string): Promise<Template> {
  return changeTemplate(deps, projectId, rawSid, (tx, row) => repo.updateTemplate(tx, row.sid, { is_use: false }, deps.now()));
}

export async function restoreTemplate(deps: Deps, projectId: string, rawSid: string): Promise<Template> {
  return changeTemplate(deps, projectId, rawSid, (tx, row) => repo.updateTemplate(tx, row.sid, { is_use: true }, deps.now()));
}

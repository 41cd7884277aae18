import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import type { Db, Tx } from '../../db/schema.ts';
import { readMultipart } from '../../http/multipart.ts';
import { QUEUES, type TemplateExportJob } from '../../jobs/queue.ts';
import type { Logger } from '../../logger.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import { zonedParts } from '../../shared/clock.ts';
import { backupHeader, planImport, type BackupCategory, type BackupTemplate } from './template-backup.ts';
import {
  exportStatus,
  toCategory,
  toTemplate,
  type CategoryCreate,
  type CategoryUpdate,
  type StructureNode,
  type Template,
  type TemplateCategory,
  type TemplateCreate,
  type TemplateLocation,
  type TemplateStructure,
  type TemplateUpdate,
} from './templates.mapper.ts';
import { getTemplateStructure } from './templates.read-model.ts';
import * as repo from './templates.repository.ts';
import { checkName, parseParentSid, parsePathSid, validateTemplateFields } from './validate-template.ts';

type Deps = Pick<AppDeps, 'db' | 'config' | 'now'>;

/** Backups can be downloaded for this long after they are made. */
export const EXPORT_TTL_MS = 7 * 86_400_000;

const templateNotFound = (raw: string) => notFound(`templateSid: template ${raw} does not exist`);
const categoryNotFound = (field: string, sid: string) => notFound(`${field}: category ${sid} does not exist`);

/** A category that must exist (and stay, until the transaction ends) to put something in it. */
async function lockParent(tx: Tx, projectId: string, field: string, sid: string | null) {
  if (sid === null) return undefined;
  const row = await repo.lockCategory(tx, projectId, sid);
  if (!row) throw categoryNotFound(field, sid);
  return row;
}

/** A lowerSid from a body: absent means "not given"; it names a sibling by sid. */
function parseLowerSid(raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  if (!/^-?\d{1,18}$/.test(text)) throw badRequest('lowerSid: must be the sid of the template or category that should come after this one');
  return String(BigInt(text));
}

/**
 * Puts `sid` among its new siblings: right before `lowerSid` when that is one of them; else where
 * it was (same parent) or last (new parent). Siblings are renumbered 1..n.
 */
async function placeAmongSiblings(
  tx: Tx,
  kind: repo.SiblingKind,
  projectId: string,
  sid: string,
  parent: { from: string | null; to: string | null },
  lowerSid: string | undefined,
): Promise<void> {
  const siblings = await repo.lockSiblings(tx, kind, projectId, parent.to);
  const current = siblings.indexOf(sid);
  const order = siblings.filter((s) => s !== sid);
  let at = lowerSid === undefined ? -1 : order.indexOf(lowerSid);
  if (at < 0) at = parent.from === parent.to && current >= 0 ? current : order.length;
  order.splice(at, 0, sid);
  await repo.setPositions(tx, kind, order);
}

/** Unique category names among siblings: a race past the check lands on the unique index. */
async function withUniqueName<T>(message: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw badRequest(message);
    throw err;
  }
}

const nameTaken = (name: string) => `categoryName: a category named "${name}" already exists there`;

async function assertNameFree(tx: Tx, projectId: string, parentSid: string | null, name: string, self?: string): Promise<void> {
  const existing = await repo.findCategoryByName(tx, projectId, parentSid, name);
  if (existing && existing.sid !== self) throw badRequest(nameTaken(name));
}

// ---------- templates ----------

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

// ---------- categories ----------

export async function createCategory(deps: Deps, projectId: string, body: CategoryCreate): Promise<TemplateCategory> {
  const name = checkName('categoryName', body.categoryName);
  const parentSid = parseParentSid('parentSid', body.parentSid) ?? null;
  return withUniqueName(nameTaken(name), () =>
    deps.db.transaction().execute(async (tx) => {
      await lockParent(tx, projectId, 'parentSid', parentSid);
      await assertNameFree(tx, projectId, parentSid, name);
      const position = await repo.nextPosition(tx, 'template_categories', projectId, parentSid);
      return toCategory(await repo.insertCategory(tx, { project_id: projectId, parent_sid: parentSid, name, position }));
    }),
  );
}

/** updateCategory: rename and/or move; a category can't move into itself or its own sub-tree. */
export async function updateCategory(deps: Deps, projectId: string, rawSid: string, body: CategoryUpdate): Promise<TemplateCategory> {
  const sid = parsePathSid('categorySid', 'category', rawSid);
  const newName = body.categoryName === undefined || body.categoryName === null ? undefined : checkName('categoryName', body.categoryName);
  const parentSid = parseParentSid('parentSid', body.parentSid);
  const lowerSid = parseLowerSid(body.lowerSid);
  return withUniqueName('categoryName: a category of that name already exists there', () =>
    deps.db.transaction().execute(async (tx) => {
      const row = await repo.lockCategory(tx, projectId, sid);
      if (!row) throw categoryNotFound('categorySid', rawSid);
      const to = parentSid === undefined ? row.parent_sid : parentSid;
      if (to !== null && to !== row.parent_sid) {
        const parents = new Map((await repo.allCategories(tx, projectId)).map((c) => [c.sid, c.parent_sid]));
        for (let at: string | null | undefined = to; at; at = parents.get(at)) {
          if (at === row.sid) throw badRequest(`parentSid: category ${rawSid} can't be moved into itself or one of its sub-categories`);
        }
      }
      await lockParent(tx, projectId, 'parentSid', to);
      const name = newName ?? row.name;
      await assertNameFree(tx, projectId, to, name, row.sid);
      await placeAmongSiblings(tx, 'template_categories', projectId, row.sid, { from: row.parent_sid, to }, lowerSid);
      return toCategory(await repo.updateCategory(tx, row.sid, { name, parent_sid: to }));
    }),
  );
}

export async function deleteCategory(deps: Deps, projectId: string, rawSid: string): Promise<TemplateCategory> {
  const sid = parsePathSid('categorySid', 'category', rawSid);
  return deps.db.transaction().execute(async (tx) => {
    const row = await repo.lockCategory(tx, projectId, sid);
    if (!row) throw categoryNotFound('categorySid', rawSid);
    // Counted after the lock: anything being put into it meanwhile has either committed or waits.
    const children = await repo.countChildren(tx, row.sid);
    if (children.categories || children.templates) {
      throw badRequest(
        `categorySid: category ${rawSid} holds ${children.categories} sub-categories and ${children.templates} templates (deleted ones included); only an empty category can be deleted`,
      );
    }
    await repo.deleteCategory(tx, row.sid);
    return toCategory(row);
  });
}

// ---------- backups ----------

export const exportsDir = (dataDir: string) => path.join(dataDir, 'template-exports');
const exportPath = (dataDir: string, sid: string) => path.join(exportsDir(dataDir), `${BigInt(sid)}.json`);

export async function createTemplateExportRequest(deps: Pick<AppDeps, 'db' | 'queue' | 'now'>, projectId: string): Promise<{ sid: number }> {
  return deps.db.transaction().execute(async (tx) => {
    const row = await repo.insertExport(tx, projectId, deps.now());
    await deps.queue.insertInTx<TemplateExportJob>(tx, QUEUES.exportTemplates, [{ data: { requestId: row.sid } }]);
    return { sid: Number(row.sid) };
  });
}

async function write(stream: fs.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * Job: writes a project's backup to DATA_DIR/template-exports/<sid>.json, a page of templates at
 * a time (bodies are up to 500 KB each). Runs again from the start after a crash.
 */
export async function runTemplateExport(deps: { db: Db; dataDir: string; now: () => Date; logger: Logger }, sid: string): Promise<void> {
  const claimed = await repo.claimExport(deps.db, sid);
  if (!claimed) return;
  const projectId = claimed.project_id;
  await fs.promises.mkdir(exportsDir(deps.dataDir), { recursive: true });
  const final = exportPath(deps.dataDir, sid);
  const part = `${final}.part`;
  const out = fs.createWriteStream(part);
  const order: string[] = [];
  try {
    await write(out, backupHeader(deps.now()));
    const structure = await getTemplateStructure(deps.db, projectId, false, 'UTC');
    const categories: BackupCategory[] = [];
    const walk = (items: StructureNode[]) => {
      for (const item of items) {
        if (item.isCategory) categories.push({ sid: item.sid, parentSid: item.parentSid, name: item.name });
        else order.push(String(item.sid));
        walk(item.subCategoris);
        walk(item.templates);
      }
    };
    walk(structure.contents as unknown as StructureNode[]);
    await write(out, `"categories":${JSON.stringify(categories)},"templates":[`);
    for (let i = 0; i < order.length; i += 20) {
      const page = order.slice(i, i + 20);
      const rows = new Map((await repo.templatesBySid(deps.db, projectId, page)).map((r) => [r.sid, r]));
      for (const [j, templateSid] of page.entries()) {
        const t = rows.get(templateSid);
        if (!t) continue;
        const entry: BackupTemplate = {
          sid: Number(t.sid),
          categorySid: t.category_sid === null ? -1 : Number(t.category_sid),
          name: t.name,
          description: t.description,
          title: t.title,
          senderAddress: t.sender_address,
          senderName: t.sender_name,
          body: t.body,
          isUse: t.is_use,
        };
        await write(out, (i + j > 0 ? ',' : '') + JSON.stringify(entry));
      }
    }
    await write(out, ']}\n');
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    await fs.promises.rm(part, { force: true });
    throw err;
  }
  await fs.promises.rename(part, final);
  const now = deps.now();
  await repo.completeExport(deps.db, sid, (await fs.promises.stat(final)).size, now, new Date(now.getTime() + EXPORT_TTL_MS));
  deps.logger.info({ exportSid: sid, templates: order.length }, 'template backup written');
}

/** exportTemplate: the backup file, opened, and the name it is downloaded under. */
export async function openTemplateExport(deps: Deps, projectId: string, rawSid: string): Promise<{ stream: Readable; fileName: string }> {
  const sid = parsePathSid('requestId', 'export request', rawSid);
  const row = await repo.findExport(deps.db, projectId, sid);
  const status = row ? exportStatus(row, deps.now()) : undefined;
  if (!row || status === 'E') throw notFound(`requestId: backup ${rawSid} does not exist or has expired`);
  if (status !== 'C') throw badRequest(`requestId: backup ${rawSid} is not ready yet (status ${status}); see getTemplateExportRequestList`);
  const p = zonedParts(row.requested_at, deps.config.displayTimezone);
  const stamp = `${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}`;
  // Written by a worker: an instance that doesn't share its DATA_DIR has no such file.
  const handle = await fs.promises.open(exportPath(deps.config.dataDir, row.sid), 'r').catch(() => {
    throw notFound(`requestId: backup ${rawSid} does not exist or has expired`);
  });
  return { stream: handle.createReadStream(), fileName: `template_${stamp}.json` };
}

/** Job part: completed backups past their time become E and their files go. */
export async function removeExpiredTemplateExports(deps: { db: Db; dataDir: string; now: () => Date }): Promise<number> {
  const sids = await repo.expireExports(deps.db, deps.now());
  await Promise.all(sids.map((sid) => fs.promises.rm(exportPath(deps.dataDir, sid), { force: true })));
  return sids.length;
}

/** importTemplate: all or nothing, in one transaction. Categories merge by name and place. */
export async function importTemplates(deps: Deps, projectId: string, req: Request): Promise<TemplateStructure> {
  const limit = deps.config.maxBodyBytes;
  const chunks: Buffer[] = [];
  let seen = false;
  await readMultipart(req, { fileBytes: limit, files: 1, totalBytes: limit + 1024 * 1024 }, async (part) => {
    if (part.field !== 'file') return void part.stream.resume();
    seen = true;
    for await (const chunk of part.stream) chunks.push(chunk as Buffer);
    if (part.stream.truncated) throw badRequest(`file: larger than ${Math.floor(limit / 1024 / 1024)} MB`);
  });
  if (!seen) throw badRequest('file: required (multipart/form-data part "file" with the backup)');
  let data: unknown;
  try {
    data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('file: not a template backup (not valid JSON)');
  }
  chunks.length = 0;
  const plan = planImport(data);
  await withUniqueName('file: a category of the backup was created at the same time by another request; import again', () =>
    deps.db.transaction().execute(async (tx) => {
      const sidOf = new Map<string, string>();
      for (const c of plan.categories) {
        const parent = c.parentKey === null ? null : sidOf.get(c.parentKey)!;
        const existing = await repo.findCategoryByName(tx, projectId, parent, c.name);
        const row =
          existing ??
          (await repo.insertCategory(tx, {
            project_id: projectId,
            parent_sid: parent,
            name: c.name,
            position: await repo.nextPosition(tx, 'template_categories', projectId, parent),
          }));
        sidOf.set(c.key, row.sid);
      }
      const next = new Map<string | null, number>();
      const now = deps.now();
      for (const t of plan.templates) {
        const category = t.categoryKey === null ? null : sidOf.get(t.categoryKey)!;
        const position = next.get(category) ?? (await repo.nextPosition(tx, 'templates', projectId, category));
        next.set(category, position + 1);
        await repo.insertTemplate(tx, {
          project_id: projectId,
          category_sid: category,
          position,
          name: t.name,
          description: t.description,
          title: t.title,
          body: t.body,
          sender_address: t.senderAddress,
          sender_name: t.senderName,
          is_use: t.isUse,
          created_at: now,
          updated_at: now,
        });
      }
    }),
  );
  return getTemplateStructure(deps.db, projectId, false, deps.config.displayTimezone);
}

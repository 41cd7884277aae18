import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Request } from 'express';
import type { AppDeps } from '../../deps.ts';
import type { Db, Tx } from '../../db/schema.ts';
import { readMultipart } from '../../http/multipart.ts';
import { findUnstorableText } from '../../http/storable-text.ts';
import type { Logger } from '../../logger.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import { zonedParts } from '../../shared/clock.ts';
import { EXPORT_TEMPLATES, type TemplateBackupPayload } from './template-backup.job.ts';
import { backupHeader, planImport, type BackupCategory, type BackupTemplate, type ImportPlan } from './template-backup.ts';
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
import { checkName, parseParentSid, parsePathSid, TEMPLATE_LIMITS, validateTemplateFields } from './validate-template.ts';

type Deps = Pick<AppDeps, 'db' | 'config' | 'now'>;

/** Backups can be downloaded for this long after they are made. */
export const EXPORT_TTL_MS = 7 * 86_400_000;
/** Runs a backup may take: the export-templates queue's retryLimit (template-backup.job.ts). */
export const TEMPLATE_EXPORT_MAX_ATTEMPTS = 6;
/** An import writes rows in statements of at most this many rows, or this much text. */
const IMPORT_BATCH_ROWS = 1000;
const IMPORT_BATCH_CHARS = 8 * 1024 * 1024;

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

type ParentMap = Map<string, string | null>;

/** Levels from the top down to `sid` (a top-level category is 1; the top itself, null, is 0). Iterative. */
function depthOf(parents: ParentMap, sid: string | null): number {
  let depth = 0;
  for (let at = sid; at !== null && at !== undefined && depth <= parents.size; at = parents.get(at) ?? null) depth++;
  return depth;
}

/** Levels of `sid`'s sub-tree, itself included. Breadth first, no recursion. */
function heightOf(parents: ParentMap, sid: string): number {
  const children = new Map<string, string[]>();
  for (const [child, parent] of parents) {
    if (parent === null) continue;
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  let height = 0;
  for (let level = [sid]; level.length && height <= parents.size; height++) level = level.flatMap((c) => children.get(c) ?? []);
  return height;
}

const tooDeep = () => badRequest(`parentSid: categories may be nested at most ${TEMPLATE_LIMITS.categoryDepth} levels deep`);

export async function createCategory(deps: Deps, projectId: string, body: CategoryCreate): Promise<TemplateCategory> {
  const name = checkName('categoryName', body.categoryName);
  const parentSid = parseParentSid('parentSid', body.parentSid) ?? null;
  return withUniqueName(nameTaken(name), () =>
    deps.db.transaction().execute(async (tx) => {
      await lockParent(tx, projectId, 'parentSid', parentSid);
      if (parentSid !== null && (await repo.categoryDepth(tx, projectId, parentSid, TEMPLATE_LIMITS.categoryDepth)) + 1 > TEMPLATE_LIMITS.categoryDepth) throw tooDeep();
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
        const parents: ParentMap = new Map((await repo.allCategories(tx, projectId)).map((c) => [c.sid, c.parent_sid]));
        for (let at: string | null | undefined = to; at; at = parents.get(at)) {
          if (at === row.sid) throw badRequest(`parentSid: category ${rawSid} can't be moved into itself or one of its sub-categories`);
        }
        if (depthOf(parents, to) + heightOf(parents, row.sid) > TEMPLATE_LIMITS.categoryDepth) throw tooDeep();
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
    await deps.queue.insertInTx<TemplateBackupPayload>(tx, EXPORT_TEMPLATES, [{ data: { requestId: row.sid } }]);
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
  const attempt = claimed.attempts;
  // A run that died without a word (killed, out of memory) counts too: the one after the last
  // allowed attempt only records the failure.
  if (attempt > TEMPLATE_EXPORT_MAX_ATTEMPTS) {
    await repo.failExport(deps.db, sid, `creating the backup stopped ${attempt - 1} times; request a new backup`, deps.now());
    deps.logger.warn({ exportSid: sid, attempt }, 'template backup failed: attempts used up');
    return;
  }
  const projectId = claimed.project_id;
  const final = exportPath(deps.dataDir, sid);
  const part = `${final}.part`;
  let out: fs.WriteStream | undefined;
  const order: string[] = [];
  try {
    await fs.promises.mkdir(exportsDir(deps.dataDir), { recursive: true });
    out = fs.createWriteStream(part);
    await write(out, backupHeader(deps.now()));
    const structure = await getTemplateStructure(deps.db, projectId, false, 'UTC');
    const categories: BackupCategory[] = [];
    // Depth first, parents before children, without recursion (a tree's depth is the user's).
    const stack = [...(structure.contents as unknown as StructureNode[])].reverse();
    for (let item = stack.pop(); item; item = stack.pop()) {
      if (item.isCategory) categories.push({ sid: item.sid, parentSid: item.parentSid, name: item.name });
      else order.push(String(item.sid));
      for (let i = item.templates.length - 1; i >= 0; i--) stack.push(item.templates[i]!);
      for (let i = item.subCategoris.length - 1; i >= 0; i--) stack.push(item.subCategoris[i]!);
    }
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
    out?.destroy();
    // What made the run fail (a missing or unwritable directory) may make removing fail too.
    await fs.promises.rm(part, { force: true }).catch(() => undefined);
    if (attempt < TEMPLATE_EXPORT_MAX_ATTEMPTS) throw err;
    // The last attempt: the backup fails (F) with the reason instead of staying in I for good.
    await repo.failExport(deps.db, sid, `creating the backup failed ${attempt} times; last error: ${(err as Error).message}`, deps.now());
    deps.logger.error({ err, exportSid: sid, attempt }, 'template backup failed');
    return;
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
  await readMultipart(req, { fileBytes: limit, files: 1, field: 'file', totalBytes: limit + 1024 * 1024 }, async (part) => {
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
  const unstorable = findUnstorableText(data);
  if (unstorable) throw badRequest(`file: ${unstorable}`);
  const plan = planImport(data);
  await withUniqueName('file: a category of the backup was created at the same time by another request; import again', () =>
    deps.db.transaction().execute(async (tx) => {
      // Categories level by level, each level one statement: an existing category of the same
      // name and place is reused; the rest go last among their siblings.
      const existing = await repo.allCategories(tx, projectId);
      const placeKey = (parent: string | null, name: string) => `${parent ?? ''}/${name}`;
      const byPlace = new Map(existing.map((c) => [placeKey(c.parent_sid, c.name), c.sid]));
      const lastPosition = new Map<string | null, number>();
      for (const c of existing) lastPosition.set(c.parent_sid, Math.max(lastPosition.get(c.parent_sid) ?? 0, c.position));
      const sidOf = new Map<string, string>();
      for (let at = 0; at < plan.categories.length; ) {
        const depth = plan.categories[at]!.depth;
        const level: ImportPlan['categories'] = [];
        while (at < plan.categories.length && plan.categories[at]!.depth === depth) level.push(plan.categories[at++]!);
        const toInsert = new Map<string, { project_id: string; parent_sid: string | null; name: string; position: number }>();
        for (const c of level) {
          const parent = c.parentKey === null ? null : sidOf.get(c.parentKey)!;
          const place = placeKey(parent, c.name);
          if (byPlace.has(place) || toInsert.has(place)) continue;
          const position = (lastPosition.get(parent) ?? 0) + 1;
          lastPosition.set(parent, position);
          toInsert.set(place, { project_id: projectId, parent_sid: parent, name: c.name, position });
        }
        for (let i = 0; i < toInsert.size; i += IMPORT_BATCH_ROWS) {
          const rows = await repo.insertCategories(tx, [...toInsert.values()].slice(i, i + IMPORT_BATCH_ROWS));
          for (const r of rows) byPlace.set(placeKey(r.parent_sid, r.name), r.sid);
        }
        for (const c of level) sidOf.set(c.key, byPlace.get(placeKey(c.parentKey === null ? null : sidOf.get(c.parentKey)!, c.name))!);
      }
      // Templates in batches bounded by rows and by text (bodies are up to 500 KB each).
      const next = await repo.lastTemplatePositions(tx, projectId);
      const now = deps.now();
      let batch: Parameters<typeof repo.insertTemplates>[1] = [];
      let batchBytes = 0;
      for (const t of plan.templates) {
        const category = t.categoryKey === null ? null : sidOf.get(t.categoryKey)!;
        const position = (next.get(category) ?? 0) + 1;
        next.set(category, position);
        batch.push({
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
        batchBytes += t.body.length + t.title.length;
        if (batch.length >= IMPORT_BATCH_ROWS || batchBytes >= IMPORT_BATCH_CHARS) {
          await repo.insertTemplates(tx, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      await repo.insertTemplates(tx, batch);
    }),
  );
  return getTemplateStructure(deps.db, projectId, false, deps.config.displayTimezone);
}

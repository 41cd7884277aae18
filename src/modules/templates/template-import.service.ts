import type { AppDeps } from '../../deps.ts';
import type { FileParts } from '../../http/multipart.ts';
import { findUnstorableText } from '../../http/storable-text.ts';
import { badRequest } from '../../shared/errors.ts';
import { withUniqueName } from './place-in-tree.ts';
import { planImport, type ImportPlan } from './template-backup.ts';
import type { TemplateStructure } from './templates.mapper.ts';
import { getTemplateStructure } from './templates.read-model.ts';
import * as repo from './templates.repository.ts';

type Deps = Pick<AppDeps, 'db' | 'config' | 'now'>;

/** An import writes rows in statements of at most this many rows, or this much text. */
const IMPORT_BATCH_ROWS = 1000;
const IMPORT_BATCH_CHARS = 8 * 1024 * 1024;

/** importTemplate: all or nothing, in one transaction. Categories merge by name and place. */
export async function importTemplates(deps: Deps, projectId: string, upload: FileParts): Promise<TemplateStructure> {
  const limit = deps.config.maxBodyBytes;
  const chunks: Buffer[] = [];
  let seen = false;
  await upload(async (part) => {
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

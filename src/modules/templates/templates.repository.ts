import { sql } from 'kysely';
import type { Db, Tx, TemplatesTable } from '../../db/schema.ts';

/**
 * Writes and lookups on templates, template_categories and template_exports (the backups, in a
 * table named after NCP's "export request"). A parent (category) sid of null is the top level (-1
 * in the API). Siblings are ordered by `position`.
 */

export const CATEGORY_COLUMNS = ['sid', 'parent_sid', 'name', 'position', 'created_at'] as const;
export const TEMPLATE_COLUMNS = [
  'sid',
  'category_sid',
  'name',
  'description',
  'title',
  'body',
  'sender_address',
  'sender_name',
  'is_use',
  'position',
  'created_at',
] as const;

export type SiblingKind = 'templates' | 'template_categories';

// ---------- categories ----------

export async function findCategory(db: Db | Tx, projectId: string, sid: string) {
  return db.selectFrom('template_categories').select(CATEGORY_COLUMNS).where('project_id', '=', projectId).where('sid', '=', sid).executeTakeFirst();
}

export async function lockCategory(tx: Tx, projectId: string, sid: string) {
  return tx
    .selectFrom('template_categories')
    .select(CATEGORY_COLUMNS)
    .where('project_id', '=', projectId)
    .where('sid', '=', sid)
    .forUpdate()
    .executeTakeFirst();
}

export async function findCategoryByName(db: Db | Tx, projectId: string, parentSid: string | null, name: string) {
  return db
    .selectFrom('template_categories')
    .select(CATEGORY_COLUMNS)
    .where('project_id', '=', projectId)
    .where((eb) => (parentSid === null ? eb('parent_sid', 'is', null) : eb('parent_sid', '=', parentSid)))
    .where('name', '=', name)
    .executeTakeFirst();
}

/** Every category of a project (a tree is small enough to hold). */
export async function allCategories(db: Db | Tx, projectId: string) {
  return db.selectFrom('template_categories').select(CATEGORY_COLUMNS).where('project_id', '=', projectId).orderBy('position').orderBy('sid').execute();
}

export async function insertCategory(tx: Tx, row: { project_id: string; parent_sid: string | null; name: string; position: number }) {
  return tx.insertInto('template_categories').values(row).returning(CATEGORY_COLUMNS).executeTakeFirstOrThrow();
}

/** Levels from the top down to `sid` (a top-level category is 1), counted up to `atMost` + 1: a walk up by primary key. */
export async function categoryDepth(db: Db | Tx, projectId: string, sid: string, atMost: number): Promise<number> {
  const row = await sql<{ depth: number }>`
    WITH RECURSIVE up (sid, parent_sid, depth) AS (
      SELECT sid, parent_sid, 1 FROM template_categories WHERE project_id = ${projectId} AND sid = ${sid}
      UNION ALL
      SELECT c.sid, c.parent_sid, up.depth + 1 FROM template_categories c JOIN up ON c.sid = up.parent_sid WHERE up.depth <= ${atMost}
    )
    SELECT coalesce(max(depth), 0)::int AS depth FROM up
  `.execute(db);
  return Number(row.rows[0]!.depth);
}

/** Many categories in one statement (an import's level); their rows come back in no set order. */
export async function insertCategories(tx: Tx, rows: { project_id: string; parent_sid: string | null; name: string; position: number }[]) {
  if (rows.length === 0) return [];
  return tx.insertInto('template_categories').values(rows).returning(CATEGORY_COLUMNS).execute();
}

export async function updateCategory(tx: Tx, sid: string, set: { name?: string; parent_sid?: string | null; position?: number }) {
  return tx.updateTable('template_categories').set(set).where('sid', '=', sid).returning(CATEGORY_COLUMNS).executeTakeFirstOrThrow();
}

export async function deleteCategory(tx: Tx, sid: string): Promise<void> {
  await tx.deleteFrom('template_categories').where('sid', '=', sid).execute();
}

/** Sub-categories and templates (in use or not) directly inside a category. */
export async function countChildren(tx: Tx, sid: string): Promise<{ categories: number; templates: number }> {
  const row = await sql<{ categories: string; templates: string }>`
    SELECT (SELECT count(*) FROM template_categories WHERE parent_sid = ${sid}) AS categories,
           (SELECT count(*) FROM templates WHERE category_sid = ${sid}) AS templates
  `.execute(tx);
  return { categories: Number(row.rows[0]!.categories), templates: Number(row.rows[0]!.templates) };
}

// ---------- templates ----------

export async function findTemplate(db: Db | Tx, projectId: string, sid: string) {
  return db.selectFrom('templates').select(TEMPLATE_COLUMNS).where('project_id', '=', projectId).where('sid', '=', sid).executeTakeFirst();
}

export async function lockTemplate(tx: Tx, projectId: string, sid: string) {
  return tx.selectFrom('templates').select(TEMPLATE_COLUMNS).where('project_id', '=', projectId).where('sid', '=', sid).forUpdate().executeTakeFirst();
}

/** The columns a template's create and update write. */
export type TemplateValues = Pick<TemplatesTable, 'name' | 'description' | 'title' | 'body' | 'sender_address' | 'sender_name' | 'is_use'>;

export async function insertTemplate(
  tx: Tx,
  row: TemplateValues & { project_id: string; category_sid: string | null; position: number; created_at: Date; updated_at: Date },
) {
  return tx.insertInto('templates').values(row).returning(TEMPLATE_COLUMNS).executeTakeFirstOrThrow();
}

/** Many templates in one statement (an import's batch). */
export async function insertTemplates(
  tx: Tx,
  rows: (TemplateValues & { project_id: string; category_sid: string | null; position: number; created_at: Date; updated_at: Date })[],
): Promise<void> {
  if (rows.length) await tx.insertInto('templates').values(rows).execute();
}

/** The last template position in each category of a project (null: the top level). */
export async function lastTemplatePositions(tx: Tx, projectId: string): Promise<Map<string | null, number>> {
  const rows = await tx
    .selectFrom('templates')
    .select(['category_sid', (eb) => eb.fn.max('position').as('last')])
    .where('project_id', '=', projectId)
    .groupBy('category_sid')
    .execute();
  return new Map(rows.map((r) => [r.category_sid, Number(r.last)]));
}

export async function updateTemplate(tx: Tx, sid: string, set: Partial<TemplateValues> & { category_sid?: string | null; position?: number }, at: Date) {
  return tx
    .updateTable('templates')
    .set({ ...set, updated_at: at })
    .where('sid', '=', sid)
    .returning(TEMPLATE_COLUMNS)
    .executeTakeFirstOrThrow();
}

/** Templates of a project without their content, for the structure tree. */
export async function templateOutline(db: Db | Tx, projectId: string, onlyInUse: boolean) {
  let qb = db.selectFrom('templates').select(['sid', 'category_sid', 'name', 'is_use', 'created_at']).where('project_id', '=', projectId);
  if (onlyInUse) qb = qb.where('is_use', '=', true);
  return qb.orderBy('position').orderBy('sid').execute();
}

/** Full templates by sid (a page of a backup; bodies may be 500 KB each). */
export async function templatesBySid(db: Db, projectId: string, sids: string[]) {
  if (sids.length === 0) return [];
  return db.selectFrom('templates').select(TEMPLATE_COLUMNS).where('project_id', '=', projectId).where('sid', 'in', sids).execute();
}

// ---------- ordering ----------

const parentColumn = (kind: SiblingKind) => (kind === 'templates' ? 'category_sid' : 'parent_sid');

/** The sids of a parent's children of one kind, in order, locked (ordering changes renumber them). */
export async function lockSiblings(tx: Tx, kind: SiblingKind, projectId: string, parentSid: string | null): Promise<string[]> {
  const col = sql.ref(parentColumn(kind));
  const rows = await sql<{ sid: string }>`
    SELECT sid FROM ${sql.table(kind)}
    WHERE project_id = ${projectId} AND ${parentSid === null ? sql`${col} IS NULL` : sql`${col} = ${parentSid}`}
    ORDER BY position, sid
    FOR UPDATE
  `.execute(tx);
  return rows.rows.map((r) => String(r.sid));
}

export async function nextPosition(tx: Tx, kind: SiblingKind, projectId: string, parentSid: string | null): Promise<number> {
  const col = sql.ref(parentColumn(kind));
  const row = await sql<{ next: number }>`
    SELECT coalesce(max(position), 0) + 1 AS next FROM ${sql.table(kind)}
    WHERE project_id = ${projectId} AND ${parentSid === null ? sql`${col} IS NULL` : sql`${col} = ${parentSid}`}
  `.execute(tx);
  return Number(row.rows[0]!.next);
}

/** Positions 1..n in the order given. */
export async function setPositions(tx: Tx, kind: SiblingKind, orderedSids: string[]): Promise<void> {
  if (orderedSids.length === 0) return;
  await sql`
    UPDATE ${sql.table(kind)} t SET position = u.position
    FROM unnest(${orderedSids}::bigint[]) WITH ORDINALITY AS u(sid, position)
    WHERE t.sid = u.sid
  `.execute(tx);
}

// ---------- backups ----------

export const BACKUP_COLUMNS = ['sid', 'project_id', 'status', 'requested_at', 'completed_at', 'expires_at', 'file_size'] as const;

export async function insertBackup(db: Db | Tx, projectId: string, at: Date) {
  return db.insertInto('template_exports').values({ project_id: projectId, status: 'R', requested_at: at }).returning(BACKUP_COLUMNS).executeTakeFirstOrThrow();
}

export async function findBackup(db: Db | Tx, projectId: string, sid: string) {
  return db.selectFrom('template_exports').select(BACKUP_COLUMNS).where('project_id', '=', projectId).where('sid', '=', sid).executeTakeFirst();
}

/** Takes a requested (or interrupted) backup to "creating", counting the attempt; undefined when it is done, failed or gone. */
export async function claimBackup(db: Db, sid: string) {
  return db
    .updateTable('template_exports')
    .set((eb) => ({ status: 'I', attempts: eb('attempts', '+', 1) }))
    .where('sid', '=', sid)
    .where('status', 'in', ['R', 'I'])
    .returning(['sid', 'project_id', 'attempts'])
    .executeTakeFirst();
}

/** The backup fails for good (its attempts are used up), with the reason. */
export async function failBackup(db: Db, sid: string, error: string, at: Date): Promise<void> {
  await db.updateTable('template_exports').set({ status: 'F', error, completed_at: at }).where('sid', '=', sid).where('status', '=', 'I').execute();
}

export async function completeBackup(db: Db, sid: string, fileSize: number, at: Date, expiresAt: Date): Promise<void> {
  await db
    .updateTable('template_exports')
    .set({ status: 'C', file_size: fileSize, completed_at: at, expires_at: expiresAt })
    .where('sid', '=', sid)
    .where('status', '=', 'I')
    .execute();
}

/** Completed backups past their expiry become E; returns their sids (their files are to go). */
export async function expireBackups(db: Db, now: Date): Promise<string[]> {
  const rows = await db.updateTable('template_exports').set({ status: 'E' }).where('status', '=', 'C').where('expires_at', '<', now).returning('sid').execute();
  return rows.map((r) => r.sid);
}

export async function countBackups(db: Db, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('template_exports')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

import { emitWebhookEvents } from '../webhooks/webhooks.service.ts';
import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

/** Writes and lookups on `exports`; every state change is a guarded update. */

const EXPORT_COLUMNS = [
  'id',
  'project_id',
  'view',
  'filters',
  'lang',
  'time_zone',
  'status',
  'attempts',
  'row_count',
  'file_size',
  'error',
  'requested_at',
  'started_at',
  'completed_at',
  'expires_at',
] as const;

export interface NewExport {
  project_id: string;
  view: string;
  filters: object;
  lang: string;
  time_zone: string;
  requested_at: Date;
}

export async function insertExport(db: Db | Tx, e: NewExport) {
  return db
    .insertInto('exports')
    .values({ ...e, filters: JSON.stringify(e.filters), status: 'R' })
    .returning(EXPORT_COLUMNS)
    .executeTakeFirstOrThrow();
}

/** Exports of the project in R or I, counted under a per-project transaction lock. */
export async function lockAndCountQueued(tx: Tx, projectId: string): Promise<number> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended('exports:' || ${projectId}, 0))`.execute(tx);
  const row = await tx
    .selectFrom('exports')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .where('status', 'in', ['R', 'I'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Expired (E) exports whose files expired, and failed (F) ones that ended, before `before`. */
export async function deleteFinishedBefore(db: Db, before: Date): Promise<number> {
  const r = await db
    .deleteFrom('exports')
    .where((eb) => eb.or([eb.and([eb('status', '=', 'E'), eb('expires_at', '<', before)]), eb.and([eb('status', '=', 'F'), eb('completed_at', '<', before)])]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function findExport(db: Db | Tx, projectId: string, id: string) {
  return db.selectFrom('exports').select(EXPORT_COLUMNS).where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
}

export async function listExports(db: Db, projectId: string, limit: number, offset: number) {
  return db.selectFrom('exports').select(EXPORT_COLUMNS).where('project_id', '=', projectId).orderBy('id', 'desc').limit(limit).offset(offset).execute();
}

export async function findExports(db: Db, ids: string[]) {
  if (!ids.length) return [];
  return db.selectFrom('exports').select(EXPORT_COLUMNS).where('id', 'in', ids).execute();
}

export async function countExports(db: Db, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('exports')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Takes a requested (or interrupted) export to I and counts the attempt; the attempt number is
 * the run's token: only that run may complete or fail the export. undefined when it is finished.
 */
export async function claimExport(db: Db, id: string, now: Date) {
  return db
    .updateTable('exports')
    .set({ status: 'I', attempts: sql<number>`attempts + 1`, started_at: now, heartbeat_at: now })
    .where('id', '=', id)
    .where('status', 'in', ['R', 'I'])
    .returning(EXPORT_COLUMNS)
    .executeTakeFirst();
}

/** The run is still the export's and still alive; false when another attempt took it over. */
export async function renewHeartbeat(db: Db, id: string, attempt: number, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('exports')
    .set({ heartbeat_at: now })
    .where('id', '=', id)
    .where('status', '=', 'I')
    .where('attempts', '=', attempt)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function completeExport(
  db: Db,
  id: string,
  attempt: number,
  done: { rowCount: number; fileSize: number; at: Date; expiresAt: Date },
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const r = await tx
      .updateTable('exports')
      .set({ status: 'C', row_count: done.rowCount, file_size: done.fileSize, completed_at: done.at, expires_at: done.expiresAt, error: null })
      .where('id', '=', id)
      .where('status', '=', 'I')
      .where('attempts', '=', attempt)
      .returning('project_id')
      .executeTakeFirst();
    if (!r) return false;
    await emitWebhookEvents(tx, [{ projectId: String(r.project_id), type: 'export.completed', subjectId: id }]);
    return true;
  });
}

/** A run stopped by a shutdown hands the export back (R) for the retry; the attempt stays counted. */
export async function releaseExport(db: Db, id: string, attempt: number): Promise<void> {
  await db.updateTable('exports').set({ status: 'R' }).where('id', '=', id).where('status', '=', 'I').where('attempts', '=', attempt).execute();
}

/** Fails the export unless it is already finished; attempt undefined: whichever run holds it. */
export async function failExport(db: Db, id: string, attempt: number | undefined, error: string, at: Date): Promise<boolean> {
  let q = db.updateTable('exports').set({ status: 'F', error, completed_at: at }).where('id', '=', id).where('status', 'in', ['R', 'I']);
  if (attempt !== undefined) q = q.where('attempts', '=', attempt);
  const r = await q.executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Completed exports past their expiry become E; returns their ids (their files are to go). */
export async function expireExports(db: Db, now: Date): Promise<{ id: string; attempts: number }[]> {
  return db.updateTable('exports').set({ status: 'E' }).where('status', '=', 'C').where('expires_at', '<=', now).returning(['id', 'attempts']).execute();
}

/** Runs that stopped renewing their heartbeat long ago (their job is lost): failed, ids returned. */
export async function failStalledExports(db: Db, heartbeatBefore: Date, error: string, now: Date): Promise<string[]> {
  const rows = await db
    .updateTable('exports')
    .set({ status: 'F', error, completed_at: now })
    .where('status', '=', 'I')
    .where('heartbeat_at', '<', heartbeatBefore)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Of these exports (ids), those still creating (I) or completed (C), with their attempts: a file
 * an attempt published is the export's while it is creating (a run may be publishing it) and,
 * once completed, only the completing attempt's.
 */
export async function liveExports(db: Db, ids: string[]): Promise<Map<string, { status: string; attempts: number }>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('exports').select(['id', 'status', 'attempts']).where('id', 'in', ids).where('status', 'in', ['I', 'C']).execute();
  return new Map(rows.map((r) => [r.id, { status: r.status, attempts: r.attempts }]));
}

export type ExportRow = Awaited<ReturnType<typeof findExport>> & {};

import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

export interface NewFileRow {
  id: string;
  temp_request_id: string;
  project_id: string;
  position: number;
  name: string;
  size: number;
  created_at: Date;
}

export async function insertFiles(tx: Tx, rows: NewFileRow[]): Promise<void> {
  if (rows.length) await tx.insertInto('files').values(rows).execute();
}

const FILE_COLUMNS = ['id', 'temp_request_id', 'name', 'size', 'created_at'] as const;

/** Uploads of the project not deleted and not (yet) used by a request: what MAX_STORED_FILES bounds. */
export async function countUnusedFiles(db: Db | Tx, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('files')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findUpload(db: Db | Tx, projectId: string, tempRequestId: string) {
  return db
    .selectFrom('files')
    .select(FILE_COLUMNS)
    .where('project_id', '=', projectId)
    .where('temp_request_id', '=', tempRequestId)
    .where('deleted_at', 'is', null)
    .orderBy('position')
    .execute();
}

export async function findFiles(db: Db | Tx, projectId: string, ids: string[]) {
  if (ids.length === 0) return [];
  return db.selectFrom('files').select(FILE_COLUMNS).where('project_id', '=', projectId).where('id', 'in', ids).where('deleted_at', 'is', null).execute();
}

/** Marks an upload deleted; its bytes go as soon as no request that can still be sent uses them. */
export async function markUploadDeleted(tx: Tx, projectId: string, tempRequestId: string, at: Date) {
  return tx
    .updateTable('files')
    .set({ deleted_at: at })
    .where('project_id', '=', projectId)
    .where('temp_request_id', '=', tempRequestId)
    .where('deleted_at', 'is', null)
    .returning(['id', 'temp_request_id', 'name', 'size', 'position'])
    .execute();
}

/**
 * Marks files used by a request, returning those still there. The row update takes the row lock,
 * so a clean-up that is deleting one of them finishes first and the file is reported missing;
 * and a clean-up that comes later sees the request's link (see deleteRemovable).
 */
export async function markUsed(tx: Tx, projectId: string, ids: string[], at: Date): Promise<string[]> {
  const rows = await tx
    .updateTable('files')
    .set({ used_at: at })
    .where('project_id', '=', projectId)
    .where('id', 'in', ids)
    .where('deleted_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

export async function insertRequestFiles(tx: Tx, requestId: string, files: { id: string; name: string; size: number }[]): Promise<void> {
  if (files.length === 0) return;
  await tx
    .insertInto('request_files')
    .values(files.map((f, i) => ({ request_id: requestId, position: i + 1, file_id: f.id, file_name: f.name, file_size: f.size })))
    .execute();
}

/**
 * A request that may still send mail: preparing or sending, or ready (reserved, or waiting for
 * "send now", which is possible for 30 days after it was made). Its files must stay.
 */
const usedBySendableRequest = (fileIdRef: ReturnType<typeof sql.ref>) => sql<boolean>`EXISTS (
  SELECT 1 FROM request_files rf JOIN mail_requests r ON r.id = rf.request_id
  WHERE rf.file_id = ${fileIdRef}
    AND (r.status IN ('P', 'I') OR (r.status = 'R' AND r.created_at > now() - interval '31 days'))
)`;

/**
 * Deletes up to `limit` removable file rows and returns their ids (their bytes are the caller's to
 * remove, after the commit). Removable: deleted by the client, or uploaded before `olderThan`,
 * and used by no request that can still be sent. Candidates are locked first and the use is
 * checked again in a later statement, which sees every link committed before the lock was taken:
 * a createMailRequest racing with the clean-up either keeps its file or is told it is gone.
 */
export async function deleteRemovable(db: Db, opts: { olderThan: Date; ids?: string[]; limit: number }): Promise<string[]> {
  return db.transaction().execute(async (tx) => {
    let candidates = tx
      .selectFrom('files as f')
      .select('f.id')
      .where((eb) => eb.or([eb('f.deleted_at', 'is not', null), eb('f.created_at', '<', opts.olderThan)]))
      .where(sql<boolean>`NOT ${usedBySendableRequest(sql.ref('f.id'))}`)
      .orderBy('f.created_at')
      .limit(opts.limit)
      .forUpdate()
      .skipLocked();
    if (opts.ids) candidates = candidates.where('f.id', 'in', opts.ids);
    const locked = (await candidates.execute()).map((r) => r.id);
    if (locked.length === 0) return [];
    const deleted = await tx
      .deleteFrom('files as f')
      .where('f.id', 'in', locked)
      .where(sql<boolean>`NOT ${usedBySendableRequest(sql.ref('f.id'))}`)
      .returning('f.id')
      .execute();
    return deleted.map((r) => r.id);
  });
}

/** Which of these ids have a row (to tell orphaned bytes on disk from live files). */
export async function existingIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('files').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}

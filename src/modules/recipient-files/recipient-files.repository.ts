import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import type { FileRecipient } from './recipient-rows.ts';

export async function insertRecipientFile(tx: Tx, row: { id: string; project_id: string; file_name: string; tags: string[]; created_at: Date }): Promise<void> {
  await tx
    .insertInto('recipient_files')
    .values({ ...row, row_count: 0, valid_count: 0 })
    .execute();
}

export async function setCounts(tx: Tx, id: string, rowCount: number, validCount: number): Promise<void> {
  await tx.updateTable('recipient_files').set({ row_count: rowCount, valid_count: validCount }).where('id', '=', id).execute();
}

/** Valid rows, `pos` firstPos, firstPos + 1, ...: one statement for the whole batch (arrays through unnest). */
export async function insertRows(tx: Tx, fileId: string, firstPos: number, rows: FileRecipient[]): Promise<void> {
  if (rows.length === 0) return;
  const pos = rows.map((_, i) => firstPos + i);
  await sql`
    INSERT INTO recipient_file_rows (file_id, pos, row_no, address, name, parameters)
    SELECT ${fileId}, u.pos, u.row_no, u.address, u.name, u.params::jsonb
    FROM unnest(${pos}::int[], ${rows.map((r) => r.row)}::int[], ${rows.map((r) => r.address)}::text[],
                ${rows.map((r) => r.name)}::text[], ${rows.map((r) => (r.parameters ? JSON.stringify(r.parameters) : null))}::text[])
      AS u(pos, row_no, address, name, params)
  `.execute(tx);
}

export async function countFiles(db: Db | Tx, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('recipient_files')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findFile(db: Db | Tx, projectId: string, id: string) {
  return db.selectFrom('recipient_files').select(['id', 'valid_count']).where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
}

/**
 * Marks the project's file used by a request. The row lock it takes orders it with a clean-up
 * deleting the file: either the file is gone (undefined) or the clean-up sees the request.
 */
export async function markUsed(tx: Tx, projectId: string, id: string, at: Date): Promise<{ valid_count: number } | undefined> {
  return tx
    .updateTable('recipient_files')
    .set({ used_at: at })
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .returning('valid_count')
    .executeTakeFirst();
}

const usedByPreparingRequest = sql<boolean>`EXISTS (
  SELECT 1 FROM mail_requests r WHERE r.recipient_file_id = f.id AND r.status = 'P'
)`;

/**
 * Deletes up to `limit` files last used (or uploaded) before `olderThan` that no request is still
 * storing (P), with their rows; returns how many. Candidates are locked, then the use is checked
 * again in the deleting statement, which sees every request committed before the lock.
 */
export async function deleteUnused(db: Db, olderThan: Date, limit: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const locked = await tx
      .selectFrom('recipient_files as f')
      .select('f.id')
      .where(sql<Date>`coalesce(f.used_at, f.created_at)`, '<', olderThan)
      .where(sql<boolean>`NOT ${usedByPreparingRequest}`)
      .orderBy(sql`coalesce(f.used_at, f.created_at)`)
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (locked.length === 0) return 0;
    const res = await tx
      .deleteFrom('recipient_files as f')
      .where(
        'f.id',
        'in',
        locked.map((r) => r.id),
      )
      .where(sql<boolean>`NOT ${usedByPreparingRequest}`)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  });
}

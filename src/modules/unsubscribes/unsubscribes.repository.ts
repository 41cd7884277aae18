import { type RawBuilder, sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

/** Adds the addresses not yet on the project's list; returns how many were added. */
export async function insertUnsubscribers(db: Db | Tx, projectId: string, addresses: string[], regByManager: boolean, at: Date): Promise<number> {
  if (addresses.length === 0) return 0;
  const res = await sql<{ id: string }>`
    INSERT INTO unsubscribers (project_id, address, reg_by_manager, created_at)
    SELECT ${projectId}, a, ${regByManager}, ${at} FROM unnest(${addresses}::text[]) AS a
    ON CONFLICT (project_id, lower(address)) DO NOTHING
    RETURNING id
  `.execute(db);
  return res.rows.length;
}

/**
 * `lower(address)` of these addresses, as the list's unique index (project_id, lower(address))
 * keys them: lower-cased by PostgreSQL, whose lower() JavaScript's toLowerCase() does not match on
 * every character (U+0130), so callers pass addresses as written.
 */
const loweredKeys = (addresses: string[]) => sql`ARRAY(SELECT lower(a) FROM unnest(${addresses}::text[]) AS a)`;

/** Removes the addresses (case-insensitive); returns the lower-case addresses removed. */
export async function deleteUnsubscribers(db: Db | Tx, projectId: string, addresses: string[]): Promise<string[]> {
  if (addresses.length === 0) return [];
  const res = await sql<{ key: string }>`
    DELETE FROM unsubscribers WHERE project_id = ${projectId} AND lower(address) = ANY(${loweredKeys(addresses)})
    RETURNING lower(address) AS key
  `.execute(db);
  return res.rows.map((r) => r.key);
}

/**
 * Of these (project, address) pairs, those on their project's list, as `project_id \n address`
 * keys (the address as given): compared by PostgreSQL's lower() on both sides, as the list's
 * unique index (project_id, lower(address)) is, one probe of it each.
 */
export function unsubscribedPairsQuery(projectIds: string[], addresses: string[]): RawBuilder<{ key: string }> {
  return sql<{ key: string }>`
    SELECT q.project_id || E'\n' || q.address AS key
    FROM unnest(${projectIds}::bigint[], ${addresses}::text[]) AS q(project_id, address)
    WHERE EXISTS (SELECT 1 FROM unsubscribers u WHERE u.project_id = q.project_id AND lower(u.address) = lower(q.address))`;
}

export async function findUnsubscriber(db: Db | Tx, projectId: string, address: string) {
  const res = await sql<{ created_at: Date; reg_by_manager: boolean }>`
    SELECT created_at, reg_by_manager FROM unsubscribers WHERE project_id = ${projectId} AND lower(address) = lower(${address})
  `.execute(db);
  return res.rows[0];
}

export interface UnsubscriberFilter {
  projectId: string;
  start?: Date;
  end?: Date;
  /** part of the address, case-insensitive */
  emailAddress?: string;
  isRegByManager?: boolean;
}

export interface UnsubscriberSort {
  column: 'created_at' | 'reg_by_manager';
  direction: 'asc' | 'desc';
}

function filtered(db: Db, f: UnsubscriberFilter) {
  let q = db.selectFrom('unsubscribers').where('project_id', '=', f.projectId);
  if (f.start) q = q.where('created_at', '>=', f.start);
  if (f.end) q = q.where('created_at', '<=', f.end);
  if (f.isRegByManager !== undefined) q = q.where('reg_by_manager', '=', f.isRegByManager);
  if (f.emailAddress) {
    const pattern = '%' + f.emailAddress.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
    q = q.where(sql<boolean>`lower(address) LIKE lower(${pattern})`);
  }
  return q;
}

export async function listUnsubscribers(db: Db, f: UnsubscriberFilter, sort: UnsubscriberSort[], limit: number, offset: number) {
  let q = filtered(db, f).select(['address', 'created_at', 'reg_by_manager']);
  for (const s of sort) q = q.orderBy(s.column, s.direction);
  return q.orderBy('id', 'desc').limit(limit).offset(offset).execute();
}

export async function countUnsubscribers(db: Db, f: UnsubscriberFilter): Promise<number> {
  const row = await filtered(db, f)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The recipient used its own link: its row shows it (the first date is kept on a repeat; a purged row is no more). */
export async function markRecipientUnsubscribed(db: Db | Tx, projectId: string, recipientId: string, at: Date): Promise<boolean> {
  const r = await db
    .updateTable('recipients')
    .set({ unsubscribed: true, unsubscribed_at: at })
    .where('id', '=', recipientId)
    .where('project_id', '=', projectId)
    .where('unsubscribed', '=', false)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** The address is subscribed again: every recipient row of it in the project that showed "unsubscribed" shows it no more. */
export async function clearRecipientsUnsubscribed(db: Db | Tx, projectId: string, addresses: string[], at: Date): Promise<void> {
  if (addresses.length === 0) return;
  await sql`
    UPDATE recipients SET unsubscribed = false, unsubscribed_at = ${at}
    WHERE project_id = ${projectId} AND lower(address) = ANY(${loweredKeys(addresses)}) AND unsubscribed
  `.execute(db);
}

import { type RawBuilder, sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

/** The lower-case addresses among `keys` blocked at `now`, as `key` (expired entries don't count). */
export function activeBlocksQuery(keys: string[], now: Date): RawBuilder<{ key: string }> {
  return sql<{ key: string }>`SELECT address_key AS key FROM send_blocks WHERE address_key = ANY(${keys}::text[]) AND blocked_until > ${now}`;
}

export interface NewBlock {
  key: string;
  address: string;
  projectId: string;
  resultCode: string;
  resultMessage: string | null;
}

/**
 * Blocks addresses until `until`, each with a `C` history row. An address already blocked stays
 * as it is (no second row); callers expire lapsed entries first.
 */
export async function insertBlocks(db: Db | Tx, blocks: NewBlock[], until: Date, now: Date): Promise<number> {
  if (blocks.length === 0) return 0;
  const res = await sql<{ n: string }>`
    WITH input AS (
      SELECT DISTINCT ON (key) key, address, project_id, code, message
      FROM unnest(${blocks.map((b) => b.key)}::text[], ${blocks.map((b) => b.address)}::text[], ${blocks.map((b) => b.projectId)}::bigint[],
                  ${blocks.map((b) => b.resultCode)}::text[], ${blocks.map((b) => b.resultMessage)}::text[])
        AS u(key, address, project_id, code, message)
      ORDER BY key
    ), ins AS (
      INSERT INTO send_blocks (address_key, address, project_id, blocked_until, created_at)
      SELECT key, address, project_id, ${until}, ${now} FROM input
      ON CONFLICT (address_key) DO NOTHING
      RETURNING address_key
    ), hist AS (
      INSERT INTO send_block_history (address_key, address, action, requester_type, project_id, send_result_code, send_result_message, created_at)
      SELECT i.key, i.address, 'C', 'CUSTOMER', i.project_id, i.code, i.message, ${now}
      FROM input i JOIN ins ON ins.address_key = i.key
      RETURNING 1
    )
    SELECT count(*) AS n FROM hist
  `.execute(db);
  return Number(res.rows[0]?.n ?? 0);
}

/**
 * Removes entries whose time is up (all of them, or those of `keys`), each with a `D` / SYSTEM
 * history row dated when it ran out. Entries another caller is removing are skipped, not waited for.
 */
export async function expireBlocks(db: Db | Tx, now: Date, opts: { keys?: string[]; limit?: number } = {}): Promise<number> {
  const byKey = opts.keys ? sql`AND address_key = ANY(${opts.keys}::text[])` : sql``;
  const res = await sql<{ n: string }>`
    WITH gone AS (
      DELETE FROM send_blocks WHERE address_key IN (
        SELECT address_key FROM send_blocks WHERE blocked_until <= ${now} ${byKey}
        ORDER BY blocked_until LIMIT ${opts.limit ?? 10_000} FOR UPDATE SKIP LOCKED
      )
      RETURNING address_key, address, blocked_until
    ), hist AS (
      INSERT INTO send_block_history (address_key, address, action, requester_type, created_at)
      SELECT address_key, address, 'D', 'SYSTEM', blocked_until FROM gone
      RETURNING 1
    )
    SELECT count(*) AS n FROM hist
  `.execute(db);
  return Number(res.rows[0]?.n ?? 0);
}

export async function findBlock(db: Db | Tx, key: string) {
  return db.selectFrom('send_blocks').select(['address', 'blocked_until']).where('address_key', '=', key).executeTakeFirst();
}

export async function listHistory(db: Db, key: string, direction: 'asc' | 'desc', limit: number, offset: number) {
  return db
    .selectFrom('send_block_history')
    .select(['sid', 'address', 'action', 'requester_type', 'project_id', 'send_result_code', 'send_result_message', 'created_at'])
    .where('address_key', '=', key)
    .orderBy('created_at', direction)
    .orderBy('sid', direction)
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countHistory(db: Db, key: string): Promise<number> {
  const row = await db
    .selectFrom('send_block_history')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('address_key', '=', key)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findConfig(db: Db | Tx, projectId: string, type: string) {
  return db.selectFrom('project_config').select(['type', 'value', 'unit']).where('project_id', '=', projectId).where('type', '=', type).executeTakeFirst();
}

export async function upsertConfig(db: Db | Tx, row: { type: string; value: string; unit: string; projectId: string }, at: Date): Promise<void> {
  await db
    .insertInto('project_config')
    .values({ project_id: row.projectId, type: row.type, value: row.value, unit: row.unit, updated_at: at })
    .onConflict((oc) => oc.columns(['project_id', 'type']).doUpdateSet({ value: row.value, unit: row.unit, updated_at: at }))
    .execute();
}

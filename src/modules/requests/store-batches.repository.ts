import { sql, type RawBuilder } from 'kysely';
import type { Tx } from '../../db/schema.ts';

/**
 * The set-based writes of the store-recipients job (store-in-parts.ts) for recipients that
 * come from a query: address-book groups and recipient files. Each batch is one
 * `INSERT INTO mails … SELECT` and one `INSERT INTO recipients … SELECT` over the rows the source
 * module's read model selects, so nothing passes through the process row by row.
 */

/** Where the mails of a batch go: what insertMailsAndRecipients and the INSERT … SELECT variants here write. */
export interface MailTarget {
  requestId: string;
  projectId: string;
  idDay: number;
  /** null: waits for confirmation */
  nextAttemptAt: Date | null;
  createdAt: Date;
}

/** Selected addresses (`id, address`, in id order) become mails seq from+1… and their recipients. */
export async function insertSelectedAddresses(
  tx: Tx,
  target: MailTarget,
  from: number,
  selected: RawBuilder<{ id: string; address: string }>,
): Promise<{ stored: number; lastId: string | null }> {
  const res = await sql<{ stored: number; last_id: string | null }>`
    WITH src AS MATERIALIZED (
      SELECT c.id, c.address, (${from}::int + row_number() OVER (ORDER BY c.id))::int AS seq
      FROM (${selected}) c
    ),
    m AS (
      INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
      SELECT nextval('mail_id_seq'), ${target.idDay}, ${target.requestId}, ${target.projectId}, src.seq, 1, src.address, ${target.nextAttemptAt}, ${target.createdAt}
      FROM src
      RETURNING id, representative_address
    ),
    r AS (
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
      SELECT m.id, ${target.requestId}, ${target.projectId}, m.representative_address, NULL, 'R', NULL, ${target.createdAt} FROM m
    )
    SELECT count(*)::int AS stored, max(id)::text AS last_id FROM src
  `.execute(tx);
  const row = res.rows[0]!;
  return { stored: row.stored, lastId: row.last_id };
}

/** File rows (`pos, address, name, parameters`) become mails seq = pos with one recipient each; returns how many were copied. */
export async function copyFileRows(
  tx: Tx,
  target: MailTarget,
  rows: RawBuilder<{ pos: number; address: string; name: string | null; parameters: unknown }>,
): Promise<number> {
  const res = await sql<{ copied: number }>`
    WITH src AS MATERIALIZED (${rows}),
    m AS (
      INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
      SELECT nextval('mail_id_seq'), ${target.idDay}, ${target.requestId}, ${target.projectId}, src.pos, 1, src.address, ${target.nextAttemptAt}, ${target.createdAt}
      FROM src ORDER BY src.pos
      RETURNING id, seq
    ),
    r AS (
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
      SELECT m.id, ${target.requestId}, ${target.projectId}, src.address, src.name, 'R', src.parameters, ${target.createdAt}
      FROM src JOIN m ON m.seq = src.pos
      RETURNING 1
    )
    SELECT count(*)::int AS copied FROM r
  `.execute(tx);
  return res.rows[0]?.copied ?? 0;
}

/** A group-filtered request's counts become what was actually stored. */
export async function settleRecipientCounts(tx: Tx, requestId: string, storedCount: number): Promise<void> {
  await tx.updateTable('mail_requests').set({ request_count: storedCount, recipient_count: storedCount }).where('id', '=', requestId).execute();
}

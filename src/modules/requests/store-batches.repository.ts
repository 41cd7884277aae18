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

/**
 * A batch's ids, drawn while `src` is materialised: the statement's main query reads all of `src`
 * before the INSERTs in its WITH run, so the sequences are called in one short burst, in the
 * batch's order, before any row is inserted. (PostgreSQL's documentation leaves the order of a
 * WITH's sub-statements open; its executor runs a data-modifying WITH that nothing reads after
 * the main query, on 15 and 18, and test/integration/group-filter.test.ts fails if that changes.
 * Only where the ids fall depends on it: mails and recipients come from the same rows either way.)
 * Drawn during the inserts (the mails' by nextval in the INSERT's SELECT, the recipients' by the
 * column default), the ids of two parts stored at once alternated for the whole of every batch:
 * every primary key and (…, created_at, id) index then took both backends' entries on the same
 * last leaf page, and the two backends waited on each other for its lock and for the sequences'
 * own pages. Now they alternate only while two batches draw at the same moment, and the rest go in
 * blocks (one run of `bench:group-filter` on one server: 4 % of the AND's mails and 6 % of the
 * file's sat between the other part's, 24 % of the OR's, whose parts' batches kept in step).
 */
const NEW_IDS = sql`nextval('mail_id_seq') AS mail_id, nextval('recipient_ids') AS recipient_id`;

/** The batch's mails from `src` (with NEW_IDS); `seqAndAddress`: the mail's seq and representative address. */
function insertMails(target: MailTarget, seqAndAddress: RawBuilder<unknown>) {
  return sql`
      INSERT INTO mails (id, id_day, request_id, project_id, seq, representative_address, recipient_count, next_attempt_at, created_at)
      SELECT src.mail_id, ${target.idDay}, ${target.requestId}, ${target.projectId}, ${seqAndAddress}, 1, ${target.nextAttemptAt}, ${target.createdAt}
      FROM src`;
}

/** Each mail's one recipient from `src` (with NEW_IDS); `addressNameParameters`: its address, name and parameters. */
function insertRecipients(target: MailTarget, addressNameParameters: RawBuilder<unknown>) {
  return sql`
      INSERT INTO recipients (id, mail_id, request_id, project_id, address, name, parameters, type, created_at)
      SELECT src.recipient_id, src.mail_id, ${target.requestId}, ${target.projectId}, ${addressNameParameters}, 'R', ${target.createdAt}
      FROM src`;
}

/**
 * Selected addresses (`id, address`, in id order) become mails seq from+1… and their recipients.
 * `alsoRead`, an expression evaluated in the same statement (so on the same snapshot as the
 * selection), comes back as `also`.
 */
export async function insertSelectedAddresses(
  tx: Tx,
  target: MailTarget,
  from: number,
  selected: RawBuilder<{ id: string; address: string }>,
  alsoRead: RawBuilder<string | null> | null = null,
): Promise<{ stored: number; lastId: string | null; also: string | null }> {
  const res = await sql<{ stored: number; last_id: string | null; also: string | null }>`
    WITH src AS MATERIALIZED (
      SELECT c.id, c.address, (${from}::int + row_number() OVER (ORDER BY c.id))::int AS seq, ${NEW_IDS}
      FROM (${selected}) c
    ),
    m AS (${insertMails(target, sql`src.seq, src.address`)}),
    r AS (${insertRecipients(target, sql`src.address, NULL, NULL`)})
    SELECT count(*)::int AS stored, max(id)::text AS last_id, ${alsoRead ?? sql`NULL`}::text AS also FROM src
  `.execute(tx);
  const row = res.rows[0]!;
  return { stored: row.stored, lastId: row.last_id, also: row.also };
}

/** File rows (`pos, address, name, parameters`) become mails seq = pos with one recipient each; returns how many were copied. */
export async function copyFileRows(
  tx: Tx,
  target: MailTarget,
  rows: RawBuilder<{ pos: number; address: string; name: string | null; parameters: unknown }>,
): Promise<number> {
  const res = await sql<{ copied: number }>`
    WITH src AS MATERIALIZED (SELECT f.pos, f.address, f.name, f.parameters, ${NEW_IDS} FROM (${rows}) f ORDER BY f.pos),
    m AS (${insertMails(target, sql`src.pos, src.address`)}),
    r AS (${insertRecipients(target, sql`src.address, src.name, src.parameters`)})
    SELECT count(*)::int AS copied FROM src
  `.execute(tx);
  return res.rows[0]?.copied ?? 0;
}

/** A group-filtered request's counts become what was actually stored. */
export async function settleRecipientCounts(tx: Tx, requestId: string, storedCount: number): Promise<void> {
  await tx.updateTable('mail_requests').set({ request_count: storedCount, recipient_count: storedCount }).where('id', '=', requestId).execute();
}

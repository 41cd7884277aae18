import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

/**
 * The monthly partitions of mails and recipients (migrations/20261205120000_partition_history.ts):
 * one a calendar month (UTC) of created_at, named mails_pYYYYMM and recipients_pYYYYMM, with a
 * DEFAULT partition for rows whose month has none.
 */

/** Months made ahead of the current one, so a request is never stored in the default partition. */
export const MONTHS_AHEAD = 2;

/** Makes the current month's partitions and the next MONTHS_AHEAD months' where missing; returns how many tables it made. */
export async function ensureHistoryPartitions(db: Db, now: Date): Promise<number> {
  const res = await db.transaction().execute(async (tx) => {
    // Attaching a month locks the default partition whole: never queue behind a long reader of it.
    await sql`SET LOCAL lock_timeout = '5s'`.execute(tx);
    return sql<{ made: number }>`
      SELECT ensure_history_partitions(${now}::timestamptz, ${now}::timestamptz + make_interval(months => ${MONTHS_AHEAD})) AS made
    `.execute(tx);
  });
  return res.rows[0]?.made ?? 0;
}

/** The partitions that hold the mails and recipients of a request created at `createdAt` (when that month has them). */
export function historyTablesOf(createdAt: Date): { mails: string; recipients: string } {
  const month = `${createdAt.getUTCFullYear()}${String(createdAt.getUTCMonth() + 1).padStart(2, '0')}`;
  return { mails: `mails_p${month}`, recipients: `recipients_p${month}` };
}

export interface HistoryMonth {
  /** the month's first instant (UTC) */
  from: Date;
  /** the next month's first instant */
  to: Date;
  mails: string;
  recipients: string;
}

/** The months that have partitions, oldest first (a month whose mails partition exists has its recipients one too). */
export async function historyMonths(db: Db | Tx): Promise<HistoryMonth[]> {
  const res = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'mails'::regclass AND c.relname ~ '^mails_p[0-9]{6}$'
    ORDER BY c.relname
  `.execute(db);
  return res.rows.map(({ name }) => {
    const year = Number(name.slice(7, 11));
    const month = Number(name.slice(11, 13)) - 1;
    const from = new Date(Date.UTC(year, month, 1));
    return { from, to: new Date(Date.UTC(year, month + 1, 1)), ...historyTablesOf(from) };
  });
}

/**
 * Why a month can't be dropped yet: a request created in it that is not finished (P, R or I: it
 * may still be stored or sent; a confirm-and-send one still R past `unconfirmedBefore` can never
 * be sent and counts as finished), or a mail of it still pending. Null: nothing holds it.
 */
export async function monthHeldBy(db: Db | Tx, month: HistoryMonth, unconfirmedBefore: Date): Promise<string | null> {
  const res = await sql<{ id: string }>`
    -- one arm per partial index (mail_requests_sending, mail_requests_reserved): few rows each,
    -- where one condition on all three statuses would read every request
    (SELECT id FROM mail_requests WHERE status IN ('P', 'I') AND created_at >= ${month.from} AND created_at < ${month.to} LIMIT 1)
    UNION ALL
    (SELECT id FROM mail_requests
     WHERE status = 'R' AND created_at >= ${month.from} AND created_at < ${month.to}
       AND NOT (confirm_and_send AND created_at < ${unconfirmedBefore})
     LIMIT 1)
    UNION ALL
    (SELECT request_id FROM ${sql.table(month.mails)} WHERE status IN ('R', 'I') LIMIT 1)
    LIMIT 1
  `.execute(db);
  return res.rows[0] ? String(res.rows[0].id) : null;
}

/** The rows of a month's partitions, for the log and the purge's totals (reads the month once, before its lock is taken). */
export async function countHistoryMonth(db: Db, month: HistoryMonth): Promise<{ mails: number; recipients: number }> {
  const res = await sql<{ mails: string; recipients: string }>`
    SELECT (SELECT count(*) FROM ${sql.table(month.mails)}) AS mails, (SELECT count(*) FROM ${sql.table(month.recipients)}) AS recipients
  `.execute(db);
  return { mails: Number(res.rows[0]!.mails), recipients: Number(res.rows[0]!.recipients) };
}

/**
 * Drops a month's partitions of mails and recipients, with their rows: what deleting them row by
 * row would take hours and leave bloat behind takes a moment. Both tables are locked first
 * (ACCESS EXCLUSIVE: a partition can't be dropped under a statement reading its table), in the
 * order delivery's statements lock them (mails, then recipients), and the month is checked again
 * under the lock: false when something holds it after all. The caller sets a lock_timeout; every
 * statement on the two tables waits behind the lock meanwhile. The month's requests (one row each
 * in mail_requests) are deleted after (deleteMonthRequests).
 */
export async function dropHistoryMonth(tx: Tx, month: HistoryMonth, unconfirmedBefore: Date): Promise<boolean> {
  await sql`LOCK TABLE mails, recipients IN ACCESS EXCLUSIVE MODE`.execute(tx);
  if (await monthHeldBy(tx, month, unconfirmedBefore)) return false;
  await sql`DROP TABLE ${sql.table(month.mails)}, ${sql.table(month.recipients)}`.execute(tx);
  return true;
}

/**
 * Deletes up to `limit` finished requests created in a dropped month (their mails and recipients
 * are gone with it; payloads and request files follow by ON DELETE CASCADE), skipping rows someone
 * holds. Returns how many it deleted. A confirm-and-send request never confirmed (R) is left to
 * the row-wise purge.
 */
export async function deleteMonthRequests(db: Db, month: HistoryMonth, limit: number): Promise<number> {
  const res = await sql`
    DELETE FROM mail_requests WHERE id IN (
      SELECT id FROM mail_requests
      WHERE status IN ('S', 'F', 'PF', 'U', 'C') AND created_at >= ${month.from} AND created_at < ${month.to}
      ORDER BY created_at, id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
  `.execute(db);
  return Number(res.numAffectedRows ?? 0n);
}

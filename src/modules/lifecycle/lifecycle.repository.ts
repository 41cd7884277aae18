import { sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import { type HistoryRange, inHistoryRange } from '../../db/history-range.ts';
import type { Db, Tx } from '../../db/schema.ts';
import type { FinalStatus, RequestStatus } from '../../shared/statuses.ts';
import { webhookOutboxInsert } from '../webhooks/webhooks.service.ts';

// Every write of mail_requests.status (and of the times that go with it: started, cancelled,
// finished). Other modules change a request's state through lifecycle.service.ts.

export async function setStatus(tx: Tx, requestId: string, from: RequestStatus, to: RequestStatus): Promise<boolean> {
  const res = await tx.updateTable('mail_requests').set({ status: to }).where('id', '=', requestId).where('status', '=', from).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Sending began at `at` (kept when already set: a request starts once). */
export async function markStarted(tx: Tx, requestId: string, at: Date, sentNow = false): Promise<void> {
  await tx
    .updateTable('mail_requests')
    .set((eb) => ({ started_at: eb.fn.coalesce('started_at', sql<Date>`${at}::timestamptz`), ...(sentNow ? { sent_now: true } : {}) }))
    .where('id', '=', requestId)
    .execute();
}

export async function markCancelled(tx: Tx, requestId: string, at: Date): Promise<void> {
  await tx.updateTable('mail_requests').set({ status: 'C', canceled_at: at }).where('id', '=', requestId).execute();
}

export async function markFinished(db: Db | Tx, requestId: string, at: Date): Promise<void> {
  // A cancelled request, or one that stored nothing, finishes here: request.finished with it.
  await sql`
    WITH finished AS (
      UPDATE mail_requests SET finished_at = ${at} WHERE id = ${requestId} AND finished_at IS NULL RETURNING id, project_id
    )
    ${webhookOutboxInsert(sql`SELECT project_id, 'request.finished' AS event_type, id AS subject_id FROM finished`)}
  `.execute(db);
}

/** A reserved request whose time has come starts sending (R -> I), once, whichever worker gets there. */
export async function startReservedRequest(db: Db, requestId: string): Promise<boolean> {
  const res = await db
    .updateTable('mail_requests')
    // Its elapsed time counts from the reservation, not from when a worker got to it.
    .set({ status: 'I', started_at: sql<Date>`reservation_at` })
    .where('id', '=', requestId)
    .where('status', '=', 'R')
    .where('confirm_and_send', '=', false)
    .where('reservation_at', '<=', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * Starts reservations whose time passed `graceMs` ago and that are still R: their job was lost
 * (or queued by a version that had none). Confirm-and-send requests have no reservation and stay.
 */
export async function startOverdueReservations(db: Db, graceMs: number, limit: number): Promise<number> {
  const res = await sql`
    UPDATE mail_requests SET status = 'I', started_at = COALESCE(started_at, reservation_at)
    WHERE id IN (
      SELECT id FROM mail_requests
      WHERE status = 'R' AND NOT confirm_and_send AND reservation_at < now() - make_interval(secs => ${graceMs / 1000})
      LIMIT ${limit}
    ) AND status = 'R'
  `.execute(db);
  return Number(res.numAffectedRows ?? 0n);
}

/** The channel the mails_due_notify trigger (migration 20261203000000) notifies on every insert of mails. */
export const DUE_CHANNEL = 'mails_due';

/** Wakes the claim loops of every worker process (at the commit, when `db` is a transaction). */
export async function notifyDue(db: Db | Tx): Promise<void> {
  await sql`${sql.raw(PREPARED)}SELECT pg_notify(${DUE_CHANNEL}, '')`.execute(db);
}

/**
 * Mail counts by status of those of these requests that are sending (I) and have no mail left
 * ready or sending: the roll-up's input in one statement (a probe of the pending index each).
 */
export async function statusCountsOfDone(db: Db | Tx, requestIds: string[], months?: HistoryRange): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (!requestIds.length) return out;
  // The requests that are done first (MATERIALIZED), then only their mails counted: a request
  // still sending must not have its mails counted on every batch.
  const res = await sql<{ request_id: string; status: string; n: number }>`${sql.raw(PREPARED)}
    WITH done AS MATERIALIZED (
      SELECT r.id FROM mail_requests r
      WHERE r.id = ANY(${requestIds}::bigint[]) AND r.status = 'I'
        AND NOT EXISTS (SELECT 1 FROM mails p WHERE p.request_id = r.id AND p.status IN ('R', 'I') AND ${inHistoryRange('p.created_at', months)}))
    SELECT m.request_id, m.status, count(*)::int AS n FROM done JOIN mails m ON m.request_id = done.id AND ${inHistoryRange('m.created_at', months)}
    GROUP BY m.request_id, m.status
  `.execute(db);
  for (const r of res.rows) {
    const counts = out.get(String(r.request_id)) ?? {};
    counts[r.status] = r.n;
    out.set(String(r.request_id), counts);
  }
  return out;
}

/** Requests still I with no mail left to send (a roll-up lost to an error or a kill), oldest first. */
export async function sendingWithoutPending(db: Db, limit: number): Promise<string[]> {
  const res = await sql<{ id: string }>`
    SELECT r.id FROM mail_requests r
    WHERE r.status = 'I' AND r.created_at < now() - interval '1 minute'
      AND NOT EXISTS (SELECT 1 FROM mails m WHERE m.request_id = r.id AND m.status IN ('R', 'I'))
    ORDER BY r.id LIMIT ${limit}
  `.execute(db);
  return res.rows.map((r) => String(r.id));
}

/** Sets each request's final status unless some mail of it is still pending (checked in the same statement). */
export async function finishRequests(db: Db, finished: { id: string; status: FinalStatus }[], months?: HistoryRange): Promise<void> {
  if (!finished.length) return;
  // request.finished is written by the same statement (nothing for a project without endpoints).
  await sql`${sql.raw(PREPARED)}
    WITH finished AS (
      UPDATE mail_requests r SET status = u.status, finished_at = now()
      FROM unnest(${finished.map((f) => f.id)}::bigint[], ${finished.map((f) => f.status)}::text[]) AS u(id, status)
      WHERE r.id = u.id AND r.status = 'I'
        AND NOT EXISTS (SELECT 1 FROM mails m WHERE m.request_id = u.id AND m.status IN ('R', 'I') AND ${inHistoryRange('m.created_at', months)})
      RETURNING r.id, r.project_id
    )
    ${webhookOutboxInsert(sql`SELECT project_id, 'request.finished' AS event_type, id AS subject_id FROM finished`)}
  `.execute(db);
}

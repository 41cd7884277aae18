import { sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import { type HistoryRange, inHistoryRange } from '../../db/history-range.ts';
import type { Db, Tx } from '../../db/schema.ts';
import type { RequestStatus } from '../../shared/statuses.ts';
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
 * Of these requests (`r`), those sending (I) with no mail left ready or sending: the roll-up's
 * first step, and doneAmong. The probe reads mails_claim backwards, from the request's last
 * mail: a request's mails are sent in (next_attempt_at, seq) order, so the index entries its sent
 * mails leave behind (two a mail: ready, then sending; dead until vacuumed, or until an index
 * scan that meets them marks them) lie at the front, and the mail still pending is at the back.
 * Left to itself PostgreSQL turns NOT EXISTS into an anti-join and reads every entry of the
 * request into a bitmap first: 3-14 ms a probe halfway through a 100,000-mail request, against
 * 0.01-0.04 ms this way (EXPLAIN ANALYZE during npm run bench:send). PostgreSQL drops ORDER BY
 * and LIMIT from an EXISTS; with an OFFSET (even 0) it keeps them. The worst case is as before:
 * the last probe of a finished request, or one whose only pending mail is at the front (given
 * back by a claim, or a dead worker's), reads every entry once, and marks those it finds dead.
 */
function sendingWithNonePending(requestIds: string[], months: HistoryRange | undefined) {
  return sql<boolean>`r.id = ANY(${requestIds}::bigint[]) AND r.status = 'I'
    AND NOT EXISTS (
      SELECT 1 FROM mails p WHERE p.request_id = r.id AND p.status IN ('R', 'I') AND ${inHistoryRange('p.created_at', months)}
      ORDER BY p.next_attempt_at DESC, p.seq DESC LIMIT 1 OFFSET 0)`;
}

/**
 * Each of these requests that is sending (I) and has no mail left ready or sending gets its
 * final status from its mails' (rollUpStatus, roll-up-status.ts, in SQL: the two are checked
 * against each other in test/integration/roll-up.test.ts), with request.finished in the outbox,
 * in one statement: the requests that are done first (MATERIALIZED, a probe of the pending index
 * each, so a request still sending has its mails counted on no batch), then their mails counted.
 *
 * The requests that are done are locked in id order (`locked`: its LockRows above its sort), as
 * the bounces lock them (feedback.repository.ts), and only rows it has locked are updated (a
 * row may be updated before the next is locked: the update holds it as strongly), so two
 * roll-ups, or a roll-up and a bounce batch, never wait on each other in a cycle. The counts
 * are the statement's snapshot: a late bounce that fails one of the mails and commits after that
 * snapshot was taken also rewrites the request's row (rollUpAfterFailure), so a request whose
 * row, once locked, is no longer the version counted (xmin) is left sending, not given a status
 * from counts that missed the failure; the bounce rolls it up again after its commit, and the
 * sweep would (as it would after anything else that rewrote the row meanwhile:
 * releaseIdempotencyKey on a day-old request).
 */
export async function finishDoneRequests(db: Db | Tx, requestIds: string[], months?: HistoryRange): Promise<void> {
  if (!requestIds.length) return;
  await sql`${sql.raw(PREPARED)}
    WITH done AS MATERIALIZED (
      SELECT r.id, r.xmin AS version FROM mail_requests r
      WHERE ${sendingWithNonePending(requestIds, months)}),
    locked AS MATERIALIZED (
      SELECT r.id, r.xmin AS version FROM mail_requests r
      WHERE r.id IN (SELECT id FROM done) AND r.status = 'I'
      ORDER BY r.id
      FOR NO KEY UPDATE),
    counted AS (
      SELECT m.request_id AS id, count(*) FILTER (WHERE m.status = 'S') AS s, count(*) FILTER (WHERE m.status = 'F') AS f,
        count(*) FILTER (WHERE m.status = 'PF') AS pf, count(*) FILTER (WHERE m.status = 'U') AS u,
        count(*) FILTER (WHERE m.status = 'C') AS c
      FROM done JOIN mails m ON m.request_id = done.id AND ${inHistoryRange('m.created_at', months)}
      GROUP BY m.request_id),
    rolled AS (
      SELECT counted.id, CASE WHEN pf > 0 OR (s > 0 AND f > 0) THEN 'PF' WHEN s > 0 THEN 'S' WHEN f > 0 THEN 'F'
        WHEN u > 0 THEN 'U' WHEN c > 0 THEN 'C' ELSE 'F' END AS status
      FROM counted JOIN done ON done.id = counted.id JOIN locked ON locked.id = done.id AND locked.version = done.version),
    finished AS (
      UPDATE mail_requests r SET status = rolled.status, finished_at = now()
      FROM rolled WHERE r.id = rolled.id AND r.status = 'I'
      RETURNING r.id, r.project_id
    )
    ${webhookOutboxInsert(sql`SELECT project_id, 'request.finished' AS event_type, id AS subject_id FROM finished`)}
  `.execute(db);
}

/**
 * Which of these requests are sending (I) with no mail left ready or sending: finishDoneRequests'
 * first step alone, a statement a fraction as dear to plan (it is planned at every call), for a
 * caller that expects most of them to have mails left.
 */
export async function doneAmong(db: Db | Tx, requestIds: string[], months?: HistoryRange): Promise<string[]> {
  if (!requestIds.length) return [];
  const res = await sql<{ id: string }>`${sql.raw(PREPARED)}
    SELECT r.id FROM mail_requests r
    WHERE ${sendingWithNonePending(requestIds, months)}
  `.execute(db);
  return res.rows.map((r) => String(r.id));
}

/**
 * Requests still I with no mail left to send (a roll-up lost to an error or a kill), oldest first.
 * The sweep's probe is left as NOT EXISTS (sendingWithNonePending's reads from the back): it runs
 * once a sweep over requests a minute old, not once a batch.
 */
export async function sendingWithoutPending(db: Db, limit: number): Promise<string[]> {
  const res = await sql<{ id: string }>`
    SELECT r.id FROM mail_requests r
    WHERE r.status = 'I' AND r.created_at < now() - interval '1 minute'
      AND NOT EXISTS (SELECT 1 FROM mails m WHERE m.request_id = r.id AND m.status IN ('R', 'I'))
    ORDER BY r.id LIMIT ${limit}
  `.execute(db);
  return res.rows.map((r) => String(r.id));
}

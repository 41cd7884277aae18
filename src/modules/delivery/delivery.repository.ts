import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import type { RecipientUpdate } from './apply-send-result.ts';

export async function loadRequestForDelivery(db: Db | Tx, requestId: string) {
  return db
    .selectFrom('mail_requests')
    .select(['id', 'project_id', 'sender_address', 'sender_name', 'individual', 'advertising', 'parameters', 'references_header', 'title', 'body', 'use_basic_unsubscribe_msg', 'unsubscribe_message'])
    .where('id', '=', requestId)
    .executeTakeFirst();
}

export async function requestStatus(db: Db | Tx, requestId: string): Promise<string | undefined> {
  const row = await db.selectFrom('mail_requests').select('status').where('id', '=', requestId).executeTakeFirst();
  return row?.status;
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

export interface ClaimedMail {
  id: string;
  seq: number;
}

/**
 * Claims due mails of a chunk under a lease and a token: mails ready (R) or waiting for a retry (I)
 * whose time has come and that no live worker holds, of a request that is still sending (a
 * cancelled one is never claimed again). SKIP LOCKED lets several workers share a chunk; the
 * lease lets a dead worker's mails be claimed again once it runs out.
 */
export async function claimMails(db: Db, requestId: string, fromSeq: number, toSeq: number, limit: number, leaseMs: number, token: string): Promise<ClaimedMail[]> {
  const res = await sql<ClaimedMail>`
    UPDATE mails SET status = 'I', lease_until = now() + make_interval(secs => ${leaseMs / 1000}), lease_token = ${token}, attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM mails
      WHERE request_id = ${requestId} AND seq BETWEEN ${fromSeq} AND ${toSeq}
        AND status IN ('R', 'I') AND next_attempt_at <= now()
        AND (lease_until IS NULL OR lease_until < now())
        AND EXISTS (SELECT 1 FROM mail_requests WHERE id = ${requestId} AND status IN ('P', 'I'))
      ORDER BY seq
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING id, seq
  `.execute(db);
  return res.rows;
}

/** Keeps a claim alive while its worker is still sending (a stalled relay can take minutes). */
export async function renewLeases(db: Db, token: string, leaseMs: number): Promise<void> {
  await sql`UPDATE mails SET lease_until = now() + make_interval(secs => ${leaseMs / 1000}) WHERE lease_token = ${token} AND status = 'I'`.execute(db);
}

export async function loadRecipients(db: Db, mailIds: string[]) {
  return db
    .selectFrom('recipients')
    .select(['id', 'mail_id', 'address', 'name', 'type', 'parameters', 'status', 'retry_count'])
    .where('mail_id', 'in', mailIds)
    .orderBy('id')
    .execute();
}

export interface MailResultRow {
  id: string;
  status: string;
  nextAttemptAt: Date | null;
  finishedAt: Date | null;
}

/**
 * Records a batch of attempts in one transaction, two statements whatever the batch size. Only
 * mails still held under `token` are written, and their recipients with them: a claim that was
 * lost (lease ran out, or the request was cancelled meanwhile) leaves what others decided alone.
 */
export async function recordResults(
  db: Db,
  token: string,
  mails: MailResultRow[],
  recipients: (RecipientUpdate & { mailId: string })[],
  /** more writes in the same transaction, given the mails still held */
  alsoInTx?: (tx: Tx, heldMailIds: Set<string>) => Promise<void>,
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const held = await sql<{ id: string }>`
      UPDATE mails m SET status = u.status, next_attempt_at = u.next_attempt_at, finished_at = u.finished_at,
        lease_until = NULL, lease_token = NULL
      FROM unnest(${mails.map((x) => x.id)}::bigint[], ${mails.map((x) => x.status)}::text[],
                  ${mails.map((x) => x.nextAttemptAt)}::timestamptz[], ${mails.map((x) => x.finishedAt)}::timestamptz[])
        AS u(id, status, next_attempt_at, finished_at)
      WHERE m.id = u.id AND m.lease_token = ${token}
      RETURNING m.id
    `.execute(tx);
    const heldIds = new Set(held.rows.map((r) => String(r.id)));
    if (alsoInTx && heldIds.size) await alsoInTx(tx, heldIds);
    const rows = recipients.filter((r) => heldIds.has(r.mailId));
    if (rows.length === 0) return;
    await sql`
      UPDATE recipients r SET status = u.status, result_code = u.code, result_message = u.message,
        retry_count = u.retry_count, received_at = u.received_at, finished_at = u.finished_at,
        temporary_result_code = coalesce(u.temporary_code, r.temporary_result_code)
      FROM unnest(${rows.map((x) => x.id)}::bigint[], ${rows.map((x) => x.status)}::text[],
                  ${rows.map((x) => x.resultCode)}::text[], ${rows.map((x) => x.resultMessage)}::text[],
                  ${rows.map((x) => x.retryCount)}::int[], ${rows.map((x) => x.receivedAt)}::timestamptz[],
                  ${rows.map((x) => x.finishedAt)}::timestamptz[], ${rows.map((x) => x.temporaryResultCode ?? null)}::text[])
        AS u(id, status, code, message, retry_count, received_at, finished_at, temporary_code)
      WHERE r.id = u.id
    `.execute(tx);
  });
}

/** The earliest retry still waiting in a chunk, to schedule the chunk's next run. */
export async function nextRetryAt(db: Db, requestId: string, fromSeq: number, toSeq: number): Promise<Date | null> {
  const row = await db
    .selectFrom('mails')
    // A mail another worker holds is due again only when that lease runs out.
    .select(sql<Date | null>`min(greatest(next_attempt_at, lease_until))`.as('at'))
    .where('request_id', '=', requestId)
    .where('seq', '>=', fromSeq)
    .where('seq', '<=', toSeq)
    .where('status', 'in', ['R', 'I'])
    .executeTakeFirst();
  return (row?.at as Date | null) ?? null;
}

/** Whether any mail of the request is still ready or sending (uses the mails_pending index). */
export async function hasPendingMails(db: Db | Tx, requestId: string): Promise<boolean> {
  const row = await db.selectFrom('mails').select('id').where('request_id', '=', requestId).where('status', 'in', ['R', 'I']).limit(1).executeTakeFirst();
  return row !== undefined;
}

export async function mailStatusCounts(db: Db | Tx, requestId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('mails')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('request_id', '=', requestId)
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Sets the final status unless some mail is still pending (checked in the same statement). */
export async function finishRequest(db: Db, requestId: string, status: string): Promise<boolean> {
  const res = await sql`
    UPDATE mail_requests SET status = ${status}, finished_at = now()
    WHERE id = ${requestId} AND status = 'I'
      AND NOT EXISTS (SELECT 1 FROM mails WHERE request_id = ${requestId} AND status IN ('R', 'I'))
  `.execute(db);
  return Number(res.numAffectedRows ?? 0n) > 0;
}

/**
 * Cancels up to `limit` pending mails of a request that no worker holds, with their pending
 * recipients (C / CANCELED_MAIL). Returns how many were cancelled and how many are still pending:
 * beyond the limit, or held by a worker (which records them as sent or failed; a dead worker's
 * claims expire and are cancelled on a later call).
 */
export async function cancelPendingMails(db: Db | Tx, requestId: string, limit: number): Promise<{ cancelled: number; remaining: number }> {
  const res = await sql<{ id: string }>`
    WITH picked AS (
      SELECT id FROM mails
      WHERE request_id = ${requestId} AND status IN ('R', 'I') AND (lease_until IS NULL OR lease_until < now())
      ORDER BY seq LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), m AS (
      UPDATE mails SET status = 'C', next_attempt_at = NULL, lease_until = NULL, lease_token = NULL, finished_at = now()
      WHERE id IN (SELECT id FROM picked)
      RETURNING id
    ), r AS (
      UPDATE recipients SET status = 'C', result_code = 'CANCELED_MAIL', result_message = NULL, finished_at = now()
      WHERE mail_id IN (SELECT id FROM m) AND status IN ('R', 'I')
    )
    SELECT id FROM m
  `.execute(db);
  const remaining = await db
    .selectFrom('mails')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('request_id', '=', requestId)
    .where('status', 'in', ['R', 'I'])
    .executeTakeFirstOrThrow();
  return { cancelled: res.rows.length, remaining: Number(remaining.n) };
}

export interface StuckChunk {
  request_id: string;
  chunk: number;
}

/**
 * Due mails of sending requests that nobody holds and whose time passed a while ago: their job
 * was lost (a worker killed before pg-boss noticed, a failed enqueue). The sweeper re-queues them.
 */
export async function findStuckChunks(db: Db, olderThanMs: number, chunkSize: number, limit: number): Promise<StuckChunk[]> {
  const res = await sql<StuckChunk>`
    SELECT DISTINCT m.request_id, (m.seq - 1) / ${chunkSize} AS chunk
    FROM mails m JOIN mail_requests r ON r.id = m.request_id
    WHERE m.status IN ('R', 'I') AND m.next_attempt_at < now() - make_interval(secs => ${olderThanMs / 1000})
      AND (m.lease_until IS NULL OR m.lease_until < now())
      -- R: a reservation whose time has passed (its job flips it to I); confirm-and-send mails
      -- have no attempt time and never match
      AND r.status IN ('P', 'R', 'I')
    LIMIT ${limit}
  `.execute(db);
  return res.rows.map((r) => ({ request_id: String(r.request_id), chunk: Number(r.chunk) }));
}

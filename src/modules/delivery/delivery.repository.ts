import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import type { RecipientUpdate } from './apply-send-result.ts';

export async function loadRequestForDelivery(db: Db | Tx, requestId: string) {
  return db
    .selectFrom('mail_requests')
    .select(['id', 'project_id', 'sender_address', 'sender_name', 'individual', 'advertising', 'parameters', 'references_header', 'title', 'body'])
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
    .set({ status: 'I' })
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
 * Claims due mails of a chunk with a lease: mails ready (R) or waiting for a retry (I) whose time
 * has come and that no live worker holds. SKIP LOCKED lets several workers share a chunk; the
 * lease lets a crashed worker's mails be claimed again once it runs out.
 */
export async function claimMails(db: Db, requestId: string, fromSeq: number, toSeq: number, limit: number, leaseMs: number): Promise<ClaimedMail[]> {
  const res = await sql<ClaimedMail>`
    UPDATE mails SET status = 'I', lease_until = now() + make_interval(secs => ${leaseMs / 1000}), attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM mails
      WHERE request_id = ${requestId} AND seq BETWEEN ${fromSeq} AND ${toSeq}
        AND status IN ('R', 'I') AND next_attempt_at <= now()
        AND (lease_until IS NULL OR lease_until < now())
      ORDER BY seq
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING id, seq
  `.execute(db);
  return res.rows;
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

/** Records a batch of attempts in one transaction: two statements, whatever the batch size. */
export async function recordResults(db: Db, mails: MailResultRow[], recipients: RecipientUpdate[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    if (recipients.length) {
      await sql`
        UPDATE recipients r SET status = u.status, result_code = u.code, result_message = u.message,
          retry_count = u.retry_count, received_at = u.received_at, finished_at = u.finished_at
        FROM unnest(${recipients.map((x) => x.id)}::bigint[], ${recipients.map((x) => x.status)}::text[],
                    ${recipients.map((x) => x.resultCode)}::text[], ${recipients.map((x) => x.resultMessage)}::text[],
                    ${recipients.map((x) => x.retryCount)}::int[], ${recipients.map((x) => x.receivedAt)}::timestamptz[],
                    ${recipients.map((x) => x.finishedAt)}::timestamptz[])
          AS u(id, status, code, message, retry_count, received_at, finished_at)
        WHERE r.id = u.id
      `.execute(tx);
    }
    if (mails.length) {
      await sql`
        UPDATE mails m SET status = u.status, next_attempt_at = u.next_attempt_at, finished_at = u.finished_at, lease_until = NULL
        FROM unnest(${mails.map((x) => x.id)}::bigint[], ${mails.map((x) => x.status)}::text[],
                    ${mails.map((x) => x.nextAttemptAt)}::timestamptz[], ${mails.map((x) => x.finishedAt)}::timestamptz[])
          AS u(id, status, next_attempt_at, finished_at)
        WHERE m.id = u.id
      `.execute(tx);
    }
  });
}

/** The earliest retry still waiting in a chunk, to schedule the chunk's next run. */
export async function nextRetryAt(db: Db, requestId: string, fromSeq: number, toSeq: number): Promise<Date | null> {
  const row = await db
    .selectFrom('mails')
    .select((eb) => eb.fn.min('next_attempt_at').as('at'))
    .where('request_id', '=', requestId)
    .where('seq', '>=', fromSeq)
    .where('seq', '<=', toSeq)
    .where('status', 'in', ['R', 'I'])
    .executeTakeFirst();
  return (row?.at as Date | null) ?? null;
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

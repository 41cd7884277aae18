import { sql } from 'kysely';
import { PREPARED } from '../../db/connect.ts';
import type { Tx } from '../../db/schema.ts';

/** A recipient a report may concern, as the rules need it. */
export interface FeedbackTarget {
  id: string;
  mail_id: string;
  project_id: string;
  request_id: string;
  address: string;
  status: string;
  bounce_type: 'H' | 'S' | null;
  /** the recorded bounce's status and message: a soft bounce repeating them is a duplicate */
  bounce_status: string | null;
  bounce_message: string | null;
  complaint_type: string | null;
}

/**
 * Locks the requests of these recipients, whatever their status, in id order: the first
 * statement of a batch of reports, before its recipients are locked. So a late failure's roll-up
 * (rollUpAfterFailure, later in the transaction) decides with a snapshot taken after any batch or
 * roll-up that held one of them committed, and every holder of a request and its recipients takes
 * them in the same order: the delivery's roll-up (id order, requests only), a cancel (the
 * request, then its pending recipients), another batch of reports. A request still storing (P)
 * is locked too: its mails are sent while it stores, and it may become I before the batch's
 * roll-up, which would then take it late, out of order.
 */
export async function lockRequestsOf(tx: Tx, recipientIds: string[]): Promise<void> {
  if (!recipientIds.length) return;
  await sql`${sql.raw(PREPARED)}
    SELECT q.id FROM mail_requests q
    WHERE q.id IN (SELECT request_id FROM recipients WHERE id = ANY(${recipientIds}::bigint[]))
    ORDER BY q.id
    FOR NO KEY UPDATE OF q
  `.execute(tx);
}

/**
 * The recipients named by VERP tokens, locked in id order (concurrent batches lock in one order,
 * so they wait for each other instead of deadlocking). Recipients purged by RETENTION_DAYS are absent.
 */

export async function lockTargets(tx: Tx, recipientIds: string[]): Promise<FeedbackTarget[]> {
  if (!recipientIds.length) return [];
  const res = await sql<FeedbackTarget>`${sql.raw(PREPARED)}
    SELECT r.id, r.mail_id, r.project_id, r.request_id, r.address, r.status, r.bounce_type, r.bounce_status, r.bounce_message, r.complaint_type
    FROM recipients r
    WHERE r.id = ANY(${recipientIds}::bigint[])
    ORDER BY r.id
    FOR UPDATE OF r
  `.execute(tx);
  return res.rows.map((r) => ({ ...r, id: String(r.id), mail_id: String(r.mail_id), project_id: String(r.project_id), request_id: String(r.request_id) }));
}

/** The new state of one recipient after a report: result_* when resultCode is set, bounce_* when bouncedAt is, complaint_* when complainedAt is. */
export interface FeedbackWrite {
  id: string;
  status: string;
  resultCode: string | null;
  resultMessage: string | null;
  bounceType: 'H' | 'S' | null;
  bounceStatus: string | null;
  bounceMessage: string | null;
  bouncedAt: Date | null;
  complaintType: string | null;
  complainedAt: Date | null;
}

/** One statement for the whole batch; what a write leaves unset keeps its value. */
export async function writeRecipients(tx: Tx, rows: FeedbackWrite[]): Promise<void> {
  if (!rows.length) return;
  await sql`${sql.raw(PREPARED)}
    UPDATE recipients r SET status = u.status,
      result_code = CASE WHEN u.result_code IS NULL THEN r.result_code ELSE u.result_code END,
      result_message = CASE WHEN u.result_code IS NULL THEN r.result_message ELSE u.result_message END,
      bounce_type = CASE WHEN u.bounced_at IS NULL THEN r.bounce_type ELSE u.bounce_type END,
      bounce_status = CASE WHEN u.bounced_at IS NULL THEN r.bounce_status ELSE u.bounce_status END,
      bounce_message = CASE WHEN u.bounced_at IS NULL THEN r.bounce_message ELSE u.bounce_message END,
      bounced_at = coalesce(u.bounced_at, r.bounced_at),
      complaint_type = CASE WHEN u.complained_at IS NULL THEN r.complaint_type ELSE u.complaint_type END,
      complained_at = coalesce(u.complained_at, r.complained_at)
    FROM unnest(${rows.map((x) => x.id)}::bigint[], ${rows.map((x) => x.status)}::text[], ${rows.map((x) => x.resultCode)}::text[],
                ${rows.map((x) => x.resultMessage)}::text[], ${rows.map((x) => x.bounceType)}::text[], ${rows.map((x) => x.bounceStatus)}::text[],
                ${rows.map((x) => x.bounceMessage)}::text[], ${rows.map((x) => x.bouncedAt)}::timestamptz[],
                ${rows.map((x) => x.complaintType)}::text[], ${rows.map((x) => x.complainedAt)}::timestamptz[])
      AS u(id, status, result_code, result_message, bounce_type, bounce_status, bounce_message, bounced_at, complaint_type, complained_at)
    WHERE r.id = u.id
  `.execute(tx);
}

/**
 * A finished mail one of whose sent recipients failed late is PF while another is still sent,
 * else F; its finished request likewise (the roll-up rules, given that one recipient is now F).
 * A request still sending (I) keeps its status here; its ids are returned, for the caller to roll
 * up after the commit (finishRequestsIfDone: its last mails may have been sent meanwhile).
 *
 * The caller locked the requests at the start of its transaction (lockRequestsOf): a batch that
 * failed another mail of the same request and had not committed yet was waited for, and this
 * statement (a new snapshot under READ COMMITTED) sees that mail's new status. Without the lock
 * the second batch's UPDATE would wait on the row, then decide with its old snapshot, in which
 * the first batch's mail is still sent: a request all of whose mails failed stayed PF. The row of
 * a request still sending is rewritten (status unchanged): the delivery's roll-up
 * (finishDoneRequests) either held the row first, and was waited for, or finds it rewritten since
 * its counts were taken, and leaves it to the roll-up after this commit. Without that a roll-up
 * counting while this failure commits gave S to a request with a failed mail.
 */
export async function rollUpAfterFailure(tx: Tx, mailIds: string[]): Promise<string[]> {
  if (!mailIds.length) return [];
  const res = await sql<{ id: string; status: string }>`${sql.raw(PREPARED)}
    WITH m AS (
      UPDATE mails m SET status = CASE WHEN EXISTS (SELECT 1 FROM recipients r WHERE r.mail_id = m.id AND r.status = 'S') THEN 'PF' ELSE 'F' END
      WHERE m.id = ANY(${mailIds}::bigint[]) AND m.status IN ('S', 'PF')
      RETURNING m.request_id
    )
    UPDATE mail_requests q SET status = CASE
        WHEN q.status = 'I' THEN 'I'
        WHEN EXISTS (SELECT 1 FROM mails x WHERE x.request_id = q.id AND x.status IN ('S', 'PF') AND NOT x.id = ANY(${mailIds}::bigint[])) THEN 'PF'
        WHEN EXISTS (SELECT 1 FROM recipients r WHERE r.mail_id = ANY(${mailIds}::bigint[]) AND r.request_id = q.id AND r.status = 'S') THEN 'PF'
        ELSE 'F' END
    WHERE q.id IN (SELECT request_id FROM m) AND q.status IN ('I', 'S', 'PF')
    RETURNING q.id, q.status
  `.execute(tx);
  return res.rows.filter((r) => r.status === 'I').map((r) => String(r.id));
}

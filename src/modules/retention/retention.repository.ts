import { sql } from 'kysely';
import type { Tx } from '../../db/schema.ts';

export interface PurgedBatch {
  requests: number;
  mails: number;
  recipients: number;
}

/** For the rest of the transaction, a statement waiting on a lock for 2 s fails instead of waiting on. */
export async function limitLockWait(tx: Tx): Promise<void> {
  await sql`SET LOCAL lock_timeout = '2s'`.execute(tx);
}

/**
 * Deletes one batch of finished requests created before `cutoff` (retention.service.ts: before
 * the oldest month of history still kept, too), oldest first, with their
 * mails and recipients (payloads and request files follow by ON DELETE CASCADE). A batch is at
 * most `maxRequests` requests and about `maxRecipients` recipients (at least one request).
 * Rows someone holds are skipped (SKIP LOCKED), never waited for; a cancelled request whose
 * mails are still with a worker is left for a later run. A confirm-and-send request still
 * waiting (R) once it is older than `unconfirmedBefore` can never be sent (send now refuses it
 * after 30 days), so it counts as finished too.
 */
export async function purgeBatch(tx: Tx, cutoff: Date, maxRequests: number, maxRecipients: number, unconfirmedBefore: Date = cutoff): Promise<PurgedBatch> {
  const picked = await sql<{ id: string }>`
    SELECT id FROM (
      SELECT c.id, c.recipient_count, sum(c.recipient_count) OVER (ORDER BY c.created_at, c.id) AS acc
      FROM (
        SELECT mr.id, mr.created_at, mr.recipient_count FROM mail_requests mr
        WHERE mr.created_at < ${cutoff}
          -- the statuses nothing changes any more (P, R and I never qualify); the literal list matches the partial index
          AND ((mr.status IN ('S', 'F', 'PF', 'U', 'C')
                AND NOT EXISTS (SELECT 1 FROM mails m WHERE m.request_id = mr.id AND m.status IN ('R', 'I')))
            OR (mr.status = 'R' AND mr.confirm_and_send AND mr.created_at < ${unconfirmedBefore}))
        ORDER BY mr.created_at, mr.id
        LIMIT ${maxRequests}
        FOR UPDATE OF mr SKIP LOCKED
      ) c
    ) w
    WHERE acc - recipient_count < ${maxRecipients}
  `.execute(tx);
  const ids = picked.rows.map((r) => r.id);
  if (ids.length === 0) return { requests: 0, mails: 0, recipients: 0 };
  // Children first and set-based: the cascade would delete them row by row.
  const recipients = await sql`DELETE FROM recipients WHERE request_id = ANY(${ids}::bigint[])`.execute(tx);
  const mails = await sql`DELETE FROM mails WHERE request_id = ANY(${ids}::bigint[])`.execute(tx);
  await sql`DELETE FROM mail_requests WHERE id = ANY(${ids}::bigint[])`.execute(tx);
  return { requests: ids.length, mails: Number(mails.numAffectedRows ?? 0n), recipients: Number(recipients.numAffectedRows ?? 0n) };
}

import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { QUEUES, type DeliverChunkJob, type JobQueue, type StoreRecipientsJob } from '../../jobs/queue.ts';
import type { Logger } from '../../logger.ts';
import { chunkJobsFor, finishRequestIfDone } from '../delivery/delivery.service.ts';
import * as repo from './requests.repository.ts';

/**
 * recipientFileId: a request sent to the valid rows of a bulk recipient file (stored by
 * POST /recipient-files in recipient_file_rows, numbered pos 1..valid_count). The request waits
 * in P while the store-recipients job copies the rows, a batch per transaction, with
 * `INSERT INTO mails … SELECT` / `INSERT INTO recipients … SELECT` straight from the file's rows
 * (one mail per row, seq = pos, the row's tag values as the recipient's parameters), the
 * request's stored_count and the batch's deliver-chunk jobs in the same transaction. A crash
 * resumes at pos stored_count + 1 (a keyset read on the rows' primary key); a cancel (status no
 * longer P) stops it. Then the request moves from P to I or R, as the payload path does.
 */

/** Rows copied per transaction. */
export const FILE_STORE_BATCH = 10_000;

export interface FileStoreDeps {
  db: Db;
  queue: JobQueue;
  logger: Logger;
  now: () => Date;
  isStopping?: () => boolean;
}

export async function hasRecipientFile(db: Db, requestId: string): Promise<boolean> {
  const row = await db.selectFrom('mail_requests').select('recipient_file_id').where('id', '=', requestId).executeTakeFirst();
  return row !== undefined && row.recipient_file_id !== null;
}

async function lockFileRequest(tx: Tx, requestId: string) {
  return tx
    .selectFrom('mail_requests')
    .select(['id', 'id_day', 'project_id', 'status', 'stored_count', 'recipient_count', 'reservation_at', 'confirm_and_send', 'created_at', 'recipient_file_id'])
    .where('id', '=', requestId)
    .forUpdate()
    .executeTakeFirst();
}

/** Rows pos from+1 … to become mails seq from+1 … to with one recipient each; returns how many were copied. */
async function copyRows(
  tx: Tx,
  req: { requestId: string; projectId: string; idDay: number; nextAttemptAt: Date | null; createdAt: Date; fileId: string },
  from: number,
  to: number,
): Promise<number> {
  const res = await sql<{ copied: number }>`
    WITH src AS MATERIALIZED (
      SELECT pos, address, name, parameters FROM recipient_file_rows
      WHERE file_id = ${req.fileId} AND pos > ${from} AND pos <= ${to}
    ),
    m AS (
      INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
      SELECT nextval('mail_id_seq'), ${req.idDay}, ${req.requestId}, ${req.projectId}, src.pos, 1, src.address, ${req.nextAttemptAt}, ${req.createdAt}
      FROM src ORDER BY src.pos
      RETURNING id, seq
    ),
    r AS (
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
      SELECT m.id, ${req.requestId}, ${req.projectId}, src.address, src.name, 'R', src.parameters, ${req.createdAt}
      FROM src JOIN m ON m.seq = src.pos
      RETURNING 1
    )
    SELECT count(*)::int AS copied FROM r
  `.execute(tx);
  return res.rows[0]?.copied ?? 0;
}

/** Job part of storeRecipients for requests with a recipient file. */
export async function storeFromFile(deps: FileStoreDeps, requestId: string): Promise<void> {
  const log = deps.logger.child({ requestId });
  for (;;) {
    if (deps.isStopping?.()) {
      // Shutting down between batches: a new job goes on from stored_count.
      await deps.queue.insert<StoreRecipientsJob>(QUEUES.storeRecipients, [{ data: { requestId } }]);
      log.info('storing from the recipient file handed back at shutdown');
      return;
    }
    const done = await deps.db.transaction().execute(async (tx) => {
      const req = await lockFileRequest(tx, requestId);
      if (!req || req.status !== 'P' || req.recipient_file_id === null) return true;
      const from = req.stored_count;
      const total = req.recipient_count;
      const nextAttemptAt = req.confirm_and_send ? null : (req.reservation_at ?? req.created_at);
      if (from >= total) {
        const sendsNow = nextAttemptAt !== null && nextAttemptAt.getTime() <= deps.now().getTime();
        await repo.setStatus(tx, requestId, 'P', sendsNow ? 'I' : 'R');
        log.info({ recipients: total }, 'request stored from its recipient file');
        return true;
      }
      const to = Math.min(from + FILE_STORE_BATCH, total);
      const copied = await copyRows(
        tx,
        { requestId, projectId: req.project_id, idDay: req.id_day, nextAttemptAt, createdAt: req.created_at, fileId: req.recipient_file_id },
        from,
        to,
      );
      // Files are never removed while a request is P (see the recipient-files clean-up); rows
      // missing here would be a bug, and a retried job is better than a request short of mails.
      if (copied !== to - from) throw new Error(`recipient file ${req.recipient_file_id}: rows ${from + 1}-${to} expected, ${copied} found`);
      await repo.setStoredCount(tx, requestId, to);
      if (nextAttemptAt) await deps.queue.insertInTx<DeliverChunkJob>(tx, QUEUES.deliverChunk, chunkJobsFor(requestId, from + 1, to, nextAttemptAt, deps.now()));
      log.debug({ stored: to, total }, 'stored recipients from the recipient file');
      return false;
    });
    if (done) break;
  }
  await finishRequestIfDone(deps.db, requestId);
}

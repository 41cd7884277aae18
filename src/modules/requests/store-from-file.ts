import { sql } from 'kysely';
import type { Tx } from '../../db/schema.ts';
import type { MailTarget, RecipientSource } from './store-in-batches.ts';

/**
 * recipientFileId: a request sent to the valid rows of a bulk recipient file (stored by
 * POST /recipient-files in recipient_file_rows, numbered pos 1..valid_count). The
 * store-recipients job (store-in-batches.ts) copies the rows a batch per transaction with
 * `INSERT INTO mails … SELECT` / `INSERT INTO recipients … SELECT` straight from the file's rows
 * (one mail per row, seq = pos, the row's tag values as the recipient's parameters); a crash
 * resumes at pos stored_count + 1 (a keyset read on the rows' primary key).
 */

/** Rows copied per transaction. */
const FILE_STORE_BATCH = 10_000;

/** Rows pos from+1 … to become mails seq from+1 … to with one recipient each; returns how many were copied. */
async function copyRows(
  tx: Tx,
  req: MailTarget & { fileId: string },
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

export function fileSource(fileId: string): RecipientSource {
  return {
    name: 'recipient-file',
    async storeBatch(tx, req, target) {
      const from = req.stored_count;
      const to = Math.min(from + FILE_STORE_BATCH, req.recipient_count);
      if (from >= to) return { stored: 0, exhausted: true };
      const copied = await copyRows(tx, { ...target, fileId }, from, to);
      // Files are never removed while a request is P (see the recipient-files clean-up); rows
      // missing here would be a bug, and a retried job is better than a request short of mails.
      if (copied !== to - from) throw new Error(`recipient file ${fileId}: rows ${from + 1}-${to} expected, ${copied} found`);
      return { stored: copied, exhausted: to >= req.recipient_count };
    },
  };
}

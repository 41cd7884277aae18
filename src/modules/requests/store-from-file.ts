import { fileRowsBetween } from '../recipient-files/recipient-files.read-model.ts';
import { copyFileRows } from './store-batches.repository.ts';
import type { PartedSource } from './store-in-parts.ts';

/**
 * recipientFileId: a request sent to the valid rows of a bulk recipient file (stored by
 * POST /recipient-files in recipient_file_rows, numbered pos 1..valid_count). The
 * store-recipients job copies the rows in parts stored at once (store-in-parts.ts), each a range
 * of positions, a batch per transaction with `INSERT INTO mails … SELECT` / `INSERT INTO
 * recipients … SELECT` straight from the file's rows (one mail per row, seq = pos, the row's tag
 * values as the recipient's parameters); a crash resumes each part after the last position it
 * committed (a keyset read on the rows' primary key).
 */

/** Rows copied per transaction and part. */
const FILE_STORE_BATCH = 10_000;

export function fileSource(fileId: string): PartedSource {
  return {
    name: 'recipient-file',
    batch: FILE_STORE_BATCH,
    async split(_tx, req, count) {
      // Positions after stored_count (a request stored in P before parts existed goes on there).
      const share = Math.ceil((req.recipient_count - req.stored_count) / count);
      const made = [];
      for (let from = req.stored_count; from < req.recipient_count; from += share) {
        const to = Math.min(from + share, req.recipient_count);
        made.push({ keyAfter: String(from), keyLast: String(to), nextSeq: from + 1, lastSeq: to });
      }
      return made;
    },
    async storeBatch(tx, part, target, limit) {
      const from = Number(part.keyAfter);
      const to = Math.min(from + limit, Number(part.keyLast));
      const copied = from < to ? await copyFileRows(tx, target, fileRowsBetween(fileId, from, to)) : 0;
      // Files are never removed while a request is P (see the recipient-files clean-up); rows
      // missing here would be a bug, and a retried job is better than a request short of mails.
      if (copied !== to - from) throw new Error(`recipient file ${fileId}: rows ${from + 1}-${to} expected, ${copied} found`);
      return { stored: copied, lastKey: String(to) };
    },
    async hasMore(_tx, part) {
      return Number(part.keyAfter) < Number(part.keyLast);
    },
  };
}

import { fileRowsBetween } from '../recipient-files/recipient-files.read-model.ts';
import { copyFileRows } from './store-batches.repository.ts';
import type { RecipientSource } from './store-in-batches.ts';

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

export function fileSource(fileId: string): RecipientSource {
  return {
    name: 'recipient-file',
    async storeBatch(tx, req, target) {
      const from = req.stored_count;
      const to = Math.min(from + FILE_STORE_BATCH, req.recipient_count);
      if (from >= to) return { stored: 0, exhausted: true };
      const copied = await copyFileRows(tx, target, fileRowsBetween(fileId, from, to));
      // Files are never removed while a request is P (see the recipient-files clean-up); rows
      // missing here would be a bug, and a retried job is better than a request short of mails.
      if (copied !== to - from) throw new Error(`recipient file ${fileId}: rows ${from + 1}-${to} expected, ${copied} found`);
      return { stored: copied, exhausted: to >= req.recipient_count };
    },
  };
}

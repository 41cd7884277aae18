import { sql, type RawBuilder } from 'kysely';

/**
 * A recipient file's valid rows pos from+1 … to, as a query to embed: the requests module copies
 * them into mails with one INSERT … SELECT per batch (a keyset read on the rows' primary key).
 */
export function fileRowsBetween(
  fileId: string,
  from: number,
  to: number,
): RawBuilder<{ pos: number; address: string; name: string | null; parameters: unknown }> {
  return sql`
      SELECT pos, address, name, parameters FROM recipient_file_rows
      WHERE file_id = ${fileId} AND pos > ${from} AND pos <= ${to}`;
}

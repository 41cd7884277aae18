import fs from 'node:fs';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { SheetRow } from '../../shared/xlsx/xlsx-reader.ts';

/**
 * A .csv recipient file, parsed as it streams from disk: UTF-8 (a byte-order mark is dropped;
 * other encodings are refused, since guessing would garble names), comma-separated, fields in
 * double quotes may hold commas, quotes ("") and line breaks; lines end in CRLF, LF or CR, even
 * mixed. Every record counts as a row, empty lines included, so row numbers are the ones a
 * spreadsheet shows when it opens the file. Records of any width come back as they are: the
 * caller reports rows with a wrong number of columns.
 */

export class CsvReadError extends Error {}

const BATCH_ROWS = 1_000;

/** UTF-8 text of a byte stream; invalid bytes fail it (TextDecoder with fatal: true). */
async function* decodeUtf8(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of source) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } catch (err) {
    // Node's own error (not necessarily this realm's TypeError): told by its code.
    if ((err as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') throw new CsvReadError('is not UTF-8 text (save it as "CSV UTF-8", or upload the .xlsx)');
    throw err;
  }
}

/** Rows in batches; `maxRecordChars` bounds one record (a longer one fails the file: its row can't be told apart from the rest). */
export async function* readCsvRows(file: string, maxRecordChars: number): AsyncGenerator<SheetRow[]> {
  const source = Readable.from(decodeUtf8(fs.createReadStream(file, { highWaterMark: 256 * 1024 })));
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: false,
    record_delimiter: ['\r\n', '\n', '\r'],
    max_record_size: maxRecordChars,
  });
  source.once('error', (err) => parser.destroy(err));
  source.pipe(parser);
  let row = 0;
  let batch: SheetRow[] = [];
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      batch.push({ row: ++row, cells: record, problems: [] });
      if (batch.length >= BATCH_ROWS) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    if (err instanceof CsvReadError) throw err;
    const e = err as { code?: string; message?: string; lines?: number };
    if (typeof e.code === 'string' && e.code.startsWith('CSV_')) {
      const line = e.lines ?? row + 1;
      if (e.code === 'CSV_MAX_RECORD_SIZE') throw new CsvReadError(`has a row of more than ${maxRecordChars.toLocaleString('en-US')} characters near line ${line}`);
      throw new CsvReadError(`is not valid CSV near line ${line} (${(e.message ?? '').split(':')[0]}; a field with quotes must be quoted whole, "" inside)`);
    }
    if (e.code === 'INVALID_OPENING_QUOTE') throw new CsvReadError(`is not valid CSV near line ${e.lines ?? row + 1} (a quote inside an unquoted field)`);
    throw err;
  } finally {
    source.destroy();
    parser.destroy();
  }
  if (batch.length) yield batch;
}

import fs from 'node:fs';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { SheetRow } from '../../shared/xlsx/xlsx-reader.ts';

/**
 * A .csv recipient file, parsed as it streams from disk: UTF-8 (a byte-order mark is dropped;
 * other encodings are refused, since guessing would garble names), comma-separated, fields in
 * double quotes may hold commas, quotes ("") and line breaks; lines end in CRLF, LF or CR, even
 * mixed. Every record counts as a row, empty lines included, so row numbers are the ones a
 * spreadsheet shows when it opens the file. Records of up to `maxFields` fields come back as
 * they are: the caller reports rows with a wrong number of columns. A wider record fails the
 * file, found by a scan of the text before csv-parse sees it (a MB of commas must become neither
 * a million cells nor csv-parse's copies of them); so do more than `maxRecords` records (empty
 * lines too).
 */

export class CsvReadError extends Error {}

export interface CsvLimits {
  /** characters of one record (a longer one fails the file: its row can't be told apart from the rest) */
  maxRecordChars: number;
  /** fields of one record; a wider one fails the file */
  maxFields: number;
  /** records, empty lines included */
  maxRecords: number;
}

const BATCH_ROWS = 1_000;
const BATCH_CELLS = 64 * 1024;

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
    if ((err as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA')
      throw new CsvReadError('is not UTF-8 text (save it as "CSV UTF-8", or upload the .xlsx)');
    throw err;
  }
}

/**
 * Passes the text on, failing it at the first record of more than `maxFields` fields. RFC 4180
 * quoting: a quote toggles "inside quotes" ("" toggles twice), commas and line ends inside
 * quotes don't count; CRLF is one line end. Malformed quoting csv-parse refuses anyway.
 */
async function* limitFields(source: AsyncIterable<string>, maxFields: number): AsyncGenerator<string> {
  let quoted = false;
  let fields = 1;
  let row = 1;
  let afterCR = false;
  for await (const text of source) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) quoted = !quoted;
      else if (quoted) continue;
      else if (c === 0x2c) {
        if (++fields > maxFields)
          throw new CsvReadError(`has a row of more than ${maxFields} fields (row ${row}; a recipient row has address, name and at most 100 tags)`);
      } else if (c === 0x0a || c === 0x0d) {
        if (!(c === 0x0a && afterCR)) row++;
        fields = 1;
      }
      afterCR = c === 0x0d;
    }
    yield text;
  }
}

/** Rows in batches (at most BATCH_ROWS rows, about BATCH_CELLS cells). */
export async function* readCsvRows(file: string, limits: CsvLimits): AsyncGenerator<SheetRow[]> {
  const { maxRecordChars, maxFields, maxRecords } = limits;
  const source = Readable.from(limitFields(decodeUtf8(fs.createReadStream(file, { highWaterMark: 256 * 1024 })), maxFields));
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
  let batchCells = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (++row > maxRecords) throw new CsvReadError(`has more than ${maxRecords.toLocaleString('en-US')} lines`);
      batch.push({ row, cells: record, problems: [] });
      batchCells += record.length + 1;
      if (batch.length >= BATCH_ROWS || batchCells >= BATCH_CELLS) {
        yield batch;
        batch = [];
        batchCells = 0;
      }
    }
  } catch (err) {
    if (err instanceof CsvReadError) throw err;
    const e = err as { code?: string; message?: string; lines?: number };
    if (typeof e.code === 'string' && e.code.startsWith('CSV_')) {
      const line = e.lines ?? row + 1;
      if (e.code === 'CSV_MAX_RECORD_SIZE')
        throw new CsvReadError(`has a row of more than ${maxRecordChars.toLocaleString('en-US')} characters near line ${line}`);
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

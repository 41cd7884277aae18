import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import type { components } from '../../generated/api.ts';
import type { FileParts } from '../../http/multipart.ts';
import { badRequest, notFound, rateLimited } from '../../shared/errors.ts';
import { readXlsxRows, XLSX_LIMITS, XlsxReadError, type SheetRow } from '../../shared/xlsx/xlsx-reader.ts';
import { xlsxBuffer } from '../../shared/xlsx/xlsx-writer.ts';
import { cleanFileName } from '../files/files.service.ts';
import { CsvReadError, readCsvRows } from './read-csv.ts';
import { isBlankRow, readHeader, RecipientRowChecker, RECIPIENT_FILE_LIMITS, type FileRecipient, type RowError } from './recipient-rows.ts';
import * as repo from './recipient-files.repository.ts';

export type RecipientFile = components['schemas']['RecipientFile'];

type RecipientFilesDeps = Pick<AppDeps, 'db' | 'config' | 'now' | 'logger'>;

/** Valid rows go to the database in statements of this many (or fewer, when their values are large). */
const INSERT_BATCH_ROWS = 5_000;
const INSERT_BATCH_CHARS = 16 * 1024 * 1024;
/** A CSV record longer than this fails the file; a long cell within it only its row. */
const MAX_CSV_RECORD_CHARS = 1024 * 1024;
/** A CSV record with more fields is an invalid row (the header has at most 102 columns). */
const MAX_CSV_FIELDS = 200;
/**
 * Row elements of a sheet (blank ones included) beyond Excel's own 1,048,576 fail the file: a
 * flood of `<row/>` is parsing work before anything is stored (about 0.5 s a million).
 */
const MAX_SHEET_ROWS = 1_048_576;
/**
 * CSV records (empty lines included) beyond twice the recipient rows fail the file: csv-parse
 * spends ~15 µs on a record whose width differs from the first one (an empty line), 20 times a
 * regular record, so a flood of line breaks is bounded much lower than an .xlsx's rows.
 */
const MAX_CSV_RECORDS = 2 * RECIPIENT_FILE_LIMITS.rows;
/**
 * .xlsx cells right of the widest header (address, name, 100 tags) plus one are not kept: a value
 * there is a row error, and a far-right cell in a short row doesn't pad the row out to 16,384.
 */
const MAX_XLSX_COLUMNS = RECIPIENT_FILE_LIMITS.tags + 3;
/**
 * Rows are parsed and checked before the transaction opens, held in memory up to these bounds
 * (most files end before them): a refused file never takes a pooled connection, and a file
 * that fits is stored by a transaction that only inserts. Past the bounds the transaction opens
 * and the rest streams, one insert running while the next rows are parsed.
 */
const HOLD_ROWS = 20_000;
const HOLD_CHARS = 4 * 1024 * 1024;
/** A file no request has used for this long is removed. */
const KEEP_UNUSED_MS = 7 * 86_400_000;

const MB = 1024 * 1024;
const sizeText = (bytes: number) => (bytes >= MB ? `${Math.floor(bytes / MB)} MB` : `${bytes.toLocaleString('en-US')} bytes`);
const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Kind = 'xlsx' | 'csv';

/** Uploads are streamed here (DATA_DIR/recipient-files) while they are checked and read; removed after. */
const uploadDir = (dataDir: string) => path.join(dataDir, 'recipient-files');

function kindOf(name: string): Kind {
  const ext = /\.([^.]+)$/.exec(name)?.[1]?.toLowerCase();
  if (ext === 'xlsx' || ext === 'csv') return ext;
  const hint = ext === 'xls' ? ' (save the old .xls format as .xlsx)' : '';
  throw badRequest(`file: "${name}" must be an .xlsx or .csv file${hint}`);
}

/** The first bytes say whether the content is what the name claims: a zip for .xlsx, text for .csv. */
async function checkContent(file: string, name: string, kind: Kind): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (head.length === 0) throw badRequest(`file: "${name}" is empty`);
  const zip = head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
  if (kind === 'xlsx' && !zip) throw badRequest(`file: "${name}" is not an .xlsx file (its content is not a workbook)`);
  if (kind === 'csv' && (zip || head.includes(0))) throw badRequest(`file: "${name}" is not a .csv file (its content is not text)`);
}

function rowsOf(file: string, kind: Kind): AsyncGenerator<SheetRow[]> {
  return kind === 'xlsx'
    ? readXlsxRows(file, { ...XLSX_LIMITS, maxColumns: MAX_XLSX_COLUMNS, maxRows: MAX_SHEET_ROWS })
    : readCsvRows(file, { maxRecordChars: MAX_CSV_RECORD_CHARS, maxFields: MAX_CSV_FIELDS, maxRecords: MAX_CSV_RECORDS });
}

/** Streams the part `file` to a temporary file under DATA_DIR (never into memory); returns its name and kind. */
async function receiveUpload(deps: RecipientFilesDeps, upload: FileParts, tmp: string): Promise<{ name: string; kind: Kind }> {
  let received: { name: string; kind: Kind } | undefined;
  let parts = 0;
  await upload(async (part) => {
    if (part.field !== 'file') return void part.stream.resume();
    if (++parts > 1) throw badRequest('file: one file per upload');
    const name = cleanFileName(part.filename);
    if (!name) throw badRequest('file: the part has no file name (a name ending in .xlsx or .csv is needed)');
    const kind = kindOf(name);
    await pipeline(part.stream, fs.createWriteStream(tmp, { flags: 'wx' }));
    if (part.stream.truncated) throw badRequest(`file: "${name}" is larger than ${sizeText(deps.config.maxBodyBytes)} (MAX_BODY_BYTES)`);
    received = { name, kind };
  });
  if (!received) throw badRequest('file: required (multipart/form-data part "file" with an .xlsx or .csv)');
  return received;
}

/**
 * createRecipientFile: the upload is streamed to a temporary file, checked, parsed as a stream
 * and checked row by row; its valid rows are inserted in batches in one transaction, opened once
 * parsing is done or has filled the HOLD bounds: a refused file leaves no row (and the temporary
 * file is removed whatever happens).
 */
export async function createRecipientFile(deps: RecipientFilesDeps, projectId: string, upload: FileParts): Promise<RecipientFile> {
  // Checked before a byte is read. Files go once unused for a while (the clean-up job).
  const maxStored = deps.config.maxStoredRecipientFiles;
  if ((await repo.countFiles(deps.db, projectId)) >= maxStored) {
    throw rateLimited(3600, `Rate Limited: this project keeps ${maxStored} recipient files, the most allowed; files not used for a while are removed`);
  }
  const dir = uploadDir(deps.config.dataDir);
  await fs.promises.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `${crypto.randomUUID()}.upload`);
  const started = Date.now();
  try {
    const { name, kind } = await receiveUpload(deps, upload, tmp);
    await checkContent(tmp, name, kind);
    const id = crypto.randomUUID();
    const result = await storeRows(deps, { id, projectId, name, kind, file: tmp, createdAt: deps.now() });
    deps.logger.info(
      { recipientFileId: id, kind, rowCount: result.rowCount, validCount: result.validCount, ms: Date.now() - started },
      'recipient file stored',
    );
    return result;
  } catch (err) {
    if (err instanceof XlsxReadError || err instanceof CsvReadError) throw badRequest(`file: ${err.message}`);
    throw err;
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
}

interface Batch {
  rows: FileRecipient[];
  chars: number;
}

/** A file's rows, read a batch at a time and checked; valid ones are held in insert batches until taken. */
class CheckedRows {
  checker: RecipientRowChecker | undefined;
  tags: string[] = [];
  readonly errors: RowError[] = [];
  rowCount = 0;
  validCount = 0;
  done = false;
  /** valid rows not yet taken, in batches of at most INSERT_BATCH_ROWS rows / INSERT_BATCH_CHARS */
  readonly held: Batch[] = [];
  heldRows = 0;
  heldChars = 0;
  private readonly source: AsyncGenerator<SheetRow[]>;
  private readonly f: { name: string; kind: Kind };

  constructor(source: AsyncGenerator<SheetRow[]>, f: { name: string; kind: Kind }) {
    this.source = source;
    this.f = f;
  }

  /** Reads and checks the next batch of the file; 400s for what refuses it as a whole. */
  async readMore(): Promise<void> {
    const next = await this.source.next();
    if (next.done) {
      this.done = true;
      if (!this.checker) throw badRequest(`file: "${this.f.name}" has no header row (address, name, then one column per tag)`);
      if (this.rowCount === 0) throw badRequest(`file: "${this.f.name}" has no recipient rows after its header`);
      return;
    }
    for (const row of next.value) {
      if (!this.checker) {
        if (isBlankRow(row)) continue;
        const header = readHeader(row);
        this.tags = header.tags;
        this.checker = new RecipientRowChecker(header, { strictWidth: this.f.kind === 'csv' });
        continue;
      }
      const checked = this.checker.check(row);
      if (!checked) continue;
      if (++this.rowCount > RECIPIENT_FILE_LIMITS.rows) {
        throw badRequest(
          `file: "${this.f.name}" has more than ${RECIPIENT_FILE_LIMITS.rows.toLocaleString('en-US')} recipient rows (row ${row.row} is one too many)`,
        );
      }
      if ('error' in checked) {
        this.errors.push(checked.error);
        continue;
      }
      this.validCount++;
      let last = this.held[this.held.length - 1];
      if (!last || last.rows.length >= INSERT_BATCH_ROWS || last.chars >= INSERT_BATCH_CHARS) {
        last = { rows: [], chars: 0 };
        this.held.push(last);
      }
      last.rows.push(checked.recipient);
      last.chars += checked.chars;
      this.heldRows++;
      this.heldChars += checked.chars;
    }
  }

  /** The next batch to insert: a full one, or at the end of the file whatever is left. */
  take(): Batch | undefined {
    const first = this.held[0];
    if (!first || (!this.done && this.held.length === 1 && first.rows.length < INSERT_BATCH_ROWS && first.chars < INSERT_BATCH_CHARS)) return undefined;
    this.held.shift();
    this.heldRows -= first.rows.length;
    this.heldChars -= first.chars;
    return first;
  }
}

async function storeRows(
  deps: Pick<AppDeps, 'db'>,
  f: { id: string; projectId: string; name: string; kind: Kind; file: string; createdAt: Date },
): Promise<RecipientFile> {
  const source = rowsOf(f.file, f.kind);
  const rows = new CheckedRows(source, f);
  try {
    // Parsing first, without a connection: to the end of the file or the HOLD bounds.
    while (!rows.done && rows.heldRows < HOLD_ROWS && rows.heldChars < HOLD_CHARS) await rows.readMore();
    return await deps.db.transaction().execute((tx) => insertRows(tx, rows, f));
  } catch (err) {
    if (err instanceof XlsxReadError || err instanceof CsvReadError) throw badRequest(`file: "${f.name}" ${err.message}`);
    throw err;
  } finally {
    await source.return(undefined);
  }
}

async function insertRows(tx: Tx, rows: CheckedRows, f: { id: string; projectId: string; name: string; createdAt: Date }): Promise<RecipientFile> {
  await repo.insertRecipientFile(tx, { id: f.id, project_id: f.projectId, file_name: f.name, tags: rows.tags, created_at: f.createdAt });
  // One insert runs while the next rows are parsed (the database and the parser work at once);
  // its failure surfaces at the next flush or at the end.
  let inflight: Promise<void> | undefined;
  let inserted = 0;
  try {
    for (;;) {
      for (let batch = rows.take(); batch; batch = rows.take()) {
        await inflight;
        inflight = repo.insertRows(tx, f.id, inserted + 1, batch.rows);
        inflight.catch(() => undefined);
        inserted += batch.rows.length;
      }
      if (rows.done) break;
      await rows.readMore();
    }
    await inflight;
  } catch (err) {
    // The transaction rolls back once the running insert is done; its own failure, if any, is secondary.
    await inflight?.catch(() => undefined);
    throw err;
  }
  await repo.setCounts(tx, f.id, rows.rowCount, rows.validCount);
  return { recipientFileId: f.id, rowCount: rows.rowCount, validCount: rows.validCount, tags: rows.tags, errors: rows.errors };
}

/** getRecipientFileForm's tags: repeated or comma-separated, each a valid tag name, each once. */
export function formTags(query: unknown): string[] {
  const raw = query === undefined ? [] : Array.isArray(query) ? query : [query];
  const tags = raw
    .flatMap((t) => String(t).split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '');
  // The header's own rules, so the form is always a file that uploads.
  readHeader({ row: 1, cells: ['address', 'name', ...tags], problems: [] });
  return tags;
}

export function recipientFileForm(tags: string[]): Promise<Buffer> {
  return xlsxBuffer([], { sheetName: 'recipients', headerRow: ['address', 'name', ...tags], columnWidths: [36, 20, ...tags.map(() => 18)] });
}

/**
 * For createMailRequest: how many recipients the project's recipient file gives. 400/77103 for an
 * unknown or another project's id; 400/77102 when it has no valid row.
 */
export async function countRecipientFile(deps: Pick<AppDeps, 'db'>, projectId: string, id: string): Promise<number> {
  const row = FILE_ID.test(id) ? await repo.findFile(deps.db, projectId, id) : undefined;
  if (!row) throw notFound(`recipientFileId: recipient file ${id} does not exist`);
  if (row.valid_count === 0) throw badRequest(`recipientFileId: recipient file ${id} has no valid recipient rows`);
  return row.valid_count;
}

/**
 * Inside createMailRequest's transaction (hence `tx`, and the request's own time as `usedAt`):
 * marks the file used, so the clean-up keeps it while the request is stored from it. A file
 * removed meanwhile fails the request (400/77103).
 */
export async function useRecipientFile(tx: Tx, projectId: string, id: string, usedAt: Date): Promise<void> {
  if (!(await repo.markUsed(tx, projectId, id, usedAt))) throw notFound(`recipientFileId: recipient file ${id} does not exist`);
}

const CLEANUP_BATCH = 20;
/** A temporary upload this old was left by a crash mid-upload. */
const STALE_UPLOAD_MS = 3600 * 1000;

/**
 * Job (with the upload clean-up): removes recipient files no request has used for 7 days (never
 * one a request is still storing from), and temporary uploads a crash left behind.
 */
export async function cleanupRecipientFiles(deps: Pick<AppDeps, 'db' | 'config' | 'now' | 'logger'>): Promise<number> {
  const olderThan = new Date(deps.now().getTime() - KEEP_UNUSED_MS);
  let removed = 0;
  for (;;) {
    const n = await repo.deleteUnused(deps.db, olderThan, CLEANUP_BATCH);
    removed += n;
    if (n < CLEANUP_BATCH) break;
  }
  let stale = 0;
  const dir = uploadDir(deps.config.dataDir);
  for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
    const file = path.join(dir, name);
    const stat = await fs.promises.stat(file).catch(() => undefined);
    if (!name.endsWith('.upload') || !stat || stat.mtimeMs > deps.now().getTime() - STALE_UPLOAD_MS) continue;
    await fs.promises.rm(file, { force: true });
    stale++;
  }
  if (removed || stale) deps.logger.info({ removed, staleUploads: stale }, 'removed unused recipient files');
  return removed;
}

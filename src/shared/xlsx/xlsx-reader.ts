import type { Readable } from 'node:stream';
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import yauzl from 'yauzl';

/**
 * A streaming .xlsx reader: the rows of the workbook's first worksheet, as text, one chunk of
 * the sheet's XML at a time. The zip is read from a file on disk through its central directory
 * (yauzl); the shared strings are loaded first (they are referenced by index from any row), then
 * the worksheet is inflated and parsed as it streams (saxes), so memory holds the shared strings
 * and a batch of rows (a bounded number of cells), never the sheet.
 *
 * Cells come back as text: strings as written (rich-text runs joined, phonetic runs left out),
 * numbers in JavaScript's shortest form ("5", "0.1", "12345678901"), booleans TRUE/FALSE.
 * Formulas are never evaluated: a formula cell gives the value Excel cached when it last saved
 * the file; a formula without a cached value (written by a program, never opened in Excel) is a
 * cell problem. Error values (#N/A, #DIV/0! ...) and cells over maxCellChars are cell problems
 * too; what a problem means for the row is the caller's to decide.
 *
 * Work is bounded: entry count, inflated sizes of the parts (declared sizes are checked first;
 * yauzl fails an entry that inflates beyond what it declares), the number of shared strings, the
 * characters between two tags (a single giant text node), the nesting depth of elements, the
 * row elements of the sheet (blank ones too), columns. Anything over a bound, or
 * not an .xlsx at all, is an XlsxReadError with a message for the user.
 */

export interface XlsxLimits {
  maxEntries: number;
  /** inflated bytes of the worksheet XML */
  maxSheetBytes: number;
  /** inflated bytes of xl/sharedStrings.xml */
  maxSharedStringsBytes: number;
  maxSharedStrings: number;
  /** longer cells are a cell problem (Excel's own limit is 32,767) */
  maxCellChars: number;
  /** cells right of this many columns are not kept (nor padded up to); a value there is a row problem */
  maxColumns: number;
  /** row elements of the worksheet, blank ones included (Excel's own limit is 1,048,576) */
  maxRows: number;
}

export const XLSX_LIMITS: XlsxLimits = {
  maxEntries: 10_000,
  maxSheetBytes: 512 * 1024 * 1024,
  maxSharedStringsBytes: 128 * 1024 * 1024,
  maxSharedStrings: 2_000_000,
  maxCellChars: 32_767,
  maxColumns: 16_384,
  maxRows: 1_048_576,
};

/**
 * Worksheet rows are handed over once they hold this many cells (the padding of missing ones
 * included). The XML is parsed in slices small enough that one slice can't add much more: a
 * row element of ~24 characters may pad out to maxColumns cells.
 */
const BATCH_CELLS = 64 * 1024;
const sliceChars = (maxColumns: number) => Math.max(1024, Math.min(16 * 1024, Math.floor((BATCH_CELLS * 24) / Math.max(1, maxColumns))));

/** Workbook XML, relationships: small parts read whole. */
const MAX_SMALL_PART_BYTES = 4 * 1024 * 1024;

export class XlsxReadError extends Error {}

export interface CellProblem {
  /** 0-based column */
  column: number;
  reason: string;
}

export interface SheetRow {
  /** the row number Excel shows (1-based) */
  row: number;
  /** 0-based by column; a missing cell is '' */
  cells: string[];
  problems: CellProblem[];
}

/** "A", "B", ... "Z", "AA" for a 0-based column. */
export function columnName(column: number): string {
  let name = '';
  for (let n = column + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

/** The 0-based column of a cell reference ("C7" → 2), or -1. */
export function columnOfRef(ref: string): number {
  let col = 0;
  let i = 0;
  for (; i < ref.length; i++) {
    const c = ref.charCodeAt(i) | 0x20; // lower case
    if (c < 97 || c > 122) break;
    col = col * 26 + (c - 96);
    if (col > 1_000_000) return -1;
  }
  return i === 0 ? -1 : col - 1;
}

const localName = (name: string) => {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
};

function attr(node: SaxesTagPlain, local: string): string | undefined {
  const direct = node.attributes[local];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(node.attributes)) if (localName(k) === local) return v;
  return undefined;
}

function canonicalNumber(text: string): string {
  const t = text.trim();
  if (t === '') return '';
  const n = Number(t);
  return Number.isFinite(n) ? String(n) : t;
}

/** Elements nested deeper than this are refused (a worksheet needs 7: worksheet, sheetData, row, c, is, r, t). */
const MAX_XML_DEPTH = 64;

interface XmlHandlers {
  open?: (node: SaxesTagPlain) => void;
  close?: (node: SaxesTagPlain) => void;
  text?: (text: string) => void;
}

/**
 * An XML parser that refuses a text node (or comment) longer than `maxGap` characters and
 * elements nested more than MAX_XML_DEPTH deep (saxes keeps every open element). saxes takes
 * one handler per event, so the handlers are passed here and wrapped.
 */
function boundedParser(maxGap: number, what: string, handlers: XmlHandlers) {
  const parser = new SaxesParser({ xmlns: false, position: true });
  let lastTagAt = 0;
  let depth = 0;
  parser.on('error', (err) => {
    throw new XlsxReadError(`${what} is not well-formed XML (${err.message.split('\n')[0]})`);
  });
  parser.on('opentag', (node) => {
    lastTagAt = parser.position;
    if (++depth > MAX_XML_DEPTH) throw new XlsxReadError(`${what} nests elements more than ${MAX_XML_DEPTH} deep`);
    handlers.open?.(node as SaxesTagPlain);
  });
  parser.on('closetag', (node) => {
    lastTagAt = parser.position;
    depth--;
    handlers.close?.(node as SaxesTagPlain);
  });
  if (handlers.text) parser.on('text', handlers.text);
  return {
    write(chunk: string) {
      parser.write(chunk);
      if (parser.position - lastTagAt > maxGap) throw new XlsxReadError(`${what} holds a text of more than ${maxGap.toLocaleString('en-US')} characters`);
    },
    close() {
      parser.close();
    },
  };
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (err, zip) => {
      if (err || !zip) reject(new XlsxReadError(`is not an .xlsx file (${err?.message ?? 'unreadable zip'})`));
      else resolve(zip);
    });
  });
}

async function readDirectory(zip: yauzl.ZipFile, limits: XlsxLimits): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > limits.maxEntries) throw new XlsxReadError(`is an archive with more than ${limits.maxEntries} entries, not a workbook`);
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.set(entry.fileName.replace(/^\/+/, ''), entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve());
    zip.once('error', (err: Error) => reject(new XlsxReadError(`is a damaged .xlsx file (${err.message})`)));
    zip.readEntry();
  });
  return entries;
}

async function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, maxBytes: number, what: string): Promise<Readable> {
  if (entry.uncompressedSize > maxBytes) {
    throw new XlsxReadError(
      `is too large to read: ${what} inflates to ${Math.ceil(entry.uncompressedSize / 1024 / 1024)} MB, more than ${maxBytes / 1024 / 1024} MB`,
    );
  }
  if (entry.isEncrypted()) throw new XlsxReadError("is encrypted (password-protected workbooks can't be read)");
  try {
    const stream = await zip.openReadStreamPromise(entry);
    stream.setEncoding('utf8');
    return stream;
  } catch (err) {
    throw new XlsxReadError(`is a damaged .xlsx file (${(err as Error).message})`);
  }
}

/** Feeds a part's text to `write`; stream errors (bad deflate data, wrong sizes) become XlsxReadError. */
async function* chunksOf(stream: Readable, what: string): AsyncGenerator<string> {
  try {
    for await (const chunk of stream) yield chunk as string;
  } catch (err) {
    if (err instanceof XlsxReadError) throw err;
    throw new XlsxReadError(`is a damaged .xlsx file (${what}: ${(err as Error).message})`);
  } finally {
    stream.destroy();
  }
}

async function parseSmallPart(zip: yauzl.ZipFile, entry: yauzl.Entry, what: string, onTag: (node: SaxesTagPlain) => void): Promise<void> {
  const xml = boundedParser(MAX_SMALL_PART_BYTES, what, { open: onTag });
  for await (const chunk of chunksOf(await openEntry(zip, entry, MAX_SMALL_PART_BYTES, what), what)) xml.write(chunk);
  xml.close();
}

/** Resolves a relationship target against the part that holds the relationships (xl/). */
function resolveTarget(base: string, target: string): string {
  if (target.startsWith('/')) return target.slice(1);
  const parts = base.split('/').filter(Boolean);
  for (const seg of target.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.' && seg !== '') parts.push(seg);
  }
  return parts.join('/');
}

interface WorkbookParts {
  sheet: yauzl.Entry;
  sharedStrings: yauzl.Entry | undefined;
}

/** The first worksheet (in workbook order) and the shared strings, through xl/workbook.xml and its relationships. */
async function findParts(zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>): Promise<WorkbookParts> {
  const workbook = entries.get('xl/workbook.xml');
  if (!workbook) throw new XlsxReadError('is not an .xlsx workbook (xl/workbook.xml is missing)');
  let firstSheetRel: string | undefined;
  await parseSmallPart(zip, workbook, 'xl/workbook.xml', (node) => {
    if (firstSheetRel === undefined && localName(node.name) === 'sheet') firstSheetRel = attr(node, 'id') ?? '';
  });
  const rels = new Map<string, { type: string; target: string }>();
  const relsEntry = entries.get('xl/_rels/workbook.xml.rels');
  if (relsEntry) {
    await parseSmallPart(zip, relsEntry, 'xl/_rels/workbook.xml.rels', (node) => {
      if (localName(node.name) !== 'Relationship') return;
      const id = attr(node, 'Id');
      const target = attr(node, 'Target');
      if (id && target) rels.set(id, { type: attr(node, 'Type') ?? '', target: resolveTarget('xl', target) });
    });
  }
  const sheetPath = (firstSheetRel && rels.get(firstSheetRel)?.target) || 'xl/worksheets/sheet1.xml';
  const sheet = entries.get(sheetPath);
  if (!sheet) throw new XlsxReadError('is not an .xlsx workbook (its first worksheet is missing)');
  const sharedPath = [...rels.values()].find((r) => r.type.endsWith('/sharedStrings'))?.target ?? 'xl/sharedStrings.xml';
  return { sheet, sharedStrings: entries.get(sharedPath) };
}

/** Shared strings, in order: `<si>` holds a `<t>` or rich-text runs `<r><t>`; `<rPh>` (phonetic guides) is not part of the value. */
async function readSharedStrings(zip: yauzl.ZipFile, entry: yauzl.Entry, limits: XlsxLimits): Promise<string[]> {
  const what = 'xl/sharedStrings.xml';
  const strings: string[] = [];
  let inSi = false;
  let phonetic = 0;
  let inT = false;
  let text = '';
  const open = (node: SaxesTagPlain) => {
    const name = localName(node.name);
    if (name === 'si') {
      inSi = true;
      text = '';
    } else if (name === 'rPh') phonetic++;
    else if (name === 't' && inSi && phonetic === 0) inT = true;
  };
  const onText = (t: string) => {
    // Kept one character over the limit: enough to tell a cell that is too long.
    if (inT && text.length <= limits.maxCellChars) text += t.length > limits.maxCellChars ? t.slice(0, limits.maxCellChars + 1) : t;
  };
  const close = (node: SaxesTagPlain) => {
    const name = localName(node.name);
    if (name === 't') inT = false;
    else if (name === 'rPh') phonetic--;
    else if (name === 'si') {
      inSi = false;
      if (strings.length >= limits.maxSharedStrings)
        throw new XlsxReadError(`holds more than ${limits.maxSharedStrings.toLocaleString('en-US')} distinct texts`);
      strings.push(text.length > limits.maxCellChars + 1 ? text.slice(0, limits.maxCellChars + 1) : text);
    }
  };
  const xml = boundedParser(limits.maxCellChars * 8 + 1024 * 1024, what, { open, close, text: onText });
  for await (const chunk of chunksOf(await openEntry(zip, entry, limits.maxSharedStringsBytes, what), what)) xml.write(chunk);
  xml.close();
  return strings;
}

/**
 * The rows of the first worksheet, in file order, in batches (at most a chunk of XML read, and
 * about BATCH_CELLS cells). Rows
 * Excel left out (never touched) are not reported; rows that only carry formatting come back
 * with empty cells. Stopping the iteration early closes the file.
 */
export async function* readXlsxRows(file: string, limits: XlsxLimits = XLSX_LIMITS): AsyncGenerator<SheetRow[]> {
  const zip = await openZip(file);
  try {
    const entries = await readDirectory(zip, limits);
    const parts = await findParts(zip, entries);
    const shared = parts.sharedStrings ? await readSharedStrings(zip, parts.sharedStrings, limits) : [];
    yield* readSheet(await openEntry(zip, parts.sheet, limits.maxSheetBytes, 'the worksheet'), shared, limits);
  } finally {
    zip.close();
  }
}

async function* readSheet(stream: Readable, shared: string[], limits: XlsxLimits): AsyncGenerator<SheetRow[]> {
  let pending: SheetRow[] = [];
  /** cells (padding included) of the pending rows, plus one per row */
  let pendingCells = 0;
  let rowElements = 0;
  let row: SheetRow | undefined;
  let lastRow = 0;
  let nextColumn = 0;
  // the current cell
  let column = -1;
  let type = 'n';
  let hasFormula = false;
  let hasValue = false;
  let inV = false;
  let inInline = false;
  let phonetic = 0;
  let inT = false;
  let text = '';
  const keep = (t: string) => {
    if (text.length <= limits.maxCellChars) text += t.length > limits.maxCellChars ? t.slice(0, limits.maxCellChars + 1) : t;
  };

  const endCell = () => {
    if (!row || column < 0) return;
    let value = '';
    let problem: string | undefined;
    if (type === 'inlineStr') value = text;
    else if (hasFormula && !hasValue) problem = 'is a formula without a computed value (open and save the file in Excel, or enter the value itself)';
    else if (type === 's') {
      const index = Number(text.trim());
      const s = Number.isInteger(index) ? shared[index] : undefined;
      if (s === undefined) problem = 'refers to a shared text the file does not have';
      else value = s;
    } else if (type === 'str' || type === 'd') value = text;
    else if (type === 'b') value = text.trim() === '1' ? 'TRUE' : 'FALSE';
    else if (type === 'e') problem = `holds the error value ${text.trim().slice(0, 20)}`;
    else value = canonicalNumber(text);
    if (!problem && value.length > limits.maxCellChars) problem = `is longer than ${limits.maxCellChars.toLocaleString('en-US')} characters`;
    if (column >= limits.maxColumns) {
      if (problem || value !== '') row.problems.push({ column, reason: `has a value beyond the last column read (${columnName(limits.maxColumns - 1)})` });
      return;
    }
    if (problem) {
      row.problems.push({ column, reason: problem });
      value = '';
    }
    while (row.cells.length < column) row.cells.push('');
    row.cells[column] = value;
  };

  const open = (node: SaxesTagPlain) => {
    const name = localName(node.name);
    switch (name) {
      case 'row': {
        // Every row element counts, blank or not: a flood of <row/> is work too.
        if (++rowElements > limits.maxRows) throw new XlsxReadError(`has more than ${limits.maxRows.toLocaleString('en-US')} rows`);
        const r = Number(attr(node, 'r'));
        lastRow = Number.isInteger(r) && r > 0 ? r : lastRow + 1;
        row = { row: lastRow, cells: [], problems: [] };
        nextColumn = 0;
        break;
      }
      case 'c': {
        const ref = attr(node, 'r');
        const byRef = ref === undefined ? -1 : columnOfRef(ref);
        column = byRef >= 0 ? byRef : nextColumn;
        nextColumn = column + 1;
        type = attr(node, 't') ?? 'n';
        hasFormula = hasValue = inV = inInline = inT = false;
        phonetic = 0;
        text = '';
        break;
      }
      case 'f':
        hasFormula = true;
        break;
      case 'v':
        if (column >= 0) inV = hasValue = true;
        break;
      case 'is':
        if (column >= 0) inInline = true;
        break;
      case 'rPh':
        phonetic++;
        break;
      case 't':
        if (inInline && phonetic === 0) inT = true;
        break;
    }
  };
  const onText = (t: string) => {
    if ((inV && type !== 'inlineStr') || inT) keep(t);
  };
  const close = (node: SaxesTagPlain) => {
    switch (localName(node.name)) {
      case 'v':
        inV = false;
        break;
      case 't':
        inT = false;
        break;
      case 'rPh':
        phonetic--;
        break;
      case 'is':
        inInline = false;
        break;
      case 'c':
        endCell();
        column = -1;
        break;
      case 'row':
        if (row) {
          pending.push(row);
          pendingCells += row.cells.length + 1;
        }
        row = undefined;
        break;
    }
  };
  const xml = boundedParser(limits.maxCellChars * 8 + 1024 * 1024, 'the worksheet', { open, close, text: onText });
  const take = () => {
    const out = pending;
    pending = [];
    pendingCells = 0;
    return out;
  };

  // An inflated chunk is parsed in slices, and rows are handed over once they hold BATCH_CELLS
  // cells: a few KB of short rows with far-right cells must not pile up (each row padded out).
  const slice = sliceChars(limits.maxColumns);
  for await (const chunk of chunksOf(stream, 'the worksheet')) {
    for (let at = 0; at < chunk.length; at += slice) {
      // saxes carries a split surrogate pair or CRLF over to the next write
      xml.write(at === 0 && chunk.length <= slice ? chunk : chunk.slice(at, at + slice));
      if (pendingCells >= BATCH_CELLS) yield take();
    }
    if (pending.length) yield take();
  }
  xml.close();
  if (pending.length) yield take();
}

import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';

/**
 * A streaming .xlsx writer: rows go through deflate straight into `out`, so a sheet of a million
 * rows costs the memory of one row and the deflate window, never of the sheet. The zip is
 * written in one pass (sizes and CRCs in data descriptors after each entry, then the central
 * directory), which every spreadsheet program reads.
 *
 * Cells are values, never formulas: strings become inline strings (so a cell reading "=1+1"
 * stays text), characters XML 1.0 can't carry are dropped, and strings are cut at Excel's
 * 32,767 characters. A sheet holds at most Excel's 1,048,576 rows; more rows continue on a new
 * sheet ("Sheet 2", ...), starting with the header row again when one was given.
 */

export type XlsxCell = string | number | boolean | null | undefined;

export interface XlsxWriterOptions {
  /** name of the (first) sheet; cut to Excel's 31 characters, []:*?/\ removed */
  sheetName?: string;
  /** column widths in characters, first column first */
  columnWidths?: number[];
  /** written first in bold, and again at the top of every continuation sheet */
  headerRow?: XlsxCell[];
  /** rows per sheet before continuing on a new one (Excel's maximum unless smaller; for tests) */
  maxRowsPerSheet?: number;
  /** deflate level (default 1: a sheet's XML compresses well even at the fastest level) */
  compressionLevel?: number;
}

const EXCEL_MAX_ROWS = 1_048_576;
export const EXCEL_MAX_CELL_CHARS = 32_767;

const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const METHOD_DEFLATE = 8;
const MAX_32 = 0xffff_ffff;
/** bytes of sheet XML gathered before a write into deflate */
const FLUSH_AT = 64 * 1024;

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const NS_MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const NS_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

interface Entry {
  name: Buffer;
  offset: number;
  crc: number;
  compressedSize: number;
  size: number;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters XML 1.0 forbids
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** A string as a cell can hold it: XML-safe characters only, at most 32,767 of them. */
export function cellText(value: string): string {
  let s = value.replace(XML_INVALID, '');
  if (s.length > EXCEL_MAX_CELL_CHARS) {
    const cut = EXCEL_MAX_CELL_CHARS - (/[\uD800-\uDBFF]/.test(s[EXCEL_MAX_CELL_CHARS - 1]!) ? 1 : 0);
    s = s.slice(0, cut);
  }
  return s;
}

const columnNames: string[] = [];
/** "A", "B", ..., "Z", "AA", ... for a 0-based column index */
export function columnName(index: number): string {
  let name = columnNames[index];
  if (name === undefined) {
    name = '';
    for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    columnNames[index] = name;
  }
  return name;
}

function sheetNameOf(raw: string | undefined, index: number): string {
  const base =
    (raw ?? 'Sheet1')
      .replace(/[[\]:*?/\\]/g, ' ')
      .replace(XML_INVALID, '')
      .trim() || 'Sheet1';
  if (index === 0) return base.slice(0, 31);
  const suffix = ` ${index + 1}`;
  return base.slice(0, 31 - suffix.length) + suffix;
}

function dosDateTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((Math.max(d.getFullYear(), 1980) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

export class XlsxWriter {
  readonly #out: NodeJS.WritableStream;
  readonly #opts: XlsxWriterOptions;
  readonly #maxRows: number;
  readonly #level: number;
  readonly #stamp = dosDateTime(new Date());
  readonly #entries: Entry[] = [];
  readonly #sheets: string[] = [];
  #written = 0;
  /** the sheet entry being written */
  #deflate: zlib.DeflateRaw | undefined;
  #entry: Entry | undefined;
  #pending = '';
  #rowsInSheet = 0;
  #finished = false;
  #failure: Error | undefined;

  constructor(out: NodeJS.WritableStream, opts: XlsxWriterOptions = {}) {
    this.#out = out;
    this.#opts = opts;
    this.#maxRows = Math.min(opts.maxRowsPerSheet ?? EXCEL_MAX_ROWS, EXCEL_MAX_ROWS);
    if (this.#maxRows < (opts.headerRow ? 2 : 1)) throw new Error('maxRowsPerSheet leaves no room for data rows');
    this.#level = opts.compressionLevel ?? 1;
    out.on('error', (err: Error) => {
      this.#failure ??= err;
    });
  }

  /** Adds one row; resolves at once unless `out` has to drain first. */
  async addRow(cells: XlsxCell[]): Promise<void> {
    this.#checkOpen();
    if (!this.#deflate) await this.#startSheet();
    else if (this.#rowsInSheet >= this.#maxRows) {
      await this.#endSheet();
      await this.#startSheet();
    }
    this.#appendRow(cells, false);
    if (this.#pending.length >= FLUSH_AT) await this.#flush();
  }

  /** Writes the rest of the workbook and ends `out`. A workbook without rows has one empty sheet. */
  async finish(): Promise<void> {
    this.#checkOpen();
    if (!this.#deflate) await this.#startSheet();
    this.#finished = true;
    await this.#endSheet();
    const sheetCount = this.#sheets.length;
    await this.#storeEntry('[Content_Types].xml', contentTypes(sheetCount));
    await this.#storeEntry('_rels/.rels', rootRels());
    await this.#storeEntry('xl/workbook.xml', workbook(this.#sheets));
    await this.#storeEntry('xl/_rels/workbook.xml.rels', workbookRels(sheetCount));
    await this.#storeEntry('xl/styles.xml', STYLES);
    await this.#writeCentralDirectory();
    const done = this.#wait(this.#out as NodeJS.EventEmitter, 'finish');
    this.#out.end();
    await done;
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
  }

  #checkOpen(): void {
    this.#check();
    if (this.#finished) throw new Error('xlsx: the workbook is already finished');
  }

  #appendRow(cells: XlsxCell[], header: boolean): void {
    const r = ++this.#rowsInSheet;
    let xml = `<row r="${r}">`;
    const style = header ? ' s="1"' : '';
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      if (v === null || v === undefined || v === '') continue;
      const ref = columnName(i) + r;
      if (typeof v === 'number') {
        xml += Number.isFinite(v) ? `<c r="${ref}"${style}><v>${v}</v></c>` : '';
      } else if (typeof v === 'boolean') {
        xml += `<c r="${ref}"${style} t="b"><v>${v ? 1 : 0}</v></c>`;
      } else {
        const text = escapeXml(cellText(v));
        const space = /^\s|\s$/.test(text) ? ' xml:space="preserve"' : '';
        xml += `<c r="${ref}"${style} t="inlineStr"><is><t${space}>${text}</t></is></c>`;
      }
    }
    this.#pending += xml + '</row>';
  }

  async #startSheet(): Promise<void> {
    const index = this.#sheets.length;
    this.#sheets.push(sheetNameOf(this.#opts.sheetName, index));
    this.#entry = await this.#startEntry(`xl/worksheets/sheet${index + 1}.xml`);
    const deflate = zlib.createDeflateRaw({ level: this.#level });
    const entry = this.#entry;
    deflate.on('data', (chunk: Buffer) => {
      entry.compressedSize += chunk.length;
      this.#written += chunk.length;
      if (!this.#out.write(chunk)) {
        deflate.pause();
        this.#out.once('drain', () => deflate.resume());
      }
    });
    deflate.on('error', (err: Error) => {
      this.#failure ??= err;
    });
    this.#deflate = deflate;
    this.#rowsInSheet = 0;
    const widths = this.#opts.columnWidths ?? [];
    const cols = widths.length ? `<cols>${widths.map((w, i) => `<col min="${i + 1}" max="${i + 1}" width="${w}" customWidth="1"/>`).join('')}</cols>` : '';
    this.#pending = `${XML_HEAD}<worksheet xmlns="${NS_MAIN}" xmlns:r="${NS_REL}">${cols}<sheetData>`;
    if (this.#opts.headerRow) this.#appendRow(this.#opts.headerRow, true);
  }

  async #flush(): Promise<void> {
    const deflate = this.#deflate!;
    const data = Buffer.from(this.#pending, 'utf8');
    this.#pending = '';
    const entry = this.#entry!;
    entry.crc = zlib.crc32(data, entry.crc);
    entry.size += data.length;
    if (entry.size > MAX_32) throw new Error('xlsx: a sheet grew beyond 4 GB of XML');
    if (!deflate.write(data)) await this.#wait(deflate, 'drain');
    this.#check();
  }

  /** Waits for `event` on `emitter`, failing when `out` fails meanwhile (a dead destination must not hang the writer). */
  async #wait(emitter: NodeJS.EventEmitter, event: string): Promise<void> {
    this.#check();
    const ac = new AbortController();
    const event$ = once(emitter, event, { signal: ac.signal });
    const failed$ = once(this.#out as NodeJS.EventEmitter, 'error', { signal: ac.signal });
    event$.catch(() => {});
    failed$.catch(() => {});
    try {
      await Promise.race([event$, failed$.then(([err]) => Promise.reject(err as Error))]);
    } finally {
      ac.abort();
    }
  }

  async #endSheet(): Promise<void> {
    this.#pending += '</sheetData></worksheet>';
    await this.#flush();
    const deflate = this.#deflate!;
    const ended = this.#wait(deflate, 'end');
    deflate.end();
    await ended;
    this.#deflate = undefined;
    await this.#endEntry(this.#entry!);
  }

  async #startEntry(name: string): Promise<Entry> {
    const entry: Entry = { name: Buffer.from(name, 'utf8'), offset: this.#written, crc: 0, compressedSize: 0, size: 0 };
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(FLAG_DATA_DESCRIPTOR | FLAG_UTF8, 6);
    header.writeUInt16LE(METHOD_DEFLATE, 8);
    header.writeUInt16LE(this.#stamp.time, 10);
    header.writeUInt16LE(this.#stamp.date, 12);
    // crc and sizes (14..25) stay 0: they follow the data in the descriptor
    header.writeUInt16LE(entry.name.length, 26);
    header.writeUInt16LE(0, 28);
    await this.#write(Buffer.concat([header, entry.name]));
    this.#entries.push(entry);
    return entry;
  }

  async #endEntry(entry: Entry): Promise<void> {
    if (entry.compressedSize > MAX_32 || this.#written > MAX_32) throw new Error('xlsx: the workbook grew beyond 4 GB');
    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(entry.crc >>> 0, 4);
    descriptor.writeUInt32LE(entry.compressedSize, 8);
    descriptor.writeUInt32LE(entry.size, 12);
    await this.#write(descriptor);
  }

  async #storeEntry(name: string, content: string): Promise<void> {
    const data = Buffer.from(content, 'utf8');
    const entry = await this.#startEntry(name);
    const compressed = zlib.deflateRawSync(data, { level: this.#level });
    entry.crc = zlib.crc32(data);
    entry.size = data.length;
    entry.compressedSize = compressed.length;
    await this.#write(compressed);
    await this.#endEntry(entry);
  }

  async #writeCentralDirectory(): Promise<void> {
    const start = this.#written;
    const parts: Buffer[] = [];
    for (const e of this.#entries) {
      const h = Buffer.alloc(46);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(20, 4);
      h.writeUInt16LE(20, 6);
      h.writeUInt16LE(FLAG_DATA_DESCRIPTOR | FLAG_UTF8, 8);
      h.writeUInt16LE(METHOD_DEFLATE, 10);
      h.writeUInt16LE(this.#stamp.time, 12);
      h.writeUInt16LE(this.#stamp.date, 14);
      h.writeUInt32LE(e.crc >>> 0, 16);
      h.writeUInt32LE(e.compressedSize, 20);
      h.writeUInt32LE(e.size, 24);
      h.writeUInt16LE(e.name.length, 28);
      // extra, comment, disk, internal and external attributes: 0
      h.writeUInt32LE(e.offset, 42);
      parts.push(h, e.name);
    }
    const directory = Buffer.concat(parts);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.#entries.length, 8);
    end.writeUInt16LE(this.#entries.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(start, 16);
    await this.#write(Buffer.concat([directory, end]));
  }

  async #write(buf: Buffer): Promise<void> {
    this.#written += buf.length;
    if (!this.#out.write(buf)) await this.#wait(this.#out as NodeJS.EventEmitter, 'drain');
  }
}

/** A whole small workbook in memory (forms, tests). */
export async function xlsxBuffer(rows: XlsxCell[][], opts: XlsxWriterOptions = {}): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const writer = new XlsxWriter(out, opts);
  for (const row of rows) await writer.addRow(row);
  await writer.finish();
  return Buffer.concat(chunks);
}

function contentTypes(sheets: number): string {
  let overrides = '';
  for (let i = 1; i <= sheets; i++) {
    overrides += `<Override PartName="/xl/worksheets/sheet${i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`;
  }
  return (
    XML_HEAD +
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="xml" ContentType="application/xml"/>' +
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>' +
    overrides +
    '</Types>'
  );
}

function rootRels(): string {
  return (
    XML_HEAD +
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>' +
    '</Relationships>'
  );
}

function workbook(sheets: string[]): string {
  const list = sheets.map((name, i) => `<sheet name="${escapeXml(name)}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('');
  return `${XML_HEAD}<workbook xmlns="${NS_MAIN}" xmlns:r="${NS_REL}"><sheets>${list}</sheets></workbook>`;
}

function workbookRels(sheets: number): string {
  let rels = '';
  for (let i = 1; i <= sheets; i++) {
    rels += `<Relationship Id="rId${i}" Type="${NS_REL}/worksheet" Target="worksheets/sheet${i}.xml"/>`;
  }
  rels += `<Relationship Id="rId${sheets + 1}" Type="${NS_REL}/styles" Target="styles.xml"/>`;
  return `${XML_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels}</Relationships>`;
}

/** Style 0: the default; style 1: bold (the header row). */
const STYLES =
  XML_HEAD +
  `<styleSheet xmlns="${NS_MAIN}">` +
  '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>' +
  '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>' +
  '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
  '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
  '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>' +
  '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>' +
  '</styleSheet>';

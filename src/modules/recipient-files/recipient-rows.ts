import { badRequest } from '../../shared/errors.ts';
import { columnName, type SheetRow } from '../../shared/xlsx/xlsx-reader.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import { LIMITS } from '../../shared/mail-limits.ts';

/**
 * The rules of a bulk recipient file, pure. The first non-blank row is the header:
 * `address`, `name` (case and surrounding spaces ignored), then one column per `${TAG}`, named
 * as the tag (1-100 characters, any but "}"; each once). Every later row is a recipient:
 * a valid address, a name of at most 69 characters (may be empty), and tag values; an empty tag
 * cell means "no value", so the request's `parameters` apply, as for a JSON recipient without
 * that tag. Blank rows are skipped and not counted. An address already seen (case-insensitive)
 * is an invalid row "duplicate of row N": the address is sent once. A cell holding U+0000 (NUL,
 * which PostgreSQL can't store) makes its row invalid.
 */
export const RECIPIENT_FILE_LIMITS = {
  rows: 100_000,
  tags: 100,
  /** a longer cell ("a huge cell") makes its row invalid */
  cellChars: 10_000,
  /** all kept tag values of a file together (a few shared strings can fill every row) */
  totalValueChars: 200 * 1024 * 1024,
} as const;

// no NUL either: PostgreSQL text can't hold one
const TAG_NAME = /^[^}\0]{1,100}$/u;

export interface FileHeader {
  /** the header's row number */
  row: number;
  tags: string[];
  /** columns the header names: address, name and the tags */
  width: number;
}

export interface FileRecipient {
  row: number;
  address: string;
  name: string | null;
  parameters: Record<string, string> | null;
}

export interface RowError {
  row: number;
  reason: string;
}

export const isBlankRow = (row: SheetRow) => row.problems.length === 0 && row.cells.every((c) => c.trim() === '');

const shown = (s: string) => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);

/** The header row: 400/77102 naming the column when it is not address, name, tags. */
export function readHeader(row: SheetRow): FileHeader {
  const where = `the header (row ${row.row})`;
  const problem = row.problems[0];
  if (problem) throw badRequest(`file: ${where}, column ${columnName(problem.column)} ${problem.reason}`);
  const cells = row.cells.map((c) => c.trim());
  while (cells.length && cells[cells.length - 1] === '') cells.pop();
  if (cells[0]?.toLowerCase() !== 'address' || cells[1]?.toLowerCase() !== 'name') {
    const found = cells.slice(0, 2).map(shown).join(', ') || 'nothing';
    throw badRequest(`file: ${where} must start with the columns "address", "name" (then one column per tag); found ${found}`);
  }
  const tags = cells.slice(2);
  if (tags.length > RECIPIENT_FILE_LIMITS.tags)
    throw badRequest(`file: ${where} has ${tags.length} tag columns, at most ${RECIPIENT_FILE_LIMITS.tags} are allowed`);
  const seen = new Map<string, number>();
  tags.forEach((tag, i) => {
    const col = columnName(i + 2);
    if (tag === '') throw badRequest(`file: ${where}, column ${col} has no tag name`);
    if (!TAG_NAME.test(tag)) throw badRequest(`file: ${where}, column ${col}: ${shown(tag)} is not a tag name (1-100 characters, no })`);
    const before = seen.get(tag);
    if (before !== undefined) throw badRequest(`file: ${where}, column ${col}: the tag ${shown(tag)} is already column ${columnName(before)}`);
    seen.set(tag, i + 2);
  });
  return { row: row.row, tags, width: cells.length };
}

/**
 * Checks data rows in file order, remembering addresses for duplicates. `strictWidth` (CSV):
 * a row with fewer fields than the header is malformed; in .xlsx, cells left empty are simply
 * missing.
 */
export class RecipientRowChecker {
  private readonly header: FileHeader;
  private readonly strictWidth: boolean;
  private readonly firstRowOf = new Map<string, number>();
  private valueChars = 0;

  constructor(header: FileHeader, opts: { strictWidth: boolean }) {
    this.header = header;
    this.strictWidth = opts.strictWidth;
  }

  private columnLabel(col: number): string {
    const label = col === 0 ? 'address' : col === 1 ? 'name' : this.header.tags[col - 2];
    return label === undefined ? `column ${columnName(col)}` : `column ${columnName(col)} (${label})`;
  }

  /** A recipient (with the characters of its tag values), or the reasons the row is refused; undefined for a blank row. */
  check(row: SheetRow): { recipient: FileRecipient; chars: number } | { error: RowError } | undefined {
    if (isBlankRow(row)) return undefined;
    const reasons: string[] = [];
    const { width, tags } = this.header;
    const cells = row.cells;
    const limit = RECIPIENT_FILE_LIMITS.cellChars;
    for (const p of row.problems) reasons.push(`${this.columnLabel(p.column)} ${p.reason}`);
    if (this.strictWidth && cells.length < width) reasons.push(`has ${cells.length} column${cells.length === 1 ? '' : 's'}, the header has ${width}`);
    for (let c = width; c < cells.length; c++) {
      if (cells[c]!.trim() !== '') {
        reasons.push(`column ${columnName(c)} has a value but no header`);
        break;
      }
    }
    for (let c = 0; c < Math.min(cells.length, width); c++) {
      if (cells[c]!.length > limit) reasons.push(`${this.columnLabel(c)} is longer than ${limit.toLocaleString('en-US')} characters`);
      // PostgreSQL text and jsonb can't hold U+0000 (a .csv can; the upload only sniffs its start)
      else if (cells[c]!.includes('\0')) reasons.push(`${this.columnLabel(c)} contains a NUL character (U+0000)`);
    }
    const address = (cells[0] ?? '').trim();
    if (address === '') reasons.push('address: empty');
    else if (address.length <= limit && !isValidEmail(address)) reasons.push(`address: ${shown(address)} is not a valid e-mail address`);
    const rawName = (cells[1] ?? '').trim();
    // UTF-16 length >= characters: only a long name needs counting.
    if (rawName.length > LIMITS.recipientNameChars && rawName.length <= limit && [...rawName].length > LIMITS.recipientNameChars) {
      reasons.push(`name: longer than ${LIMITS.recipientNameChars} characters`);
    }
    const key = address.toLowerCase();
    if (reasons.length === 0) {
      const first = this.firstRowOf.get(key);
      if (first !== undefined) reasons.push(`duplicate of row ${first} (${shown(address)} is sent once)`);
    }
    if (reasons.length) return { error: { row: row.row, reason: reasons.join('; ') } };

    let parameters: Record<string, string> | null = null;
    let chars = 0;
    for (let i = 0; i < tags.length; i++) {
      const value = cells[i + 2];
      if (value === undefined || value === '') continue;
      // defineProperty-like own properties: even a "__proto__" tag keeps its value.
      parameters ??= Object.create(null) as Record<string, string>;
      parameters[tags[i]!] = value;
      chars += value.length;
    }
    this.valueChars += chars;
    if (this.valueChars > RECIPIENT_FILE_LIMITS.totalValueChars) {
      throw badRequest(`file: the tag values total more than ${RECIPIENT_FILE_LIMITS.totalValueChars / 1024 / 1024} M characters (at row ${row.row})`);
    }
    this.firstRowOf.set(key, row.row);
    return { recipient: { row: row.row, address, name: rawName === '' ? null : rawName, parameters }, chars };
  }
}

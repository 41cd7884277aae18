import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/shared/errors.ts';
import type { SheetRow } from '../../src/shared/xlsx/xlsx-reader.ts';
import { isBlankRow, readHeader, RecipientRowChecker, RECIPIENT_FILE_LIMITS } from '../../src/modules/recipient-files/recipient-rows.ts';
import { formTags } from '../../src/modules/recipient-files/recipient-files.service.ts';

/** The rules of a bulk recipient file: the header, each row, duplicates, blank rows, widths. */

const row = (r: number, cells: string[], problems: SheetRow['problems'] = []): SheetRow => ({ row: r, cells, problems });

function headerError(cells: string[], problems: SheetRow['problems'] = []): string {
  try {
    readHeader(row(1, cells, problems));
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('77102');
    return (err as Error).message;
  }
  throw new Error('expected a 400');
}

describe('readHeader', () => {
  it('takes address, name (any case, spaces around) and the tags; trailing empty cells do not count', () => {
    expect(readHeader(row(3, [' Address ', 'NAME', 'COUPON', 'grade', '', '']))).toEqual({ row: 3, tags: ['COUPON', 'grade'], width: 4 });
    expect(readHeader(row(1, ['address', 'name']))).toEqual({ row: 1, tags: [], width: 2 });
    // a tag name holds anything but "}" (the guide sets no rule on names)
    expect(readHeader(row(1, ['address', 'name', 'MY TAG', '쿠폰 코드']))).toEqual({ row: 1, tags: ['MY TAG', '쿠폰 코드'], width: 4 });
  });

  it.each([
    [['email', 'name'], /must start with the columns "address", "name".*found "email", "name"/],
    [['name', 'address'], /must start with the columns/],
    [['address'], /must start with the columns/],
    [['address', 'name', '', 'X'], /column C has no tag name/],
    [['address', 'name', 'a{b}'], /not a tag name/],
    [['address', 'name', 'A\0B'], /column C: "A\\u0000B" is not a tag name/],
    [['address', 'name', 'X', 'Y', 'X'], /column E: the tag "X" is already column C/],
  ])('refuses the header %j', (cells, message) => {
    expect(headerError(cells)).toMatch(message);
  });

  it('refuses more than 100 tags and a header cell the reader flagged', () => {
    const tags = Array.from({ length: RECIPIENT_FILE_LIMITS.tags + 1 }, (_, i) => `T${i}`);
    expect(headerError(['address', 'name', ...tags])).toMatch(/101 tag columns, at most 100/);
    expect(headerError(['address', 'name', ''], [{ column: 2, reason: 'holds the error value #REF!' }])).toMatch(/column C holds the error value #REF!/);
  });
});

describe('RecipientRowChecker', () => {
  const header = readHeader(row(1, ['address', 'name', 'COUPON', 'GRADE']));
  const checker = () => new RecipientRowChecker(header, { strictWidth: false });

  it('turns a row into a recipient: address and name trimmed, non-empty tag cells as parameters', () => {
    expect(checker().check(row(2, [' kim@example.com ', ' Kim ', 'C-1', '']))).toEqual({
      recipient: { row: 2, address: 'kim@example.com', name: 'Kim', parameters: { COUPON: 'C-1' } },
      chars: 3,
    });
    expect(checker().check(row(2, ['lee@example.com']))).toEqual({ recipient: { row: 2, address: 'lee@example.com', name: null, parameters: null }, chars: 0 });
  });

  it('keeps tag values as written (spaces included) and a "__proto__" tag as an own property', () => {
    const c = new RecipientRowChecker(readHeader(row(1, ['address', 'name', '__proto__'])), { strictWidth: false });
    const r = c.check(row(2, ['a@b.co', '', ' v ']));
    expect(r).toEqual({ recipient: expect.objectContaining({ parameters: { ['__proto__']: ' v ' } }), chars: 3 });
    expect(Object.keys((r as { recipient: { parameters: object } }).recipient.parameters)).toEqual(['__proto__']);
  });

  it('skips blank rows (spaces only count as blank) without counting them', () => {
    expect(checker().check(row(5, ['', ' ', '']))).toBeUndefined();
    expect(isBlankRow(row(5, []))).toBe(true);
    expect(isBlankRow(row(5, [''], [{ column: 0, reason: 'x' }]))).toBe(false);
  });

  it.each([
    ['address: empty', ['', 'Kim']],
    ['address: "not-an-address" is not a valid e-mail address', ['not-an-address', 'Kim']],
    ['name: longer than 69 characters', ['a@b.co', 'n'.repeat(70)]],
    ['column C (COUPON) is longer than 10,000 characters', ['a@b.co', '', 'x'.repeat(RECIPIENT_FILE_LIMITS.cellChars + 1)]],
    ['column E has a value but no header', ['a@b.co', '', '', '', 'stray']],
    ['column B (name) contains a NUL character (U+0000)', ['a@b.co', 'K\0im']],
    ['column D (GRADE) contains a NUL character (U+0000)', ['a@b.co', 'Kim', 'C-1', '\0']],
  ])('refuses a row: %s', (reason, cells) => {
    expect(checker().check(row(7, cells))).toEqual({ error: { row: 7, reason } });
  });

  it('accepts a name of exactly 69 characters (any script) and trailing empty cells beyond the header', () => {
    expect(checker().check(row(2, ['a@b.co', '가'.repeat(69), '', '', '', '']))).toMatchObject({ recipient: { name: '가'.repeat(69) } });
  });

  it('reports every reason of a row, and the cell problems the reader found with the column and tag', () => {
    const r = checker().check(row(4, ['bad', 'n'.repeat(70), ''], [{ column: 3, reason: 'holds the error value #N/A' }]));
    expect(r).toEqual({
      error: { row: 4, reason: 'column D (GRADE) holds the error value #N/A; address: "bad" is not a valid e-mail address; name: longer than 69 characters' },
    });
  });

  it('refuses a later row with the same address (any case) as "duplicate of row N"; an invalid first row does not count', () => {
    const c = checker();
    expect(c.check(row(2, ['Kim@Example.com', 'first']))).toHaveProperty('recipient');
    expect(c.check(row(3, ['other@example.com', 'n'.repeat(70)]))).toHaveProperty('error');
    expect(c.check(row(5, ['kim@example.COM', 'again']))).toEqual({ error: { row: 5, reason: 'duplicate of row 2 ("kim@example.COM" is sent once)' } });
    expect(c.check(row(6, ['other@example.com', 'fixed']))).toHaveProperty('recipient');
  });

  it('with strictWidth (CSV), refuses a row with fewer fields than the header', () => {
    const c = new RecipientRowChecker(header, { strictWidth: true });
    expect(c.check(row(2, ['a@b.co', 'Kim']))).toEqual({ error: { row: 2, reason: 'has 2 columns, the header has 4' } });
    expect(c.check(row(3, ['a@b.co', 'Kim', '', '']))).toHaveProperty('recipient');
  });
});

describe('formTags', () => {
  it('takes tags repeated or comma-separated', () => {
    expect(formTags(undefined)).toEqual([]);
    expect(formTags('A')).toEqual(['A']);
    expect(formTags(['A', 'B,C', ' '])).toEqual(['A', 'B', 'C']);
  });
  it('refuses what the header would refuse', () => {
    expect(() => formTags(['A', 'A'])).toThrow(/already column/);
    expect(() => formTags(['{x}'])).toThrow(/not a tag name/);
  });
});

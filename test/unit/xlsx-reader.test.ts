import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import { columnName, columnOfRef, readXlsxRows, XLSX_LIMITS, XlsxReadError, type SheetRow, type XlsxLimits } from '../../src/shared/xlsx/xlsx-reader.ts';
import { XlsxWriter } from '../../src/shared/xlsx/xlsx-writer.ts';
import { buildXlsx, DEFAULT_RELS, inlineRowsXml, sharedStringsXml, sheetXml, simpleXlsx } from '../helpers/xlsx-fixture.ts';
import { buildZip } from '../helpers/zip.ts';

/** The streaming .xlsx reader: cell types, shared strings, formulas, the first sheet, and its bounds. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlsx-reader-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function read(data: Buffer, limits?: Partial<XlsxLimits>): Promise<SheetRow[]> {
  const file = path.join(dir, `${++n}.xlsx`);
  fs.writeFileSync(file, data);
  const rows: SheetRow[] = [];
  for await (const batch of readXlsxRows(file, { ...XLSX_LIMITS, ...limits })) rows.push(...batch);
  return rows;
}

async function readError(data: Buffer, limits?: Partial<XlsxLimits>): Promise<string> {
  try {
    await read(data, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(XlsxReadError);
    return (err as Error).message;
  }
  throw new Error('expected an XlsxReadError');
}

describe('columns', () => {
  it('names and parses column letters', () => {
    expect([0, 25, 26, 27, 701, 702, 16383].map(columnName)).toEqual(['A', 'Z', 'AA', 'AB', 'ZZ', 'AAA', 'XFD']);
    expect(['A1', 'c7', 'AA10', 'XFD1048576', '12', ''].map(columnOfRef)).toEqual([0, 2, 26, 16383, -1, -1]);
  });
});

describe('readXlsxRows', () => {
  it('reads inline strings, numbers and booleans, by row', async () => {
    const rows = await read(
      simpleXlsx([
        ['address', 'name', 'N'],
        ['a@b.co', 'Kim', 12.5],
        ['c@d.co', null, true],
      ]),
    );
    expect(rows).toEqual([
      { row: 1, cells: ['address', 'name', 'N'], problems: [] },
      { row: 2, cells: ['a@b.co', 'Kim', '12.5'], problems: [] },
      { row: 3, cells: ['c@d.co', '', 'TRUE'], problems: [] },
    ]);
  });

  it('places cells by their reference, keeps row numbers with gaps, and numbers cells and rows without references in order', async () => {
    const xml =
      '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="D1"><v>4</v></c></row>' +
      '<row r="5"><c><v>1</v></c><c><v>2</v></c></row><row><c r="B6"><v>0.10</v></c></row>';
    expect(await read(buildXlsx({ sheet: sheetXml(xml) }))).toEqual([
      { row: 1, cells: ['a', '', '', '4'], problems: [] },
      { row: 5, cells: ['1', '2'], problems: [] },
      { row: 6, cells: ['', '0.1'], problems: [] },
    ]);
  });

  it('resolves shared strings: entities, rich-text runs joined, phonetic guides left out', async () => {
    const shared = sharedStringsXml([
      'plain & <b>',
      '<r><t>rich </t></r><r><rPr><b/></rPr><t>text</t></r>',
      '<t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh>',
    ]);
    const xml = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>';
    expect((await read(buildXlsx({ sheet: sheetXml(xml), sharedStrings: shared })))[0]!.cells).toEqual(['plain & <b>', 'rich text', '漢字']);
  });

  it('never evaluates formulas: the cached value counts, a formula without one and error values are cell problems', async () => {
    const xml =
      '<row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="B2" t="str"><f>"x"&amp;"y"</f><v>xy</v></c>' +
      '<c r="C2"><f>HYPERLINK("http://evil")</f></c><c r="D2" t="e"><v>#DIV/0!</v></c><c r="E2" t="s"><v>99</v></c></row>';
    const [row] = await read(buildXlsx({ sheet: sheetXml(xml), sharedStrings: sharedStringsXml(['only']) }));
    expect(row!.cells).toEqual(['2', 'xy', '', '', '']);
    expect(row!.problems).toEqual([
      { column: 2, reason: expect.stringMatching(/formula without a computed value/) },
      { column: 3, reason: 'holds the error value #DIV/0!' },
      { column: 4, reason: expect.stringMatching(/shared text the file does not have/) },
    ]);
  });

  it('reads the first sheet in workbook order through the relationships, with prefixed elements', async () => {
    const workbook = `<?xml version="1.0"?><x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><x:sheets><x:sheet name="Data" sheetId="2" r:id="rId9"/><x:sheet name="Other" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>`;
    const rels = DEFAULT_RELS.replace(
      '</Relationships>',
      '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/data.xml"/></Relationships>',
    );
    const data = `<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>first</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>`;
    const file = buildXlsx({ workbook, rels, sheet: sheetXml(inlineRowsXml([['second']])), extra: [{ name: 'xl/worksheets/data.xml', data }] });
    expect((await read(file)).map((r) => r.cells)).toEqual([['first']]);
  });

  it('reads a workbook written by XlsxWriter (streamed, data descriptors)', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const writer = new XlsxWriter(out, { headerRow: ['address', 'name', 'T'] });
    for (let i = 0; i < 2000; i++) await writer.addRow([`u${i}@example.com`, `이름 ${i}`, i % 2 ? '=1+1' : i]);
    await writer.finish();
    const rows = await read(Buffer.concat(chunks));
    expect(rows.length).toBe(2001);
    expect(rows[0]!.cells).toEqual(['address', 'name', 'T']);
    expect(rows[1]!.cells).toEqual(['u0@example.com', '이름 0', '0']);
    expect(rows[2]!.cells).toEqual(['u1@example.com', '이름 1', '=1+1']);
    expect(rows[2000]!.row).toBe(2001);
  });

  it('flags a cell longer than maxCellChars (inline or shared) and keeps the rest of the row', async () => {
    const long = 'x'.repeat(101);
    const xml = `<row r="1"><c r="A1" t="inlineStr"><is><t>${long}</t></is></c><c r="B1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>ok</t></is></c></row>`;
    const [row] = await read(buildXlsx({ sheet: sheetXml(xml), sharedStrings: sharedStringsXml([long]) }), { maxCellChars: 100 });
    expect(row!.cells).toEqual(['', '', 'ok']);
    expect(row!.problems.map((p) => p.column)).toEqual([0, 1]);
    expect(row!.problems[0]!.reason).toMatch(/longer than 100 characters/);
  });

  it('reports a value right of maxColumns without keeping it', async () => {
    const xml = '<row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>2</v></c></row>';
    const [row] = await read(buildXlsx({ sheet: sheetXml(xml) }), { maxColumns: 10 });
    expect(row!.cells).toEqual(['1']);
    expect(row!.problems).toEqual([{ column: 16383, reason: expect.stringMatching(/beyond the last column/) }]);
  });

  it('refuses what is not an .xlsx, damaged or malformed', async () => {
    expect(await readError(Buffer.from('address,name\n'))).toMatch(/not an \.xlsx file/);
    expect(await readError(buildZip([{ name: 'word/document.xml', data: '<w/>' }]))).toMatch(/xl\/workbook\.xml is missing/);
    expect(await readError(buildXlsx({ sheet: sheetXml('<row r="1"><c r="A1"><v>1</v></row>') }))).toMatch(/worksheet is not well-formed XML/);
    expect(await readError(buildXlsx({ sheet: sheetXml(''), sheetPath: 'xl/worksheets/other.xml' }))).toMatch(/first worksheet is missing/);
    const good = simpleXlsx([['a']]);
    expect(await readError(good.subarray(0, good.length - 30))).toMatch(/not an \.xlsx file/);
  });

  it('bounds the work: inflated sizes, entries, shared strings, a single giant text', async () => {
    const big = buildXlsx({ sheet: sheetXml(inlineRowsXml(Array.from({ length: 200 }, () => ['x'.repeat(100)]))) });
    expect(await readError(big, { maxSheetBytes: 10_000 })).toMatch(/worksheet inflates to .* MB, more than/);
    const many = buildXlsx({ sheet: sheetXml(''), extra: Array.from({ length: 20 }, (_, i) => ({ name: `junk/${i}`, data: 'x' })) });
    expect(await readError(many, { maxEntries: 10 })).toMatch(/more than 10 entries/);
    expect(await readError(buildXlsx({ sheet: sheetXml(''), sharedStrings: sharedStringsXml(['a', 'b', 'c']) }), { maxSharedStrings: 2 })).toMatch(
      /more than 2 distinct texts/,
    );
    const giant = buildXlsx({ sheet: sheetXml(`<row r="1"><c r="A1" t="inlineStr"><is><t>${'y'.repeat(1_200_000)}</t></is></c></row>`) });
    expect(await readError(giant, { maxCellChars: 1000 })).toMatch(/holds a text of more than/);
  });

  it('refuses elements nested more than 64 deep, in the worksheet, the shared strings and the workbook', async () => {
    const deep = '<x>'.repeat(100_000);
    const header = inlineRowsXml([['address', 'name']]);
    expect(await readError(buildXlsx({ sheet: sheetXml(`${header}<row r="2">${deep}`) }))).toMatch(/the worksheet nests elements more than 64 deep/);
    expect(await readError(buildXlsx({ sheet: sheetXml(header), sharedStrings: `<sst><si>${deep}` }))).toMatch(
      /sharedStrings\.xml nests elements more than 64 deep/,
    );
    expect(await readError(buildXlsx({ sheet: sheetXml(header), workbook: `<workbook>${deep}` }))).toMatch(/workbook\.xml nests elements more than 64 deep/);
    // 64 levels are fine (a real sheet needs 7)
    const ok = `${header}<row r="2"><c r="A2" t="inlineStr"><is><t>a</t></is></c>${'<x>'.repeat(58)}${'</x>'.repeat(58)}</row>`;
    expect((await read(buildXlsx({ sheet: sheetXml(ok) }))).map((r) => r.cells)).toEqual([['address', 'name'], ['a']]);
  });

  it('counts every row element, blank ones too, toward maxRows', async () => {
    const sheet = sheetXml(inlineRowsXml([['address', 'name']]) + '<row/>'.repeat(10));
    expect(await readError(buildXlsx({ sheet }), { maxRows: 10 })).toMatch(/has more than 10 rows/);
    expect(await read(buildXlsx({ sheet }), { maxRows: 11 })).toHaveLength(11);
    expect(XLSX_LIMITS.maxRows).toBe(1_048_576);
  });

  it('hands rows over in batches of bounded cells, even when short rows pad out to a far column', async () => {
    const file = path.join(dir, 'far.xlsx');
    fs.writeFileSync(file, buildXlsx({ sheet: sheetXml('<row><c r="XFC3"/></row>'.repeat(3000)) }));
    let rows = 0;
    let largest = 0;
    for await (const batch of readXlsxRows(file)) {
      rows += batch.length;
      largest = Math.max(
        largest,
        batch.reduce((n, r) => n + r.cells.length + 1, 0),
      );
    }
    expect(rows).toBe(3000);
    // each row is 16,383 cells; a batch stops soon after 65,536 cells (one slice of XML more at most)
    expect(largest).toBeLessThanOrEqual(1_000_000);
    // with maxColumns, a far cell is neither kept nor padded up to
    const [row] = await read(buildXlsx({ sheet: sheetXml('<row><c r="A1"><v>1</v></c><c r="XFC1"/></row>') }), { maxColumns: 103 });
    expect(row!.cells).toEqual(['1']);
  });

  it('stops early without reading the rest', async () => {
    const file = path.join(dir, 'early.xlsx');
    fs.writeFileSync(file, simpleXlsx(Array.from({ length: 5000 }, (_, i) => [`r${i}`])));
    let seen = 0;
    for await (const batch of readXlsxRows(file)) {
      seen += batch.length;
      break;
    }
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(5000);
  });
});

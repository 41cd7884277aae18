import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { EXCEL_MAX_CELL_CHARS, XlsxWriter, cellText, columnName, xlsxBuffer } from '../../src/shared/xlsx/xlsx-writer.ts';

/** Every entry of a zip, inflated, with its CRC checked against the central directory's. */
function unzip(buf: Buffer): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const files = new Map<string, string>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const data = Buffer.concat(chunks);
            if (zlib.crc32(data) !== entry.crc32) return reject(new Error(`CRC mismatch in ${entry.fileName}`));
            files.set(entry.fileName, data.toString('utf8'));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(files));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('xlsx writer', () => {
  test('writes a valid workbook: inline strings, numbers, booleans, blanks keep their column', async () => {
    const files = await unzip(
      await xlsxBuffer(
        [
          ['a', 1, true, null, ' x ', '=1+1'],
          ['日本語', 2.5, false],
        ],
        { headerRow: ['address', 'name'] },
      ),
    );
    expect([...files.keys()].sort()).toEqual(
      ['[Content_Types].xml', '_rels/.rels', 'xl/_rels/workbook.xml.rels', 'xl/styles.xml', 'xl/workbook.xml', 'xl/worksheets/sheet1.xml'].sort(),
    );
    const sheet = files.get('xl/worksheets/sheet1.xml')!;
    expect(sheet).toContain('<row r="1"><c r="A1" s="1" t="inlineStr"><is><t>address</t></is></c><c r="B1" s="1" t="inlineStr"><is><t>name</t></is></c></row>');
    expect(sheet).toContain('<c r="A2" t="inlineStr"><is><t>a</t></is></c><c r="B2"><v>1</v></c><c r="C2" t="b"><v>1</v></c>');
    // D2 is blank: E2 keeps its column, and surrounding spaces are preserved
    expect(sheet).toContain('<c r="E2" t="inlineStr"><is><t xml:space="preserve"> x </t></is></c>');
    // a formula-looking string stays text: never <f>
    expect(sheet).toContain('<c r="F2" t="inlineStr"><is><t>=1+1</t></is></c>');
    expect(sheet).not.toContain('<f>');
    expect(sheet).toContain('<c r="A3" t="inlineStr"><is><t>日本語</t></is></c><c r="B3"><v>2.5</v></c><c r="C3" t="b"><v>0</v></c>');
  });

  test('escapes markup and drops characters XML cannot carry', async () => {
    const files = await unzip(await xlsxBuffer([['a&b<c>"d', 'bell\u0007 nul\u0000 lone\uD800 ok\uD83D\uDE00']]));
    const sheet = files.get('xl/worksheets/sheet1.xml')!;
    expect(sheet).toContain('<t>a&amp;b&lt;c&gt;&quot;d</t>');
    expect(sheet).toContain('<t>bell nul lone ok\uD83D\uDE00</t>');
  });

  test("cuts cells at Excel's limit without splitting a surrogate pair", () => {
    expect(cellText('x'.repeat(EXCEL_MAX_CELL_CHARS + 10))).toHaveLength(EXCEL_MAX_CELL_CHARS);
    const s = cellText('x'.repeat(EXCEL_MAX_CELL_CHARS - 1) + '\uD83D\uDE00');
    expect(s).toHaveLength(EXCEL_MAX_CELL_CHARS - 1);
  });

  test('column names', () => {
    expect([0, 25, 26, 27, 701, 702, 16383].map(columnName)).toEqual(['A', 'Z', 'AA', 'AB', 'ZZ', 'AAA', 'XFD']);
  });

  test('continues on a new sheet past the row limit, repeating the header', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => [`r${i}`]);
    const files = await unzip(await xlsxBuffer(rows, { headerRow: ['h'], maxRowsPerSheet: 3, sheetName: 'Re[c]ipients/all' }));
    const s1 = files.get('xl/worksheets/sheet1.xml')!;
    const s2 = files.get('xl/worksheets/sheet2.xml')!;
    const s3 = files.get('xl/worksheets/sheet3.xml')!;
    expect(s1.match(/<row /g)).toHaveLength(3);
    expect(s1).toContain('<t>h</t>');
    expect(s2).toContain('<row r="1"><c r="A1" s="1" t="inlineStr"><is><t>h</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>r2</t></is></c></row>');
    expect(s3).toContain('<t>r4</t>');
    const wb = files.get('xl/workbook.xml')!;
    expect(wb).toContain('<sheet name="Re c ipients all" sheetId="1" r:id="rId1"/>');
    expect(wb).toContain('<sheet name="Re c ipients all 3" sheetId="3" r:id="rId3"/>');
    expect(files.get('[Content_Types].xml')).toContain('/xl/worksheets/sheet3.xml');
  });

  test('an empty workbook still has one sheet', async () => {
    const files = await unzip(await xlsxBuffer([]));
    expect(files.get('xl/worksheets/sheet1.xml')).toContain('<sheetData></sheetData>');
  });

  test('waits for a slow destination and still writes every row', async () => {
    const chunks: Buffer[] = [];
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        writes++;
        setTimeout(cb, writes % 20 === 0 ? 1 : 0);
      },
    });
    const writer = new XlsxWriter(slow, { headerRow: ['n', 'text'] });
    for (let i = 0; i < 20_000; i++) await writer.addRow([i, `row ${i} ${'y'.repeat(i % 50)}`]);
    await writer.finish();
    const sheet = (await unzip(Buffer.concat(chunks))).get('xl/worksheets/sheet1.xml')!;
    expect(sheet.match(/<row /g)).toHaveLength(20_001);
    expect(sheet).toContain('<c r="A20001"><v>19999</v></c>');
  });

  test('a failing destination rejects instead of hanging', async () => {
    const broken = new Writable({
      highWaterMark: 16,
      write(_chunk, _enc, cb) {
        cb(new Error('disk full'));
      },
    });
    const writer = new XlsxWriter(broken);
    await expect(
      (async () => {
        for (let i = 0; i < 100_000; i++) await writer.addRow([`row ${i}`, 'z'.repeat(100)]);
        await writer.finish();
      })(),
    ).rejects.toThrow('disk full');
  });

  test('refuses rows after finish', async () => {
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const writer = new XlsxWriter(sink);
    await writer.finish();
    await expect(writer.addRow(['late'])).rejects.toThrow('already finished');
  });
});

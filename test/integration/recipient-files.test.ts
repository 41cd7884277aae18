import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import type supertest from 'supertest';
import { createLogger } from '../../src/logger.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { cleanupRecipientFiles } from '../../src/modules/recipient-files/recipient-files.service.ts';
import { storeRecipients } from '../../src/modules/requests/requests.service.ts';
import { noteDrawnIds } from '../helpers/drawn-ids.ts';
import { readXlsxRows } from '../../src/shared/xlsx/xlsx-reader.ts';
import { startTestService, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { buildXlsx, esc, inlineRowsXml, sheetXml, simpleXlsx } from '../helpers/xlsx-fixture.ts';
import { buildZip } from '../helpers/zip.ts';
import { expectError, asFile } from '../helpers/responses.ts';

/**
 * Bulk recipient files (an extension endpoint): the .xlsx form, uploads of .xlsx and .csv with every
 * invalid row reported, what is refused as a whole (and leaves nothing), and createMailRequest's
 * recipientFileId up to the mails the SMTP sink receives.
 */

const { svc, sink } = useTestService({ resetSinkAfterEach: true });
let other: CreatedKey;
const logger = createLogger('silent');

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

function upload(name: string, data: Buffer | string, key?: CreatedKey): supertest.Test {
  return svc.call('POST', '/api/v1/recipient-files', { key }).attach('file', Buffer.from(data), name);
}

const count = async (table: 'recipient_files' | 'recipient_file_rows') =>
  Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}`.execute(svc.db.db)).rows[0]!.n);
const uploadDir = () => path.join(svc.config.dataDir, 'recipient-files');
const leftovers = () => (fs.existsSync(uploadDir()) ? fs.readdirSync(uploadDir()) : []);

async function storedRows(fileId: string) {
  const res = await sql<{ pos: number; row_no: number; address: string; name: string | null; parameters: unknown }>`
    SELECT pos, row_no, address, name, parameters FROM recipient_file_rows WHERE file_id = ${fileId} ORDER BY pos`.execute(svc.db.db);
  return res.rows;
}

/** Refused as a whole: 400/77102 naming the file, no row, no temporary file. */
async function expectRefused(res: supertest.Response, message: RegExp) {
  expectError(res, '77102', message);
  expect(res.body.error.message).toMatch(/^file: /);
  expect(await count('recipient_files')).toBe(filesBefore);
  expect(await count('recipient_file_rows')).toBe(rowsBefore);
  expect(leftovers()).toEqual([]);
}
let filesBefore = 0;
let rowsBefore = 0;

/** Patches the size an entry declares in the central directory (a lying or bomb-like archive). */
function declareSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let i = out.length - 22; i >= 0; i--) {
    if (out.readUInt32LE(i) !== 0x02014b50) continue;
    const len = out.readUInt16LE(i + 28);
    if (out.toString('utf8', i + 46, i + 46 + len) === name) {
      out.writeUInt32LE(size, i + 24);
      return out;
    }
  }
  throw new Error(`no entry ${name}`);
}

describe('getRecipientFileForm', () => {
  async function formHeader(target: string): Promise<string[]> {
    const res = await asFile(svc.call('GET', target));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(res.headers['content-disposition']).toBe('attachment; filename="recipients.xlsx"');
    const file = path.join(svc.config.dataDir, 'form.xlsx');
    fs.writeFileSync(file, res.body as Buffer);
    const rows = [];
    for await (const batch of readXlsxRows(file)) rows.push(...batch);
    expect(rows).toHaveLength(1);
    return rows[0]!.cells;
  }

  it('gives an .xlsx whose header is address, name and the tags, repeated or comma-separated', async () => {
    expect(await formHeader('/api/v1/recipient-files/form?tags=COUPON&tags=GRADE')).toEqual(['address', 'name', 'COUPON', 'GRADE']);
    expect(await formHeader('/api/v1/recipient-files/form?tags=COUPON%2CGRADE')).toEqual(['address', 'name', 'COUPON', 'GRADE']);
    expect(await formHeader('/api/v1/recipient-files/form')).toEqual(['address', 'name']);
  });

  it('refuses tag names a file could not have', async () => {
    expectError(await svc.call('GET', '/api/v1/recipient-files/form?tags=A&tags=A'), '77102', /the tag "A" is already column C/);
    expectError(await svc.call('GET', '/api/v1/recipient-files/form?tags=%7BA%7D'), '77102', /not a tag name/);
  });

  it('the form, filled in, uploads', async () => {
    const res = await asFile(svc.call('GET', '/api/v1/recipient-files/form?tags=COUPON'));
    // a spreadsheet program appends rows to the form's sheet; here: the same header with a row
    const filled = simpleXlsx([
      ['address', 'name', 'COUPON'],
      ['form@example.com', 'Form', 'F1'],
    ]);
    expect((res.body as Buffer).subarray(0, 2).toString()).toBe('PK');
    const up = await upload('filled.xlsx', filled);
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ rowCount: 1, validCount: 1, tags: ['COUPON'], errors: [] });
  });
});

describe('createRecipientFile', () => {
  beforeAll(async () => {
    filesBefore = await count('recipient_files');
    rowsBefore = await count('recipient_file_rows');
  });
  afterEach(async () => {
    filesBefore = await count('recipient_files');
    rowsBefore = await count('recipient_file_rows');
    expect(leftovers()).toEqual([]);
  });

  it('stores the valid rows of an .xlsx and reports every invalid row with the row number the spreadsheet shows', async () => {
    const huge = 'h'.repeat(10_001);
    const xml =
      inlineRowsXml([
        [' Address', 'NAME ', 'COUPON', 'GRADE'],
        ['kim@example.com', 'Kim', 'C-1', 'GOLD'],
        ['lee@example.com', '', 'C-2', null],
      ]) +
      '<row r="4"/>' + // blank (formatting only): skipped, not counted
      `<row r="5"><c r="A5" t="inlineStr"><is><t>KIM@example.com</t></is></c><c r="B5" t="inlineStr"><is><t>again</t></is></c></row>` +
      `<row r="6"><c r="A6" t="inlineStr"><is><t>not an address</t></is></c></row>` +
      `<row r="7"><c r="A7" t="inlineStr"><is><t>park@example.com</t></is></c><c r="C7"><f>1+1</f><v>2</v></c><c r="D7" t="str"><f>"SIL"&amp;"VER"</f><v>SILVER</v></c></row>` +
      `<row r="8"><c r="A8" t="inlineStr"><is><t>f@example.com</t></is></c><c r="C8"><f>NOW()</f></c></row>` +
      `<row r="9"><c r="A9" t="inlineStr"><is><t>e@example.com</t></is></c><c r="C9" t="e"><v>#N/A</v></c></row>` +
      `<row r="10"><c r="A10" t="inlineStr"><is><t>h@example.com</t></is></c><c r="C10" t="inlineStr"><is><t>${huge}</t></is></c></row>` +
      `<row r="12"><c r="A12" t="inlineStr"><is><t>${esc('choi@example.com')}</t></is></c><c r="B12" t="inlineStr"><is><t>${'n'.repeat(70)}</t></is></c></row>` +
      `<row r="13"><c r="A13" t="inlineStr"><is><t>last@example.com</t></is></c><c r="E13"><v>1</v></c></row>`;
    const res = await upload('list.xlsx', buildXlsx({ sheet: sheetXml(xml) }));
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      recipientFileId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      rowCount: 10,
      validCount: 3,
      tags: ['COUPON', 'GRADE'],
      errors: [
        { row: 5, reason: 'duplicate of row 2 ("KIM@example.com" is sent once)' },
        { row: 6, reason: 'address: "not an address" is not a valid e-mail address' },
        { row: 8, reason: expect.stringMatching(/^column C \(COUPON\) is a formula without a computed value/) },
        { row: 9, reason: 'column C (COUPON) holds the error value #N/A' },
        { row: 10, reason: 'column C (COUPON) is longer than 10,000 characters' },
        { row: 12, reason: 'name: longer than 69 characters' },
        { row: 13, reason: 'column E has a value but no header' },
      ],
    });
    expect(await storedRows(res.body.recipientFileId)).toEqual([
      { pos: 1, row_no: 2, address: 'kim@example.com', name: 'Kim', parameters: { COUPON: 'C-1', GRADE: 'GOLD' } },
      { pos: 2, row_no: 3, address: 'lee@example.com', name: null, parameters: { COUPON: 'C-2' } },
      { pos: 3, row_no: 7, address: 'park@example.com', name: null, parameters: { COUPON: '2', GRADE: 'SILVER' } },
    ]);
  });

  it('reads a CSV with a BOM, quotes, CRLF and line breaks inside quotes, counting rows as a spreadsheet does', async () => {
    const csv =
      '\uFEFFaddress,name,NOTE\r\n' +
      'kim@example.com,"Kim, Jr.","say ""hi"""\r\n' +
      '\r\n' + // row 3: blank
      'lee@example.com,Lee,"two\r\nlines"\r\n' +
      'short@example.com,Short\r\n' + // row 5: too few fields
      'wide@example.com,Wide,n,extra\n' + // row 6: a value without a header (LF line end)
      'ok@example.com,,\r\n';
    const res = await upload('list.csv', csv);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      recipientFileId: expect.any(String),
      rowCount: 5,
      validCount: 3,
      tags: ['NOTE'],
      errors: [
        { row: 5, reason: 'has 2 columns, the header has 3' },
        { row: 6, reason: 'column D has a value but no header' },
      ],
    });
    expect((await storedRows(res.body.recipientFileId)).map((r) => [r.row_no, r.name, r.parameters])).toEqual([
      [2, 'Kim, Jr.', { NOTE: 'say "hi"' }],
      [4, 'Lee', { NOTE: 'two\r\nlines' }],
      [7, null, null],
    ]);
  });

  it('accepts exactly 100,000 recipient rows and refuses 100,001 as a whole', async () => {
    const lines = (n: number) => ['address,name,N', ...Array.from({ length: n }, (_, i) => `u${i}@example.com,User ${i},${i}`)].join('\n');
    const ok = await upload('max.csv', lines(100_000));
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ rowCount: 100_000, validCount: 100_000, errors: [] });
    filesBefore = await count('recipient_files');
    rowsBefore = await count('recipient_file_rows');
    await expectRefused(await upload('over.csv', lines(100_001)), /has more than 100,000 recipient rows \(row 100002 is one too many\)/);
  });

  it.each([
    ['a .txt', 'list.txt', 'address,name\na@b.co,A\n', /"list\.txt" must be an \.xlsx or \.csv file/],
    ['an old .xls', 'list.xls', 'x', /save the old \.xls format as \.xlsx/],
    ['an empty file', 'list.csv', '', /"list\.csv" is empty/],
    ['CSV text named .xlsx', 'list.xlsx', 'address,name\na@b.co,A\n', /"list\.xlsx" is not an \.xlsx file/],
    ['a zip named .csv', 'list.csv', simpleXlsx([['address', 'name']]), /"list\.csv" is not a \.csv file/],
    ['binary named .csv', 'list.csv', Buffer.from([0x61, 0, 0x62, 0x0a]), /not a \.csv file/],
    ['CSV that is not UTF-8', 'list.csv', Buffer.concat([Buffer.from('address,name\na@b.co,'), Buffer.from([0xe9, 0x0a])]), /is not UTF-8 text/],
    ['a broken CSV quote', 'list.csv', 'address,name\n"a@b.co"x,A\n', /is not valid CSV near line 2/],
    ['a header only', 'list.csv', 'address,name,T\r\n\r\n', /has no recipient rows after its header/],
    ['blank rows only', 'list.csv', '\n\n,,\n', /has no header row/],
    ['the wrong header', 'list.csv', 'email,name\na@b.co,A\n', /the header \(row 1\) must start with the columns "address", "name"/],
    ['a duplicate tag column', 'list.csv', 'address,name,T,T\na@b.co,A,1,2\n', /column D: the tag "T" is already column C/],
    [
      'a damaged .xlsx',
      'list.xlsx',
      simpleXlsx([
        ['address', 'name'],
        ['a@b.co', 'A'],
      ]).subarray(0, 200),
      /"list\.xlsx" is not an \.xlsx file/,
    ],
    ['a zip without a workbook', 'list.xlsx', buildZip([{ name: 'word/document.xml', data: '<w/>' }]), /xl\/workbook\.xml is missing/],
    ['malformed sheet XML', 'list.xlsx', buildXlsx({ sheet: sheetXml('<row r="1"><c r="A1"><v>1</row>') }), /worksheet is not well-formed XML/],
    [
      'a sheet declaring 600 MB (zip bomb)',
      'list.xlsx',
      declareSize(
        simpleXlsx([
          ['address', 'name'],
          ['a@b.co', 'A'],
        ]),
        'xl/worksheets/sheet1.xml',
        600 * 1024 * 1024,
      ),
      /too large to read: the worksheet inflates to 600 MB, more than 512 MB/,
    ],
    [
      'a sheet inflating beyond what it declares',
      'list.xlsx',
      declareSize(
        simpleXlsx([
          ['address', 'name'],
          ['a@b.co', 'A'],
        ]),
        'xl/worksheets/sheet1.xml',
        10,
      ),
      /is a damaged \.xlsx file/,
    ],
  ])('refuses %s as a whole, leaving nothing', async (_what, name, data, message) => {
    await expectRefused(await upload(name, data), message);
  });

  it('makes a row with a NUL character anywhere in the file invalid (the content check only sniffs the first 64 KB)', async () => {
    const filler = Array.from({ length: 2000 }, (_, i) => `u${i}@example.com,User ${i},${'v'.repeat(30)}`);
    const csv = ['address,name,NOTE', ...filler, 'nul1@example.com,K\0im,x', 'nul2@example.com,Kim,a\0b', 'ok@example.com,Ok,fine'].join('\n');
    expect(csv.indexOf('\0')).toBeGreaterThan(64 * 1024);
    const res = await upload('nul.csv', csv);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      rowCount: 2003,
      validCount: 2001,
      errors: [
        { row: 2002, reason: 'column B (name) contains a NUL character (U+0000)' },
        { row: 2003, reason: 'column C (NOTE) contains a NUL character (U+0000)' },
      ],
    });
  });

  it('refuses a CSV with a row of more than 200 fields (quoted commas and line breaks do not count)', async () => {
    const quoted = `"${',\r\n'.repeat(300)}"`;
    const ok = await upload('quoted.csv', `address,name,T\r\nq@example.com,Q,${quoted}${','.repeat(197)}\r\nfine@example.com,F,2\r\n`);
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ rowCount: 2, validCount: 2 });
    filesBefore = await count('recipient_files');
    rowsBefore = await count('recipient_file_rows');
    const wide = `address,name,T\r\nfine@example.com,F,2\r\n${quoted}\nwide@example.com,W,1${','.repeat(1_000_000)}\nlast@example.com,L,3\n`;
    await expectRefused(await upload('wide.csv', wide), /"wide\.csv" has a row of more than 200 fields \(row 4;/);
  });

  it('reads .xlsx cells up to the widest header only: a far-right value is a row error, not padded out', async () => {
    const xml =
      inlineRowsXml([
        ['address', 'name', 'T'],
        ['a@example.com', 'A', '1'],
      ]) + '<row r="3"><c r="A3" t="inlineStr"><is><t>b@example.com</t></is></c><c r="XFD3"><v>1</v></c></row>';
    const res = await upload('far.xlsx', buildXlsx({ sheet: sheetXml(xml + '<row><c r="XFC4"/></row>'.repeat(20_000)) }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ rowCount: 2, validCount: 1, errors: [{ row: 3, reason: 'column XFD has a value beyond the last column read (CY)' }] });
  });

  it('refuses more than 1,048,576 .xlsx rows or 200,000 CSV lines, blank ones included, and elements nested too deep', async () => {
    const header = inlineRowsXml([
      ['address', 'name'],
      ['a@example.com', 'A'],
    ]);
    await expectRefused(
      await upload('rows.xlsx', buildXlsx({ sheet: sheetXml(header + '<row/>'.repeat(1_048_575)) })),
      /"rows\.xlsx" has more than 1,048,576 rows/,
    );
    await expectRefused(await upload('lines.csv', 'address,name\na@example.com,A\n' + '\n'.repeat(199_999)), /"lines\.csv" has more than 200,000 lines/);
    const deep = buildXlsx({ sheet: sheetXml(`${header}<row r="3">${'<x>'.repeat(100_000)}`) });
    await expectRefused(await upload('deep.xlsx', deep), /"deep\.xlsx" the worksheet nests elements more than 64 deep/);
  });

  it('parses a file before it opens its transaction: one refused while parsing never opens one', async () => {
    // the statements each pooled connection runs while checked out (the sweeper shares the pool)
    type Client = { query: (...args: unknown[]) => unknown };
    const uses: string[][] = [];
    const patched = new Map<Client, Client['query']>();
    const onAcquire = (client: Client) => {
      const use: string[] = [];
      uses.push(use);
      if (!patched.has(client)) patched.set(client, client.query);
      const query = patched.get(client)!;
      client.query = (...args: unknown[]) => {
        use.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string } | undefined)?.text ?? ''));
        return query.apply(client, args);
      };
    };
    const fileTransactions = () => uses.filter((u) => u.some((q) => /^begin/i.test(q)) && u.some((q) => /insert into "recipient_files"/i.test(q))).length;
    svc.db.pool.on('acquire', onAcquire);
    try {
      const rows = buildXlsx({
        sheet: sheetXml(
          inlineRowsXml([
            ['address', 'name'],
            ['a@example.com', 'A'],
          ]) + '<row/>'.repeat(1_048_575),
        ),
      });
      await expectRefused(await upload('rows.xlsx', rows), /has more than 1,048,576 rows/);
      await expectRefused(await upload('header.csv', 'address,name,T\n\n'), /has no recipient rows/);
      expect(fileTransactions()).toBe(0);
      // (what is counted: a stored file's transaction)
      expect((await upload('one.csv', 'address,name\na@example.com,A\n')).status).toBe(201);
      expect(fileTransactions()).toBe(1);
    } finally {
      svc.db.pool.off('acquire', onAcquire);
      for (const [client, query] of patched) client.query = query;
    }
  });

  it('refuses a file larger than MAX_BODY_BYTES while it streams, leaving nothing', async () => {
    const small = await startTestService({ smtpUrl: sink.url, db: svc.db, box: svc.box, key: svc.key, workers: false, env: { MAX_BODY_BYTES: '4096' } });
    try {
      const big = 'address,name\n' + Array.from({ length: 300 }, (_, i) => `u${i}@example.com,U`).join('\n');
      const res = await small.call('POST', '/api/v1/recipient-files').attach('file', Buffer.from(big), 'big.csv');
      expectError(res, '77102', /file: "big\.csv" is larger than 4,096 bytes \(MAX_BODY_BYTES\)/);
      expect(await count('recipient_files')).toBe(filesBefore);
      const dir = path.join(small.config.dataDir, 'recipient-files');
      expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
    } finally {
      await small.stop();
    }
  });

  it('refuses an upload without the part "file", or with two', async () => {
    await expectRefused(await svc.call('POST', '/api/v1/recipient-files').attach('other', Buffer.from('x'), 'a.csv'), /file: required/);
    const two = svc
      .call('POST', '/api/v1/recipient-files')
      .attach('file', Buffer.from('address,name\na@b.co,A\n'), 'a.csv')
      .attach('file', Buffer.from('x'), 'b.csv');
    await expectRefused(await two, /one file per upload/);
  });
});

async function mailRequest(over: Record<string, unknown>, key?: CreatedKey) {
  return svc.call('POST', '/api/v1/mails', {
    key,
    body: { senderAddress: 'no_reply@company.com', title: 'Hi ${COUPON}', body: '<p>#{RECIPIENT_NAME}: ${COUPON} / ${GRADE}</p>', ...over },
  });
}

/** The internal id of the request sent to the file, once the workers have stored it (R). */
async function storedRequestOf(fileId: string): Promise<string> {
  return waitFor(
    async () => {
      const r = await sql<{ id: string; status: string }>`SELECT id, status FROM mail_requests WHERE recipient_file_id = ${fileId}`.execute(svc.db.db);
      return r.rows[0]?.status === 'R' ? r.rows[0].id : undefined;
    },
    15_000,
    'request stored',
  );
}

async function fileId(data: Buffer | string, name = 'r.xlsx', key?: CreatedKey): Promise<string> {
  const res = await upload(name, data, key);
  expect(res.status).toBe(201);
  return res.body.recipientFileId;
}

describe('createMailRequest with recipientFileId', () => {
  it('sends each valid row its own tag values (empty cells fall back to the request parameters); duplicates once, invalid rows never', async () => {
    const id = await fileId(
      simpleXlsx([
        ['address', 'name', 'COUPON', 'GRADE'],
        ['kim@example.com', 'Kim', 'C-1', 'GOLD'],
        ['lee@example.com', 'Lee', 'C-2', null],
        ['KIM@example.com', 'Dup', 'C-9', 'X'],
        ['broken', 'Bad', 'C-3', 'X'],
        ['park@example.com', 'Park', null, 'SILVER'],
      ]),
    );
    const res = await mailRequest({ recipientFileId: id, parameters: { GRADE: 'BASIC' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ requestId: expect.stringMatching(/^\d{20}$/), count: 3 });
    const row = await waitFor(
      async () => {
        const r = (await svc.call('GET', `/api/v1/mails/requests?requestId=${res.body.requestId}`)).body.content[0];
        return r && ['S', 'F', 'PF'].includes(r.emailStatus.code) ? r : undefined;
      },
      20_000,
      'request finished',
    );
    expect(row.emailStatus.code).toBe('PF');
    const messages = await sink.waitForMessages(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages).toHaveLength(2);
    const byRcpt = new Map(await Promise.all(messages.map(async (m) => [m.to.join(','), await simpleParser(m.raw)] as const)));
    expect([...byRcpt.keys()].sort()).toEqual(['kim@example.com', 'lee@example.com']);
    expect(byRcpt.get('kim@example.com')!.subject).toBe('Hi C-1');
    expect(byRcpt.get('kim@example.com')!.html).toContain('Kim: C-1 / GOLD');
    expect(byRcpt.get('lee@example.com')!.html).toContain('Lee: C-2 / BASIC');
    // park has no COUPON anywhere: failed alone with CONTENT_HAS_TAG_FORM, as a JSON recipient would
    const park = await sql<{ result_code: string; status: string }>`
      SELECT result_code, status FROM recipients WHERE address = 'park@example.com'`.execute(svc.db.db);
    expect(park.rows).toEqual([{ result_code: 'CONTENT_HAS_TAG_FORM', status: 'F' }]);
  });

  it("answers 400/77103 for an unknown, malformed or another project's file, and stores nothing", async () => {
    const theirs = await fileId('address,name\nx@example.com,X\n', 'x.csv', other);
    const requestsBefore = Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM mail_requests`.execute(svc.db.db)).rows[0]!.n);
    expectError(await mailRequest({ recipientFileId: theirs }), '77103', new RegExp(`recipientFileId: recipient file ${theirs} does not exist`));
    expectError(await mailRequest({ recipientFileId: '00000000-0000-4000-8000-000000000000' }), '77103', /recipientFileId/);
    expectError(await mailRequest({ recipientFileId: "x'; DROP TABLE recipients; --" }), '77103', /recipientFileId/);
    expect(Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM mail_requests`.execute(svc.db.db)).rows[0]!.n)).toBe(requestsBefore);
    expect((await mailRequest({ recipientFileId: theirs }, other)).status).toBe(201);
  });

  it('refuses general mode, recipients given too, and a file without a valid row (400/77102)', async () => {
    const id = await fileId('address,name\na@example.com,A\n', 'a.csv');
    expectError(
      await mailRequest({ recipientFileId: id, individual: false, body: '<p>${COUPON}</p>' }),
      '77102',
      /recipientFileId: recipient files are sent individually/,
    );
    expectError(
      await mailRequest({ recipientFileId: id, recipients: [{ address: 'b@example.com' }] }),
      '77102',
      /recipients: not allowed together with recipientFileId/,
    );
    const empty = await upload('bad.csv', 'address,name\nnot-an-address,A\n');
    expect(empty.body).toMatchObject({ rowCount: 1, validCount: 0 });
    expectError(await mailRequest({ recipientFileId: empty.body.recipientFileId }), '77102', /has no valid recipient rows/);
  });

  it('stores in batches that resume after the last committed one, once per row', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => [`r${i}@example.com`, `R${i}`, `C${i}`, 'G']);
    const id = await fileId(simpleXlsx([['address', 'name', 'COUPON', 'GRADE'], ...rows]));
    const res = await mailRequest({ recipientFileId: id, confirmAndSend: true });
    expect(res.body.count).toBe(25);
    const requestId = await storedRequestOf(id);
    // As if the job had crashed after storing 10 rows: back to P with stored_count 10.
    await sql`DELETE FROM mails WHERE request_id = ${requestId} AND seq > 10`.execute(svc.db.db);
    await sql`UPDATE mail_requests SET status = 'P', stored_count = 10 WHERE id = ${requestId}`.execute(svc.db.db);
    await storeRecipients({ db: svc.db.db, queue: svc.queue, logger, now: () => new Date() }, requestId);
    const stored = await sql<{ seq: number; address: string; parameters: unknown }>`
      SELECT m.seq, r.address, r.parameters FROM mails m JOIN recipients r ON r.mail_id = m.id WHERE m.request_id = ${requestId} ORDER BY m.seq`.execute(
      svc.db.db,
    );
    expect(stored.rows.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(stored.rows[24]).toEqual({ seq: 25, address: 'r24@example.com', parameters: { COUPON: 'C24', GRADE: 'G' } });
    const after = await sql<{ status: string; stored_count: number }>`SELECT status, stored_count FROM mail_requests WHERE id = ${requestId}`.execute(
      svc.db.db,
    );
    expect(after.rows[0]).toEqual({ status: 'R', stored_count: 25 });
  });

  it("draws a batch's mail and recipient ids before inserting any of its rows", async () => {
    let requestId = '';
    const noted = await noteDrawnIds(svc.db.db, async () => {
      const rows = Array.from({ length: 25 }, (_, i) => [`d${i}@example.com`, `D${i}`, `C${i}`]);
      const id = await fileId(simpleXlsx([['address', 'name', 'COUPON'], ...rows]));
      expect((await mailRequest({ recipientFileId: id, confirmAndSend: true })).body.count).toBe(25);
      requestId = await storedRequestOf(id);
    });
    const batches = noted.filter((b) => b.request === requestId);
    // one batch per part (at most STORE_PARALLELISM of them); each noted its own last id on every row
    for (const tbl of ['mails', 'recipients']) {
      const of = batches.filter((b) => b.tbl === tbl);
      expect(of.length).toBeGreaterThanOrEqual(1);
      expect(of.length).toBeLessThanOrEqual(2);
      expect(of.reduce((n, b) => n + b.rows, 0)).toBe(25);
      for (const b of of) expect(b.drawn).toBe(b.last);
    }
  });

  it('stores in parts at once; each part resumes after its own last committed batch', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => [`p${i}@example.com`, `P${i}`, `C${i}`]);
    const id = await fileId(simpleXlsx([['address', 'name', 'COUPON'], ...rows]));
    expect((await mailRequest({ recipientFileId: id, confirmAndSend: true })).body.count).toBe(25);
    const requestId = await storedRequestOf(id);
    // As if the job had crashed with two parts half done: rows 1-5 of 1-12 and 13-18 of 13-25 committed.
    await sql`DELETE FROM mails WHERE request_id = ${requestId} AND (seq BETWEEN 6 AND 12 OR seq > 18)`.execute(svc.db.db);
    await sql`UPDATE mail_requests SET status = 'P', stored_count = 11 WHERE id = ${requestId}`.execute(svc.db.db);
    await sql`
      INSERT INTO store_parts (request_id, part, key_after, key_last, next_seq, last_seq, stored, state)
      VALUES (${requestId}, 1, 5, 12, 6, 12, 5, 'S'), (${requestId}, 2, 18, 25, 19, 25, 6, 'S')
    `.execute(svc.db.db);
    await storeRecipients({ db: svc.db.db, queue: svc.queue, logger, now: () => new Date(), config: { storeParallelism: 3 } }, requestId);
    const stored = await sql<{ seq: number; address: string; parameters: unknown }>`
      SELECT m.seq, r.address, r.parameters FROM mails m JOIN recipients r ON r.mail_id = m.id WHERE m.request_id = ${requestId} ORDER BY m.seq`.execute(
      svc.db.db,
    );
    expect(stored.rows.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(stored.rows.map((r) => r.address)).toEqual(rows.map((r) => r[0]));
    expect(stored.rows[12]).toEqual({ seq: 13, address: 'p12@example.com', parameters: { COUPON: 'C12' } });
    const after = await sql<{ status: string; stored_count: number; parts: number }>`
      SELECT status, stored_count, (SELECT count(*)::int FROM store_parts WHERE request_id = ${requestId}) AS parts FROM mail_requests WHERE id = ${requestId}`.execute(
      svc.db.db,
    );
    expect(after.rows[0]).toEqual({ status: 'R', stored_count: 25, parts: 0 });
  });
});

describe('clean-up', () => {
  it('removes files unused for 7 days, never one a request is still storing from, and stale temporary uploads', async () => {
    const used = await fileId('address,name\nkeep@example.com,K\n', 'k.csv');
    const unused = await fileId('address,name\ngone@example.com,G\n', 'g.csv');
    const res = await mailRequest({ recipientFileId: used, confirmAndSend: true, title: 'x', body: 'x' });
    expect(res.status).toBe(201);
    await waitFor(
      async () =>
        (await sql<{ status: string }>`SELECT status FROM mail_requests WHERE recipient_file_id = ${used}`.execute(svc.db.db)).rows[0]?.status === 'R',
      15_000,
      'stored',
    );
    await sql`UPDATE mail_requests SET status = 'P' WHERE recipient_file_id = ${used}`.execute(svc.db.db);
    fs.mkdirSync(uploadDir(), { recursive: true });
    const stale = path.join(uploadDir(), 'crashed.upload');
    fs.writeFileSync(stale, 'x');
    fs.utimesSync(stale, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    const later = () => new Date(Date.now() + 8 * 86_400_000);
    const ids = async () => (await sql<{ id: string }>`SELECT id FROM recipient_files`.execute(svc.db.db)).rows.map((r) => r.id);

    await cleanupRecipientFiles({ db: svc.db.db, config: svc.config, now: later, logger });
    expect(await ids()).toEqual([used]);
    expect(await storedRows(unused)).toEqual([]);
    expect(fs.existsSync(stale)).toBe(false);

    await sql`UPDATE mail_requests SET status = 'R' WHERE recipient_file_id = ${used}`.execute(svc.db.db);
    await cleanupRecipientFiles({ db: svc.db.db, config: svc.config, now: later, logger });
    expect(await ids()).toEqual([]);
    // the request keeps its mails and the id of the file it was sent to
    expect(
      (
        await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM mails m JOIN mail_requests r ON r.id = m.request_id WHERE r.recipient_file_id = ${used}`.execute(svc.db.db)
      ).rows[0]!.n,
    ).toBe(1);
  });
});

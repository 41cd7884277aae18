import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type supertest from 'supertest';
import { createLogger } from '../../src/logger.ts';
import { cleanupFiles } from '../../src/modules/files/files.service.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { buildZip, fakeExecutable } from '../helpers/zip.ts';
import { expectError } from '../helpers/responses.ts';

/** createFile, getFile, deleteFile (ncp-api-reference §6), attachFileIds on createMailRequest, and the clean-up. */

const MB = 1024 * 1024;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-99$/;

const { svc } = useTestService();
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

type Upload = { name: string; data: Buffer | string; field?: string };

function upload(files: Upload[], key?: CreatedKey): supertest.Test {
  let t = svc.call('POST', '/api/v1/files', { key });
  for (const f of files) t = t.attach(f.field ?? 'fileList', Buffer.from(f.data), f.name);
  return t;
}

/** A multipart body written by hand, to send the filename exactly as some clients do. */
function rawMultipart(disposition: string, data: Buffer) {
  const boundary = '----test-boundary-7f3a';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="fileList"; ${disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return svc.call('POST', '/api/v1/files').set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body);
}

const filesDir = () => path.join(svc.config.dataDir, 'files');
const storedFiles = () => (fs.existsSync(filesDir()) ? fs.readdirSync(filesDir()) : []);
const fileRows = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM files`.execute(svc.db.db)).rows[0]!.n);

async function mailRequest(over: Record<string, unknown>, key?: CreatedKey) {
  return svc.call('POST', '/api/v1/mails', {
    key,
    body: { senderAddress: 'no_reply@company.com', title: 'files', body: '<p>see attached</p>', recipients: [{ address: 'r@example.com' }], ...over },
  });
}

describe('createFile', () => {
  it("stores one file and answers 201 with NCP's shape and id formats", async () => {
    const res = await upload([{ name: 'test.txt', data: 'hello attachment' }]);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ tempRequestId: expect.stringMatching(ID), files: [{ fileName: 'test.txt', fileSize: 16, fileId: expect.stringMatching(ID) }] });
    expect(Object.keys(res.body.files[0])).toEqual(['fileName', 'fileSize', 'fileId']);
    // stored base64-encoded, the form every mail carries it in
    expect(Buffer.from(fs.readFileSync(path.join(filesDir(), res.body.files[0].fileId), 'latin1'), 'base64').toString('utf8')).toBe('hello attachment');
  });

  it('takes several fileList parts, in order, and ignores other fields', async () => {
    const res = await upload([
      { name: 'a.pdf', data: Buffer.alloc(3000, 1) },
      { name: 'ignored.txt', data: 'x', field: 'other' },
      { name: 'b.csv', data: 'a,b\n' },
    ]).field('note', 'not a file');
    expect(res.status).toBe(201);
    expect(res.body.files.map((f: { fileName: string }) => f.fileName)).toEqual(['a.pdf', 'b.csv']);
    expect(new Set(res.body.files.map((f: { fileId: string }) => f.fileId)).size).toBe(2);
  });

  it('keeps file names in any script (raw UTF-8 and RFC 2231 filename*)', async () => {
    const name = '견적서 見積書 😀.pdf';
    const raw = await rawMultipart(`filename="${name}"`, Buffer.from('x'));
    expect(raw.status).toBe(201);
    expect(raw.body.files[0].fileName).toBe(name);
    const encoded = await rawMultipart(`filename*=UTF-8''${encodeURIComponent(name)}`, Buffer.from('y'));
    expect(encoded.status).toBe(201);
    expect(encoded.body.files[0].fileName).toBe(name);
    const withPath = await rawMultipart('filename="C:\\\\fakepath\\\\report.txt"', Buffer.from('z'));
    expect(withPath.body.files[0].fileName).toBe('report.txt');
  });

  it('accepts a file of exactly 10 MB and refuses 10 MB + 1 byte, naming it; a refused upload keeps nothing', async () => {
    const ok = await upload([{ name: 'exact.bin', data: Buffer.alloc(10 * MB, 7) }]);
    expect(ok.status).toBe(201);
    expect(ok.body.files[0].fileSize).toBe(10 * MB);
    const rowsBefore = await fileRows();
    const filesBefore = storedFiles().length;
    const res = await upload([
      { name: 'small.txt', data: 'fine' },
      { name: 'too-big.bin', data: Buffer.alloc(10 * MB + 1) },
    ]);
    expectError(res, '77102', /fileList: "too-big\.bin" is larger than 10 MB/);
    expect(await fileRows()).toBe(rowsBefore);
    expect(storedFiles().length).toBe(filesBefore);
  });

  it.each(['setup.exe', 'RUN.BAT', 'payload.js', 'macro.vbs', 'app.apk', 'lib.dll', 'trick.exe.', '스크립트.scr'])(
    'refuses %s (blocked extension) with 400 naming it',
    async (name) => {
      const before = await fileRows();
      const res = await upload([
        { name: 'fine.txt', data: 'ok' },
        { name, data: 'x' },
      ]);
      expectError(res, '77102', /not allowed/);
      expect(res.body.error.message).toContain(name);
      expect(await fileRows()).toBe(before);
    },
  );

  it('refuses a zip holding a blocked file, also renamed, nested, or behind another name', async () => {
    const evil = buildZip([
      { name: 'readme.txt', data: 'hi' },
      { name: 'bin/setup.exe', data: 'MZ' },
    ]);
    expectError(await upload([{ name: 'bundle.zip', data: evil }]), '77102', /"bundle\.zip" contains "bin\/setup\.exe": \.exe files are not allowed/);
    expectError(await upload([{ name: 'innocent.txt', data: evil }]), '77102', /"innocent\.txt" contains "bin\/setup\.exe"/);
    const nested = buildZip([{ name: 'photos.zip', data: buildZip([{ name: 'run.cmd', data: 'x' }]) }]);
    expectError(await upload([{ name: 'album.zip', data: nested }]), '77102', /photos\.zip\/run\.cmd/);
    expectError(await upload([{ name: 'invoice.pdf', data: fakeExecutable() }]), '77102', /"invoice\.pdf" is a Windows executable/);
  });

  it('accepts a zip of harmless files', async () => {
    const res = await upload([
      {
        name: '資料.zip',
        data: buildZip([
          { name: 'a.txt', data: 'a' },
          { name: 'b/報告.pdf', data: Buffer.alloc(100) },
        ]),
      },
    ]);
    expect(res.status).toBe(201);
  });

  it('refuses a zip bomb quickly (bounded inspection) and a zip with 100,000 entries', async () => {
    const inner = buildZip([{ name: 'zeros.bin', data: Buffer.alloc(40 * MB), method: 'store' }]);
    const bomb = buildZip([{ name: 'inner.zip', data: inner }]);
    const many = buildZip(Array.from({ length: 100_000 }, (_, i) => ({ name: `${i}.txt`, method: 'store' as const })));
    // The uploads alone are timed, each with room for a busy machine; the bounded reads
    // themselves are counted by test/unit/inspect-zip.test.ts.
    for (const [name, data] of [
      ['bomb.zip', bomb],
      ['many.zip', many],
    ] as const) {
      const started = Date.now();
      expectError(await upload([{ name, data }]), '77102', /too large to inspect/);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
  });

  it('refuses a body without files, a file without a name, and a JSON body', async () => {
    expectError(await svc.call('POST', '/api/v1/files').field('fileList', 'just text'), '77102', /fileList: at least one file/);
    expectError(await rawMultipart('filename=""', Buffer.from('x')), '77102', /has no file name/);
    const json = await svc.call('POST', '/api/v1/files', { body: { fileList: 'x' } });
    expect(json.status).toBe(415);
    expect(json.body.error.code).toBe('77002');
  });

  it('refuses more than 20 files in one upload', async () => {
    const res = await upload(Array.from({ length: 21 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' })));
    expectError(res, '77102', /at most 20 files/);
  });
});

describe('getFile and deleteFile', () => {
  it('shows an upload, deletes it (answering with its files), and then knows it no more', async () => {
    const created = (
      await upload([
        { name: 'one.txt', data: '1' },
        { name: 'two.txt', data: '22' },
      ])
    ).body;
    const got = await svc.call('GET', `/api/v1/files/${created.tempRequestId}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created);
    const deleted = await svc.call('DELETE', `/api/v1/files/${created.tempRequestId}`, { headers: { 'Content-Type': 'application/json' } });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual(created);
    for (const f of created.files) expect(fs.existsSync(path.join(filesDir(), f.fileId))).toBe(false);
    expectError(await svc.call('GET', `/api/v1/files/${created.tempRequestId}`), '77103', /does not exist/);
    expectError(await svc.call('DELETE', `/api/v1/files/${created.tempRequestId}`), '77103');
  });

  it("answers 77103 for malformed and unknown ids and for another project's upload", async () => {
    const created = (await upload([{ name: 'mine.txt', data: 'mine' }])).body;
    expectError(await svc.call('GET', '/api/v1/files/not-an-id'), '77103');
    expectError(await svc.call('GET', '/api/v1/files/00000000-0000-4000-8000-000000000000-99'), '77103');
    expectError(await svc.call('GET', `/api/v1/files/${created.tempRequestId}`, { key: other }), '77103');
    expectError(await svc.call('DELETE', `/api/v1/files/${created.tempRequestId}`, { key: other }), '77103');
    expect((await svc.call('GET', `/api/v1/files/${created.tempRequestId}`)).status).toBe(200);
  });
});

describe('attachFileIds on createMailRequest', () => {
  it("refuses unknown, malformed and another project's files (77103) and leaves nothing", async () => {
    const theirs = (await upload([{ name: 'theirs.txt', data: 't' }], other)).body.files[0].fileId;
    const before = Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM mail_requests`.execute(svc.db.db)).rows[0]!.n);
    expectError(await mailRequest({ attachFileIds: ['00000000-0000-4000-8000-000000000000-99'] }), '77103', /attachFileIds: file .* does not exist/);
    expectError(await mailRequest({ attachFileIds: ['nope'] }), '77103');
    expectError(await mailRequest({ attachFileIds: [theirs] }), '77103');
    const after = Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM mail_requests`.execute(svc.db.db)).rows[0]!.n);
    expect(after).toBe(before);
  });

  it('refuses more than 20 MB of attachments for one mail, naming the files', async () => {
    const files = (
      await upload([
        { name: 'part-1.bin', data: Buffer.alloc(8 * MB, 1) },
        { name: 'part-2.bin', data: Buffer.alloc(8 * MB, 2) },
        { name: 'part-3.bin', data: Buffer.alloc(5 * MB, 3) },
      ])
    ).body.files;
    const res = await mailRequest({ attachFileIds: files.map((f: { fileId: string }) => f.fileId) });
    expectError(res, '77102', /attachFileIds: the attachments total 21\.0 MB, more than the 20 MB a mail may carry/);
    for (const name of ['part-1.bin', 'part-2.bin', 'part-3.bin']) expect(res.body.error.message).toContain(name);
    expect((await mailRequest({ attachFileIds: files.slice(0, 2).map((f: { fileId: string }) => f.fileId) })).status).toBe(201);
  });

  it("shows a mail's attachFiles in getMail", async () => {
    const files = (
      await upload([
        { name: '안내문.pdf', data: Buffer.alloc(1234, 5) },
        { name: 'b.txt', data: 'bb' },
      ])
    ).body.files;
    const res = await mailRequest({ attachFileIds: [files[1].fileId, files[0].fileId, files[1].fileId] });
    expect(res.status).toBe(201);
    const mails = await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`);
    const mail = await svc.call('GET', `/api/v1/mails/${mails.body.content[0].mailId}`);
    expect(mail.body.attachFiles).toEqual([
      { fileId: files[1].fileId, fileName: 'b.txt', fileSize: 2 },
      { fileId: files[0].fileId, fileName: '안내문.pdf', fileSize: 1234 },
    ]);
  });

  it("refuses a deleted upload's files", async () => {
    const created = (await upload([{ name: 'gone.txt', data: 'g' }])).body;
    await svc.call('DELETE', `/api/v1/files/${created.tempRequestId}`);
    expectError(await mailRequest({ attachFileIds: [created.files[0].fileId] }), '77103');
  });
});

describe('clean-up of unused uploads', () => {
  const logger = createLogger('silent');
  const cleanupAt = (at: Date) => cleanupFiles({ db: svc.db.db, config: svc.config, blobs: svc.blobs, now: () => at, logger });
  const exists = (fileId: string) => fs.existsSync(path.join(filesDir(), fileId));
  const hoursFromNow = (h: number) => new Date(Date.now() + h * 3600_000);

  it('removes uploads after 24 h, but never while a request that can still be sent uses them', async () => {
    const unused = (await upload([{ name: 'unused.txt', data: 'u' }])).body.files[0].fileId;
    const used = (await upload([{ name: 'used.txt', data: 'used' }])).body;
    const reserved = await mailRequest({ attachFileIds: [used.files[0].fileId], reservationUtc: Date.now() + 2 * 86_400_000 });
    expect(reserved.status).toBe(201);
    // The client deletes the upload right after sending: the reserved request still needs it.
    expect((await svc.call('DELETE', `/api/v1/files/${used.tempRequestId}`)).status).toBe(200);
    expect(exists(used.files[0].fileId)).toBe(true);

    await cleanupAt(hoursFromNow(23));
    expect(exists(unused)).toBe(true);
    await cleanupAt(hoursFromNow(25));
    expect(exists(unused)).toBe(false);
    expectError(await mailRequest({ attachFileIds: [unused] }), '77103');
    expect(exists(used.files[0].fileId)).toBe(true);

    expect((await svc.call('POST', `/api/v1/mails/requests/${reserved.body.requestId}/cancel`)).status).toBe(200);
    await cleanupAt(hoursFromNow(25));
    expect(exists(used.files[0].fileId)).toBe(false);
    // what the request carried stays visible
    const mails = await svc.call('GET', `/api/v1/mails/requests/${reserved.body.requestId}/mails`);
    const mail = await svc.call('GET', `/api/v1/mails/${mails.body.content[0].mailId}`);
    expect(mail.body.attachFiles).toEqual([{ fileId: used.files[0].fileId, fileName: 'used.txt', fileSize: 4 }]);
  });

  it('removes bytes on disk that no row knows (a crash between writing and recording), once old', async () => {
    fs.mkdirSync(filesDir(), { recursive: true });
    const old = path.join(filesDir(), '11111111-1111-4111-8111-111111111111-99');
    const fresh = path.join(filesDir(), '22222222-2222-4222-8222-222222222222-99.part');
    fs.writeFileSync(old, 'orphan');
    fs.writeFileSync(fresh, 'in progress');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    fs.utimesSync(old, twoDaysAgo, twoDaysAgo);
    const result = await cleanupAt(new Date());
    expect(result.orphans).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
  });
});

// Hostile input against the real service process (issue 11 §2, §5): bodies that broke the
// parser's streams, values Postgres refuses (NUL, lone surrogates), extreme dates, huge query
// strings, HEAD. Every answer is a 4xx in NCP's envelope and the process is still alive after.
import { createLocalBlobStore } from '../../src/shared/blob-store/local-blob-store.ts';
import { loadConfig } from '../../src/config.ts';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import pino from 'pino';
import { runTemplateBackup, TEMPLATE_BACKUP_MAX_ATTEMPTS } from '../../src/modules/templates/template-backups.service.ts';
import { startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, TEST_SECRET_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { multipartBody, rawRequest, signedHeaderLines, signedRaw } from '../helpers/raw-http.ts';
import { seedSentHistory } from '../helpers/seed-rows.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';
import { expectError } from '../helpers/responses.ts';

const KEY = { accessKey: TEST_ACCESS_KEY, secretKey: TEST_SECRET_KEY };
let svc: ServiceProcess;
/** A signed multipart POST, its body sent as given (however broken). */
const postMultipart = (path: string, body: Buffer, boundary: string) =>
  signedRaw(svc.port, KEY, 'POST', path, [`content-type: multipart/form-data; boundary=${boundary}`, `content-length: ${body.length}`], body);
let sink: TestSink;
let db: TestDb;

beforeAll(async () => {
  db = await createTestDb();
  sink = await startTestSink();
  svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: sink.url, name: 'hostile' });
}, 60_000);

// A case that stops the process fails itself (expectAlive); the next one gets a new process.
beforeEach(async () => {
  if (svc.exitInfo()) svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: sink.url, name: 'hostile' });
}, 60_000);

afterAll(async () => {
  await stopAllServiceProcesses();
  await sink?.close();
  await db?.drop();
});

async function expectAlive() {
  expect(svc.exitInfo()).toBeUndefined();
  const health = await svc.get('/health');
  expect(health.status).toBe(200);
  // the process-level handlers keep it alive; what they log is still a bug
  expect(
    svc
      .logs()
      .filter((r) => /uncaught|unhandled/i.test(String(r.msg)))
      .map((r) => r.msg),
  ).toEqual([]);
}

const mail = (over: Record<string, unknown> = {}) => ({
  senderAddress: 'sender@example.com',
  title: 'Hello',
  body: '<p>Hi</p>',
  recipients: [{ address: 'to@example.com', name: 'To', type: 'R' }],
  confirmAndSend: true,
  ...over,
});

function expectNcpError(res: { status: number; json: any }, status = 400) {
  expect({ status: res.status, error: res.json?.error }).toMatchObject({ status, error: { errorCode: expect.any(String), message: expect.any(String) } });
}

describe('multipart bodies that used to stop the process', () => {
  const B = 'xBOUNDARYx';
  const good = { headers: ['Content-Disposition: form-data; name="fileList"; filename="a.txt"', 'Content-Type: text/plain'], content: 'hello' };

  it('a part header with a raw CR LF in the filename after a good part: 400, process alive', async () => {
    const body = Buffer.concat([
      multipartBody(B, [good], false),
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="fileList"; filename="b\r\n.txt"\r\n\r\nworld\r\n--${B}--\r\n`),
    ]);
    const res = await postMultipart('/api/v1/files', body, B);
    expectNcpError(res);
    await expectAlive();
  });

  it('a closing boundary cut off: 400, process alive', async () => {
    const body = Buffer.concat([
      multipartBody(B, [good], false),
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="fileList"; filename="b.txt"\r\n\r\nwor`),
    ]);
    const res = await postMultipart('/api/v1/files', body, B);
    expectNcpError(res);
    await expectAlive();
  });

  it('chunked transfer encoding with a bad chunk size: the connection fails, the process lives', async () => {
    const part = multipartBody(B, [good], false);
    const body = Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\nzz\r\nbroken\r\n0\r\n\r\n')]);
    const res = await signedRaw(
      svc.port,
      KEY,
      'POST',
      '/api/v1/files',
      [`content-type: multipart/form-data; boundary=${B}`, 'transfer-encoding: chunked'],
      body,
    );
    expect(res.status === 0 || (res.status >= 400 && res.status < 500)).toBe(true);
    await expectAlive();
  });

  it('recipient files: the same broken bodies answer 400', async () => {
    const body = Buffer.concat([
      multipartBody(
        B,
        [{ headers: ['Content-Disposition: form-data; name="file"; filename="r.csv"', 'Content-Type: text/csv'], content: 'address\na@example.com\n' }],
        false,
      ),
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="b.csv"\r\n\r\nwor`),
    ]);
    const res = await postMultipart('/api/v1/recipient-files', body, B);
    expectNcpError(res);
    await expectAlive();
  });

  it("too many parts: the refusal names the route's own field", async () => {
    const part = { headers: ['Content-Disposition: form-data; name="file"; filename="r.csv"', 'Content-Type: text/csv'], content: 'address\na@example.com\n' };
    const body = multipartBody(B, [part, part]);
    const res = await postMultipart('/api/v1/template/import', body, B);
    expect(res.json.error.message).toBe('file: at most 1 file in one upload');
  });

  it('template import: a cut-off body answers 400', async () => {
    const body = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="t.json"\r\n\r\n{"categories":[`);
    const res = await postMultipart('/api/v1/template/import', body, B);
    expectNcpError(res);
    await expectAlive();
  });
});

describe('text PostgreSQL cannot store answers 400 naming the field', () => {
  const NUL = 'a\u0000b';
  const LONE = 'x\ud800y';
  it.each([
    ['title', { title: NUL }],
    ['body', { body: NUL }],
    ['senderName', { senderName: NUL }],
    ['recipients[0].name', { recipients: [{ address: 'to@example.com', name: NUL, type: 'R' }] }],
    ['parameters.A', { parameters: { A: LONE } }],
    ['recipients[0].parameters.A', { recipients: [{ address: 'to@example.com', type: 'R', parameters: { A: LONE } }] }],
    ['parameters.\\u0000', { parameters: { '\u0000': 'x' } }],
    ['unsubscribeMessage', { advertising: true, useBasicUnsubscribeMsg: false, unsubscribeMessage: `${LONE}#{UNSUBSCRIBE_URL}` }],
  ])('createMailRequest %s', async (field, over) => {
    expectError(await svc.call('POST', '/api/v1/mails', mail(over)), '77102', field);
  });

  it('templates, categories, address book and unsubscribers', async () => {
    expectError(await svc.call('POST', '/api/v1/template', { templateName: 't', title: 'T', body: NUL, senderAddress: 'sender@example.com' }), '77102', 'body');
    expectError(
      await svc.call('POST', '/api/v1/template', { templateName: 't', title: 'T', body: 'B', description: LONE, senderAddress: 'sender@example.com' }),
      '77102',
      'description',
    );
    expectError(await svc.call('POST', '/api/v1/category', { categoryName: NUL }), '77102', 'categoryName');
    expectError(
      await svc.call('POST', '/api/v1/address-book', { groups: [{ groupName: NUL, emailAddresses: ['a@example.com'] }] }),
      '77102',
      'groups[0].groupName',
    );
    expectError(await svc.call('POST', '/api/v1/unsubscribers', { blockedReceivers: [`a${'\u0000'}@example.com`] }), '77102', 'blockedReceivers[0]');
    expectError(await svc.call('GET', '/api/v1/unsubscribers?emailAddress=%00'), '77102', 'emailAddress');
    expectError(await svc.call('GET', '/api/v1/mails/requests?title=a%00'), '77102', 'title');
    await expectAlive();
  });

  it('a template backup with a NUL inside is refused as a whole', async () => {
    const backup = JSON.stringify({ format: 'outbound-mailer-templates', version: 1, categories: [{ sid: 1, parentSid: -1, name: 'c\u0000' }], templates: [] });
    const res = await importBackup(backup);
    expect(res.status).toBe(400);
    expect(res.json.error.message).toContain('categories[0].name');
  });
});

describe('extreme dates', () => {
  it.each(['/api/v1/mails/requests', '/api/v1/mails/recipients', '/api/v1/unsubscribers'])('%s?startUtc=-8640000000000000 and friends: 400', async (path) => {
    expectError(await svc.call('GET', `${path}?startUtc=-8640000000000000`), '77102', 'startUtc');
    expectError(await svc.call('GET', `${path}?endUtc=8640000000000000`), '77102', 'endUtc');
    expectError(await svc.call('GET', `${path}?startDateTime=0000-01-01`), '77102', 'startDateTime');
    expect((await svc.call('GET', `${path}?startUtc=-62135596800000&endUtc=253402300799999`)).status).toBe(200);
  });

  it('createExport refuses them at once instead of failing its job', async () => {
    expectError(await svc.call('POST', '/api/v1/exports', { view: 'requests', filters: { startUtc: -8640000000000000 } }), '77102', 'filters.startUtc');
    expectError(await svc.call('POST', '/api/v1/exports', { view: 'recipients', filters: { endUtc: '8640000000000000' } }), '77102', 'filters.endUtc');
  });
});

describe('what Node refuses before the app, and HEAD', () => {
  it('a query string over 16 KB: 431 with the gateway error body', async () => {
    const res = await signedRaw(svc.port, KEY, 'GET', `/api/v1/mails/requests?title=${'a'.repeat(20_000)}`, []);
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.json).toEqual({ error: { errorCode: '100', message: expect.stringContaining('Request Header Fields Too Large') } });
    await expectAlive();
  });

  it('a malformed request line: 400 with the gateway error body', async () => {
    const res = await rawRequest(svc.port, ['GET /api/v1/mails/requests HTTP/1.1', 'host: x', 'content-length: 1', 'content-length: 2'], '');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { errorCode: '100', message: expect.any(String) } });
  });

  it('HEAD answers as GET does, without a body; HEAD where only POST exists is 405', async () => {
    const get = await signedRaw(svc.port, KEY, 'GET', '/api/v1/mails/requests', []);
    const head = await signedRaw(svc.port, KEY, 'HEAD', '/api/v1/mails/requests', [], '', { idleMs: 500 });
    expect(get.status).toBe(200);
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(head.body).toBe('');
    const post = await signedRaw(svc.port, KEY, 'HEAD', '/api/v1/mails', [], '', { idleMs: 500 });
    expect(post.status).toBe(405);
    expect(post.headers['content-type']).toContain('application/json');
    // and the signature still covers the method as sent
    const forged = await rawRequest(
      svc.port,
      ['HEAD /api/v1/mails/requests HTTP/1.1', 'host: x', 'connection: close', ...signedHeaderLines(KEY, 'GET', '/api/v1/mails/requests')],
      '',
      { idleMs: 500 },
    );
    expect(forged.status).toBe(401);
  });
});

describe('limits that hold after substitution', () => {
  const big = 'x'.repeat(5 * 1024 * 1024);

  it('a title tag with a 5 MB request parameter: 400 at POST', async () => {
    expectError(await svc.call('POST', '/api/v1/mails', mail({ title: '${X}', parameters: { X: big } })), '77102', 'parameters.X');
    expectError(
      await svc.call('POST', '/api/v1/mails', mail({ title: '${X}', parameters: { X: 'y'.repeat(600) } })),
      '77102',
      'title: at most 500 bytes after tag substitution',
    );
  });

  it('a body tag whose recipient value makes it over 500 KB: 400 naming the recipient', async () => {
    const res = await svc.call(
      'POST',
      '/api/v1/mails',
      mail({
        body: '${X}${X}',
        recipients: [
          { address: 'a@example.com', type: 'R', parameters: { X: 'y' } },
          { address: 'b@example.com', type: 'R', parameters: { X: 'y'.repeat(300 * 1024) } },
        ],
      }),
    );
    expectError(res, '77102', 'recipients[1]');
    expect(res.body.error.message).toContain('body: at most 500 KB');
  });

  it('unsubscribeMessage over 10 KB: 400', async () => {
    expectError(
      await svc.call('POST', '/api/v1/mails', mail({ advertising: true, useBasicUnsubscribeMsg: false, unsubscribeMessage: 'u'.repeat(10 * 1024 + 1) })),
      '77102',
      'unsubscribeMessage: at most 10 KB',
    );
  });

  it('parameter caps: 100 names, 100 characters a name', async () => {
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`P${i}`, 'v']));
    expectError(await svc.call('POST', '/api/v1/mails', mail({ parameters: many })), '77102', 'parameters: at most 100 parameters');
    expectError(
      await svc.call('POST', '/api/v1/mails', mail({ recipients: [{ address: 'a@example.com', type: 'R', parameters: { ['N'.repeat(101)]: 'v' } }] })),
      '77102',
      'recipients[0].parameters: parameter names must be 1 to 100 characters',
    );
    const ok = await svc.call(
      'POST',
      '/api/v1/mails',
      mail({ title: '${X}', parameters: { ...Object.fromEntries(Array.from({ length: 99 }, (_, i) => [`P${i}`, 'v'])), X: 'y'.repeat(500) } }),
    );
    expect(ok.status).toBe(201);
  });

  it('a recipient-file value that makes the title too long fails that recipient with MIME_MESSAGE_CREATE_FAIL; the others go', async () => {
    const B = 'csvBOUNDARY';
    const csv = `address,name,X\nlong@example.com,L,${'y'.repeat(600)}\nshort@example.com,S,ok\n`;
    const body = multipartBody(B, [{ headers: ['Content-Disposition: form-data; name="file"; filename="r.csv"', 'Content-Type: text/csv'], content: csv }]);
    const file = await postMultipart('/api/v1/recipient-files', body, B);
    expect(file.status).toBe(201);
    const created = await svc.call('POST', '/api/v1/mails', {
      senderAddress: 'sender@example.com',
      title: 'Hi ${X}',
      body: 'B',
      recipientFileId: file.json.recipientFileId,
    });
    expect(created.status).toBe(201);
    const deadline = Date.now() + 20_000;
    let rows: { address: string; sendResultCode: string; sendResultMessage: string | null }[] = [];
    for (;;) {
      const res = await svc.call('GET', `/api/v1/mails/recipients?requestId=${created.body.requestId}`);
      rows = res.body.content;
      if (rows.length === 2 && rows.every((r) => r.sendResultCode && r.sendResultCode !== 'RESENDING_MAIL')) break;
      if (Date.now() > deadline) throw new Error(`recipients not finished: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const byAddress = Object.fromEntries(rows.map((r) => [r.address, r]));
    expect(byAddress['long@example.com']).toMatchObject({ sendResultCode: 'MIME_MESSAGE_CREATE_FAIL', sendResultMessage: expect.stringContaining('title') });
    expect(byAddress['short@example.com']).toMatchObject({ sendResultCode: 'MAIL_SENT' });
    expect(sink.messages.some((m) => m.to.includes('long@example.com'))).toBe(false);
  });
});

describe('template trees: bounded, stored in bulk, never recursed into', () => {
  const backup = (categories: unknown[], templates: unknown[] = []) =>
    JSON.stringify({ format: 'outbound-mailer-templates', version: 1, categories, templates });
  const chain = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ sid: i + 1, parentSid: i === 0 ? -1 : i, name: `${prefix}${i + 1}` }));

  it('a 5,000-deep chain is refused at once (20,000 is over the count); 20 levels are imported', async () => {
    const started = Date.now();
    const deep = await importBackup(backup(chain(5_000, 'deep')));
    expect(deep.status).toBe(400);
    expect(deep.json.error.message).toContain('more than 20 levels');
    expect(Date.now() - started).toBeLessThan(5000);
    const ok = await importBackup(backup(chain(20, 'ok')));
    expect(ok.status).toBe(201);
  });

  it('10,000 flat categories and 1,000 templates go in bulk; 10,001 categories are refused', async () => {
    const flat = Array.from({ length: 10_000 }, (_, i) => ({ sid: i + 1, parentSid: -1, name: `flat${i}` }));
    const templates = Array.from({ length: 1000 }, (_, i) => ({
      sid: i + 1,
      categorySid: (i % 10_000) + 1,
      name: `t${i}`,
      description: null,
      title: 'T',
      senderAddress: 'sender@example.com',
      senderName: null,
      body: 'B',
      isUse: true,
    }));
    const started = Date.now();
    const res = await importBackup(backup(flat, templates));
    const ms = Date.now() - started;
    console.log(`template import: 10,000 categories + 1,000 templates in ${ms} ms`);
    expect(res.status).toBe(201);
    expect(ms).toBeLessThan(20_000);
    const count = await sql<{ n: string }>`SELECT count(*) AS n FROM template_categories WHERE name LIKE 'flat%'`.execute(db.db);
    expect(Number(count.rows[0]!.n)).toBe(10_000);
    const tooMany = await importBackup(backup([...flat, { sid: 10_001, parentSid: -1, name: 'one-more' }]));
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toContain('at most 10,000');
  }, 60_000);

  it('createCategory and updateCategory keep trees within 20 levels', async () => {
    let parent = -1;
    const sids: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const res = await svc.call('POST', '/api/v1/category', { categoryName: `lvl${i}`, parentSid: parent });
      expect(res.status).toBe(201);
      parent = res.body.sid;
      sids.push(parent);
    }
    expectError(await svc.call('POST', '/api/v1/category', { categoryName: 'lvl21', parentSid: parent }), '77102', 'at most 20 levels');
    // a two-level sub-tree moved under level 19 would reach level 21
    const a = (await svc.call('POST', '/api/v1/category', { categoryName: 'moveA' })).body;
    await svc.call('POST', '/api/v1/category', { categoryName: 'moveB', parentSid: a.sid });
    expectError(await svc.call('PUT', `/api/v1/category/${a.sid}/name-location`, { parentSid: sids[18] }), '77102', 'at most 20 levels');
    expect((await svc.call('PUT', `/api/v1/category/${a.sid}/name-location`, { parentSid: sids[17] })).status).toBe(200);
  });

  it('a deep chain stored before the limit: GET /template answers, and its backup completes', async () => {
    const project = await sql<{ id: string }>`SELECT project_id AS id FROM access_keys WHERE access_key = ${TEST_ACCESS_KEY}`.execute(db.db);
    await sql`
      INSERT INTO template_categories (sid, project_id, parent_sid, name, position)
      SELECT 9000000 + g, ${project.rows[0]!.id}, CASE WHEN g = 1 THEN NULL ELSE 9000000 + g - 1 END, 'legacy' || g, 1
      FROM generate_series(1, 20000) g`.execute(db.db);
    const tree = await svc.call('GET', '/api/v1/template');
    expect(tree.status).toBe(200);
    const requested = await svc.call('POST', '/api/v1/template/export/request');
    expect(requested.status).toBe(200);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const row = await sql<{ status: string }>`SELECT status FROM template_exports WHERE sid = ${requested.body.sid}`.execute(db.db);
      if (row.rows[0]!.status === 'C') break;
      if (Date.now() > deadline) throw new Error(`backup still ${row.rows[0]!.status}\n${svc.tail(30)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const file = await svc.call('GET', `/api/v1/template/export/${requested.body.sid}`);
    expect(file.status).toBe(200);
    expect(JSON.parse(file.text).categories.filter((c: { name: string }) => c.name.startsWith('legacy'))).toHaveLength(20_000);
    await expectAlive();
  }, 60_000);
});

describe('a template backup that keeps failing ends in F, not I', () => {
  it('the last attempt records the failure; a run after it only records it', async () => {
    const project = await sql<{ id: string }>`SELECT project_id AS id FROM access_keys WHERE access_key = ${TEST_ACCESS_KEY}`.execute(db.db);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-backup-fail-'));
    // DATA_DIR/template-exports is a file: every run fails to write the backup
    fs.writeFileSync(path.join(dataDir, 'template-exports'), '');
    const deps = {
      db: db.db,
      config: loadConfig({ DATA_DIR: dataDir }),
      blobs: createLocalBlobStore(dataDir),
      now: () => new Date(),
      logger: pino({ level: 'silent' }),
    };
    try {
      const insert = async (attempts: number) =>
        (
          await sql<{
            sid: string;
          }>`INSERT INTO template_exports (project_id, status, attempts) VALUES (${project.rows[0]!.id}, 'I', ${attempts}) RETURNING sid`.execute(db.db)
        ).rows[0]!.sid;
      const state = async (sid: string) =>
        (await sql<{ status: string; error: string | null }>`SELECT status, error FROM template_exports WHERE sid = ${sid}`.execute(db.db)).rows[0]!;
      const early = await insert(0);
      await expect(runTemplateBackup(deps, early)).rejects.toThrow();
      expect(await state(early)).toMatchObject({ status: 'I' });
      const last = await insert(TEMPLATE_BACKUP_MAX_ATTEMPTS - 1);
      await runTemplateBackup(deps, last);
      expect(await state(last)).toEqual({ status: 'F', error: expect.stringContaining(`failed ${TEMPLATE_BACKUP_MAX_ATTEMPTS} times`) });
      const lost = await insert(TEMPLATE_BACKUP_MAX_ATTEMPTS);
      await runTemplateBackup(deps, lost);
      expect(await state(lost)).toEqual({ status: 'F', error: expect.stringContaining('request a new backup') });
      const list = await svc.call('GET', '/api/v1/template/export?size=100');
      expect(list.body.content.find((r: { sid: number }) => String(r.sid) === last).statusCode).toEqual({ label: 'Failed', code: 'F' });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('downloads the client drops', () => {
  it('an export download cut off mid-file is not an unhandled error', async () => {
    const { rows } = await db.pool.query<{ project_id: string }>('SELECT project_id::text FROM access_keys WHERE access_key = $1', [TEST_ACCESS_KEY]);
    await seedSentHistory(db.pool, { projectId: rows[0]!.project_id, recipients: 60_000, perRequest: 30_000 });
    const created = await svc.call('POST', '/api/v1/exports', { view: 'recipients' });
    expect(created.status).toBe(202);
    const deadline = Date.now() + 40_000;
    let fileSize = 0;
    for (;;) {
      const list = await svc.call('GET', '/api/v1/exports?size=100');
      const row = list.body.content.find((e: { exportId: string }) => e.exportId === created.body.exportId);
      if (row.status.code === 'C') {
        fileSize = row.fileSize;
        break;
      }
      if (Date.now() > deadline) throw new Error(`export still ${row.status.code}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(fileSize).toBeGreaterThan(1024 * 1024);
    const target = `/api/v1/exports/${created.body.exportId}/file`;
    // Read the head of the answer only, then drop the connection.
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: svc.port }, () => {
        socket.write([`GET ${target} HTTP/1.1`, 'host: x', ...signedHeaderLines(KEY, 'GET', target), '', ''].join('\r\n'));
      });
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(
      svc
        .logs()
        .filter((r) => r.level >= 50)
        .map((r) => r.msg),
    ).toEqual([]);
    await expectAlive();
  }, 90_000);
});

function importBackup(content: string) {
  const B = 'importBOUNDARY';
  const body = multipartBody(B, [
    { headers: ['Content-Disposition: form-data; name="file"; filename="backup.json"', 'Content-Type: application/json'], content },
  ]);
  return signedRaw(
    svc.port,
    KEY,
    'POST',
    '/api/v1/template/import',
    [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${body.length}`],
    body,
    { idleMs: 60_000 },
  );
}

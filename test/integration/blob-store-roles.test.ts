import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signRequest } from '../../src/http/signature.ts';
import { asFile, expectError } from '../helpers/responses.ts';
import { startTestS3, type TestS3 } from '../helpers/s3-server.ts';
import { startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, TEST_SECRET_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';
import { startTestService, waitFor, type TestService } from '../helpers/test-service.ts';

// Why BLOB_STORE exists: an API instance and a worker instance on one database, each with a
// DATA_DIR of its own (no shared filesystem), in this process and as real ROLE=api / ROLE=worker
// child processes. With postgres or s3, an attachment uploaded to the API is sent by the worker,
// and files the worker writes (an export, a template backup) download from the API. With local,
// they don't.

let db: TestDb;
let sink: TestSink;
let s3: TestS3;

beforeAll(async () => {
  [db, sink, s3] = await Promise.all([createTestDb(), startTestSink(), startTestS3()]);
});
afterAll(async () => {
  await stopAllServiceProcesses();
  await Promise.all([sink?.close(), s3?.stop()]);
  await db?.drop();
});

/** An API-only instance and a worker-only one, on one database, with different DATA_DIRs. */
async function apiAndWorker(env: Record<string, string>): Promise<{ api: TestService; worker: TestService }> {
  const api = await startTestService({ smtpUrl: sink.url, db, workers: false, env });
  const worker = await startTestService({ smtpUrl: sink.url, db, box: api.box, key: api.key, env });
  expect(api.config.dataDir).not.toBe(worker.config.dataDir);
  return { api, worker };
}

type Lister = (target: string) => Promise<{ content?: any[] }>;

/** Waits until the list at `target` shows the item `pick` finds with `code` (C: completed). */
function listedAs(list: Lister, target: string, pick: (item: any) => boolean, code: (item: any) => string, what: string) {
  return waitFor(async () => (await list(target)).content?.some((x) => pick(x) && code(x) === 'C'), 30_000, what);
}
const exportDone = (list: Lister, exportId: string) =>
  listedAs(
    list,
    '/api/v1/exports?size=100',
    (e) => e.exportId === exportId,
    (e) => e.status.code,
    `export ${exportId} to complete`,
  );
const backupDone = (list: Lister, sid: number) =>
  listedAs(
    list,
    '/api/v1/template/export?size=100',
    (b) => b.sid === sid,
    (b) => b.statusCode.code,
    `backup ${sid} to complete`,
  );
const listOf =
  (svc: { call(method: string, target: string): PromiseLike<{ body: any }> }): Lister =>
  async (target) =>
    (await svc.call('GET', target)).body;

/** The attachment as every mail carries it: base64 in 76-character CRLF lines. */
const asSent = (data: Buffer) =>
  data
    .toString('base64')
    .match(/.{1,76}/g)!
    .join('\r\n');

const filesUnder = (dir: string): string[] => (fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]) : []);

describe.each([
  ['postgres', () => ({ BLOB_STORE: 'postgres' })],
  ['s3', () => s3.env],
])('BLOB_STORE=%s, ROLE=api and ROLE=worker with different DATA_DIRs', (_kind, env) => {
  let api: TestService;
  let worker: TestService;
  beforeAll(async () => {
    ({ api, worker } = await apiAndWorker(env()));
  });
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
  });

  it('an attachment uploaded to the API is sent by the worker, and downloads from the API', async () => {
    sink.reset();
    // 1.5 MB: several Postgres chunks once stored as base64
    const data = Buffer.from(crypto.randomBytes(1_100_000).toString('base64'));
    const upload = await api.call('POST', '/api/v1/files').attach('fileList', data, 'report.txt');
    expect(upload.status).toBe(201);
    const fileId: string = upload.body.files[0].fileId;
    expect(filesUnder(path.join(api.config.dataDir, 'files'))).toEqual([]); // not on the API host's disk
    const sent = await api.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'no_reply@company.com',
        title: 'blob',
        body: '<p>attached</p>',
        recipients: [{ address: 'r@example.com' }],
        attachFileIds: [fileId],
      },
    });
    expect(sent.status).toBe(201);
    const [message] = await sink.waitForMessages(1, 20_000);
    expect(message!.raw.includes(asSent(data))).toBe(true);
    expect(message!.raw.toString('latin1')).toMatch(/filename="?report\.txt/);
    // the worker keeps one read-through copy of the stored file for every mail
    expect(filesUnder(path.join(worker.config.dataDir, 'blob-cache', 'files'))).toEqual([fileId]);

    const mailId = await waitFor(
      async () => (await api.call('GET', `/api/v1/mails/requests/${sent.body.requestId}/mails`)).body.content?.[0]?.mailId as string,
    );
    const file = await asFile(api.call('GET', `/api/v1/mails/${mailId}/attachments/${fileId}`));
    expect(file.status).toBe(200);
    expect(Buffer.compare(file.body, data)).toBe(0);
  });

  it('an export written by the worker downloads from the API', async () => {
    const created = await api.call('POST', '/api/v1/exports', { body: { view: 'requests' } });
    expect(created.status).toBe(202);
    await exportDone(listOf(api), created.body.exportId);
    const file = await asFile(api.call('GET', `/api/v1/exports/${created.body.exportId}/file`));
    expect(file.status).toBe(200);
    expect(file.body.subarray(0, 2).toString()).toBe('PK');
    expect(Number(file.headers['content-length'])).toBe(file.body.length);
    // the worker's temporary file went into the store
    expect(filesUnder(path.join(worker.config.dataDir, 'exports'))).toEqual([]);
  });

  it('a template backup written by the worker downloads from the API', async () => {
    const template = await api.call('POST', '/api/v1/template', {
      body: { templateName: 'kept in the store', title: 'T', body: '<p>B</p>', senderAddress: 'a@company.com', senderName: 'A' },
    });
    expect(template.status).toBe(201);
    const requested = await api.call('POST', '/api/v1/template/export/request');
    expect(requested.status).toBe(200);
    await backupDone(listOf(api), requested.body.sid);
    const file = await asFile(api.call('GET', `/api/v1/template/export/${requested.body.sid}`));
    expect(file.status).toBe(200);
    expect(JSON.parse(file.body.toString('utf8')).templates.map((t: { name: string }) => t.name)).toContain('kept in the store');
  });
});

describe('BLOB_STORE=local, ROLE=api and ROLE=worker with different DATA_DIRs', () => {
  it('an export the worker wrote is not there for the API: local needs one shared DATA_DIR', async () => {
    const { api, worker } = await apiAndWorker({ BLOB_STORE: 'local' });
    try {
      const created = await api.call('POST', '/api/v1/exports', { body: { view: 'requests' } });
      await exportDone(listOf(api), created.body.exportId);
      expect(filesUnder(path.join(worker.config.dataDir, 'exports'))).toEqual([`${created.body.exportId}.1.xlsx`]);
      expectError(await api.call('GET', `/api/v1/exports/${created.body.exportId}/file`), '77103');
    } finally {
      await Promise.all([api.stop(), worker.stop()]);
    }
  });
});

/** A signed request with a body fetch encodes itself (multipart) or none; the raw answer. */
async function signed(api: ServiceProcess, method: string, target: string, body?: FormData): Promise<Response> {
  const ts = String(Date.now());
  return fetch(`${api.baseUrl}${target}`, {
    method,
    body,
    headers: {
      'x-ncp-apigw-timestamp': ts,
      'x-ncp-iam-access-key': TEST_ACCESS_KEY,
      'x-ncp-apigw-signature-v2': signRequest(TEST_SECRET_KEY, method, target, ts, TEST_ACCESS_KEY),
    },
  });
}

describe.each([
  ['postgres', () => ({ BLOB_STORE: 'postgres' })],
  ['s3', () => s3.env],
])('BLOB_STORE=%s: ROLE=api and ROLE=worker processes with different DATA_DIRs', (_kind, env) => {
  let api: ServiceProcess;
  let worker: ServiceProcess;
  beforeAll(async () => {
    worker = await startServiceProcess({ name: 'worker', role: 'worker', databaseUrl: db.url, smtpUrl: sink.url, env: env() });
    api = await startServiceProcess({ name: 'api', role: 'api', databaseUrl: db.url, smtpUrl: sink.url, env: env() });
    expect(api.dataDir).not.toBe(worker.dataDir);
  });
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
  });

  it('an upload is sent in a mail, an export and a template backup download', async () => {
    sink.reset();
    const data = Buffer.from(crypto.randomBytes(700_000).toString('base64'));
    const form = new FormData();
    form.append('fileList', new Blob([data]), 'notes.txt');
    const upload = await signed(api, 'POST', '/api/v1/files', form);
    expect(upload.status).toBe(201);
    const fileId: string = ((await upload.json()) as { files: { fileId: string }[] }).files[0]!.fileId;
    const sent = await api.call('POST', '/api/v1/mails', {
      senderAddress: 'no_reply@company.com',
      title: 'apart',
      body: '<p>attached</p>',
      recipients: [{ address: 'r@example.com' }],
      attachFileIds: [fileId],
    });
    expect(sent.status).toBe(201);
    const [message] = await sink.waitForMessages(1, 30_000);
    expect(message!.raw.includes(asSent(data))).toBe(true);
    expect(fs.existsSync(path.join(api.dataDir, 'files', fileId))).toBe(false);

    const exported = await api.call('POST', '/api/v1/exports', { view: 'requests' });
    expect(exported.status).toBe(202);
    const exportId: string = exported.body.exportId;
    await exportDone(listOf(api), exportId);
    const xlsx = await signed(api, 'GET', `/api/v1/exports/${exportId}/file`);
    expect(xlsx.status).toBe(200);
    expect(
      Buffer.from(await xlsx.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');

    const requested = await api.call('POST', '/api/v1/template/export/request');
    expect(requested.status).toBe(200);
    await backupDone(listOf(api), requested.body.sid);
    const backup = await signed(api, 'GET', `/api/v1/template/export/${requested.body.sid}`);
    expect(backup.status).toBe(200);
    expect(JSON.parse(await backup.text())).toMatchObject({ templates: [] });
  });
});

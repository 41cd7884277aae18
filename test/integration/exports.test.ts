import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { sql } from 'kysely';
import type supertest from 'supertest';
import { createLogger } from '../../src/logger.ts';
import { EXPORT_MAX_ATTEMPTS, runExport } from '../../src/modules/exports/export.job.ts';
import { exportsDir } from '../../src/modules/exports/export-store.ts';
import * as exportsRepo from '../../src/modules/exports/exports.repository.ts';
import { expireExports } from '../../src/modules/exports/exports.service.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { TEST_ACCESS_KEY, sleep, startServiceProcess, stopAllServiceProcesses } from '../helpers/service-process.ts';
import { seedSentHistory } from '../helpers/seed-rows.ts';
import { startTestSink } from '../helpers/smtp-sink.ts';
import { createTestDb } from '../helpers/test-db.ts';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { countXlsxRows, readXlsx } from '../helpers/xlsx-sheet.ts';
import { expectError, asFile } from '../helpers/responses.ts';

/**
 * Exports (extension endpoints; the views' filters): createExport checks the view's filters and queues a job, the job
 * writes the .xlsx (localised header, display-time-zone dates, every matching row), getExportList
 * shows the state, downloadExport streams the file; expiry, failures, tenancy, and an export
 * interrupted by a killed service.
 */

const { svc } = useTestService();
let other: CreatedKey;
/** the request sent for real: three recipients, all accepted */
let sentRequestId: string;
/** the seeded history: two requests of 6,000 recipients */
let seeded: string[];
const SEEDED = 12_000;
const logger = createLogger('silent');

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const post = (body: unknown, headers?: Record<string, string>, key?: CreatedKey) => svc.call('POST', '/api/v1/exports', { body, headers, key });

async function listed(exportId: string, opts: { key?: CreatedKey; headers?: Record<string, string> } = {}) {
  const res = await svc.call('GET', '/api/v1/exports?size=100', opts);
  expect(res.status).toBe(200);
  return (res.body.content as any[]).find((e) => e.exportId === exportId);
}

async function done(exportId: string, headers?: Record<string, string>) {
  return waitFor(
    async () => {
      const e = await listed(exportId, { headers });
      return e && ['C', 'F'].includes(e.status.code) ? e : undefined;
    },
    30_000,
    `export ${exportId} to finish`,
  );
}

function download(exportId: string, key?: CreatedKey): supertest.Test {
  return asFile(svc.call('GET', `/api/v1/exports/${exportId}/file`, { key }));
}

async function exportRows(): Promise<number> {
  return Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM exports`.execute(svc.db.db)).rows[0]!.n);
}
async function exportJobs(): Promise<number> {
  return Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM pgboss.job WHERE name = 'export'`.execute(svc.db.db)).rows[0]!.n);
}

/** An export row written directly (no job): for states the API reaches only with time or faults. */
async function insertExport(set: Partial<Record<string, unknown>> = {}) {
  const row = await exportsRepo.insertExport(svc.db.db, {
    project_id: svc.key.projectId,
    view: 'requests',
    filters: {},
    lang: 'en',
    time_zone: 'Asia/Seoul',
    requested_at: new Date(),
  });
  if (Object.keys(set).length) await svc.db.db.updateTable('exports').set(set).where('id', '=', row.id).execute();
  return row.id;
}

const jobDeps = () => ({ db: svc.db.db, config: svc.config, blobs: svc.blobs, logger, now: () => new Date() });
const NES = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{3}$/;

beforeAll(async () => {
  other = await svc.newKey('other-project');
  const res = await svc.call('POST', '/api/v1/mails', {
    body: {
      senderAddress: 'news@company.com',
      senderName: 'News',
      title: 'Hello ${NAME}',
      body: '<p>Hi ${NAME}</p>',
      recipients: ['a', 'b', 'c'].map((n) => ({ address: `${n}@example.com`, name: n.toUpperCase(), type: 'R', parameters: { NAME: n } })),
    },
  });
  expect(res.status).toBe(201);
  sentRequestId = res.body.requestId;
  await waitFor(
    async () => {
      const row = await svc.db.db.selectFrom('mail_requests').select('status').where('project_id', '=', svc.key.projectId).executeTakeFirst();
      return row && row.status === 'S';
    },
    20_000,
    'the request to be sent',
  );
  seeded = (await seedSentHistory(svc.db.pool, { projectId: svc.key.projectId, recipients: SEEDED, perRequest: SEEDED / 2 })).requestIds;
}, 60_000);

describe('createExport → job → getExportList → downloadExport', () => {
  it('requests view: 202 with the export, completed by the job; the .xlsx has a Korean header and every request', async () => {
    const res = await post({ view: 'requests', filters: { sendStatus: ['S'] } }, { 'x-ncp-lang': 'ko-KR' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      exportId: expect.stringMatching(/^\d+$/),
      view: 'requests',
      filters: { sendStatus: ['S'] },
      status: { label: '요청', code: 'R' },
      requestDate: { utc: expect.any(Number), formattedDate: expect.any(String), formattedDateTime: expect.stringMatching(NES) },
      completeDate: null,
      expireDate: null,
      rowCount: null,
      fileSize: null,
      downloadUrl: null,
      errorMessage: null,
    });
    const e = await done(res.body.exportId, { 'x-ncp-lang': 'ko-KR' });
    expect(e.status).toEqual({ label: '완료', code: 'C' });
    expect(e.rowCount).toBe(3);
    expect(e.downloadUrl).toBe(`${svc.config.publicBaseUrl}/api/v1/exports/${e.exportId}/file`);
    // Downloadable for 7 days from its creation.
    expect(e.expireDate.utc - e.completeDate.utc).toBe(7 * 86_400_000);

    const file = await download(e.exportId);
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe(XLSX_TYPE);
    expect(file.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="mail-list-requests-\\d{14}-${e.exportId}\\.xlsx"$`));
    expect((file.body as Buffer).length).toBe(e.fileSize);
    const { sheets } = await readXlsx(file.body as Buffer);
    const [header, ...rows] = sheets[0]!;
    expect(header!.slice(0, 4)).toEqual(['요청 ID', '발송자 주소', '요청 일시', '발송 일시']);
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set([sentRequestId, ...seeded]));
    const sent = rows.find((r) => r[0] === sentRequestId)!;
    expect(sent[1]).toBe('news@company.com');
    expect(sent[2]).toMatch(NES);
    expect(sent[header!.indexOf('발송 상태')]).toBe('발송성공');
    expect(sent[header!.indexOf('수신자 수')]).toBe('3');
  });

  it('recipients view with filters, in Japanese: only the matching recipient, dates in the display time zone', async () => {
    const res = await post({ view: 'recipients', filters: { recipientAddress: 'b@example.com', sendStatus: 'S' } }, { 'x-ncp-lang': 'ja-JP' });
    expect(res.status).toBe(202);
    expect(res.body.status).toEqual({ label: 'リクエスト済み', code: 'R' });
    const e = await done(res.body.exportId);
    expect(e.rowCount).toBe(1);
    const { sheets } = await readXlsx((await download(e.exportId)).body as Buffer);
    const [header, row] = sheets[0]!;
    expect(header!.slice(0, 3)).toEqual(['Project ID', 'Request ID', 'リクエスト日時']);
    const at = (name: string) => row![header!.indexOf(name)];
    expect(at('アドレス')).toBe('b@example.com');
    expect(at('名前')).toBe('B');
    expect(at('Request ID')).toBe(sentRequestId);
    expect(at('送信結果コード')).toBe('MAIL_SENT');
    expect(at('受信したかどうか')).toBe('はい');
    expect(at('送信状態')).toBe('送信成功');
    // Asia/Seoul (UTC+9) as the API shows it
    const api = await svc.call('GET', `/api/v1/mails/requests?requestId=${sentRequestId}`);
    expect(at('リクエスト日時')).toBe(api.body.content[0].requestDate.formattedDateTime);
  });

  it('recipients view without filters: every row across several batches, the count in the list matches the file', async () => {
    const res = await post({ view: 'recipients' });
    expect(res.status).toBe(202);
    const e = await done(res.body.exportId);
    expect(e.status.code).toBe('C');
    expect(e.rowCount).toBe(SEEDED + 3);
    const { sheets } = await readXlsx((await download(e.exportId)).body as Buffer);
    expect(sheets[0]![0]![0]).toBe('Project ID');
    const rows = sheets[0]!.slice(1);
    expect(rows).toHaveLength(SEEDED + 3);
    expect(new Set(rows.map((r) => r[10])).size).toBe(SEEDED + 3);
  });

  it('mails view: needs a requestId (400 naming it, nothing stored); with one, its mails', async () => {
    const [rowsBefore, jobsBefore] = [await exportRows(), await exportJobs()];
    expectError(await post({ view: 'mails' }), '77102', 'filters.requestId');
    expectError(await post({ view: 'mails', filters: { requestId: '20200101000000000001' } }), '77103', 'filters.requestId');
    expectError(await post({ view: 'mails', filters: { requestId: 'not-an-id' } }), '77103', 'filters.requestId');
    expectError(await post({ view: 'mails', filters: { requestId: sentRequestId } }, undefined, other), '77103', 'filters.requestId');
    expect([await exportRows(), await exportJobs()]).toEqual([rowsBefore, jobsBefore]);

    const res = await post({ view: 'mails', filters: { requestId: sentRequestId } });
    expect(res.status).toBe(202);
    const e = await done(res.body.exportId);
    expect(e.rowCount).toBe(3);
    const { sheets } = await readXlsx((await download(e.exportId)).body as Buffer);
    const [header, ...rows] = sheets[0]!;
    expect(header![0]).toBe('Request ID');
    expect(rows.map((r) => r[header!.indexOf('Recipient')]).sort()).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
  });

  it('bad bodies and filters: 400/77102 naming the field; nothing stored, no job queued', async () => {
    const rowsBefore = await exportRows();
    const jobsBefore = await exportJobs();
    const cases: [unknown, string][] = [
      [{}, 'view'],
      [{ view: 'templates' }, 'view'],
      [{ view: 'requests', filters: 'sendStatus=S' }, 'filters'],
      [{ view: 'requests', filters: { title: { like: 'x' } } }, 'filters'],
      [{ view: 'requests', extra: true }, 'extra'],
      [{ view: 'requests', filters: { sendStatus: ['S', 'XX'] } }, 'filters.sendStatus'],
      [{ view: 'recipients', filters: { sendStatus: 'PF' } }, 'filters.sendStatus'],
      [{ view: 'recipients', filters: { sendResultCode: 'NOPE' } }, 'filters.sendResultCode'],
      [{ view: 'requests', filters: { startDateTime: '2025-13-45' } }, 'filters.startDateTime'],
      [{ view: 'requests', filters: { startUtc: 'yesterday' } }, 'filters.startUtc'],
      [{ view: 'requests', filters: { startUtc: 2000, endUtc: 1000 } }, 'filters.startUtc'],
      [{ view: 'requests', filters: { dispatchType: 'FAX' } }, 'filters.dispatchType'],
      [{ view: 'requests', filters: { templateSid: 'abc' } }, 'filters.templateSid'],
      [{ view: 'requests', filters: { sendStatuss: 'S' } }, 'filters.sendStatuss'],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code: '77102' });
      expect({ body, message: res.body.error.message }).toEqual({ body, message: expect.stringContaining(field) });
    }
    expect(await exportRows()).toBe(rowsBefore);
    expect(await exportJobs()).toBe(jobsBefore);
    // page/size/sort copied from a view's query string are accepted and ignored
    const res = await post({ view: 'requests', filters: { page: 2, size: 10, sort: 'createUtc,desc', startDateTime: '2020-01-01' } });
    expect(res.status).toBe(202);
    expect((await done(res.body.exportId)).rowCount).toBe(3);
  });
});

describe('states, expiry, failures, tenancy', () => {
  it('another project sees none of these exports and cannot download them; malformed and unknown ids are 77103', async () => {
    const res = await post({ view: 'requests' });
    const e = await done(res.body.exportId);
    const theirs = await svc.call('GET', '/api/v1/exports', { key: other });
    expect(theirs.status).toBe(200);
    expect(theirs.body).toMatchObject({ content: [], totalElements: 0 });
    expectError(await download(e.exportId, other), '77103', 'does not exist');
    expectError(await download('999999999'), '77103', 'does not exist');
    expectError(await download('abc'), '77103', 'does not exist');
    expectError(await download('1'.repeat(40)), '77103');
  });

  it('getExportList pages newest first', async () => {
    for (let i = 0; i < 3; i++) await insertExport();
    const page = await svc.call('GET', '/api/v1/exports?page=0&size=2');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ size: 2, number: 0, numberOfElements: 2, first: true, last: false });
    const all = await svc.call('GET', '/api/v1/exports?size=1000');
    const ids = (all.body.content as { exportId: string }[]).map((e) => BigInt(e.exportId));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    expect(page.body.totalElements).toBe(all.body.totalElements);
    expectError(await svc.call('GET', '/api/v1/exports?size=0'), '77102', 'size');
  });

  it('not completed yet: listed as requested / creating, download 77103 saying so', async () => {
    const requested = await insertExport();
    const creating = await insertExport({ status: 'I', attempts: 1, started_at: new Date(), heartbeat_at: new Date() });
    expect((await listed(requested)).status).toEqual({ label: 'Requested', code: 'R' });
    expect((await listed(creating, { headers: { 'x-ncp-lang': 'ko-KR' } })).status).toEqual({ label: '생성중', code: 'I' });
    expectError(await download(requested), '77103', 'not completed yet (status R)');
    expectError(await download(creating), '77103', 'not completed yet (status I)');
  });

  it('expired: shown as E at once, not downloadable; the periodic job marks it and deletes the file', async () => {
    const res = await post({ view: 'requests' });
    const e = await done(res.body.exportId);
    const file = path.join(exportsDir(svc.config.dataDir), `${e.exportId}.1.xlsx`);
    expect(fs.existsSync(file)).toBe(true);
    await svc.db.db
      .updateTable('exports')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', e.exportId)
      .execute();
    const shown = await listed(e.exportId, { headers: { 'x-ncp-lang': 'ja-JP' } });
    expect(shown).toMatchObject({ status: { label: '期限切れ', code: 'E' }, downloadUrl: null, rowCount: 3 });
    expectError(await download(e.exportId), '77103', 'expired');

    const result = await expireExports({ ...jobDeps() });
    expect(result.expired).toBeGreaterThanOrEqual(1);
    const row = await svc.db.db.selectFrom('exports').select('status').where('id', '=', e.exportId).executeTakeFirstOrThrow();
    expect(row.status).toBe('E');
    expect(fs.existsSync(file)).toBe(false);
    expectError(await download(e.exportId), '77103', 'expired');
  });

  it(`interrupted ${EXPORT_MAX_ATTEMPTS} times: the next run fails it with a message instead of starting again`, async () => {
    const id = await insertExport({ status: 'I', attempts: EXPORT_MAX_ATTEMPTS, started_at: new Date(), heartbeat_at: new Date() });
    fs.mkdirSync(exportsDir(svc.config.dataDir), { recursive: true });
    const stale = path.join(exportsDir(svc.config.dataDir), `${id}.${EXPORT_MAX_ATTEMPTS}.part`);
    fs.writeFileSync(stale, 'partial');
    await runExport(jobDeps(), id);
    const e = await listed(id);
    expect(e).toMatchObject({ status: { label: 'Failed', code: 'F' }, downloadUrl: null, rowCount: null, completeDate: { utc: expect.any(Number) } });
    expect(e.errorMessage).toMatch(/interrupted 3 times.*request the export again/);
    expect(fs.existsSync(stale)).toBe(false);
    expectError(await download(id), '77103', 'failed');
    // A late retry of the same job leaves it as it is.
    await runExport(jobDeps(), id);
    expect((await listed(id)).status.code).toBe('F');
  });

  it("a run that was taken over stops, removing only its own file and leaving the newer run's alone", async () => {
    // 12,000+ recipient rows: three batches, so the run looks at its heartbeat more than once.
    const id = await insertExport({ view: 'recipients' });
    const dir = exportsDir(svc.config.dataDir);
    const newer = path.join(dir, `${id}.2.part`);
    let calls = 0;
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now');
    try {
      await runExport(jobDeps(), id, {
        isStopping: () => {
          calls++;
          if (calls === 1) {
            // A retry claims the export (attempt 2) and starts its own file while this run (attempt 1) still writes.
            fs.writeFileSync(newer, 'the newer run is writing');
            void sql`UPDATE exports SET attempts = 2 WHERE id = ${id}`.execute(svc.db.db);
          }
          // ... and after the next batch, this run's heartbeat falls due.
          if (calls === 2) clock.mockImplementation(() => realNow() + 10_000);
          return false;
        },
      });
    } finally {
      clock.mockRestore();
    }
    expect(fs.existsSync(newer)).toBe(true);
    expect(fs.existsSync(path.join(dir, `${id}.1.part`))).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(`${id}.`) && f.endsWith('.xlsx'))).toEqual([]);
    const row = await svc.db.db.selectFrom('exports').select(['status', 'attempts']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'I', attempts: 2 });
    fs.rmSync(newer);
  });

  it("a run taken over while it published its file leaves the newer run's file the one downloaded, and removes its own", async () => {
    const id = await insertExport({ view: 'requests', filters: JSON.stringify({ startDateTime: '2020-01-01' }) });
    let newer: Promise<void> | undefined;
    // Another worker host (its own DATA_DIR for its partial file) sharing the blob store.
    const otherHost = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-other-host-'));
    // The blob store, as the first run publishes: before its upload lands, the export's job is
    // retried on the other host (attempt 2), a request more is made, and the retry completes the export first.
    const blobs = new Proxy(svc.blobs, {
      get(target, prop, receiver) {
        if (prop !== 'putFile') return Reflect.get(target, prop, receiver);
        return async (key: string, file: string) => {
          if (!newer) {
            newer = (async () => {
              await svc.call('POST', '/api/v1/mails', {
                body: { senderAddress: 'news@company.com', title: 'one more', body: '<p>x</p>', recipients: [{ address: 'late@example.com' }] },
              });
              await runExport({ ...jobDeps(), config: { ...svc.config, dataDir: otherHost }, blobs: svc.blobs }, id);
            })();
            await newer;
          }
          return target.putFile(key, file);
        };
      },
    });
    try {
      await runExport({ ...jobDeps(), blobs }, id);
    } finally {
      await newer;
      fs.rmSync(otherHost, { recursive: true, force: true });
    }
    expect(newer).toBeDefined();
    const row = await svc.db.db.selectFrom('exports').select(['status', 'attempts', 'row_count']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'C', attempts: 2 });
    // the file downloaded is the completing run's: its rows are the ones the export counts (the first run's had one fewer)
    const { sheets } = await readXlsx((await download(id)).body as Buffer);
    expect(sheets[0]!.length - 1).toBe(Number(row.row_count));
    expect(fs.readdirSync(exportsDir(svc.config.dataDir)).filter((f) => f.startsWith(`${id}.`))).toEqual([`${id}.2.xlsx`]);
  });

  it('an export completed before files were named by attempt still downloads, and its file goes when it expires', async () => {
    const res = await post({ view: 'requests' });
    const e = await done(res.body.exportId);
    const dir = exportsDir(svc.config.dataDir);
    // as the layout before: exports/<id>.xlsx
    fs.renameSync(path.join(dir, `${e.exportId}.1.xlsx`), path.join(dir, `${e.exportId}.xlsx`));
    const { sheets } = await readXlsx((await download(e.exportId)).body as Buffer);
    expect(sheets[0]!.length - 1).toBe(e.rowCount);
    await svc.db.db
      .updateTable('exports')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', e.exportId)
      .execute();
    await expireExports(jobDeps());
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(`${e.exportId}.`))).toEqual([]);
  });

  it('a run that cannot succeed (filters the view refuses now) fails at once with the reason, leaving no file', async () => {
    const id = await insertExport({ filters: JSON.stringify({ sendStatus: 'XX' }) });
    await runExport(jobDeps(), id);
    expect(await listed(id)).toMatchObject({ status: { code: 'F' }, errorMessage: expect.stringContaining('sendStatus'), rowCount: null });
    expect(fs.readdirSync(exportsDir(svc.config.dataDir)).filter((f) => f.startsWith(`${id}.`))).toEqual([]);
  });

  it('a run whose job was lost (no heartbeat for long) is failed by the periodic job', async () => {
    const id = await insertExport({ status: 'I', attempts: 1, started_at: new Date(Date.now() - 3600_000), heartbeat_at: new Date(Date.now() - 3600_000) });
    const live = await insertExport({ status: 'I', attempts: 1, started_at: new Date(), heartbeat_at: new Date() });
    await expireExports(jobDeps());
    expect(await listed(id)).toMatchObject({ status: { code: 'F' }, errorMessage: expect.stringContaining('request the export again') });
    expect((await listed(live)).status.code).toBe('I');
  });

  it('the periodic job removes files no live export owns once they are an hour old, and keeps the rest', async () => {
    const dir = exportsDir(svc.config.dataDir);
    fs.mkdirSync(dir, { recursive: true });
    const failed = await insertExport({ status: 'F', error: 'x' });
    const running = await insertExport({ status: 'I', attempts: 1, started_at: new Date(), heartbeat_at: new Date() });
    const old = new Date(Date.now() - 2 * 3600_000);
    const write = (name: string, age?: Date) => {
      fs.writeFileSync(path.join(dir, name), 'x');
      if (age) fs.utimesSync(path.join(dir, name), age, age);
      return name;
    };
    const completed = await insertExport({
      status: 'C',
      attempts: 2,
      row_count: 1,
      file_size: 1,
      completed_at: new Date(),
      expires_at: new Date(Date.now() + 3600_000),
    });
    const gone = [
      write(`${failed}.xlsx`, old),
      write(`${failed}.1.part`, old),
      write('999999999.xlsx', old),
      write(`${failed}.1.xlsx`, old),
      // published by an attempt that was taken over: the export is the completing attempt's
      write(`${completed}.1.xlsx`, old),
    ];
    const kept = [
      write(`${running}.1.part`, old),
      write(`${failed}.2.part`),
      write('notes.txt', old),
      write(`${completed}.2.xlsx`, old),
      // a run still creating may be publishing any attempt's
      write(`${running}.1.xlsx`, old),
    ];
    const result = await expireExports(jobDeps());
    expect(result.orphans).toBeGreaterThanOrEqual(5);
    for (const f of gone) expect({ f, exists: fs.existsSync(path.join(dir, f)) }).toEqual({ f, exists: false });
    for (const f of kept) expect({ f, exists: fs.existsSync(path.join(dir, f)) }).toEqual({ f, exists: true });
    for (const f of kept) fs.rmSync(path.join(dir, f));
  });

  it('a completed export is not run again by a duplicate job', async () => {
    const res = await post({ view: 'requests' });
    const e = await done(res.body.exportId);
    await runExport(jobDeps(), e.exportId);
    const row = await svc.db.db.selectFrom('exports').select(['status', 'attempts']).where('id', '=', e.exportId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'C', attempts: 1 });
  });
});

describe('restart mid-export (real service process)', () => {
  afterEach(() => stopAllServiceProcesses());

  it('stopped (SIGTERM), then killed (SIGKILL) while writing: each restart retries it from the first row; it completes, never stuck in I', async () => {
    const db = await createTestDb();
    const sink2 = await startTestSink();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-export-restart-'));
    const start = (name: string) => startServiceProcess({ name, databaseUrl: db.url, smtpUrl: sink2.url, dataDir });
    const state = async (id: string) => (await db.pool.query('SELECT status, attempts FROM exports WHERE id = $1', [id])).rows[0];
    const files = () => fs.readdirSync(exportsDir(dataDir)).sort();
    try {
      const first = await start('first');
      const { rows } = await db.pool.query<{ project_id: string }>('SELECT project_id::text FROM access_keys WHERE access_key = $1', [TEST_ACCESS_KEY]);
      const N = 300_000;
      await seedSentHistory(db.pool, { projectId: rows[0]!.project_id, recipients: N, perRequest: 50_000 });
      const res = await first.call('POST', '/api/v1/exports', { view: 'recipients' });
      expect(res.status).toBe(202);
      const id = res.body.exportId as string;

      // 1. SIGTERM mid-file: the run gives the export back (R) and the service exits promptly.
      await first.waitForLog('export started', 30_000);
      await sleep(1000);
      expect(await state(id)).toEqual({ status: 'I', attempts: 1 });
      expect(files()).toEqual([`${id}.1.part`]);
      first.kill('SIGTERM');
      expect((await first.waitForExit(25_000)).code).toBe(0);
      expect(first.logs().some((r) => r.msg === 'export interrupted by shutdown; it will be retried' && r.exportId === id)).toBe(true);
      expect(await state(id)).toEqual({ status: 'R', attempts: 1 });
      expect(files()).toEqual([]);

      // 2. The retry runs on the next instance; SIGKILL it mid-file: it stays I until its heartbeat is missed.
      const second = await start('second');
      expect((await second.call('GET', '/api/v1/exports')).body.content[0].status.code).toMatch(/^[RI]$/);
      await second.waitForLog((r) => r.msg === 'export started' && r.attempt === 2, 30_000);
      await sleep(1000);
      expect(files()).toEqual([`${id}.2.part`]);
      second.kill('SIGKILL');
      await second.waitForExit(10_000);
      expect(await state(id)).toEqual({ status: 'I', attempts: 2 });

      // 3. The third instance retries it, starts the file again and completes it.
      const third = await start('third');
      const finalState = await waitFor(
        async () => {
          const r = await third.call('GET', '/api/v1/exports');
          const e = r.body?.content?.[0];
          return e && ['C', 'F'].includes(e.status.code) ? e : undefined;
        },
        150_000,
        'the export to finish after the restarts',
      );
      expect(finalState).toMatchObject({ exportId: id, status: { code: 'C' }, rowCount: N, errorMessage: null });
      expect(await state(id)).toEqual({ status: 'C', attempts: 3 });
      // The interrupted runs' partial files are gone; only the finished file remains, whole.
      expect(files()).toEqual([`${id}.3.xlsx`]);
      expect(await countXlsxRows(path.join(exportsDir(dataDir), `${id}.3.xlsx`))).toEqual({ rows: N + 1, sheets: 1 });
    } finally {
      await stopAllServiceProcesses();
      await sink2.close();
      await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});

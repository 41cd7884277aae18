import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { RequestStatus } from '../../src/shared/statuses.ts';
import { startQueue, type JobQueue } from '../../src/jobs/queue.ts';
import { loadConfig } from '../../src/config.ts';
import { START_RESERVATION } from '../../src/modules/lifecycle/start-reservation.job.ts';
import { createLogger } from '../../src/logger.ts';
import { runExport } from '../../src/modules/exports/export.job.ts';
import { exportsDir } from '../../src/modules/exports/export-store.ts';
import { createLocalBlobStore } from '../../src/shared/blob-store/local-blob-store.ts';
import * as exportsRepo from '../../src/modules/exports/exports.repository.ts';
import { storeRecipients } from '../../src/modules/requests/requests.service.ts';
import { purgeHistory } from '../../src/modules/retention/retention.service.ts';
import { ensureHistoryPartitions, historyTablesOf } from '../../src/modules/retention/history-partitions.ts';
import { ANALYZE_MIN_ROWS } from '../../src/modules/requests/partition-statistics.ts';
import { expireSendBlocks } from '../../src/modules/send-block/send-block.service.ts';
import { seedProject, seedRequest } from '../helpers/seed-rows.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';

/**
 * The job handlers called directly on seeded rows (no HTTP, no workers): what each one writes,
 * and that a second run, or a run on rows that are not its to touch, changes nothing.
 */

const DAY = 24 * 3600 * 1000;
const logger = createLogger('silent');
let db: TestDb;
let queue: JobQueue;
let dataDir: string;

// Not useTestDb: the queue holds connections to the database, so it stops before the drop.
beforeAll(async () => {
  db = await createTestDb();
  queue = await startQueue(db.url, logger, { schedule: false });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-jobs-'));
});
afterAll(async () => {
  await queue?.stop();
  await db?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('storeRecipients', () => {
  let projectId: string;
  beforeAll(async () => {
    projectId = await seedProject(db.db, 'store');
  });
  const storeDeps = () => ({ db: db.db, queue, logger, now: () => new Date() });
  const recipient = (address: string) => ({ address, name: address[0]!.toUpperCase(), type: 'R', parameters: null });

  /** A large request as the POST leaves it: P, nothing stored, its recipients parked in chunks. */
  async function preparing(chunks: string[][], over: { reservationAt?: Date; status?: RequestStatus; createdAt?: Date } = {}) {
    const req = await seedRequest(db.db, {
      projectId,
      status: over.status ?? 'P',
      recipients: [],
      reservationAt: over.reservationAt ?? null,
      finishedAt: null,
      ...(over.createdAt ? { createdAt: over.createdAt } : {}),
    });
    const total = chunks.flat().length;
    await db.db
      .updateTable('mail_requests')
      .set({ request_count: total, recipient_count: total, stored_count: 0, started_at: null })
      .where('id', '=', req.id)
      .execute();
    let first = 0;
    for (const chunk of chunks) {
      await db.db
        .insertInto('request_payloads')
        .values({ request_id: req.id, first_seq: first, recipients: JSON.stringify(chunk.map(recipient)) })
        .execute();
      first += chunk.length;
    }
    return req.id;
  }
  const stored = async (requestId: string) =>
    (
      await sql<{ seq: number; address: string; name: string; mail_status: string; due: Date | null }>`
        SELECT m.seq, r.address, r.name, m.status AS mail_status, m.next_attempt_at AS due
        FROM mails m JOIN recipients r ON r.mail_id = m.id WHERE m.request_id = ${requestId} ORDER BY m.seq`.execute(db.db)
    ).rows;
  const request = (id: string) =>
    db.db.selectFrom('mail_requests').select(['status', 'stored_count', 'started_at', 'created_at']).where('id', '=', id).executeTakeFirstOrThrow();
  const payloads = async (id: string) => (await db.db.selectFrom('request_payloads').select('first_seq').where('request_id', '=', id).execute()).length;

  it('stores the parked chunks as one mail per recipient in order, starts the request (I) and drops the payload; a second run changes nothing', async () => {
    const id = await preparing([['a@example.com', 'b@example.com'], ['c@example.com']]);
    await storeRecipients(storeDeps(), id);

    const req = await request(id);
    const rows = await stored(id);
    expect(rows.map(({ seq, address, name, mail_status }) => ({ seq, address, name, mail_status }))).toEqual([
      { seq: 1, address: 'a@example.com', name: 'A', mail_status: 'R' },
      { seq: 2, address: 'b@example.com', name: 'B', mail_status: 'R' },
      { seq: 3, address: 'c@example.com', name: 'C', mail_status: 'R' },
    ]);
    // due at once: the request's own creation time
    expect(rows.map((r) => r.due?.getTime())).toEqual(rows.map(() => req.created_at.getTime()));
    expect({ status: req.status, stored: req.stored_count, started: req.started_at?.getTime() }).toEqual({
      status: 'I',
      stored: 3,
      started: req.created_at.getTime(),
    });
    expect(await payloads(id)).toBe(0);

    await storeRecipients(storeDeps(), id);
    expect(await stored(id)).toEqual(rows);
    expect((await request(id)).status).toBe('I');
  });

  it('a reserved request waits in R, its mails due at the reservation, with a start-reservation job for that time', async () => {
    const at = new Date(Date.now() + 3600_000);
    const id = await preparing([['r1@example.com', 'r2@example.com']], { reservationAt: at });
    await storeRecipients(storeDeps(), id);

    expect((await request(id)).status).toBe('R');
    expect((await stored(id)).map((r) => r.due?.getTime())).toEqual([at.getTime(), at.getTime()]);
    const jobs = await sql<{ start_after: Date }>`
      SELECT start_after FROM pgboss.job WHERE name = ${START_RESERVATION} AND data->>'requestId' = ${id}`.execute(db.db);
    expect(jobs.rows.map((j) => j.start_after.getTime())).toEqual([at.getTime()]);
  });

  it('a store whose mails are not due yet re-analyzes the partitions it filled when it ends, not while it stores (partition-statistics.ts)', async () => {
    // a month of its own, whose partitions nothing else writes, analyzed while empty
    const createdAt = new Date('2032-03-10T00:00:00Z');
    await ensureHistoryPartitions(db.db, createdAt);
    const tables = Object.values(historyTablesOf(createdAt));
    for (const table of tables) await sql`ALTER TABLE ${sql.table(table)} SET (autovacuum_enabled = false)`.execute(db.db);
    await sql`ANALYZE ${sql.join(tables.map((t) => sql.table(t)))}`.execute(db.db);
    const reltuples = async () =>
      (await sql<{ reltuples: number }>`SELECT reltuples FROM pg_class WHERE relname = ANY(${tables}::text[])`.execute(db.db)).rows.map((r) =>
        Number(r.reltuples),
      );
    expect(await reltuples()).toEqual([0, 0]);
    const chunk = (n: number) => Array.from({ length: 10_000 }, (_, i) => `later${n}.${i}@example.com`);
    const id = await preparing([chunk(1), chunk(2), chunk(3)], { createdAt, reservationAt: new Date('2032-03-11T00:00:00Z') });
    // a chunk a batch, then the worker stops: nothing sends them meanwhile, no re-analysis
    let asked = 0;
    await storeRecipients(storeDeps(), id, { isStopping: () => asked++ >= 2 });
    const partly = await request(id);
    expect(partly.status).toBe('P');
    expect(partly.stored_count).toBeGreaterThanOrEqual(ANALYZE_MIN_ROWS);
    expect(await reltuples()).toEqual([0, 0]);
    await storeRecipients(storeDeps(), id);
    expect(await request(id)).toMatchObject({ status: 'R', stored_count: 30_000 });
    expect(await reltuples()).toEqual([30_000, 30_000]);
  });

  it('leaves a request that is no longer P (cancelled while preparing) and its payload alone', async () => {
    const id = await preparing([['x@example.com']], { status: 'C' });
    await storeRecipients(storeDeps(), id);
    expect(await stored(id)).toEqual([]);
    expect(await payloads(id)).toBe(1);
    expect((await request(id)).status).toBe('C');
  });
});

describe('runExport', () => {
  let projectId: string;
  const exportDeps = () => ({ db: db.db, config: loadConfig({ DATA_DIR: dataDir }), blobs: createLocalBlobStore(dataDir), logger, now: () => new Date() });
  // BLOB_STORE=local: DATA_DIR/exports/<id>.<attempt>.xlsx, the attempt that completed it
  const finalPath = (dir: string, id: string, attempt = 1) => path.join(exportsDir(dir), `${id}.${attempt}.xlsx`);
  const exportRow = (id: string) =>
    db.db
      .selectFrom('exports')
      .select(['status', 'attempts', 'row_count', 'file_size', 'completed_at', 'expires_at', 'error'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const newExport = async (filters: Record<string, unknown>) =>
    (
      await exportsRepo.insertExport(db.db, {
        project_id: projectId,
        view: 'recipients',
        filters,
        lang: 'en',
        time_zone: 'Asia/Seoul',
        requested_at: new Date(),
      })
    ).id;
  const sheetAddresses = async (id: string) => {
    const { sheets } = await readXlsx(fs.readFileSync(finalPath(dataDir, id)));
    const [header, ...rows] = sheets[0]!;
    const col = header!.indexOf('Address');
    expect(col).toBeGreaterThanOrEqual(0);
    return rows.map((r) => r[col]).sort();
  };
  const partFiles = () => (fs.existsSync(exportsDir(dataDir)) ? fs.readdirSync(exportsDir(dataDir)).filter((f) => f.endsWith('.part')) : []);

  beforeAll(async () => {
    projectId = await seedProject(db.db, 'export');
    const other = await seedProject(db.db, 'export-other');
    await seedRequest(db.db, {
      projectId,
      status: 'PF',
      recipients: [{ address: 'kim@example.com' }, { address: 'lee@example.com', status: 'F', resultCode: 'MAILBOX_ERROR' }],
    });
    await seedRequest(db.db, { projectId, status: 'S', recipients: [{ address: 'park@example.com' }] });
    await seedRequest(db.db, { projectId: other, status: 'S', recipients: [{ address: 'other@example.com' }] });
  });

  it("writes the project's rows to <id>.<attempt>.xlsx and completes the export (C, rows, size, expiry in 7 days); a second run leaves it as it is", async () => {
    const id = await newExport({});
    await runExport(exportDeps(), id);

    const row = await exportRow(id);
    const file = finalPath(dataDir, id);
    expect({ status: row.status, attempts: row.attempts, rows: row.row_count, size: row.file_size, error: row.error }).toEqual({
      status: 'C',
      attempts: 1,
      rows: '3',
      size: String(fs.statSync(file).size),
      error: null,
    });
    expect(row.expires_at!.getTime() - row.completed_at!.getTime()).toBe(7 * DAY);
    expect(await sheetAddresses(id)).toEqual(['kim@example.com', 'lee@example.com', 'park@example.com']);
    expect(partFiles()).toEqual([]);

    const mtime = fs.statSync(file).mtimeMs;
    await runExport(exportDeps(), id);
    expect(await exportRow(id)).toEqual(row);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
  });

  it("applies the export's filters", async () => {
    const id = await newExport({ sendStatus: 'F' });
    await runExport(exportDeps(), id);
    expect((await exportRow(id)).row_count).toBe('1');
    expect(await sheetAddresses(id)).toEqual(['lee@example.com']);
  });

  it('interrupted by a shutdown: gives the export back (R) for a retry, leaves no file, and throws so pg-boss retries', async () => {
    const id = await newExport({});
    await expect(runExport(exportDeps(), id, { isStopping: () => true })).rejects.toThrow(/stopping/);
    expect(await exportRow(id)).toMatchObject({ status: 'R', attempts: 1, row_count: null });
    expect(fs.existsSync(finalPath(dataDir, id))).toBe(false);
    expect(partFiles()).toEqual([]);
    // the retry starts the file again and completes it
    await runExport(exportDeps(), id);
    expect(await exportRow(id)).toMatchObject({ status: 'C', attempts: 2, row_count: '3' });
    expect(fs.existsSync(finalPath(dataDir, id, 2))).toBe(true);
  });
});

describe('purgeHistory', () => {
  it('deletes finished requests older than RETENTION_DAYS (and confirm-and-send ones never confirmed) with their mails and recipients; keeps the rest', async () => {
    const now = new Date();
    const old = new Date(now.getTime() - 40 * DAY);
    const projectId = await seedProject(db.db, 'retention');
    const seed = (status: RequestStatus, createdAt: Date, over: Partial<Parameters<typeof seedRequest>[1]> = {}) =>
      seedRequest(db.db, {
        projectId,
        status,
        createdAt,
        recipients: [{ address: 'a@example.com' }, { address: 'b@example.com', status: 'F', resultCode: 'MAILBOX_ERROR' }],
        ...over,
      });
    const oldSent = await seed('PF', old);
    const unconfirmed = await seed('R', old, { confirmAndSend: true, recipients: [{ address: 'c@example.com', status: 'R' }], finishedAt: null });
    const cancelledInFlight = await seed('C', old, { mailStatus: 'I' });
    const reserved = await seed('R', old, { recipients: [{ address: 'd@example.com', status: 'R' }], finishedAt: null });
    const recent = await seed('S', new Date(now.getTime() - 5 * DAY));
    const deps = (retentionDays: number) => ({ db: db.db, config: loadConfig({ RETENTION_DAYS: String(retentionDays) }), logger, now: () => now });
    const left = async () =>
      (
        await sql<{ id: string; mails: number; recipients: number }>`
        SELECT mr.id, (SELECT count(*)::int FROM mails m WHERE m.request_id = mr.id) AS mails,
               (SELECT count(*)::int FROM recipients r WHERE r.request_id = mr.id) AS recipients
        FROM mail_requests mr WHERE mr.project_id = ${projectId} ORDER BY mr.id`.execute(db.db)
      ).rows;

    expect(await purgeHistory(deps(0))).toEqual({ requests: 0, mails: 0, recipients: 0 });
    expect((await left()).length).toBe(5);

    // one request a batch: the run goes on until nothing is left
    expect(await purgeHistory(deps(30), { maxRequests: 1 })).toEqual({ requests: 2, mails: 3, recipients: 3 });
    const kept = await left();
    expect(kept).toEqual([cancelledInFlight, reserved, recent].map((r) => ({ id: r.id, mails: r.mailIds.length, recipients: r.mailIds.length })));
    expect(kept.map((r) => r.id)).not.toContain(oldSent.id);
    expect(kept.map((r) => r.id)).not.toContain(unconfirmed.id);

    expect(await purgeHistory(deps(30))).toEqual({ requests: 0, mails: 0, recipients: 0 });
  });
});

describe('expireSendBlocks', () => {
  it('removes the entries whose time is up with a D / SYSTEM history row dated at their end, keeps the others; a second run finds nothing', async () => {
    const now = new Date();
    const ended = new Date(now.getTime() - 60_000);
    const later = new Date(now.getTime() + 3600_000);
    await db.db
      .insertInto('send_blocks')
      .values([
        { address_key: 'gone@example.com', address: 'Gone@Example.com', project_id: null, blocked_until: ended },
        { address_key: 'kept@example.com', address: 'kept@example.com', project_id: null, blocked_until: later },
      ])
      .execute();

    expect(await expireSendBlocks({ db: db.db, now: () => now })).toBe(1);
    expect((await db.db.selectFrom('send_blocks').select('address_key').execute()).map((r) => r.address_key)).toEqual(['kept@example.com']);
    const history = await db.db.selectFrom('send_block_history').select(['address_key', 'address', 'action', 'requester_type', 'created_at']).execute();
    expect(history).toEqual([{ address_key: 'gone@example.com', address: 'Gone@Example.com', action: 'D', requester_type: 'SYSTEM', created_at: ended }]);

    expect(await expireSendBlocks({ db: db.db, now: () => now })).toBe(0);
    expect(await db.db.selectFrom('send_block_history').select('sid').execute()).toHaveLength(1);
  });
});

// A store refreshes the statistics of the month's partitions it fills (src/modules/requests/
// partition-statistics.ts), against real PostgreSQL: ANALYZE sets pg_class.reltuples, which is
// -1 for a table never analyzed and 0 for an empty one that was.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import pino from 'pino';
import { ANALYZE_MIN_ROWS, partitionStatistics } from '../../src/modules/requests/partition-statistics.ts';
import { ensureHistoryPartitions, historyTablesOf } from '../../src/modules/retention/history-partitions.ts';
import { connectDb } from '../../src/db/connect.ts';
import type { Logger } from '../../src/logger.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

let db: TestDb;
const log = pino({ level: 'silent' });
const month = new Date('2031-05-10T00:00:00Z');

beforeAll(async () => {
  db = await createTestDb();
  await ensureHistoryPartitions(db.db, month);
});
afterAll(async () => db.drop());

const reltuples = async (createdAt: Date) => {
  const { mails, recipients } = historyTablesOf(createdAt);
  const res = await sql<{ name: string; reltuples: number }>`
    SELECT relname AS name, reltuples FROM pg_class WHERE oid IN (to_regclass(${mails}), to_regclass(${recipients})) ORDER BY relname
  `.execute(db.db);
  return Object.fromEntries(res.rows.map((r) => [r.name, Number(r.reltuples)]));
};

/** Mails rows `from`..`to` (their ids) in the month's partition, as any writer's. */
const insertMails = (createdAt: Date, from: number, to: number) =>
  sql`
    INSERT INTO ${sql.table(historyTablesOf(createdAt).mails)} (id, request_id, project_id, id_day, seq, status, recipient_count, representative_address, created_at)
    SELECT i, 1, 1, 20310610, i, 'S', 1, 'a@example.com', ${createdAt}::timestamptz FROM generate_series(${from}::int, ${to}::int) i
  `.execute(db.db);

it('analyzes the partitions once a store has added ANALYZE_MIN_ROWS rows, not before', async () => {
  for (const table of Object.values(historyTablesOf(month))) await sql`ALTER TABLE ${sql.table(table)} SET (autovacuum_enabled = false)`.execute(db.db);
  expect(await reltuples(month)).toEqual({ mails_p203105: -1, recipients_p203105: -1 });
  const statistics = partitionStatistics(db.db, month, log);
  statistics.added(ANALYZE_MIN_ROWS - 1);
  await statistics.settled();
  expect(await reltuples(month)).toEqual({ mails_p203105: -1, recipients_p203105: -1 });
  statistics.added(1);
  await statistics.settled();
  expect(await reltuples(month)).toEqual({ mails_p203105: 0, recipients_p203105: 0 });
});

it('analyzes a partition again once it has doubled since its last analysis, whoever wrote the rows', async () => {
  const june = new Date('2031-06-10T00:00:00Z');
  const { mails } = historyTablesOf(june);
  const insert = (from: number, to: number) => insertMails(june, from, to);
  // only the store under test analyzes here
  for (const table of Object.values(historyTablesOf(june))) await sql`ALTER TABLE ${sql.table(table)} SET (autovacuum_enabled = false)`.execute(db.db);
  // 30,000 mails rows of another request, analyzed
  await insert(1, 30_000);
  await sql`ANALYZE ${sql.table(mails)}`.execute(db.db);
  expect(await reltuples(june)).toEqual({ mails_p203106: 30_000, recipients_p203106: -1 });
  const statistics = partitionStatistics(db.db, june, log);
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  // recipients (never analyzed) was; mails (the same size as at its analysis) was not
  expect(await reltuples(june)).toEqual({ mails_p203106: 30_000, recipients_p203106: 0 });
  // 25,000 more rows: not yet twice the size
  await insert(30_001, 55_000);
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect((await reltuples(june)).mails_p203106).toBe(30_000);
  // 20,000 more (another writer's as much as this store's): more than twice
  await insert(55_001, 75_000);
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect((await reltuples(june)).mails_p203106).toBe(75_000);
});

/** A month's partitions that only the store under test analyzes. */
const quietMonth = async (createdAt: Date) => {
  await ensureHistoryPartitions(db.db, createdAt);
  for (const table of Object.values(historyTablesOf(createdAt))) await sql`ALTER TABLE ${sql.table(table)} SET (autovacuum_enabled = false)`.execute(db.db);
};

/** [mails, recipients] reltuples: -1 never analyzed */
const analyzed = async (createdAt: Date) => Object.values(await reltuples(createdAt));

it("a store whose mails are not due analyzes a new month's partitions, and no re-analysis until they fall due", async () => {
  const july = new Date('2031-07-10T00:00:00Z');
  await quietMonth(july);
  let due = false;
  const statistics = partitionStatistics(db.db, july, log, () => due);
  // never analyzed: analyzed at once (every claim is planned on them), due or not
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect(await analyzed(july)).toEqual([0, 0]);
  // more than twice the size: nothing sends its mails while it is stored (waiting for
  // confirmation, or a later reservation), so no re-analysis
  await insertMails(july, 1, 30_000);
  statistics.added(3 * ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect(await analyzed(july)).toEqual([0, 0]);
  // its reservation falls due while it is stored: the claims send its mails, the re-analyses resume
  due = true;
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect(await analyzed(july)).toEqual([30_000, 0]);
});

it('a store whose mails are not due re-analyzes what grew once, when it ends', async () => {
  const august = new Date('2031-08-10T00:00:00Z');
  await quietMonth(august);
  const statistics = partitionStatistics(db.db, august, log, () => false);
  statistics.added(ANALYZE_MIN_ROWS);
  await statistics.settled();
  await insertMails(august, 1, 30_000);
  statistics.added(3 * ANALYZE_MIN_ROWS);
  await statistics.settled();
  expect(await analyzed(august)).toEqual([0, 0]);
  statistics.storeEnded();
  await statistics.settled();
  expect(await analyzed(august)).toEqual([30_000, 0]);
});

it('a store that ends looks once more, however little its last run added', async () => {
  const september = new Date('2031-09-10T00:00:00Z');
  await quietMonth(september);
  const statistics = partitionStatistics(db.db, september, log);
  statistics.added(1);
  await statistics.settled();
  expect(await analyzed(september)).toEqual([-1, -1]);
  statistics.storeEnded();
  await statistics.settled();
  expect(await analyzed(september)).toEqual([0, 0]);
  // a last run that stored nothing (a run before it stored the rest) still looks
  const october = new Date('2031-10-10T00:00:00Z');
  await quietMonth(october);
  await insertMails(october, 1, 20_000);
  const lastRun = partitionStatistics(db.db, october, log, () => false);
  lastRun.storeEnded();
  await lastRun.settled();
  expect(await analyzed(october)).toEqual([20_000, 0]);
});

it('a month without partitions does not fail the store', async () => {
  const statistics = partitionStatistics(db.db, new Date('2040-01-01T00:00:00Z'), log);
  statistics.added(ANALYZE_MIN_ROWS);
  await expect(statistics.settled()).resolves.toBeUndefined();
});

it('a failing look or analysis is a warning, not a failed store', async () => {
  const url = new URL(db.url);
  url.pathname = '/no_such_database';
  const closed = connectDb(url.toString(), { max: 1 });
  const warnings: string[] = [];
  const spy = { debug: () => {}, warn: (_obj: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;
  const statistics = partitionStatistics(closed.db, month, spy);
  statistics.added(ANALYZE_MIN_ROWS);
  await expect(statistics.settled()).resolves.toBeUndefined();
  expect(warnings).toEqual(['could not analyze the partitions a store is filling; autovacuum will']);
  await closed.close();
});

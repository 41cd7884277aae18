// What the database did for a phase of a benchmark, read before and after it: statements the
// service sent (bench/count-queries.ts, preloaded into the service), transactions committed and
// rows written in the service's database (pg_stat_database), and WAL written by the cluster
// (pg_stat_wal). Divided by the mails of the phase, these are the capacity model's "Postgres
// work per mail" (README). Needs PostgreSQL 14 or later (pg_stat_wal).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sleep } from './helpers.ts';

export interface DbWork {
  queries: number | undefined;
  xacts: number;
  rowsWritten: number;
  walBytes: number;
  walRecords: number;
}

/** A file the preloaded counter writes to, and the node arguments that load it into the service. */
export function queryCounter(dir = os.tmpdir()): { file: string; nodeArgs: string[]; env: Record<string, string> } {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'mailer-bench-queries-')), 'count');
  return { file, nodeArgs: ['--import', path.join(import.meta.dirname, 'count-queries.ts')], env: { BENCH_QUERY_COUNT_FILE: file } };
}

/**
 * Reads the counters. Backends flush their statistics about once a second, so this waits that
 * long first: call it when the phase's work has settled (every recipient final).
 */
export async function dbWorkSnap(databaseUrl: string, queryCountFile?: string): Promise<DbWork | string> {
  await sleep(1500);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-db-work' });
  try {
    await client.connect();
    const db = await client.query<{ xacts: string; rows: string }>(
      'SELECT xact_commit + xact_rollback AS xacts, tup_inserted + tup_updated + tup_deleted AS rows FROM pg_stat_database WHERE datname = current_database()',
    );
    const wal = await client.query<{ bytes: string; records: string }>('SELECT wal_bytes AS bytes, wal_records AS records FROM pg_stat_wal');
    let queries: number | undefined;
    if (queryCountFile) queries = Number(fs.readFileSync(queryCountFile, 'utf8').trim() || 0);
    return {
      queries,
      xacts: Number(db.rows[0]!.xacts),
      rowsWritten: Number(db.rows[0]!.rows),
      walBytes: Number(wal.rows[0]!.bytes),
      walRecords: Number(wal.rows[0]!.records),
    };
  } catch (err) {
    return `database statistics unavailable: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** "per mail: …" for the work between two snapshots over `mails` mails. */
export function dbWorkLine(a: DbWork | string, b: DbWork | string, mails: number): string {
  if (typeof a === 'string') return a;
  if (typeof b === 'string') return b;
  const per = (x: number, y: number, digits = 2) => ((y - x) / mails).toFixed(digits);
  const queries = a.queries !== undefined && b.queries !== undefined ? `${per(a.queries, b.queries)} statements sent by the service, ` : '';
  return `${queries}${per(a.xacts, b.xacts)} transactions, ${per(a.rowsWritten, b.rowsWritten)} rows written, ${((b.walBytes - a.walBytes) / mails / 1024).toFixed(2)} KB WAL (${per(a.walRecords, b.walRecords, 1)} records)`;
}

import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { connectDb } from './connect.ts';
import type { Db } from './schema.ts';
import { EMBEDDED_PASSWORD, EMBEDDED_USER, startEmbeddedPostgres, type EmbeddedDb } from './embedded.ts';
import { inspectPostmaster } from './stale-postgres.ts';

/** The port a running postmaster of `dir` listens on (line 4 of postmaster.pid). */
function runningPort(dir: string): number | undefined {
  const state = inspectPostmaster(dir);
  if (state.kind !== 'owned' && state.kind !== 'orphan') return undefined;
  const lines = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
  const port = Number(lines[3]);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/**
 * The database a CLI uses, as the service would (DATABASE_URL, or the embedded one under
 * DATA_DIR), and the embedded server to stop afterwards if the CLI started it. While the service
 * runs on the embedded database, a CLI connects to that server instead of starting a second one
 * on the same folder.
 */
async function openCliDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<{ url: string; embedded?: EmbeddedDb }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const dir = path.join(config.dataDir, 'pg');
  const port = fs.existsSync(path.join(dir, 'postmaster.pid')) ? runningPort(dir) : undefined;
  if (port) return { url: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/mailer` };
  const embedded = await startEmbeddedPostgres({ dir, database: 'mailer' });
  return { url: embedded.url, embedded };
}

/** Runs `work` on the CLI's database (openCliDatabase), then closes the pool and stops an embedded server it started. */
export async function withCliDatabase<T>(config: Pick<Config, 'databaseUrl' | 'dataDir'>, work: (db: Db) => Promise<T>): Promise<T> {
  const { url, embedded } = await openCliDatabase(config);
  const dbh = connectDb(url, { max: 2 });
  try {
    return await work(dbh.db);
  } finally {
    await dbh.close();
    await embedded?.stop();
  }
}

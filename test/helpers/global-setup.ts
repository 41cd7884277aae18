import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { connectDb } from '../../src/db/connect.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { startQueue } from '../../src/jobs/queue.ts';
import { adminQuery, withDatabase } from './pg-admin.ts';

/**
 * One PostgreSQL for the run: DATABASE_URL's server when set, else an embedded one in a temp
 * dir. A template database is migrated once (our tables and pg-boss's); each test file clones it.
 */
export default async function globalSetup() {
  // Both the integration and the browser project name this set-up; jest runs each project's.
  if (process.env.TEST_TEMPLATE_DB) return;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mailer-test-pg-'));
    await fs.chmod(dir, 0o777);
    const embedded = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), database: 'postgres' });
    (globalThis as Record<string, unknown>).__embeddedPg = { embedded, dir };
    adminUrl = embedded.url;
  }
  const template = `mailer_tpl_${crypto.randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${template}`);
  const templateUrl = withDatabase(adminUrl, template);
  const dbh = connectDb(templateUrl, { max: 2 });
  await migrateToLatest(dbh.db);
  await dbh.close();
  const queue = await startQueue(templateUrl, pino({ level: 'silent' }), { schedule: false });
  await queue.stop();
  process.env.TEST_ADMIN_URL = adminUrl;
  process.env.TEST_TEMPLATE_DB = template;
}

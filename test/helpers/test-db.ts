import crypto from 'node:crypto';
import { connectDb, type DbHandle } from '../../src/db/connect.ts';
import { adminQuery, withDatabase } from './pg-admin.ts';

export interface TestDb extends DbHandle {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database for one test file, cloned from the migrated template (tens of ms). */
export async function createTestDb(): Promise<TestDb> {
  const adminUrl = process.env.TEST_ADMIN_URL;
  const template = process.env.TEST_TEMPLATE_DB;
  if (!adminUrl || !template) throw new Error('integration tests need the jest globalSetup (test/helpers/global-setup.ts)');
  const name = `mailer_t_${crypto.randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = withDatabase(adminUrl, name);
  const handle = connectDb(url, { max: 10 });
  return {
    ...handle,
    url,
    async drop() {
      await handle.close();
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

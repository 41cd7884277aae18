// `npm run migrate` as a user runs it: a child process on DATABASE_URL that applies what is
// pending with the service's migrator, says what it did, and exits with a status that tells.
import crypto from 'node:crypto';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminQuery, withDatabase } from '../helpers/pg-admin.ts';
import { runCli, type CliResult } from '../helpers/run-cli.ts';

const adminUrl = process.env.TEST_ADMIN_URL!;
const name = `mailer_t_${crypto.randomBytes(5).toString('hex')}`;
const url = withDatabase(adminUrl, name);

function migrate(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli('src/db/migrate-cli.ts', args, { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'silent', ...env });
}

beforeAll(async () => {
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
});

afterAll(async () => {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

it('migrates an empty database, then finds it up to date', async () => {
  const first = await migrate([]);
  expect(first).toMatchObject({ code: 0, stderr: '' });
  expect(first.stdout).toMatch(/^applied \d+ migration\(s\):\n {2}\d+_initial\n/);
  expect(await migrate([])).toEqual({ code: 0, stdout: 'the database is up to date\n', stderr: '' });
});

it('exits 2 with the usage on an unknown option, 1 when the database is not reachable', async () => {
  const usage = await migrate(['--nope']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(/^migrate: .*--nope.*\nusage:\n {2}npm run migrate/);
  const down = await migrate([], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/^migrate: database not reachable: /);
});

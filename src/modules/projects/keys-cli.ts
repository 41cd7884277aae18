// npm run keys -- create --project NAME | list | revoke ACCESS_KEY
// Uses the same configuration as the service (DATABASE_URL or the embedded database under DATA_DIR).
// While the service runs on the embedded database, the CLI connects to that server instead of
// starting a second one on the same folder.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config.ts';
import { cliExitCode, UsageError } from '../../shared/cli.ts';
import { connectDb } from '../../db/connect.ts';
import { EMBEDDED_PASSWORD, EMBEDDED_USER, startEmbeddedPostgres, type EmbeddedDb } from '../../db/embedded.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { inspectPostmaster } from '../../db/stale-postgres.ts';
import { createSecretBox, loadMasterKey } from '../../shared/secret-box.ts';
import * as repo from './projects.repository.ts';
import { createKey } from './projects.service.ts';

const USAGE = `usage:
  npm run keys -- create --project NAME   create a key pair (and the project if new); prints the secret once
  npm run keys -- list                    list keys (no secrets)
  npm run keys -- revoke ACCESS_KEY       revoke a key`;

/** The port a running postmaster of `dir` listens on (line 4 of postmaster.pid). */
function runningPort(dir: string): number | undefined {
  const state = inspectPostmaster(dir);
  if (state.kind !== 'owned' && state.kind !== 'orphan') return undefined;
  const lines = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
  const port = Number(lines[3]);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/** The database to use and how to let go of it. */
async function openDatabase(config: ReturnType<typeof loadConfig>): Promise<{ url: string; embedded?: EmbeddedDb }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const dir = path.join(config.dataDir, 'pg');
  const port = fs.existsSync(path.join(dir, 'postmaster.pid')) ? runningPort(dir) : undefined;
  if (port) return { url: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/mailer` };
  const embedded = await startEmbeddedPostgres({ dir, database: 'mailer' });
  return { url: embedded.url, embedded };
}

export async function runKeysCli(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { project: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  const [cmd, ...rest] = positionals;
  if (values.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  if (!cmd || !['create', 'list', 'revoke'].includes(cmd)) throw new UsageError(cmd ? `unknown command "${cmd}"` : 'a command is needed');
  if (cmd === 'create' && !values.project?.trim()) throw new UsageError('create needs --project NAME');
  if (cmd === 'revoke' && !rest[0]) throw new UsageError('revoke needs ACCESS_KEY');
  if (rest.length > (cmd === 'revoke' ? 1 : 0)) throw new UsageError(`unexpected argument "${rest[cmd === 'revoke' ? 1 : 0]}"`);

  const config = loadConfig();
  const { url, embedded } = await openDatabase(config);
  const dbh = connectDb(url, { max: 2 });
  try {
    await migrateToLatest(dbh.db);
    if (cmd === 'create') {
      const box = createSecretBox(loadMasterKey(config.masterKey, config.dataDir));
      const key = await createKey(dbh.db, box, values.project!.trim());
      out.write(`project:    ${key.projectName} (id ${key.projectId})\naccess key: ${key.accessKey}\nsecret key: ${key.secretKey}\n(the secret is shown only now)\n`);
      return 0;
    }
    if (cmd === 'list') {
      for (const k of await repo.listAccessKeys(dbh.db)) {
        const state = k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active';
        out.write(`${k.access_key}  project=${k.project_name}  secret=…${k.secret_hint}  created=${k.created_at.toISOString()}  ${state}\n`);
      }
      return 0;
    }
    const accessKey = rest[0]!;
    if (!(await repo.revokeAccessKey(dbh.db, accessKey))) {
      process.stderr.write(`keys: no active key ${accessKey}\n`);
      return 1;
    }
    out.write(`revoked ${accessKey}\n`);
    return 0;
  } finally {
    await dbh.close();
    await embedded?.stop();
  }
}

if (import.meta.main) {
  const code = await cliExitCode('keys', USAGE, () => runKeysCli(process.argv.slice(2)));
  // Exit explicitly: a library's exit hook must not turn an error into status 0.
  process.exit(code);
}

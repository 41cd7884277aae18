// npm run keys -- create --project NAME | list | revoke ACCESS_KEY
// Uses the same configuration as the service (DATABASE_URL or the embedded database under DATA_DIR;
// src/db/cli-database.ts).
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config.ts';
import { cliExitCode, UsageError } from '../../shared/cli.ts';
import { withCliDatabase } from '../../db/cli-database.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { createSecretBox, loadMasterKey } from '../../shared/secret-box.ts';
import * as repo from './projects.repository.ts';
import { createKey } from './projects.service.ts';

const USAGE = `usage:
  npm run keys -- create --project NAME   create a key pair (and the project if new); prints the secret once
  npm run keys -- list                    list keys (no secrets)
  npm run keys -- revoke ACCESS_KEY       revoke a key (a key starting with "-": revoke -- ACCESS_KEY)`;

export async function runKeysCli(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { project: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
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
  return withCliDatabase(config, async (db) => {
    await migrateToLatest(db);
    if (cmd === 'create') {
      const box = createSecretBox(loadMasterKey(config.masterKey, config.dataDir));
      const key = await createKey(db, box, values.project!.trim());
      out.write(
        `project:    ${key.projectName} (id ${key.projectId})\naccess key: ${key.accessKey}\nsecret key: ${key.secretKey}\n(the secret is shown only now)\n`,
      );
      return 0;
    }
    if (cmd === 'list') {
      for (const k of await repo.listAccessKeys(db)) {
        const state = k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active';
        out.write(`${k.access_key}  project=${k.project_name}  secret=…${k.secret_hint}  created=${k.created_at.toISOString()}  ${state}\n`);
      }
      return 0;
    }
    const accessKey = rest[0]!;
    if (!(await repo.revokeAccessKey(db, accessKey))) {
      process.stderr.write(`keys: no active key ${accessKey}\n`);
      return 1;
    }
    out.write(`revoked ${accessKey}\n`);
    return 0;
  });
}

if (import.meta.main) {
  const code = await cliExitCode('keys', USAGE, () => runKeysCli(process.argv.slice(2)));
  // Exit explicitly: a library's exit hook must not turn an error into status 0.
  process.exit(code);
}

// npm run keys -- create --project NAME | list | revoke ACCESS_KEY
// Uses the same configuration as the service (DATABASE_URL or the embedded database under DATA_DIR).
import { loadConfig } from '../../config.ts';
import { connectDb } from '../../db/connect.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../db/embedded.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { createSecretBox, loadMasterKey } from '../../shared/secret-box.ts';
import path from 'node:path';
import * as repo from './projects.repository.ts';
import { createKey } from './projects.service.ts';

const USAGE = `usage:
  npm run keys -- create --project NAME   create a key pair (and the project if new); prints the secret once
  npm run keys -- list                    list keys (no secrets)
  npm run keys -- revoke ACCESS_KEY       revoke a key`;

async function main(argv: string[]) {
  const [cmd, ...rest] = argv;
  if (!cmd || !['create', 'list', 'revoke'].includes(cmd)) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const config = loadConfig();
  let embedded: EmbeddedDb | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'pg'), database: 'mailer' });
    url = embedded.url;
  }
  const dbh = connectDb(url, { max: 2 });
  try {
    await migrateToLatest(dbh.db);
    if (cmd === 'create') {
      const i = rest.indexOf('--project');
      const project = i >= 0 ? rest[i + 1] : undefined;
      if (!project) {
        process.stderr.write('create needs --project NAME\n' + USAGE + '\n');
        return 2;
      }
      const box = createSecretBox(loadMasterKey(config.masterKey, config.dataDir));
      const key = await createKey(dbh.db, box, project);
      process.stdout.write(`project:    ${key.projectName} (id ${key.projectId})\naccess key: ${key.accessKey}\nsecret key: ${key.secretKey}\n(the secret is shown only now)\n`);
    } else if (cmd === 'list') {
      for (const k of await repo.listAccessKeys(dbh.db)) {
        const state = k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active';
        process.stdout.write(`${k.access_key}  project=${k.project_name}  secret=…${k.secret_hint}  created=${k.created_at.toISOString()}  ${state}\n`);
      }
    } else {
      const accessKey = rest[0];
      if (!accessKey) {
        process.stderr.write('revoke needs ACCESS_KEY\n');
        return 2;
      }
      const ok = await repo.revokeAccessKey(dbh.db, accessKey);
      process.stdout.write(ok ? `revoked ${accessKey}\n` : `no active key ${accessKey}\n`);
      return ok ? 0 : 1;
    }
    return 0;
  } finally {
    await dbh.close();
    await embedded?.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));

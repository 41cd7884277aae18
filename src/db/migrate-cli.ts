// npm run migrate: applies the pending migrations, as the service does at start. Uses the same
// configuration as the service (DATABASE_URL or the embedded database under DATA_DIR;
// src/db/cli-database.ts). Lets a deployment migrate before it starts new instances.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { cliExitCode } from '../shared/cli.ts';
import { withCliDatabase } from './cli-database.ts';
import { migrateToLatest } from './migrate.ts';

const USAGE = `usage:
  npm run migrate   apply the pending database migrations (the service also does at start)`;

export async function runMigrateCli(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  const config = loadConfig();
  return withCliDatabase(config, async (db) => {
    const applied = await migrateToLatest(db);
    out.write(applied.length ? `applied ${applied.length} migration(s):\n${applied.map((name) => `  ${name}\n`).join('')}` : 'the database is up to date\n');
    return 0;
  });
}

if (import.meta.main) {
  const code = await cliExitCode('migrate', USAGE, () => runMigrateCli(process.argv.slice(2)));
  // Exit explicitly: a library's exit hook must not turn an error into status 0.
  process.exit(code);
}

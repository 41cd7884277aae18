// `npm run outbox [-- --limit N | --all]`: what the built-in development sink stored under
// DATA_DIR/outbox (no SMTP_URL set), newest last: date, from, to, subject and the .eml file.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../config.ts';
import { summariseMessageFile } from './outbox-summary.ts';

async function main(): Promise<number> {
  let values: { limit?: string; all?: boolean };
  try {
    ({ values } = parseArgs({ options: { limit: { type: 'string' }, all: { type: 'boolean' } } }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nusage: npm run outbox [-- --limit N | --all]\n`);
    return 2;
  }
  const limit = values.all ? Infinity : Number(values.limit ?? 20);
  if (!(limit > 0) || (limit !== Infinity && !Number.isInteger(limit))) {
    process.stderr.write('--limit must be a whole number above 0\n');
    return 2;
  }
  const dir = path.join(loadConfig().dataDir, 'outbox');
  // Names start with the time received (dev-sink.ts), so they sort in arrival order.
  const files = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort();
  if (files.length === 0) {
    process.stdout.write(`no stored messages in ${dir}\n`);
    return 0;
  }
  const shown = files.slice(-limit);
  for (const f of shown) {
    const m = await summariseMessageFile(path.join(dir, f));
    process.stdout.write(`${m.date}\n  from:    ${m.from}\n  to:      ${m.to}\n  subject: ${m.subject}\n  file:    ${path.join(dir, f)}\n`);
  }
  process.stdout.write(`${shown.length} of ${files.length} message(s) in ${dir}${shown.length < files.length ? ' (--all shows every one)' : ''}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err instanceof ConfigError ? 'configuration error: ' : ''}${(err as Error).message}\n`);
    process.exit(1);
  },
);

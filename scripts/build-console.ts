// `npm run build:console`: builds the web console (console/) into console/dist with Vite.
// `--if-stale`: only when dist is missing or older than a source file (npm start and the tests
// call it so; a fresh checkout builds once, about a second).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = path.join(root, 'console');
const stamp = path.join(consoleDir, 'dist', 'index.html');
const SOURCES = [
  path.join(consoleDir, 'src'),
  path.join(consoleDir, 'index.html'),
  path.join(consoleDir, 'vite.config.ts'),
  path.join(root, 'src/generated/api.ts'),
];

function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

export function consoleIsStale(): boolean {
  if (!fs.existsSync(stamp)) return true;
  const built = fs.statSync(stamp).mtimeMs;
  return SOURCES.some((s) => fs.existsSync(s) && newestMtime(s) > built);
}

export async function buildConsole(opts: { ifStale?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  if (opts.ifStale && !consoleIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: path.join(consoleDir, 'vite.config.ts'), logLevel: opts.quiet ? 'warn' : 'info' });
  return true;
}

/** Vite is a dev dependency: an install without them (npm ci --omit=dev) starts without building. */
async function viteInstalled(): Promise<boolean> {
  try {
    await import('vite');
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && !(await viteInstalled())) {
    console.warn(
      `console: not built (Vite is a dev dependency and is not installed); ${fs.existsSync(stamp) ? 'serving the existing console/dist' : '/console will answer 503'}`,
    );
    process.exit(0);
  }
  const built = await buildConsole({ ifStale, quiet: ifStale });
  if (ifStale && !built) console.log('console: up to date (console/dist)');
}

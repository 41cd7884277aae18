// What the benchmarks share beyond the pure utilities of helpers.ts: cleanups and the main
// runner, temporary directories and an embedded PostgreSQL of their own, the service as a child
// process (`node src/main.ts`, peak RSS sampled), signed API calls, the SMTP sink as a child
// process (bench/sink-process.ts), and "POST one request, wait until the sink has every recipient".
import nodemailer from 'nodemailer';
import pg from 'pg';
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { signRequest } from '../src/http/signature.ts';
import { SERVICE_NODE_ARGS, serviceEnv } from '../src/node-args.ts';
import {
  childPids,
  fmtInt,
  fmtMB,
  fmtPct,
  freePort,
  isAlive,
  machineCpu,
  processCpu,
  readMemory,
  readStat,
  schedStat,
  sleep,
  treeCpu,
  wallNow,
  withTimeout,
} from './helpers.ts';
import type { SinkRequest, SinkStats } from './sink-process.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

// ---------- cleanups, the main runner, temporary places ----------

/** The commit the service ran from, and whether src/ or migrations/ had uncommitted changes. */
export function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in src/ or migrations/` : head;
  } catch {
    return 'unknown revision';
  }
}

/** Cleanups run last-in first-out, once, also on SIGINT/SIGTERM. */
export function createCleanups(log: (msg: string) => void) {
  const fns: { fn: () => Promise<void> | void; name?: string }[] = [];
  let running: Promise<void> | undefined;
  const runAll = () =>
    (running ??= (async () => {
      while (fns.length) {
        const c = fns.pop()!;
        await Promise.resolve()
          .then(c.fn)
          .catch((err) => log(`cleanup${c.name ? ` ${c.name}` : ''} failed: ${(err as Error).message}`));
      }
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void runAll().finally(() => process.exit(130));
    });
  }
  return { add: (fn: () => Promise<void> | void, name?: string) => void fns.push({ fn, name }), runAll };
}
export type Cleanups = ReturnType<typeof createCleanups>;

/** Runs a benchmark's main, then the cleanups, and exits with main's status (1 if it threw). */
export async function runMain(main: () => Promise<number>, cleanups: Cleanups, log: (msg: string) => void): Promise<never> {
  let code = 1;
  try {
    code = await main();
  } catch (err) {
    log(`failed: ${(err as Error).stack ?? err}`);
  } finally {
    await cleanups.runAll();
  }
  process.exit(code);
}

/** A fresh directory under the system's temporary one, removed at cleanup; readable by others (embedded Postgres runs as its own user when we are root). */
export function tempDir(cleanups: Cleanups, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }), `dir ${dir}`);
  return dir;
}

/** An embedded PostgreSQL of the benchmark's own (not the service's), stopped at cleanup; its URL. */
export async function startBenchPostgres(cleanups: Cleanups, prefix: string, database: string): Promise<string> {
  const dir = tempDir(cleanups, prefix);
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), database });
  cleanups.add(() => server.stop(), 'postgres');
  return server.url;
}

/**
 * The postmaster of a database on this machine (the parent of the backend that answers), so
 * that an external database's CPU is counted as the embedded one's is; undefined for a remote
 * or unreachable server.
 */
async function localPostmaster(url: string): Promise<number | undefined> {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  if (!['127.0.0.1', 'localhost', '[::1]', ''].includes(host)) return undefined;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const ppid = readStat(rows[0]!.pid)?.ppid;
    const comm = (pid: number) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8');
    return ppid && /postgres/.test(comm(rows[0]!.pid)) && /postgres/.test(comm(ppid)) ? ppid : undefined;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

// ---------- the SMTP sink process ----------

export interface SinkProcess {
  port: number;
  pid: number;
  stats(): Promise<SinkStats>;
  /** starts a new window of unique recipients */
  mark(): Promise<void>;
  /** resolves with the sink's time once the current window holds `target` unique recipients */
  watch(target: number): Promise<number>;
  /** when the current window first saw each recipient (lower-case address -> wall-clock ms) */
  times(): Promise<Map<string, number>>;
  /** keep the raw source of every `every`-th message of the current window, `max` at most (call after mark) */
  keep(every: number, max: number): Promise<void>;
  /** the messages kept in the current window */
  kept(): Promise<Buffer[]>;
}

export async function startSinkProcess(cleanups: Cleanups): Promise<SinkProcess> {
  const child = fork(path.join(ROOT, 'bench/sink-process.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  cleanups.add(async () => {
    if (child.connected) child.send({ type: 'close' } satisfies SinkRequest);
    if (!(await waitExit(child, 3000))) {
      child.kill('SIGKILL');
      await waitExit(child, 2000);
    }
  }, 'sink');
  let nextId = 1;
  const pending = new Map<number, (msg: Record<string, unknown>) => void>();
  let ready!: (port: number) => void;
  const readyP = new Promise<number>((resolve) => (ready = resolve));
  child.on('message', (raw) => {
    const msg = raw as Record<string, unknown> & { type: string; id?: number };
    if (msg.type === 'ready') ready(msg.port as number);
    else if (msg.id !== undefined) {
      const cb = pending.get(msg.id);
      pending.delete(msg.id);
      cb?.(msg);
    }
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, sig) => reject(new Error(`sink process exited (${code ?? sig})`))));
  exited.catch(() => undefined);
  const ask = (
    msg: { type: 'stats' | 'mark' | 'times' | 'kept' } | { type: 'watch'; target: number } | { type: 'keep'; every: number; max: number },
    timeoutMs: number | null,
  ) => {
    const id = nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve) => pending.set(id, resolve));
    child.send({ ...msg, id } as SinkRequest);
    const p = Promise.race([reply, exited]);
    return timeoutMs === null ? p : withTimeout(p, timeoutMs, `sink reply to ${msg.type}`);
  };
  const port = await withTimeout(Promise.race([readyP, exited]), 15_000, 'sink start');
  return {
    port,
    pid: child.pid!,
    stats: async () => (await ask({ type: 'stats' }, 10_000)) as unknown as SinkStats,
    mark: async () => void (await ask({ type: 'mark' }, 10_000)),
    watch: async (target: number) => (await ask({ type: 'watch', target }, null)).at as number,
    times: async () => new Map((await ask({ type: 'times' }, 30_000)).times as [string, number][]),
    keep: async (every: number, max: number) => void (await ask({ type: 'keep', every, max }, 10_000)),
    kept: async () => ((await ask({ type: 'kept' }, 30_000)).raws as string[]).map((r) => Buffer.from(r, 'base64')),
  };
}

// ---------- the service process ----------

export interface ApiKey {
  accessKey: string;
  secretKey: string;
}

/** A new key for MAILER_ACCESS_KEY / MAILER_SECRET_KEY (the service creates it at start). */
export function randomApiKey(): ApiKey {
  return { accessKey: `bench${crypto.randomBytes(5).toString('hex')}`, secretKey: crypto.randomBytes(24).toString('base64url') };
}

export interface ServiceProcess {
  pid: number;
  port: number;
  baseUrl: string;
  dataDir: string;
  /** the service's own embedded postmaster (undefined with an external database) */
  postmasterPid: number | undefined;
  /**
   * The postmaster whose processes' CPU is counted as Postgres's: the embedded one, or an
   * external database's when it runs on this machine (undefined when it does not)
   */
  pgPid: number | undefined;
  databaseUrl: string;
  alive(): boolean;
  /** peak RSS since the start or the last reset, sampled */
  peak(): number;
  resetPeak(): void;
  /** VmHWM, read while the process is alive (the last sampled value after) */
  hwm(): number;
  /** peak private memory (RssAnon) of all Postgres processes; only with samplePostgres */
  peakPgAnon(): number;
  /** the last lines the service printed */
  outputTail(): string;
  /** SIGTERM (SIGKILL after `timeoutMs`), then the postmaster if it outlived the service */
  stop(timeoutMs?: number): Promise<{ ms: number; clean: boolean }>;
}

export interface ServiceOptions {
  log: (msg: string) => void;
  /** the SMTP sink's port; without it SMTP_URL stays unset (the service's built-in sink) */
  smtpPort?: number;
  /** SMTP_MAX_CONNECTIONS */
  connections?: number;
  /** MAILER_ACCESS_KEY / MAILER_SECRET_KEY */
  key?: ApiKey;
  /** DATABASE_URL; without it the service starts its embedded Postgres in its data dir */
  databaseUrl?: string;
  /** the service's LOG_LEVEL unless BENCH_LOG_LEVEL is set (default warn) */
  logLevel?: string;
  /** more environment (wins over everything above) */
  env?: Record<string, string>;
  dataDirPrefix?: string;
  /** node options of the service, before BENCH_SERVICE_NODE_ARGS (e.g. a preload) */
  nodeArgs?: string[];
  /** how often the peak RSS is sampled (default 100 ms) */
  sampleMs?: number;
  /** also sample the private memory of the embedded Postgres (every 5th sample) */
  samplePostgres?: boolean;
  /** what to print of an output line as "[service] ..." (default: the line; undefined: nothing) */
  echo?: (line: string) => string | undefined;
}

/** The service's variables, not inherited from the bench's environment. */
const SERVICE_VARS = [
  'DATABASE_URL',
  'SMTP_URL',
  'PORT',
  'DATA_DIR',
  'ROLE',
  'MASTER_KEY',
  'PUBLIC_BASE_URL',
  'NODE_OPTIONS',
  'WORKER_CONCURRENCY',
  'RETENTION_DAYS',
  'RETRY_LIMIT',
  'RETRY_BASE_DELAY_MS',
  'DISPLAY_TIMEZONE',
];

/**
 * Starts `node src/main.ts` (node itself, not `npm start`: the pid sampled is the service) with
 * a fresh DATA_DIR and the given environment on top of the bench's own minus the service's
 * variables, plus BENCH_SERVICE_NODE_ARGS, and waits for GET /health (180 s at most).
 */
export async function startServiceProcess(cleanups: Cleanups, opts: ServiceOptions): Promise<ServiceProcess> {
  const dataDir = tempDir(cleanups, opts.dataDirPrefix ?? 'mailer-bench-');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SERVICE_VARS) delete env[k];
  Object.assign(env, { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: process.env.BENCH_LOG_LEVEL || opts.logLevel || 'warn' });
  if (opts.smtpPort !== undefined) env.SMTP_URL = `smtp://127.0.0.1:${opts.smtpPort}`;
  if (opts.connections !== undefined) env.SMTP_MAX_CONNECTIONS = String(opts.connections);
  if (opts.key) Object.assign(env, { MAILER_ACCESS_KEY: opts.key.accessKey, MAILER_SECRET_KEY: opts.key.secretKey });
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  Object.assign(env, opts.env);
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, ...nodeArgs, 'src/main.ts'], {
    cwd: ROOT,
    env: serviceEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 50) tail.shift();
        const shown = opts.echo ? opts.echo(line) : line;
        if (shown !== undefined) process.stderr.write(`[service] ${shown}\n`);
      }
    });
  }

  let postmasterPid: number | undefined;
  const killPostmaster = async () => {
    // Normally the service stops its own Postgres; this is for a service that was killed.
    if (postmasterPid && isAlive(postmasterPid) && /postgres/.test(fs.readFileSync(`/proc/${postmasterPid}/comm`, 'utf8'))) {
      process.kill(postmasterPid, 'SIGINT'); // fast shutdown
      for (let i = 0; i < 100 && isAlive(postmasterPid); i++) await sleep(100);
      if (isAlive(postmasterPid)) process.kill(postmasterPid, 'SIGKILL');
    }
  };
  let stopped: Promise<{ ms: number; clean: boolean }> | undefined;
  const stop = (timeoutMs = 60_000) =>
    (stopped ??= (async () => {
      const t = performance.now();
      let clean = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, timeoutMs))) {
          clean = false;
          opts.log(`service did not stop within ${timeoutMs / 1000} s of SIGTERM: killing it`);
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
      }
      if (postmasterPid && isAlive(postmasterPid)) clean = false;
      await killPostmaster();
      return { ms: performance.now() - t, clean: clean && child.exitCode === 0 };
    })());
  cleanups.add(async () => void (await stop()), 'service');

  let peak = 0;
  let lastHwm = 0;
  let peakPgAnon = 0;
  let tick = 0;
  const sampler = setInterval(() => {
    const m = readMemory(child.pid!);
    if (m) {
      peak = Math.max(peak, m.rss);
      lastHwm = Math.max(lastHwm, m.hwm);
    }
    if (opts.samplePostgres && postmasterPid && ++tick % 5 === 0) {
      // private memory of all Postgres processes (shared buffers counted apart, once)
      let anon = readMemory(postmasterPid)?.anon ?? 0;
      for (const c of childPids(postmasterPid)) anon += readMemory(c)?.anon ?? 0;
      peakPgAnon = Math.max(peakPgAnon, anon);
    }
  }, opts.sampleMs ?? 100);
  sampler.unref();
  child.once('exit', () => clearInterval(sampler));

  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail.join('\n')}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the service did not start within 180 s');
    await sleep(100);
  }
  let databaseUrl = opts.env?.DATABASE_URL ?? opts.databaseUrl ?? '';
  if (!databaseUrl) {
    // src/db/embedded.ts: user mailer, password "embedded", database mailer; the port is in postmaster.pid
    const lines = fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n');
    postmasterPid = Number(lines[0]);
    databaseUrl = `postgres://mailer:embedded@127.0.0.1:${Number(lines[3])}/mailer`;
  }
  const pgPid = postmasterPid ?? (await localPostmaster(databaseUrl));
  return {
    pid: child.pid!,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    postmasterPid,
    pgPid,
    databaseUrl,
    alive: () => child.exitCode === null && child.signalCode === null,
    peak: () => peak,
    resetPeak: () => (peak = readMemory(child.pid!)?.rss ?? 0),
    hwm: () => Math.max(lastHwm, readMemory(child.pid!)?.hwm ?? 0),
    peakPgAnon: () => peakPgAnon,
    outputTail: () => tail.join('\n'),
    stop,
  };
}

// ---------- CPU accounting ----------

export interface CpuSnap {
  at: number;
  service?: { all: number; main: number };
  /** seconds the service's main thread waited for a CPU while runnable */
  serviceWait?: number;
  pg?: number;
  sink?: { all: number; main: number };
  bench: number;
  machine: { busy: number; total: number };
}
export function cpuSnap(service: ServiceProcess | undefined, sink: SinkProcess): CpuSnap {
  const b = process.cpuUsage();
  return {
    at: wallNow(),
    service: service && processCpu(service.pid),
    serviceWait: service && schedStat(service.pid)?.wait,
    pg: service?.pgPid ? treeCpu(service.pgPid) : undefined,
    sink: processCpu(sink.pid),
    bench: (b.user + b.system) / 1e6,
    machine: machineCpu(),
  };
}
/** CPU used between two snapshots by processes outside this benchmark, in cores (1 = one core busy). */
export function othersShare(a: CpuSnap, b: CpuSnap): number {
  const wall = (b.at - a.at) / 1000;
  const d = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? 0 : y - x);
  const ours = d(a.service?.all, b.service?.all) + d(a.pg, b.pg) + d(a.sink?.all, b.sink?.all) + d(a.bench, b.bench);
  return Math.max(0, (b.machine.busy - a.machine.busy - ours) / wall);
}

/**
 * The machine is shared (tests, type checks ...): before a measured phase, wait up to `maxMs`
 * for other processes to use less than a quarter of a core, so that both phases see a quiet machine.
 */
export async function waitQuiet(
  log: (msg: string) => void,
  what: string,
  service: ServiceProcess | undefined,
  sink: SinkProcess,
  maxMs: number,
): Promise<number> {
  const t = performance.now();
  let other = 0;
  for (let i = 0; ; i++) {
    const a = cpuSnap(service, sink);
    await sleep(1000);
    other = othersShare(a, cpuSnap(service, sink));
    if (other < 0.25) break;
    if (performance.now() - t > maxMs) {
      log(`${what}: other processes still use ${fmtPct(other)} of a core after ${maxMs / 1000} s; measuring anyway (results are noisy)`);
      break;
    }
    if (i % 10 === 0) log(`${what}: other processes use ${fmtPct(other)} of a core; waiting for a quieter machine`);
  }
  return other;
}

export function cpuLines(a: CpuSnap, b: CpuSnap): string[] {
  const wall = (b.at - a.at) / 1000;
  const share = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? 'n/a' : fmtPct((y - x) / wall));
  const cpus = os.cpus().length;
  const other = othersShare(a, b);
  return [
    `  CPU over the end-to-end window (${wall.toFixed(1)} s wall, ${cpus} CPUs = ${cpus * 100}% max; 100% = one core):`,
    `    service main thread ${share(a.service?.main, b.service?.main)} (+ ${share(a.serviceWait, b.serviceWait)} runnable but waiting for a CPU), all threads ${share(a.service?.all, b.service?.all)}`,
    `    postgres (all processes) ${share(a.pg, b.pg)}`,
    `    sink main thread ${share(a.sink?.main, b.sink?.main)}, all threads ${share(a.sink?.all, b.sink?.all)}`,
    `    bench ${share(a.bench, b.bench)}`,
    `    machine busy ${fmtPct((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total))} of all CPUs; processes outside this benchmark ${fmtPct(other)}`,
  ];
}

// ---------- signed API calls ----------

/** The signature v2 headers of one call. */
export function signedHeaders(key: ApiKey, method: string, target: string): Record<string, string> {
  const ts = String(Date.now());
  return {
    'x-ncp-apigw-timestamp': ts,
    'x-ncp-iam-access-key': key.accessKey,
    'x-ncp-apigw-signature-v2': signRequest(key.secretKey, method, target, ts, key.accessKey),
  };
}

/**
 * A signed call. A string body is sent as application/json, FormData as multipart. `json` is the
 * parsed answer (the text if it is not JSON), `ms` the time from the request to the whole answer.
 */
export async function signedCall(baseUrl: string, key: ApiKey, method: string, target: string, body?: string | FormData, timeoutMs = 300_000) {
  const headers = signedHeaders(key, method, target);
  if (typeof body === 'string') headers['content-type'] = 'application/json';
  const t = performance.now();
  const res = await fetch(baseUrl + target, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const ms = performance.now() - t;
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, json, ms };
}

// ---------- one send, end to end ----------

export interface SendMeasurement {
  requestId: string;
  seconds: number;
  /** recipients per second, POST start -> the sink has the last one */
  rate: number;
  bytes: number;
  unique: number;
  peakRss: number;
  /** the raw messages the sink kept (with `keep`) */
  kept: Buffer[];
}

/** POSTs one request of `n` recipients and waits until the sink has every one of them. */
export async function sendAndMeasure(o: {
  service: ServiceProcess;
  sink: SinkProcess;
  key: ApiKey;
  n: number;
  label: string;
  body: string;
  timeoutMs: number;
  log: (msg: string) => void;
  /** keep the raw source of every `every`-th message at the sink, `max` at most */
  keep?: { every: number; max: number };
}): Promise<SendMeasurement> {
  await o.sink.mark();
  if (o.keep) await o.sink.keep(o.keep.every, o.keep.max);
  const reached = o.sink.watch(o.n);
  const bytes0 = (await o.sink.stats()).bytes;
  o.service.resetPeak();
  const t0 = wallNow();
  const post = await signedCall(o.service.baseUrl, o.key, 'POST', '/api/v1/mails', o.body);
  if (post.status !== 201) throw new Error(`POST /mails answered ${post.status}: ${JSON.stringify(post.json)}`);
  let done: number | undefined;
  reached.then((at) => (done = at)).catch(() => undefined);
  let lastLog = performance.now();
  while (done === undefined) {
    await Promise.race([reached, sleep(1000)]);
    if (!o.service.alive()) throw new Error('the service exited during the run');
    if (wallNow() - t0 > o.timeoutMs) throw new Error(`timed out after ${o.timeoutMs / 1000} s`);
    if (done === undefined && performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      const s = await o.sink.stats();
      const mem = readMemory(o.service.pid);
      o.log(`${o.label}: ${fmtInt(s.window.unique)}/${fmtInt(o.n)} after ${((wallNow() - t0) / 1000).toFixed(0)} s, service RSS ${fmtMB(mem?.rss ?? 0)}`);
    }
  }
  const seconds = (done! - t0) / 1000;
  const stats = await o.sink.stats();
  return {
    requestId: post.json.requestId as string,
    seconds,
    rate: o.n / seconds,
    bytes: stats.bytes - bytes0,
    unique: stats.window.unique,
    peakRss: o.service.peak(),
    kept: o.keep ? await o.sink.kept() : [],
  };
}

/** Plain nodemailer's pooled transport to the sink, as the baselines use it; closed with the other cleanups. */
export function baselineTransport(cleanups: Cleanups, port: number, connections: number) {
  const transport = nodemailer.createTransport({ pool: true, maxConnections: connections, maxMessages: Infinity, host: '127.0.0.1', port, ignoreTLS: true });
  cleanups.add(() => transport.close(), 'baseline transport');
  return transport;
}

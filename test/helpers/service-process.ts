// The real service as a child process (`node src/main.ts`), for fault-injection tests: it can be
// killed with any signal, restarted on the same database, or run twice side by side.
//
// Every child started here is tracked; stopAllServiceProcesses() (afterEach/afterAll) and a
// process 'exit' hook make sure none outlives the test file, even when a test fails or times out.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { signRequest } from '../../src/http/signature.ts';
import { freePort } from '../../src/shared/free-port.ts';
import { SERVICE_NODE_ARGS, serviceEnv } from '../../src/node-args.ts';

export { freePort };

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The key pair every child is started with (MAILER_ACCESS_KEY / MAILER_SECRET_KEY) and signs with. */
export const TEST_ACCESS_KEY = 'faultTestAccessKey01';
export const TEST_SECRET_KEY = 'faultTestSecretKey-0123456789abcdefghij';
/** Fixed, so that several children (and restarts) read the same stored secret. */
export const TEST_MASTER_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ServiceProcessOptions {
  /** unset: the service starts its embedded PostgreSQL under dataDir/pg */
  databaseUrl?: string;
  smtpUrl: string;
  /** a name for diagnostics (log prefixes, error messages) */
  name?: string;
  role?: 'api' | 'worker' | 'all';
  /** defaults below, overridden by these */
  env?: Record<string, string>;
  /** reuse a data dir (else a temp dir, removed by stop()) */
  dataDir?: string;
  /** how long to wait for GET /health (or 'workers started' for ROLE=worker); default 30 s */
  startTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() at exit */
  at: number;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  text: string;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** 0 for ROLE=worker */
  port: number;
  baseUrl: string;
  dataDir: string;
  /** stdout and stderr as captured so far (interleaved in arrival order) */
  output(): string;
  /** the last `lines` lines of output, each prefixed with the process name */
  tail(lines?: number): string;
  /** stdout lines that parse as JSON (pino log records) */
  logs(): Record<string, any>[];
  /** resolves with the first log record matching (a msg substring or a predicate); rejects on timeout or exit */
  waitForLog(match: string | ((rec: Record<string, any>) => boolean), timeoutMs?: number): Promise<Record<string, any>>;
  /** a signed request to the API (NCP signature v2), `target` = path with query as sent */
  call(method: string, target: string, body?: unknown): Promise<HttpResult>;
  /** unsigned GET, e.g. /health */
  get(target: string): Promise<HttpResult>;
  /** sends a signal; false if the process is already gone */
  kill(signal?: NodeJS.Signals): boolean;
  /** resolves when the process has exited (at once if it already has); rejects after timeoutMs */
  waitForExit(timeoutMs?: number): Promise<ExitInfo>;
  exitInfo(): ExitInfo | undefined;
  /** SIGTERM, then SIGKILL after graceMs (default 30 s); removes a temp data dir; idempotent */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const live = new Set<ServiceProcess>();

process.once('exit', () => {
  // Last resort (jest worker exiting after a timeout): nothing may outlive the test run.
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Stops (SIGKILL) every child still running; for afterEach/afterAll. */
export async function stopAllServiceProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(0).catch(() => undefined)));
}

const MAX_CAPTURE = 8 * 1024 * 1024;

function request(port: number, method: string, target: string, headers: Record<string, string>, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: target,
        headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
        agent: false,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${target}: no answer within 30 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export async function startServiceProcess(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const name = opts.name ?? 'service';
  const role = opts.role ?? 'all';
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-proc-data-'));
  const port = role === 'worker' ? 0 : await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    NODE_NO_WARNINGS: '1',
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    SMTP_URL: opts.smtpUrl,
    PORT: String(port),
    DATA_DIR: dataDir,
    MAILER_ACCESS_KEY: TEST_ACCESS_KEY,
    MAILER_SECRET_KEY: TEST_SECRET_KEY,
    MASTER_KEY: TEST_MASTER_KEY,
    LOG_LEVEL: 'info',
    RETRY_BASE_DELAY_MS: '300',
    RETRY_LIMIT: '3',
    SMTP_MAX_CONNECTIONS: '4',
    SMTP_TIMEOUT_MS: '5000',
    ROLE: role,
    ...opts.env,
  };
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, 'src/main.ts'], { cwd: ROOT, env: serviceEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    // spawn failures are reported asynchronously through 'error'
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${name}: could not spawn the service: ${err.message}`);
  }

  let captured = '';
  let dropped = 0;
  let stdoutRest = '';
  const records: Record<string, any>[] = [];
  const logWaiters = new Set<() => void>();
  const append = (text: string) => {
    captured += text;
    if (captured.length > MAX_CAPTURE) {
      dropped += captured.length - MAX_CAPTURE / 2;
      captured = captured.slice(captured.length - MAX_CAPTURE / 2);
    }
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    append(text);
    const lines = (stdoutRest + text).split('\n');
    stdoutRest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        /* not a log record */
      }
    }
    for (const w of [...logWaiters]) w();
  });
  child.stderr!.on('data', (text: string) => append(text));

  let exit: ExitInfo | undefined;
  const exitWaiters = new Set<() => void>();
  child.once('exit', (code, signal) => {
    exit = { code, signal, at: Date.now() };
    for (const w of [...exitWaiters]) w();
    for (const w of [...logWaiters]) w();
  });

  const waitForExit = (timeoutMs = 30_000): Promise<ExitInfo> => {
    if (exit) return Promise.resolve(exit);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        exitWaiters.delete(done);
        resolve(exit!);
      };
      const timer = setTimeout(() => {
        exitWaiters.delete(done);
        reject(new Error(`${name} (pid ${child.pid}): still running after ${timeoutMs} ms`));
      }, timeoutMs);
      exitWaiters.add(done);
    });
  };

  const tail = (lines = 200) => {
    const all = captured.split('\n');
    return all
      .slice(-lines)
      .map((l) => `[${name}] ${l}`)
      .join('\n');
  };

  let stopping: Promise<ExitInfo> | undefined;
  const proc: ServiceProcess = {
    name,
    child,
    pid: child.pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    output: () => (dropped ? `[${dropped} earlier characters dropped]\n` : '') + captured,
    tail,
    logs: () => records,
    waitForLog(match, timeoutMs = 30_000) {
      const pred = typeof match === 'string' ? (r: Record<string, any>) => typeof r.msg === 'string' && r.msg.includes(match) : match;
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < records.length; seen++) {
            if (pred(records[seen]!)) {
              finish();
              return resolve(records[seen]!);
            }
          }
          if (exit) {
            finish();
            reject(new Error(`${name}: exited (code ${exit.code}, signal ${exit.signal}) before logging what was awaited`));
          }
        };
        const finish = () => {
          clearTimeout(timer);
          logWaiters.delete(check);
        };
        const timer = setTimeout(() => {
          logWaiters.delete(check);
          reject(new Error(`${name}: awaited log line not seen within ${timeoutMs} ms`));
        }, timeoutMs);
        logWaiters.add(check);
        check();
      });
    },
    call(method, target, body) {
      const m = method.toUpperCase();
      const ts = String(Date.now());
      const headers: Record<string, string> = {
        'x-ncp-apigw-timestamp': ts,
        'x-ncp-iam-access-key': TEST_ACCESS_KEY,
        'x-ncp-apigw-signature-v2': signRequest(TEST_SECRET_KEY, m, target, ts, TEST_ACCESS_KEY),
        accept: 'application/json',
      };
      if (body !== undefined) headers['content-type'] = 'application/json';
      return request(port, m, target, headers, body === undefined ? undefined : JSON.stringify(body));
    },
    get: (target) => request(port, 'GET', target, { accept: 'application/json' }),
    kill(signal = 'SIGTERM') {
      if (exit) return false;
      return child.kill(signal);
    },
    waitForExit,
    exitInfo: () => exit,
    stop(graceMs = 30_000) {
      stopping ??= (async () => {
        try {
          if (!exit) {
            if (graceMs > 0) {
              child.kill('SIGTERM');
              await waitForExit(graceMs).catch(() => undefined);
            }
            if (!exit) child.kill('SIGKILL');
          }
          return await waitForExit(10_000);
        } finally {
          live.delete(proc);
          if (ownDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
  live.add(proc);

  // Ready: /health answers (or, for a worker, it says so in its log).
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  try {
    if (role === 'worker') {
      await proc.waitForLog('workers started', opts.startTimeoutMs ?? 30_000);
    } else {
      for (;;) {
        if (exit) throw new Error(`exited during start-up (code ${exit.code}, signal ${exit.signal})`);
        const ok = await proc.get('/health').then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`GET /health did not answer within ${opts.startTimeoutMs ?? 30_000} ms`);
        await sleep(100);
      }
    }
  } catch (err) {
    await proc.stop(0);
    throw new Error(`${name}: ${(err as Error).message}\n${tail(80)}`);
  }
  return proc;
}

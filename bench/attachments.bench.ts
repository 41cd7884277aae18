// The attachment benchmark: one 10 MB file uploaded with POST /files and sent with a request of
// 1,000 individual recipients, against the same request without the attachment.
//
// The service runs as `node src/main.ts` in its own process (embedded Postgres), the SMTP sink in
// another (bench/sink-process.ts, which discards what it receives). Prints, for both requests,
// the end-to-end rate (POST start -> the sink has accepted the last recipient) and the bytes
// delivered, their ratio, and the service's peak RSS while the attachment was being sent.
// Target (issue 4): peak RSS <= 400 MB, i.e. the file is streamed from disk for every mail and
// never copied per mail.
//
// Environment:
//   BENCH_ATTACH_RECIPIENTS  recipients of each request (default 1000)
//   BENCH_ATTACH_MB          size of the attached file in MB (default 10; random bytes)
//   BENCH_CONNECTIONS        SMTP connections of the service (default 4)
//   BENCH_TIMEOUT_S          bound of each end-to-end wait (default 900)
//   BENCH_LOG_LEVEL          the service's LOG_LEVEL (default warn)
//   BENCH_SERVICE_NODE_ARGS  extra node options for the service (e.g. "--max-semi-space-size=8")
// Exit status: 1 when recipients are lost or the run could not be carried out; a missed RSS
// target is reported, not failed.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signRequest } from '../src/http/signature.ts';
import { fmtInt, fmtMB, freePort, intEnv, isAlive, readMemory, sleep, wallNow } from './helpers.ts';
import type { SinkRequest, SinkStats } from './sink-process.ts';
import { SERVICE_NODE_ARGS } from '../src/node-args.ts';

const ROOT = path.resolve(import.meta.dirname, '..');


const N = intEnv('BENCH_ATTACH_RECIPIENTS', 1000);
const FILE_MB = intEnv('BENCH_ATTACH_MB', 10);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const RSS_TARGET = 400 * 1024 * 1024;

const ACCESS_KEY = `bench${crypto.randomBytes(5).toString('hex')}`;
const SECRET_KEY = crypto.randomBytes(24).toString('base64url');

const log = (msg: string) => process.stderr.write(`[attach-bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

const cleanups: (() => Promise<void> | void)[] = [];
let measuring = true;
async function cleanupAll() {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch((err) => log(`cleanup failed: ${(err as Error).message}`));
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanupAll().finally(() => process.exit(130)));

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

// ---------- the sink process (same protocol as send.bench.ts) ----------

async function startSink() {
  const child = fork(path.join(ROOT, 'bench/sink-process.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  cleanups.push(async () => {
    if (child.connected) child.send({ type: 'close' } satisfies SinkRequest);
    if (!(await waitExit(child, 3000))) child.kill('SIGKILL');
  });
  let nextId = 1;
  const pending = new Map<number, (msg: Record<string, unknown>) => void>();
  let ready!: (port: number) => void;
  const readyP = new Promise<number>((resolve) => (ready = resolve));
  child.on('message', (raw) => {
    const msg = raw as Record<string, unknown> & { type: string; id?: number };
    if (msg.type === 'ready') ready(msg.port as number);
    else if (msg.id !== undefined) {
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    }
  });
  const ask = (msg: { type: 'stats' | 'mark' } | { type: 'watch'; target: number }) => {
    const id = nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve) => pending.set(id, resolve));
    child.send({ ...msg, id } as SinkRequest);
    return reply;
  };
  const port = await readyP;
  return {
    port,
    stats: async () => (await ask({ type: 'stats' })) as unknown as SinkStats,
    mark: async () => void (await ask({ type: 'mark' })),
    watch: async (target: number) => (await ask({ type: 'watch', target })).at as number,
  };
}

// ---------- the service process ----------

async function startService(smtpPort: number) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-attach-bench-'));
  fs.chmodSync(dataDir, 0o755); // embedded Postgres runs as its own user when we are root
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'SMTP_URL', 'PORT', 'DATA_DIR', 'ROLE', 'MASTER_KEY', 'PUBLIC_BASE_URL', 'NODE_OPTIONS', 'WORKER_CONCURRENCY']) delete env[k];
  Object.assign(env, {
    DATA_DIR: dataDir,
    PORT: String(port),
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    SMTP_MAX_CONNECTIONS: String(CONNECTIONS),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
    MAILER_ACCESS_KEY: ACCESS_KEY,
    MAILER_SECRET_KEY: SECRET_KEY,
  });
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, ...nodeArgs, 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The service's output until the measurement is over; what it says while it is stopped is noise here.
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => measuring && process.stderr.write(`[service] ${d}`));
  let postmasterPid: number | undefined;
  cleanups.push(async () => {
    child.kill('SIGTERM');
    if (!(await waitExit(child, 60_000))) child.kill('SIGKILL');
    if (postmasterPid && isAlive(postmasterPid)) process.kill(postmasterPid, 'SIGINT');
  });
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, readMemory(child.pid!)?.rss ?? 0);
  }, 100);
  sampler.unref();
  child.once('exit', () => clearInterval(sampler));
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error('the service exited before it was ready');
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the service did not start within 180 s');
    await sleep(100);
  }
  try {
    postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    // external database
  }
  return {
    pid: child.pid!,
    baseUrl: `http://127.0.0.1:${port}`,
    alive: () => child.exitCode === null && child.signalCode === null,
    /** peak RSS since the last reset */
    peak: () => peak,
    resetPeak: () => (peak = readMemory(child.pid!)?.rss ?? 0),
  };
}

// ---------- signed calls ----------

async function api(baseUrl: string, method: string, target: string, body?: string | FormData, contentType?: string) {
  const ts = String(Date.now());
  const headers: Record<string, string> = {
    'x-ncp-apigw-timestamp': ts,
    'x-ncp-iam-access-key': ACCESS_KEY,
    'x-ncp-apigw-signature-v2': signRequest(SECRET_KEY, method, target, ts, ACCESS_KEY),
  };
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(baseUrl + target, { method, headers, body, signal: AbortSignal.timeout(300_000) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const BODY = '<html><body><h1>Your documents</h1><p>Dear #{RECIPIENT_NAME}, please find your statement ${MONTH} attached.</p></body></html>';

function requestBody(prefix: string, attachFileIds: string[]): string {
  const recipients = Array.from({ length: N }, (_, i) => ({ address: `${prefix}${i}@example.com`, name: `User ${i}`, parameters: { MONTH: '2026-11' } }));
  return JSON.stringify({ senderAddress: 'statements@company.com', senderName: 'Statements', title: 'Statement ${MONTH}', body: BODY, recipients, attachFileIds });
}

/** POSTs a request and waits until the sink has every recipient; the rate is recipients per second end to end. */
async function sendAndMeasure(service: Awaited<ReturnType<typeof startService>>, sink: Awaited<ReturnType<typeof startSink>>, prefix: string, attachFileIds: string[]) {
  await sink.mark();
  const reached = sink.watch(N);
  const bytes0 = (await sink.stats()).bytes;
  service.resetPeak();
  const t0 = wallNow();
  const post = await api(service.baseUrl, 'POST', '/api/v1/mails', requestBody(prefix, attachFileIds), 'application/json');
  if (post.status !== 201) throw new Error(`POST /mails answered ${post.status}: ${JSON.stringify(post.json)}`);
  let done: number | undefined;
  reached.then((at) => (done = at)).catch(() => undefined);
  let lastLog = performance.now();
  while (done === undefined) {
    await Promise.race([reached, sleep(1000)]);
    if (!service.alive()) throw new Error('the service exited during the run');
    if (wallNow() - t0 > TIMEOUT_MS) throw new Error(`timed out after ${TIMEOUT_MS / 1000} s`);
    if (done === undefined && performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      const s = await sink.stats();
      const mem = readMemory(service.pid);
      log(`${prefix}: ${fmtInt(s.window.unique)}/${fmtInt(N)} after ${((wallNow() - t0) / 1000).toFixed(0)} s, service RSS ${fmtMB(mem?.rss ?? 0)} (anonymous ${fmtMB(mem?.anon ?? 0)})`);
    }
  }
  const seconds = (done! - t0) / 1000;
  const stats = await sink.stats();
  return { requestId: post.json.requestId as string, seconds, rate: N / seconds, bytes: stats.bytes - bytes0, unique: stats.window.unique, peakRss: service.peak() };
}

async function main(): Promise<number> {
  log(`attachment benchmark: ${fmtInt(N)} recipients, one ${FILE_MB} MB file, ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs`);
  const sink = await startSink();
  const service = await startService(sink.port);
  log(`service ready (pid ${service.pid}), RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`);

  const file = crypto.randomBytes(FILE_MB * 1024 * 1024);
  const form = new FormData();
  form.append('fileList', new Blob([file]), 'statement-2026-11.pdf');
  const t = performance.now();
  const uploaded = await api(service.baseUrl, 'POST', '/api/v1/files', form);
  if (uploaded.status !== 201) throw new Error(`POST /files answered ${uploaded.status}: ${JSON.stringify(uploaded.json)}`);
  const fileId: string = uploaded.json.files[0].fileId;
  log(`uploaded ${FILE_MB} MB in ${(performance.now() - t).toFixed(0)} ms (fileId ${fileId}); service RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`);

  const plain = await sendAndMeasure(service, sink, 'plain', []);
  log(`without attachment: ${fmtInt(plain.rate)} mails/s (${plain.seconds.toFixed(1)} s), peak RSS ${fmtMB(plain.peakRss)}`);
  const attached = await sendAndMeasure(service, sink, 'attached', [fileId]);
  log(`with the ${FILE_MB} MB attachment: ${attached.rate.toFixed(1)} mails/s (${attached.seconds.toFixed(1)} s), peak RSS ${fmtMB(attached.peakRss)}`);

  const lost = [plain, attached].filter((r) => r.unique < N);
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const mbps = (r: typeof plain) => (r.bytes / 1024 / 1024 / r.seconds).toFixed(1);
  const lines = [
    '',
    `attachments benchmark (${fmtInt(N)} recipients, ${CONNECTIONS} SMTP connections, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  without attachment:       ${fmtInt(plain.rate).padStart(6)} mails/s  (${plain.seconds.toFixed(1)} s, ${mb(plain.bytes)} delivered, ${mbps(plain)} MB/s)`,
    `  with ${FILE_MB} MB attachment:   ${attached.rate.toFixed(1).padStart(6)} mails/s  (${attached.seconds.toFixed(1)} s, ${mb(attached.bytes)} delivered, ${mbps(attached)} MB/s)`,
    `  rate with / without:      ${((attached.rate / plain.rate) * 100).toFixed(2)}%`,
    `  service peak RSS while sending the attachment: ${fmtMB(attached.peakRss)} (target <= ${fmtMB(RSS_TARGET)}: ${attached.peakRss <= RSS_TARGET ? 'ok' : 'MISSED'})`,
  ];
  if (lost.length) lines.push(`  LOST: ${lost.map((r) => `${r.requestId}: the sink saw ${r.unique} of ${N}`).join('; ')}`);
  measuring = false;
  process.stdout.write(lines.join('\n') + '\n');
  return lost.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
} finally {
  await cleanupAll();
}
process.exit(code);

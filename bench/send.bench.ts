// npm run bench: the send benchmark.
//
// One request of 100,000 individual recipients with per-recipient parameters, POSTed to the
// service (`node src/main.ts` in its own process, embedded Postgres), delivered to a loopback
// smtp-server sink in another process (bench/sink-process.ts). Prints the POST latency, the
// end-to-end rate (POST start -> the sink has accepted the last recipient), the service's peak
// RSS, 1-recipient POST latencies, where the CPU went, and - same run, same sink, same
// connection count - plain nodemailer pool sending the same messages, and the ratio.
//
// Environment:
//   BENCH_RECIPIENTS      recipients of the big request (default 100000; e.g. 10000 for a quick check)
//   BENCH_CONNECTIONS     SMTP connections, service and baseline alike (default 4)
//   BENCH_LATENCY_POSTS   timed 1-recipient POSTs (default 200)
//   BENCH_WARMUP_POSTS    untimed 1-recipient POSTs before them (default 200: a running service's
//                         code is compiled by V8's optimising tiers; the first few hundred requests
//                         after a start are not: their p95 was 2-4 ms higher, four runs alternated)
//   BENCH_DATABASE_URL    run the service against this PostgreSQL instead of an embedded one
//   BENCH_WORKER_CONCURRENCY  passed to the service as WORKER_CONCURRENCY (default: the service's)
//   BENCH_CPU_PROF=1      run the service with --cpu-prof and print its top self-time functions
//   BENCH_QUIET_WAIT_S    before each measured phase, wait up to this long (default 120) for other
//                         processes to leave the CPUs alone; the summary shows how busy they were
//   BENCH_TIMEOUT_S       bound of the end-to-end wait (default 900); 60 s without progress aborts
//   BENCH_LOG_LEVEL       the service's LOG_LEVEL (default warn)
//   BENCH_SERVICE_NODE_ARGS  extra node options for the service, e.g. "--trace-gc" or
//                         "--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp" (for investigating)
//   BENCH_SKIP_BASELINE=1 skip the plain nodemailer baseline (no ratio)
// Exit status: 1 only when recipients are lost (not delivered / not in a final status) or the
// run could not be carried out; missed targets are reported, not failed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { benchLog, fmtInt, fmtMB, fmtPct, intEnv, percentile, printSummary, readMemory, sleep, profileSummary, wallNow, withTimeout } from './helpers.ts';
import { dbWorkLine, dbWorkSnap, queryCounter } from './db-work.ts';
import { baseline, recipient, requestBody } from './send-fixture.ts';
import {
  cpuLines,
  cpuSnap,
  createCleanups,
  othersShare,
  randomApiKey,
  revision,
  runMain,
  signedCall,
  startServiceProcess,
  startSinkProcess,
  waitQuiet,
  type ServiceProcess,
} from './send-run.ts';

const N = intEnv('BENCH_RECIPIENTS', 100_000);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
const LATENCY_POSTS = intEnv('BENCH_LATENCY_POSTS', 200);
const WARMUP_POSTS = intEnv('BENCH_WARMUP_POSTS', 200, 0);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const STALL_MS = 60_000;
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
const QUIET_WAIT_MS = intEnv('BENCH_QUIET_WAIT_S', 120, 0) * 1000;

const KEY = randomApiKey();
const log = benchLog('bench');
const cleanups = createCleanups(log);
const queries = queryCounter();

// ---------- the service process ----------

function startService(opts: { smtpPort: number; profDir: string | undefined }): Promise<ServiceProcess> {
  const env: Record<string, string> = {};
  if (process.env.BENCH_WORKER_CONCURRENCY) env.WORKER_CONCURRENCY = process.env.BENCH_WORKER_CONCURRENCY;
  if (opts.profDir) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${opts.profDir}`;
  Object.assign(env, queries.env);
  return startServiceProcess(cleanups, {
    nodeArgs: queries.nodeArgs,
    log,
    smtpPort: opts.smtpPort,
    connections: CONNECTIONS,
    key: KEY,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    env,
    samplePostgres: true,
    echo: shortLogLine,
  });
}

/** A pino line as "level msg: err" (stack traces cut), anything else as it is (cut at 600 chars). */
function shortLogLine(line: string): string {
  try {
    const o = JSON.parse(line) as { level?: number; msg?: string; err?: unknown; [k: string]: unknown };
    const err = typeof o.err === 'object' && o.err ? (o.err as { message?: string }).message : o.err;
    const rest = Object.entries(o)
      .filter(([k]) => !['level', 'time', 'service', 'msg', 'err', 'pid', 'hostname'].includes(k))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    return `${o.level ?? ''} ${o.msg ?? ''}${err ? `: ${String(err)}` : ''}${rest ? ` (${rest.slice(0, 300)})` : ''}`;
  } catch {
    return line.length > 600 ? line.slice(0, 600) + '…' : line;
  }
}

// ---------- signed API calls ----------

let baseUrl = '';
const api = (method: string, target: string, body?: string, timeoutMs = 60_000) => signedCall(baseUrl, KEY, method, target, body, timeoutMs);

// ---------- main ----------

async function countRecipients(databaseUrl: string, requestIds: string[]): Promise<Record<string, number> | string> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'send-bench' });
  try {
    await client.connect();
    const ids = requestIds.map((id) => BigInt(id.slice(8)).toString());
    const res = await client.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM recipients WHERE request_id = ANY($1::bigint[]) GROUP BY status ORDER BY status',
      [ids],
    );
    return Object.fromEntries(res.rows.map((r) => [r.status, r.n]));
  } catch (err) {
    return `database query failed: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const FINAL = new Set(['S', 'F', 'U', 'C']);

/** Waits (at most `ms`) until every recipient of the requests is in a final status. */
async function waitFinal(databaseUrl: string, requestIds: string[], ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const counts = await countRecipients(databaseUrl, requestIds);
    if (typeof counts !== 'string' && Object.entries(counts).every(([k]) => FINAL.has(k))) return;
    await sleep(200);
  }
}
const fmtCounts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${fmtInt(v)}`)
    .join(', ') || 'none';

async function main(): Promise<number> {
  const failures: string[] = [];
  const rev = revision();
  log(`send benchmark: ${fmtInt(N)} recipients, ${CONNECTIONS} SMTP connections, node ${process.version}, ${os.cpus().length} CPUs, service at ${rev}`);
  const sink = await startSinkProcess(cleanups);
  log(`sink listening on 127.0.0.1:${sink.port} (pid ${sink.pid})`);
  const profDir = CPU_PROF ? fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-bench-prof-')) : undefined;
  const tStart = performance.now();
  const service = await startService({ smtpPort: sink.port, profDir });
  baseUrl = `http://127.0.0.1:${service.port}`;
  log(
    `service ready on port ${service.port} (pid ${service.pid}, postgres ${service.postmasterPid ?? `external, ${service.pgPid ? `postmaster ${service.pgPid} on this machine` : 'CPU not measured'}`}) after ${((performance.now() - tStart) / 1000).toFixed(1)} s, RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`,
  );
  await waitQuiet(log, '1-recipient POSTs', service, sink, QUIET_WAIT_MS);
  // what the idle service costs (job polling, sweeper ...), to tell it from the cost of requests
  const idle0 = cpuSnap(service, sink);
  await sleep(5000);
  const idle1 = cpuSnap(service, sink);
  const idleWall = (idle1.at - idle0.at) / 1000;
  const idleService = ((idle1.service?.all ?? 0) - (idle0.service?.all ?? 0)) / idleWall;
  const idlePg = ((idle1.pg ?? 0) - (idle0.pg ?? 0)) / idleWall;
  const idleLine = `idle service uses ${fmtPct(idleService)} of a core, its postgres ${fmtPct(idlePg)}`;
  log(idleLine);

  // ---- 1-recipient POSTs: warm-up, then timed, one after the other ----
  await sink.mark();
  const latencies: number[] = [];
  const smallIds: string[] = [];
  const smallDb0 = await dbWorkSnap(service.databaseUrl, queries.file);
  const smallCpu0 = cpuSnap(service, sink);
  for (let i = 0; i < WARMUP_POSTS + LATENCY_POSTS; i++) {
    const res = await api('POST', '/api/v1/mails', requestBody([recipient('warm', i)]));
    if (res.status !== 201) throw new Error(`1-recipient POST answered ${res.status}: ${JSON.stringify(res.json)}`);
    smallIds.push(res.json.requestId);
    if (i >= WARMUP_POSTS) latencies.push(res.ms);
  }
  latencies.sort((a, b) => a - b);
  log(`1-recipient POST p50/p95/p99/max: ${[0.5, 0.95, 0.99, 1].map((p) => percentile(latencies, p).toFixed(1)).join(' / ')} ms`);
  const smallCount = WARMUP_POSTS + LATENCY_POSTS;
  await withTimeout(sink.watch(smallCount), 120_000, `sink to receive the ${smallCount} 1-recipient mails`);
  const smallCpu1 = cpuSnap(service, sink);
  const smallWall = (smallCpu1.at - smallCpu0.at) / 1000;
  // CPU seconds per request beyond what the idle service would have used in the same time
  const perSmall = (x: number | undefined, y: number | undefined, idle: number) =>
    x === undefined || y === undefined ? 'n/a' : `${(((y - x - idle * smallWall) * 1000) / smallCount).toFixed(1)} ms`;
  const smallCpuLine = `CPU per 1-recipient request (POST and delivery, idle cost taken off): service ${perSmall(smallCpu0.service?.all, smallCpu1.service?.all, idleService)}, postgres ${perSmall(smallCpu0.pg, smallCpu1.pg, idlePg)}; ${idleLine}`;
  log(`the ${smallCount} 1-recipient mails were delivered; service RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}; ${smallCpuLine}`);
  await waitFinal(service.databaseUrl, smallIds, 30_000);
  const smallDbLine = `database work per 1-recipient request (POST and delivery): ${dbWorkLine(smallDb0, await dbWorkSnap(service.databaseUrl, queries.file), smallCount)}`;
  log(smallDbLine);

  // ---- the big request ----
  const recipients = Array.from({ length: N }, (_, i) => recipient('user', i));
  const body = requestBody(recipients);
  log(`POST body: ${fmtInt(N)} recipients, ${(Buffer.byteLength(body) / 1024 / 1024).toFixed(1)} MB`);
  await sink.mark();
  const reached = sink.watch(N);
  await sleep(500); // let the service settle (pg-boss maintenance etc.) before the clock starts
  const db0 = await dbWorkSnap(service.databaseUrl, queries.file);
  await waitQuiet(log, 'end-to-end', service, sink, QUIET_WAIT_MS);
  const cpu0 = cpuSnap(service, sink);
  const t0 = wallNow();
  const post = await api('POST', '/api/v1/mails', body, 120_000);
  const postMs = wallNow() - t0;
  if (post.status !== 201) throw new Error(`POST of ${N} recipients answered ${post.status}: ${JSON.stringify(post.json).slice(0, 500)}`);
  const requestId: string = post.json.requestId;
  log(`POST ${fmtInt(N)} recipients: ${post.status} in ${postMs.toFixed(0)} ms, requestId ${requestId}`);

  // wait for the sink to see every recipient, watching progress
  let endAt: number | undefined;
  reached.then((at) => (endAt = at)).catch(() => undefined);
  let lastUnique = -1;
  let lastProgressAt = performance.now();
  let lastPrint = performance.now();
  let prevPrint = { at: t0, unique: 0 };
  const midSnaps: string[] = [];
  while (endAt === undefined) {
    await Promise.race([reached.catch(() => undefined), sleep(1000)]);
    if (endAt !== undefined) break;
    const s = await sink.stats();
    const now = performance.now();
    if (s.window.unique !== lastUnique) {
      lastUnique = s.window.unique;
      lastProgressAt = now;
    }
    if (now - lastPrint >= 5000) {
      const w = wallNow();
      const rate = ((s.window.unique - prevPrint.unique) * 1000) / (w - prevPrint.at);
      prevPrint = { at: w, unique: s.window.unique };
      lastPrint = now;
      const mem = readMemory(service.pid);
      log(
        `${((w - t0) / 1000).toFixed(0)} s: sink ${fmtInt(s.window.unique)}/${fmtInt(N)} (${fmtInt(rate)}/s now), service RSS ${mem ? fmtMB(mem.rss) : 'n/a'}`,
      );
      if (midSnaps.length === 0 && s.window.unique > N * 0.3) {
        // one look at the machine mid-run
        try {
          const top = execFileSync('top', ['-b', '-n1', '-w', '200'], { encoding: 'utf8' });
          midSnaps.push(...top.split('\n').slice(0, 16));
        } catch {
          // no top
        }
      }
    }
    if (!service.alive()) {
      failures.push('the service exited during the run');
      break;
    }
    if (now - lastProgressAt > STALL_MS) {
      failures.push(`no progress for ${STALL_MS / 1000} s: the sink has ${fmtInt(s.window.unique)} of ${fmtInt(N)} recipients`);
      break;
    }
    if (wallNow() - t0 > TIMEOUT_MS) {
      failures.push(`end-to-end timed out after ${TIMEOUT_MS / 1000} s: the sink has ${fmtInt(s.window.unique)} of ${fmtInt(N)} recipients`);
      break;
    }
  }
  const cpu1 = cpuSnap(service, sink);
  const sinkStats = await sink.stats();
  const e2eSeconds = endAt !== undefined ? (endAt - t0) / 1000 : NaN;
  const firstSeconds = sinkStats.window.firstAt !== null ? (sinkStats.window.firstAt - t0) / 1000 : NaN;
  if (endAt !== undefined) log(`end-to-end: ${fmtInt(N)} recipients in ${e2eSeconds.toFixed(1)} s (first mail after ${firstSeconds.toFixed(2)} s)`);

  // ---- completeness: every recipient in a final status ----
  let status: { finishCount: number; requestCount: number; countsByStatus: { status: { code: string }; count: number }[] } = {
    finishCount: NaN,
    requestCount: N,
    countsByStatus: [],
  };
  const tStatus = performance.now();
  try {
    for (;;) {
      const res = await api('GET', `/api/v1/mails/requests/${requestId}/status`);
      if (res.status !== 200) throw new Error(`GET status answered ${res.status}: ${JSON.stringify(res.json)}`);
      status = res.json;
      if (status.finishCount === status.requestCount) break;
      if (performance.now() - tStatus > (endAt !== undefined ? 120_000 : 10_000)) break;
      await sleep(500);
    }
  } catch (err) {
    failures.push(`request status: ${(err as Error).message}`);
  }
  const finalAfter = (performance.now() - tStatus) / 1000;
  const dbLine = `database work per mail (POST to final status): ${dbWorkLine(db0, await dbWorkSnap(service.databaseUrl, queries.file), N)}`;
  const apiCounts = status.countsByStatus.map((c) => `${c.status.code} ${fmtInt(c.count)}`).join(', ');
  const dbBig = await countRecipients(service.databaseUrl, [requestId]);
  const dbSmall = await countRecipients(service.databaseUrl, smallIds);
  const notFinal = (c: Record<string, number> | string) =>
    typeof c === 'string' ? NaN : Object.entries(c).reduce((sum, [k, v]) => sum + (FINAL.has(k) ? 0 : v), 0);
  if (status.finishCount !== status.requestCount) failures.push(`request ${requestId}: ${status.requestCount - status.finishCount} mails not final (API)`);
  if (notFinal(dbBig) > 0) failures.push(`request ${requestId}: ${notFinal(dbBig)} recipients not final in the database`);
  if (notFinal(dbSmall) > 0) failures.push(`1-recipient requests: ${notFinal(dbSmall)} recipients not final in the database`);
  if (sinkStats.window.unique < N) failures.push(`the sink received ${fmtInt(sinkStats.window.unique)} of ${fmtInt(N)} recipients`);

  // ---- stop the service ----
  const hwm = service.hwm();
  const stop = await service.stop();
  log(`service stopped in ${(stop.ms / 1000).toFixed(1)} s${stop.clean ? '' : ' (not cleanly)'}`);
  const profileLines = profDir ? profileSummary(profDir) : [];

  // ---- baseline: plain nodemailer against the same sink ----
  const skipBaseline = process.env.BENCH_SKIP_BASELINE === '1';
  if (!skipBaseline) log(`baseline: plain nodemailer pool, ${CONNECTIONS} connections, ${fmtInt(N)} messages`);
  if (!skipBaseline) await waitQuiet(log, 'baseline', undefined, sink, QUIET_WAIT_MS);
  const bcpu0 = cpuSnap(undefined, sink);
  const base = skipBaseline
    ? { seconds: NaN, clientSeconds: NaN, failed: 0, cpu: NaN }
    : await baseline({ cleanups, log, sink, n: N, connections: CONNECTIONS, timeoutMs: TIMEOUT_MS });
  const bcpu1 = cpuSnap(undefined, sink);
  if (!skipBaseline) log(`baseline: ${fmtInt(N / base.seconds)} mails/s (${base.seconds.toFixed(1)} s)`);
  const sinkAfter = await sink.stats();

  // ---- summary ----
  const mailsPerSec = N / e2eSeconds;
  const perMail = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? 'n/a' : `${(((y - x) * 1000) / N).toFixed(2)} s`);
  // service + Postgres CPU per mail against plain nodemailer's own (the issue's "≤ 2 ×")
  const ownCpu = (cpu1.service?.all ?? NaN) - (cpu0.service?.all ?? NaN) + ((cpu1.pg ?? NaN) - (cpu0.pg ?? NaN));
  const cpuRatio = ownCpu / base.cpu;
  const basePerSec = N / base.seconds;
  const ratio = mailsPerSec / basePerSec;
  const p = (q: number) => percentile(latencies, q).toFixed(1);
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const lines = [
    '',
    `send benchmark (${fmtInt(N)} individual recipients, ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs, node ${process.version}, service at ${rev})`,
    `  POST ${fmtInt(N)} recipients:      ${(postMs / 1000).toFixed(2)} s   (target <= 1.5 s: ${mark(postMs <= 1500)})`,
    `  POST 1 recipient p50/p95/p99:   ${p(0.5)} / ${p(0.95)} / ${p(0.99)} ms, max ${p(1)} ms (${latencies.length} POSTs after ${WARMUP_POSTS} untimed; target p95 <= 10 ms: ${mark(percentile(latencies, 0.95) <= 10)})`,
    `    ${smallCpuLine}`,
    `    ${smallDbLine}`,
    `  end-to-end:                     ${Number.isFinite(mailsPerSec) ? fmtInt(mailsPerSec) : 'n/a'} mails/s (${e2eSeconds.toFixed(1)} s; first mail at ${firstSeconds.toFixed(2)} s)`,
    skipBaseline
      ? `  plain nodemailer baseline:      skipped (BENCH_SKIP_BASELINE=1)`
      : `  plain nodemailer baseline:      ${fmtInt(basePerSec)} mails/s (${base.seconds.toFixed(1)} s; bench process CPU ${fmtPct(base.cpu / base.clientSeconds)}, sink ${fmtPct(((bcpu1.sink?.all ?? NaN) - (bcpu0.sink?.all ?? NaN)) / ((bcpu1.at - bcpu0.at) / 1000))}, other processes ${fmtPct(othersShare(bcpu0, bcpu1))}${base.failed ? `; ${base.failed} FAILED` : ''})`,
    skipBaseline
      ? `  ratio service/baseline:         n/a`
      : `  ratio service/baseline:         ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'}  (target >= 0.9: ${mark(ratio >= 0.9)})`,
    `  service peak RSS:               ${fmtMB(service.peak())} sampled every 100 ms, VmHWM ${fmtMB(hwm)} (target <= 300 MB: ${mark(Math.max(service.peak(), hwm) <= 300 * 1024 * 1024)})`,
    service.postmasterPid
      ? `  postgres private memory peak:   ${fmtMB(service.peakPgAnon())} (RssAnon summed over its processes; not part of the target)`
      : `  postgres:                       external (BENCH_DATABASE_URL)${service.pgPid ? `, its CPU counted from postmaster ${service.pgPid}'s processes (all its work, this benchmark's or not)` : ', not on this machine: its CPU is not counted'}`,
    `  recipients final:               ${fmtInt(status.finishCount)}/${fmtInt(status.requestCount)} (API: ${apiCounts}; ${finalAfter.toFixed(1)} s after the last mail)`,
    `    database, big request:        ${typeof dbBig === 'string' ? dbBig : fmtCounts(dbBig)}`,
    `    database, ${smallIds.length} 1-recipient:    ${typeof dbSmall === 'string' ? dbSmall : fmtCounts(dbSmall)}`,
    `  sink: ${fmtInt(sinkStats.window.unique)} unique recipients, ${fmtInt(sinkStats.window.duplicates)} duplicates in the service run; ${fmtInt(sinkAfter.count)} messages, ${(sinkAfter.bytes / 1024 / 1024).toFixed(0)} MB in all; ${sinkAfter.connections} connections, ${sinkAfter.errors} errors`,
    ...cpuLines(cpu0, cpu1),
    `  CPU seconds per 1,000 mails: service ${perMail(cpu0.service?.all, cpu1.service?.all)}, postgres ${perMail(cpu0.pg, cpu1.pg)}, sink ${perMail(cpu0.sink?.all, cpu1.sink?.all)}; ` +
      (skipBaseline
        ? 'baseline skipped'
        : `baseline: nodemailer ${((base.cpu * 1000) / N).toFixed(2)} s, sink ${perMail(bcpu0.sink?.all, bcpu1.sink?.all)}; service + postgres = ${Number.isFinite(cpuRatio) ? cpuRatio.toFixed(2) : 'n/a'} x nodemailer (target <= 2: ${mark(cpuRatio <= 2)})`),
    `  ${dbLine}`,
    `  service stop: ${(stop.ms / 1000).toFixed(1)} s${stop.clean ? '' : ' (NOT clean)'}`,
  ];
  if (midSnaps.length) lines.push('  top, mid-run:', ...midSnaps.map((l) => '    ' + l));
  if (profileLines.length) lines.push('  service CPU profile:', ...profileLines.map((l) => '  ' + l));
  return printSummary(lines, failures);
}

await runMain(main, cleanups, log);

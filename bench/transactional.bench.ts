// npm run bench:transactional: many small requests, as backend services send them.
//
// The service runs as in production (`node src/main.ts`, ROLE=all, its embedded PostgreSQL or
// BENCH_DATABASE_URL) and delivers to the SMTP sink in another process (bench/sink-process.ts).
// 1-recipient signed POST /mails go out open-loop at a steady rate (each at its time, whatever
// the answers before it); the sink notes when it first saw each recipient. Printed:
//   - at 200/s for 30 s: end-to-end (POST sent -> sink received) p50/p95, how long after the
//     last POST the last mail arrived, POST latency p99;
//   - a ladder of steady rates (each BENCH_STEP_S s): the highest one whose end-to-end p95
//     stays <= 1 s;
//   - the same, same run, same sink and connection count, for plain nodemailer sending the same
//     messages at the same times (the baseline), and the ratios.
// The machine is shared: the load average and the CPU other processes used are printed with
// every phase.
//
// Environment:
//   BENCH_RATE            the main phase's rate (default 200 per second)
//   BENCH_SECONDS         the main phase's length (default 30)
//   BENCH_STEPS           the ladder (default 300,400,500,700)
//   BENCH_STEP_S          each step's length (default 15)
//   BENCH_CONNECTIONS     SMTP connections, service and baseline alike (default 4)
//   BENCH_DATABASE_URL    run the service against this PostgreSQL instead of its embedded one
//   BENCH_LOG_LEVEL       the service's LOG_LEVEL (default warn)
//   BENCH_SKIP_BASELINE=1 skip the plain nodemailer baseline
//   BENCH_CPU_PROF=1      run the service with --cpu-prof and print its top self-time functions
// Exit status: 1 when mails are lost or the run could not be carried out; missed targets are
// reported, not failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { htmlToText } from '../src/modules/delivery/request-context.ts';
import { benchLog, fmtInt, fmtPct, intEnv, machineCpu, percentile, processCpu, printSummary, profileSummary, sleep, treeCpu, wallNow } from './helpers.ts';
import {
  baselineTransport,
  createCleanups,
  randomApiKey,
  runMain,
  signedCall,
  startServiceProcess,
  startSinkProcess,
  type ServiceProcess,
  type SinkProcess,
} from './send-run.ts';

const RATE = intEnv('BENCH_RATE', 200);
const SECONDS = intEnv('BENCH_SECONDS', 30);
const STEPS = (process.env.BENCH_STEPS ?? '300,400,500,700')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const STEP_S = intEnv('BENCH_STEP_S', 15);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
/** after the last send, how long the last mails may take before the phase counts them lost */
const DRAIN_MS = 60_000;
const P95_TARGET_MS = 1_000;

const KEY = randomApiKey();
const log = benchLog('transactional');
const cleanups = createCleanups(log);

const SENDER = { address: 'no_reply@company.com', name: 'Bench Shop' };
const TITLE = 'Your sign-in code is ${CODE}';
const BODY = `<html><body style="font-family:Arial,sans-serif"><p>Hello #{RECIPIENT_NAME},</p>
<p>Your sign-in code is <strong>\${CODE}</strong>. It expires in 10 minutes.</p>
<p>If you did not try to sign in, you can ignore this mail.</p><p>Bench Shop</p></body></html>`;

const codeOf = (i: number) => String(100_000 + ((i * 7919) % 900_000));
const nameOf = (i: number) => `User ${i}`;

// ---------- sending at a steady rate ----------

interface Sent {
  address: string;
  /** wall-clock ms when the request (POST or sendMail) was made */
  at: number;
  /** the POST's answer time (ms), for the service */
  ms?: number;
  ok: boolean;
}

/** Calls `send(i)` at t0 + i / rate for `seconds`, without waiting for earlier calls; resolves when all have answered. */
async function atRate(rate: number, seconds: number, send: (i: number) => Promise<Sent>): Promise<Sent[]> {
  const n = rate * seconds;
  const pending: Promise<Sent>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(send(i));
  }
  return Promise.all(pending);
}

interface PhaseResult {
  label: string;
  rate: number;
  seconds: number;
  sent: number;
  delivered: number;
  failedSends: number;
  p50: number;
  p95: number;
  max: number;
  /** the last mail's arrival after the last send (ms) */
  tail: number;
  postP99?: number;
  /** CPU ms per delivered mail of the sender under test: the service and its PostgreSQL, or the bench process for the baseline */
  cpuPerMail: number;
  /** of cpuPerMail: the service's Node process alone, and its PostgreSQL (postmaster and backends) */
  nodeCpuPerMail?: number;
  pgCpuPerMail?: number;
  load: string;
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** CPU over a phase: of processes outside this benchmark (cores), ours (cores), and the sender's (seconds). */
function cpuMeter(service: ServiceProcess | undefined, sink: SinkProcess) {
  const snap = () => {
    const b = process.cpuUsage();
    const bench = (b.user + b.system) / 1e6;
    // The embedded postmaster is the service's child: treeCpu(service) counts it, treeCpu(postmaster) its backends.
    const node = service ? (processCpu(service.pid)?.all ?? 0) : bench;
    const pg = service?.pgPid ? (treeCpu(service.pgPid) ?? 0) : 0;
    const sender = service ? (treeCpu(service.pid) ?? 0) + pg : bench;
    const ours = (service ? bench + sender : bench) + (treeCpu(sink.pid) ?? 0);
    return { at: performance.now(), ours, sender, node, pg, machine: machineCpu().busy };
  };
  const a = snap();
  return () => {
    const b = snap();
    const wall = (b.at - a.at) / 1000;
    return {
      others: Math.max(0, (b.machine - a.machine - (b.ours - a.ours)) / wall),
      ours: (b.ours - a.ours) / wall,
      sender: b.sender - a.sender,
      node: b.node - a.node,
      pg: b.pg - a.pg,
    };
  };
}

async function phase(
  label: string,
  prefix: string,
  rate: number,
  seconds: number,
  sink: SinkProcess,
  service: ServiceProcess | undefined,
  send: (i: number, address: string) => Promise<Sent>,
): Promise<PhaseResult> {
  const n = rate * seconds;
  const loadBefore = loadavg();
  await sink.mark();
  const reached = sink.watch(n);
  let all = false;
  reached.then(() => (all = true)).catch(() => undefined);
  const cpu = cpuMeter(service, sink);
  log(`${label}: ${rate}/s for ${seconds} s (load average ${loadBefore})`);
  const sent = await atRate(rate, seconds, (i) => send(i, `${prefix}-${i}@example.com`));
  const lastSend = Math.max(...sent.map((s) => s.at));
  const deadline = Date.now() + DRAIN_MS;
  while (!all && Date.now() < deadline) await sleep(100);
  const usage = cpu();
  const times = await sink.times();
  const latencies: number[] = [];
  let lastAt = 0;
  for (const s of sent) {
    const at = times.get(s.address);
    if (at === undefined) continue;
    latencies.push(at - s.at);
    lastAt = Math.max(lastAt, at);
  }
  latencies.sort((a, b) => a - b);
  const posts = sent
    .filter((s) => s.ms !== undefined)
    .map((s) => s.ms!)
    .sort((a, b) => a - b);
  const result: PhaseResult = {
    label,
    rate,
    seconds,
    sent: n,
    delivered: latencies.length,
    failedSends: sent.filter((s) => !s.ok).length,
    p50: percentile(latencies, 0.5),
    p95: latencies.length === n ? percentile(latencies, 0.95) : Infinity,
    max: latencies.length ? latencies[latencies.length - 1]! : NaN,
    tail: lastAt - lastSend,
    postP99: posts.length ? percentile(posts, 0.99) : undefined,
    cpuPerMail: (usage.sender * 1000) / Math.max(1, latencies.length),
    ...(service
      ? { nodeCpuPerMail: (usage.node * 1000) / Math.max(1, latencies.length), pgCpuPerMail: (usage.pg * 1000) / Math.max(1, latencies.length) }
      : {}),
    load: `load average ${loadBefore} -> ${loadavg()}; this benchmark's processes ${fmtPct(usage.ours)} of a core, others ${fmtPct(usage.others)}`,
  };
  log(`${label}: ${describe(result)}`);
  return result;
}

function describe(r: PhaseResult): string {
  return (
    `${r.rate}/s x ${r.seconds} s: ${fmtInt(r.delivered)}/${fmtInt(r.sent)} delivered${r.failedSends ? ` (${r.failedSends} sends FAILED)` : ''}; ` +
    `end-to-end p50 ${r.p50.toFixed(0)} ms, p95 ${Number.isFinite(r.p95) ? r.p95.toFixed(0) : 'n/a'} ms, max ${r.max.toFixed(0)} ms; ` +
    `last mail ${(r.tail / 1000).toFixed(2)} s after the last send` +
    (r.postP99 !== undefined ? `; POST p99 ${r.postP99.toFixed(1)} ms` : '') +
    `; CPU ${r.cpuPerMail.toFixed(2)} ms a mail` +
    (r.nodeCpuPerMail !== undefined ? ` (service ${r.nodeCpuPerMail.toFixed(2)}, PostgreSQL ${r.pgCpuPerMail!.toFixed(2)})` : '')
  );
}

// ---------- the two senders ----------

function serviceSender(service: ServiceProcess) {
  return async (i: number, address: string): Promise<Sent> => {
    const body = JSON.stringify({
      senderAddress: SENDER.address,
      senderName: SENDER.name,
      title: TITLE,
      body: BODY,
      individual: true,
      recipients: [{ address, name: nameOf(i), type: 'R', parameters: { CODE: codeOf(i) } }],
    });
    const at = wallNow();
    try {
      const res = await signedCall(service.baseUrl, KEY, 'POST', '/api/v1/mails', body, 30_000);
      if (res.status !== 201) log(`POST answered ${res.status}: ${JSON.stringify(res.json).slice(0, 200)}`);
      return { address, at, ms: res.ms, ok: res.status === 201 };
    } catch (err) {
      log(`POST failed: ${(err as Error).message}`);
      return { address, at, ok: false };
    }
  };
}

function baselineSender(sink: SinkProcess) {
  const text = htmlToText(BODY);
  const transport = baselineTransport(cleanups, sink.port, CONNECTIONS);
  const fill = (s: string, i: number) => s.replaceAll('${CODE}', codeOf(i)).replaceAll('#{RECIPIENT_NAME}', nameOf(i));
  return async (i: number, address: string): Promise<Sent> => {
    const at = wallNow();
    try {
      await transport.sendMail({
        from: { name: SENDER.name, address: SENDER.address },
        to: [{ name: nameOf(i), address }],
        subject: fill(TITLE, i),
        html: fill(BODY, i),
        text: fill(text, i),
      });
      return { address, at, ok: true };
    } catch (err) {
      log(`baseline sendMail failed: ${(err as Error).message}`);
      return { address, at, ok: false };
    }
  };
}

/** Steps up the ladder while p95 stays within the target; the results of every step tried. */
async function ladder(
  label: string,
  prefix: string,
  sink: SinkProcess,
  service: ServiceProcess | undefined,
  send: (i: number, address: string) => Promise<Sent>,
): Promise<PhaseResult[]> {
  const out: PhaseResult[] = [];
  for (const rate of STEPS) {
    const r = await phase(`${label} step`, `${prefix}${rate}`, rate, STEP_S, sink, service, send);
    out.push(r);
    if (!(r.p95 <= P95_TARGET_MS)) break;
    await sleep(2_000);
  }
  return out;
}

const best = (steps: PhaseResult[], main: PhaseResult) =>
  Math.max(main.p95 <= P95_TARGET_MS ? main.rate : 0, ...steps.filter((s) => s.p95 <= P95_TARGET_MS).map((s) => s.rate));

// ---------- main ----------

async function main(): Promise<number> {
  const failures: string[] = [];
  log(
    `transactional benchmark: ${RATE}/s for ${SECONDS} s, ladder ${STEPS.join(', ')} (${STEP_S} s each), ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs`,
  );
  const sink = await startSinkProcess(cleanups);
  const profDir = process.env.BENCH_CPU_PROF === '1' ? fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-bench-prof-')) : undefined;
  const service = await startServiceProcess(cleanups, {
    log,
    smtpPort: sink.port,
    connections: CONNECTIONS,
    key: KEY,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    env: { ROLE: 'all', ...(profDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` } : {}) },
  });
  log(`service pid ${service.pid} on ${service.baseUrl}`);
  const toService = serviceSender(service);
  // Warm-up: connections, the compiled paths, the database's caches.
  await phase('warm-up', 'warm', 50, 4, sink, service, toService);

  const main = await phase('service', 'svc', RATE, SECONDS, sink, service, toService);
  await sleep(2_000);
  const steps = await ladder('service', 'svc', sink, service, toService);
  const stop = await service.stop();
  if (!stop.clean) failures.push('the service did not stop cleanly');
  const profileLines = profDir ? profileSummary(profDir) : [];

  let base: PhaseResult | undefined;
  let baseSteps: PhaseResult[] = [];
  if (process.env.BENCH_SKIP_BASELINE !== '1') {
    const toSink = baselineSender(sink);
    await phase('baseline warm-up', 'bwarm', 50, 2, sink, undefined, toSink);
    base = await phase('baseline', 'base', RATE, SECONDS, sink, undefined, toSink);
    baseSteps = await ladder('baseline', 'base', sink, undefined, toSink);
  }

  for (const r of [main, ...steps, ...(base ? [base, ...baseSteps] : [])]) {
    if (r.delivered < r.sent)
      failures.push(`${r.label} ${r.rate}/s: ${r.sent - r.delivered} of ${r.sent} mails not delivered within ${DRAIN_MS / 1000} s of the last send`);
  }
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const serviceBest = best(steps, main);
  const lines = [
    '',
    `transactional benchmark (1-recipient POST /mails, ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs, node ${process.version})`,
    `  service at ${RATE}/s for ${SECONDS} s: ${describe(main)}`,
    `    targets: p50 <= 100 ms ${mark(main.p50 <= 100)}, p95 <= 1 s ${mark(main.p95 <= 1000)}, last mail <= 2 s after the last POST ${mark(main.tail <= 2000)}, POST p99 <= 100 ms ${mark((main.postP99 ?? Infinity) <= 100)}`,
    `    ${main.load}`,
    `  service ladder (${STEP_S} s a step):`,
    ...steps.map((s) => `    ${describe(s)}\n      ${s.load}`),
    `  highest steady rate with p95 <= 1 s: ${serviceBest ? `${serviceBest}/s` : 'none'} (goal >= 500/s: ${mark(serviceBest >= 500)}${steps.every((s) => s.p95 <= P95_TARGET_MS) ? '; the top of the ladder, the real limit is higher' : ''})`,
  ];
  if (base) {
    const baseBest = best(baseSteps, base);
    lines.push(
      `  plain nodemailer baseline at ${RATE}/s: ${describe(base)}`,
      `    ${base.load}`,
      `  baseline ladder:`,
      ...baseSteps.map((s) => `    ${describe(s)}\n      ${s.load}`),
      `  ratio service/baseline: end-to-end p50 ${(main.p50 / base.p50).toFixed(1)}x, p95 ${(main.p95 / base.p95).toFixed(1)}x the baseline's at ${RATE}/s; ` +
        `highest rate with p95 <= 1 s ${serviceBest}/s vs ${baseBest}/s (${baseBest ? (serviceBest / baseBest).toFixed(2) : 'n/a'})`,
    );
  }
  if (profileLines.length) lines.push('  service CPU profile (all phases):', ...profileLines.map((l) => '  ' + l));
  return printSummary(lines, failures);
}

await runMain(main, cleanups, log);

// npm run bench:large-posts: the service's peak RSS under concurrent large POST /mails.
//
// Each body is 100,000 individual recipients × 18 parameters (about 63.6 MB, within
// MAX_BODY_BYTES). The service (`node src/main.ts`, embedded Postgres, the same node options as
// `npm start`) is measured twice in one run:
//   baseline   one large POST alone, until its recipients are stored (status leaves P);
//   concurrent BENCH_CONCURRENT (default 2) large POSTs sent at once, until every admitted one is stored.
// The requests wait for confirmation (confirmAndSend), so the figure is what admitting, parsing
// and storing large bodies costs, not delivery. Answers other than 201 must be 429/503 with
// Retry-After (the large-body budget refused them); anything else, or a crash, fails the run.
//
// Environment:
//   BENCH_CONCURRENT     concurrent large POSTs (default 2)
//   BENCH_RECIPIENTS     recipients per body (default 100000)
//   BENCH_DATABASE_URL   run the service against this PostgreSQL instead of an embedded one
//   BENCH_LOG_LEVEL      the service's LOG_LEVEL (default warn)
// Target (issue 11): peak RSS ≤ 400 MB with two concurrent 64 MB POSTs. Exit status 1 when the
// service dies, a POST gets an unexpected answer, or the target is missed.
import pg from 'pg';
import { benchLog, fmtInt, fmtMB, intEnv, printSummary, sleep } from './helpers.ts';
import { createCleanups, randomApiKey, runMain, signedHeaders, startServiceProcess, type ApiKey } from './send-run.ts';

const log = benchLog('large-posts');
const cleanups = createCleanups(log);
const TARGET_RSS = 400 * 1024 * 1024;

function largeBody(recipients: number, tag: string): string {
  const value = (i: number, p: number) => `v${p}-${tag}-${String(i).padStart(6, '0')}-abcdefg`;
  const parts: string[] = [];
  for (let i = 0; i < recipients; i++) {
    const params: string[] = [];
    for (let p = 1; p <= 18; p++) params.push(`"P${String(p).padStart(2, '0')}":"${value(i, p)}"`);
    parts.push(`{"address":"user${i}.${tag}@example.com","name":"Recipient ${i}","type":"R","parameters":{${params.join(',')}}}`);
  }
  return `{"senderAddress":"bench@example.com","title":"Hello \${P01}","body":"<p>\${P02} \${P03}</p>","confirmAndSend":true,"recipients":[${parts.join(',')}]}`;
}

async function main(): Promise<number> {
  const concurrent = intEnv('BENCH_CONCURRENT', 2);
  const recipients = intEnv('BENCH_RECIPIENTS', 100_000);
  const key = randomApiKey();
  const service = await startServiceProcess(cleanups, { log, key, databaseUrl: process.env.BENCH_DATABASE_URL });
  const db = new pg.Client({ connectionString: service.databaseUrl });
  await db.connect();
  cleanups.add(() => db.end(), 'db client');

  const bodies = Array.from({ length: concurrent }, (_, i) => largeBody(recipients, `c${i}`));
  const baselineBody = largeBody(recipients, 'base');
  log(`body size ${fmtMB(Buffer.byteLength(baselineBody))} (${fmtInt(Buffer.byteLength(baselineBody))} bytes)`);

  const waitStored = async (requestIds: string[]) => {
    const deadline = Date.now() + 600_000;
    for (;;) {
      if (!service.alive()) throw new Error(`the service died:\n${service.outputTail()}`);
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM mail_requests WHERE status = 'P'`);
      if (Number(rows[0]!.n) === 0) return;
      if (Date.now() > deadline) throw new Error(`requests ${requestIds.join(', ')} still in P after 600 s`);
      await sleep(200);
    }
  };
  const failures: string[] = [];

  // Baseline: one alone.
  await sleep(1000);
  service.resetPeak();
  const t0 = performance.now();
  const base = await postLarge(service.baseUrl, key, baselineBody);
  if (base.status !== 201) throw new Error(`baseline POST answered ${base.status}: ${base.text.slice(0, 300)}`);
  await waitStored([base.requestId!]);
  const baseSeconds = (performance.now() - t0) / 1000;
  const basePeak = service.peak();
  log(`baseline: 1 POST, 201 in ${(base.ms / 1000).toFixed(1)} s, stored in ${baseSeconds.toFixed(1)} s, peak RSS ${fmtMB(basePeak)}`);

  // Concurrent.
  await sleep(1000);
  service.resetPeak();
  const t1 = performance.now();
  const answers = await Promise.all(bodies.map((b) => postLarge(service.baseUrl, key, b)));
  const admitted = answers.filter((a) => a.status === 201).map((a) => a.requestId!);
  await waitStored(admitted);
  const seconds = (performance.now() - t1) / 1000;
  const peak = service.peak();
  for (const a of answers) {
    if (a.status === 201) continue;
    if ((a.status === 429 || a.status === 503) && a.retryAfter) continue;
    failures.push(`a concurrent POST answered ${a.status} (Retry-After ${a.retryAfter ?? 'none'}): ${a.text.slice(0, 200)}`);
  }
  if (!service.alive()) failures.push('the service died');
  if (peak > TARGET_RSS) failures.push(`peak RSS ${fmtMB(peak)} over the 400 MB target`);

  return printSummary(
    [
      `body size:               ${fmtMB(Buffer.byteLength(baselineBody))} each (${fmtInt(recipients)} recipients × 18 parameters)`,
      `baseline (1 POST):       peak RSS ${fmtMB(basePeak)}, stored in ${baseSeconds.toFixed(1)} s`,
      `${concurrent} concurrent POSTs:     peak RSS ${fmtMB(peak)}, all answered and stored in ${seconds.toFixed(1)} s`,
      `answers:                 ${answers.map((a) => `${a.status}${a.retryAfter ? ` (Retry-After ${a.retryAfter})` : ''} in ${(a.ms / 1000).toFixed(1)} s`).join(', ')}`,
      `ratio to baseline:       ${(peak / basePeak).toFixed(2)}× peak RSS (target: ≤ 400 MB absolute)`,
    ],
    failures,
  );
}

/** A signed POST /mails that also reports Retry-After (signedCall drops headers). */
async function postLarge(baseUrl: string, key: ApiKey, body: string) {
  const target = '/api/v1/mails';
  const headers = { ...signedHeaders(key, 'POST', target), 'content-type': 'application/json' };
  const t = performance.now();
  try {
    const res = await fetch(baseUrl + target, { method: 'POST', headers, body, signal: AbortSignal.timeout(600_000) });
    const text = await res.text();
    let requestId: string | undefined;
    try {
      requestId = JSON.parse(text).requestId;
    } catch {
      requestId = undefined;
    }
    return { status: res.status, retryAfter: res.headers.get('retry-after'), text, requestId, ms: performance.now() - t };
  } catch (err) {
    return { status: 0, retryAfter: null, text: (err as Error).message, requestId: undefined, ms: performance.now() - t };
  }
}

await runMain(main, cleanups, log);

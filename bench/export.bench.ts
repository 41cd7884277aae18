// The export benchmark: an .xlsx of the recipient view with N rows (createExport → job →
// downloadExport).
//
// N sent recipients are written straight into the tables (test/helpers/seed-rows.ts, SQL
// generate_series), the service runs as `node src/main.ts` in its own process (embedded
// Postgres), and one export of the recipient view without filters is requested and polled until
// it completes. Prints the time from POST to completed, rows/s, the service's peak RSS (sampled
// every 100 ms, and VmHWM), the file size, and - same run, same database - the baseline: reading
// the same rows through the view's iterator (iterateViewRows) in this process without writing
// anything, and the ratio. The downloaded file is checked: its row count must be N (+ header).
// Target (issue): 1,000,000 rows in <= 60 s with service RSS <= 400 MB.
//
// Environment:
//   BENCH_EXPORT_ROWS     recipient rows (default 1000000; e.g. 100000 for a quick check)
//   BENCH_DATABASE_URL    run against this PostgreSQL instead of an embedded one (must be empty of mail)
//   BENCH_TIMEOUT_S       bound of the wait for the export (default 900)
//   BENCH_LOG_LEVEL       the service's LOG_LEVEL (default info: the export's progress lines show)
//   BENCH_SKIP_BASELINE=1 skip the iterator baseline (no ratio)
// Exit status: 1 when the file's row count is wrong or the run could not be carried out; missed
// targets are reported, not failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connectDb } from '../src/db/connect.ts';
import { iterateViewRows, parseViewFilters } from '../src/modules/mails/view-rows.ts';
import { seedSentHistory } from '../test/helpers/seed-rows.ts';
import { countXlsxRows } from '../test/helpers/xlsx-sheet.ts';
import { benchLog, fmtInt, fmtMB, intEnv, machineCpu, processCpu, readMemory, sleep } from './helpers.ts';
import { createCleanups, randomApiKey, runMain, signedCall, signedHeaders, startServiceProcess } from './send-run.ts';

const N = intEnv('BENCH_EXPORT_ROWS', 1_000_000);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const TIME_TARGET_S = 60;
const RSS_TARGET = 400 * 1024 * 1024;
const TZ = 'Asia/Seoul';

const KEY = randomApiKey();
const log = benchLog('export-bench');
const cleanups = createCleanups(log);
let measuring = true;

const startService = () =>
  startServiceProcess(cleanups, {
    log,
    key: KEY,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    logLevel: 'info',
    env: { DISPLAY_TIMEZONE: TZ },
    dataDirPrefix: 'mailer-export-bench-',
    // the export's own lines (started, progress, completed) and anything that is not info, while measuring
    echo: (line) => (measuring && /"msg":"export |"level":(40|50|60)/.test(line) ? line : undefined),
  });

const api = (baseUrl: string, method: string, target: string, body?: unknown) =>
  signedCall(baseUrl, KEY, method, target, body === undefined ? undefined : JSON.stringify(body), 60_000);

async function main(): Promise<number> {
  log(`export benchmark: ${fmtInt(N)} recipient rows, ${os.cpus().length} CPUs, node ${process.version}`);
  const service = await startService();
  cleanups.add(() => {
    measuring = false;
  }); // runs before the service is stopped: its shutdown lines are noise
  log(`service ready (pid ${service.pid}), RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`);
  const handle = connectDb(service.databaseUrl, { max: 2 });
  cleanups.add(() => handle.close(), 'database handle');
  const { rows } = await handle.pool.query<{ project_id: string }>('SELECT project_id::text FROM access_keys WHERE access_key = $1', [KEY.accessKey]);
  const projectId = rows[0]!.project_id;

  let t = performance.now();
  await seedSentHistory(handle.pool, { projectId, recipients: N, perRequest: 10_000, timeZone: TZ });
  log(`seeded ${fmtInt(N)} sent recipients in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  service.resetPeak();
  const cpu0 = processCpu(service.pid)?.all ?? 0;
  const machine0 = machineCpu();
  t = performance.now();
  const post = await api(service.baseUrl, 'POST', '/api/v1/exports', { view: 'recipients' });
  if (post.status !== 202) throw new Error(`POST /exports answered ${post.status}: ${JSON.stringify(post.json)}`);
  const exportId: string = post.json.exportId;
  let done: any;
  let lastLog = performance.now();
  while (!done) {
    await sleep(250);
    if (!service.alive()) throw new Error('the service exited during the export');
    if (performance.now() - t > TIMEOUT_MS) throw new Error(`the export did not finish within ${TIMEOUT_MS / 1000} s`);
    const list = await api(service.baseUrl, 'GET', '/api/v1/exports?size=1');
    const e = list.json?.content?.find((x: { exportId: string }) => x.exportId === exportId);
    if (e && ['C', 'F', 'E'].includes(e.status.code)) done = e;
    if (!done && performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(
        `export ${exportId} ${e?.status.code ?? '?'} after ${((performance.now() - t) / 1000).toFixed(0)} s, service RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`,
      );
    }
  }
  const seconds = (performance.now() - t) / 1000;
  const serviceCpu = (processCpu(service.pid)?.all ?? 0) - cpu0;
  const machine1 = machineCpu();
  const busy = (machine1.busy - machine0.busy) / Math.max(1e-9, machine1.total - machine0.total);
  const peakRss = Math.max(service.peak(), service.hwm());
  if (done.status.code !== 'C') throw new Error(`the export ended ${done.status.code}: ${done.errorMessage}`);

  // The file as a client gets it, counted while streaming.
  const file = path.join(service.dataDir, 'downloaded.xlsx');
  const target = `/api/v1/exports/${exportId}/file`;
  const res = await fetch(service.baseUrl + target, { headers: signedHeaders(KEY, 'GET', target), signal: AbortSignal.timeout(300_000) });
  if (res.status !== 200 || !res.body) throw new Error(`downloadExport answered ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), fs.createWriteStream(file));
  const size = fs.statSync(file).size;
  const counted = await countXlsxRows(file);
  const dataRows = counted.rows - counted.sheets;

  let baseline: number | undefined;
  let baselineRows = 0;
  let baselineCpu = 0;
  if (process.env.BENCH_SKIP_BASELINE !== '1') {
    const filters = parseViewFilters('recipients', {}, { timeZone: TZ, now: new Date() });
    const b0 = performance.now();
    const c0 = process.cpuUsage();
    for await (const batch of iterateViewRows(handle.db, projectId, 'recipients', filters, { lang: 'en', timeZone: TZ, batchSize: 5000 }))
      baselineRows += batch.length;
    baseline = (performance.now() - b0) / 1000;
    const c1 = process.cpuUsage(c0);
    baselineCpu = (c1.user + c1.system) / 1e6;
    log(`baseline: read ${fmtInt(baselineRows)} rows through iterateViewRows in ${baseline.toFixed(1)} s`);
  }

  const ok = dataRows === N && done.rowCount === N && size === done.fileSize && (baseline === undefined || baselineRows === N);
  const mark = (b: boolean) => (b ? 'ok' : 'MISSED');
  const lines = [
    '',
    `export benchmark (${fmtInt(N)} recipient rows, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  POST /exports -> completed:     ${seconds.toFixed(1)} s, ${fmtInt(N / seconds)} rows/s (target <= ${TIME_TARGET_S} s for 1,000,000: ${mark((seconds * 1_000_000) / N <= TIME_TARGET_S)})`,
    `  service CPU for the export:     ${serviceCpu.toFixed(1)} s (machine ${Math.round(busy * 100)}% busy meanwhile, all processes)`,
    `  service peak RSS:               ${fmtMB(peakRss)} sampled every 100 ms and VmHWM (target <= ${fmtMB(RSS_TARGET)}: ${mark(peakRss <= RSS_TARGET)})`,
    `  file:                           ${(size / 1024 / 1024).toFixed(1)} MB, ${fmtInt(dataRows)} data rows on ${counted.sheets} sheet(s) (${dataRows === N ? 'ok' : `WRONG, expected ${fmtInt(N)}`})`,
    baseline === undefined
      ? '  baseline:                       skipped'
      : `  baseline (iterateViewRows only): ${baseline.toFixed(1)} s, ${fmtInt(baselineRows / baseline)} rows/s, ${baselineCpu.toFixed(1)} s CPU; export / baseline time: ${(seconds / baseline).toFixed(2)}x, CPU: ${(serviceCpu / Math.max(baselineCpu, 0.001)).toFixed(2)}x`,
  ];
  if (!ok)
    lines.push(
      `  CHECK FAILED: file rows ${dataRows}, listed rowCount ${done.rowCount}, size ${size} vs listed ${done.fileSize}, baseline rows ${baselineRows}`,
    );
  process.stdout.write(lines.join('\n') + '\n');
  return ok ? 0 : 1;
}

await runMain(main, cleanups, log);

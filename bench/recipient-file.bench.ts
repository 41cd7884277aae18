// The recipient-file benchmark: a 100,000-row .xlsx (address, name, tags; written with the
// project's XlsxWriter) uploaded with POST /recipient-files to the service running as
// `node src/main.ts` in its own process (embedded Postgres), against the same rows as a .csv
// uploaded in the same run (the baseline: same rows, same checks and inserts, no zip or XML).
// Prints, for both, the seconds from the start of the upload to the 201 (streaming to disk,
// parsing, validating, inserting), the service's CPU seconds (its own process; Postgres not
// included: a figure that a busy machine does not inflate) and peak RSS meanwhile, and the ratio.
// Target (issue): the .xlsx in <= 5 s with peak RSS <= 400 MB.
//
// Every 1,000th row repeats an earlier address (a duplicate) and every 5,000th has a bad one,
// so the answer's counts and error rows are checked too.
//
// Environment:
//   BENCH_ROWS        data rows (default 100000; at most 100,000 are accepted by the service)
//   BENCH_TAGS        tag columns (default 3)
//   BENCH_LOG_LEVEL   the service's LOG_LEVEL (default warn)
// Exit status: 1 when an answer is wrong or the run could not be carried out; a missed target
// is reported, not failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XlsxWriter } from '../src/shared/xlsx/xlsx-writer.ts';
import { benchLog, fmtInt, fmtMB, intEnv, processCpu, readMemory } from './helpers.ts';
import { createCleanups, randomApiKey, runMain, signedCall, startServiceProcess, tempDir, type ServiceProcess } from './send-run.ts';

const ROWS = intEnv('BENCH_ROWS', 100_000);
const TAGS = intEnv('BENCH_TAGS', 3, 0);
const SECONDS_TARGET = 5;
const RSS_TARGET = 400 * 1024 * 1024;

const KEY = randomApiKey();
const log = benchLog('recipient-file-bench');
const cleanups = createCleanups(log);

// ---------- the rows ----------

const tagNames = Array.from({ length: TAGS }, (_, i) => `TAG${i + 1}`);

/** Row i (0-based data row): its cells, and whether it is a duplicate or has a bad address. */
function dataRow(i: number): { cells: string[]; kind: 'ok' | 'duplicate' | 'bad' } {
  const kind = i > 0 && i % 5000 === 4999 ? 'bad' : i > 0 && i % 1000 === 999 ? 'duplicate' : 'ok';
  const address = kind === 'bad' ? `not-an-address-${i}` : kind === 'duplicate' ? `User${i - 500}@Example.com` : `user${i}@example.com`;
  return { cells: [address, `사용자 ${i}`, ...tagNames.map((_, t) => `value ${t}-${i % 97}`)], kind };
}

async function writeFiles(dir: string) {
  const xlsx = path.join(dir, 'recipients.xlsx');
  const csv = path.join(dir, 'recipients.csv');
  const out = fs.createWriteStream(xlsx);
  const writer = new XlsxWriter(out, { headerRow: ['address', 'name', ...tagNames] });
  const csvOut = fs.createWriteStream(csv);
  csvOut.write(`\uFEFF${['address', 'name', ...tagNames].join(',')}\r\n`);
  let valid = 0;
  const errorRows: number[] = [];
  for (let i = 0; i < ROWS; i++) {
    const { cells, kind } = dataRow(i);
    await writer.addRow(cells);
    if (!csvOut.write(`${cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',')}\r\n`))
      await new Promise((r) => csvOut.once('drain', r));
    if (kind === 'ok') valid++;
    else errorRows.push(i + 2); // header = row 1
  }
  await writer.finish();
  await new Promise<void>((resolve) => csvOut.end(resolve));
  return { xlsx, csv, valid, errorRows };
}

// ---------- the service ----------

const startService = () => startServiceProcess(cleanups, { log, key: KEY, dataDirPrefix: 'mailer-recipient-file-bench-', sampleMs: 50 });

async function upload(service: ServiceProcess, file: string, name: string) {
  const form = new FormData();
  form.append('file', await fs.openAsBlob(file), name);
  const target = '/api/v1/recipient-files';
  service.resetPeak();
  const cpu0 = processCpu(service.pid)?.all ?? 0;
  const t0 = performance.now();
  const res = await signedCall(service.baseUrl, KEY, 'POST', target, form);
  const body = res.json as { rowCount: number; validCount: number; errors: { row: number; reason: string }[] };
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (processCpu(service.pid)?.all ?? 0) - cpu0;
  if (res.status !== 201) throw new Error(`POST ${target} (${name}) answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
  return { seconds, cpu, peakRss: service.peak(), body };
}

async function main(): Promise<number> {
  const dir = tempDir(cleanups, 'recipient-file-bench-files-');
  const t = performance.now();
  const files = await writeFiles(dir);
  const size = (f: string) => fs.statSync(f).size;
  log(
    `wrote ${fmtInt(ROWS)} rows with ${TAGS} tags in ${((performance.now() - t) / 1000).toFixed(1)} s: .xlsx ${(size(files.xlsx) / 1024 / 1024).toFixed(1)} MB, .csv ${(size(files.csv) / 1024 / 1024).toFixed(1)} MB`,
  );
  const service = await startService();
  log(`service ready (pid ${service.pid}), RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`);

  // Warm-up (JIT, connections): a small file of the same shape.
  const warm = path.join(dir, 'warm.csv');
  fs.writeFileSync(warm, fs.readFileSync(files.csv, 'utf8').split('\r\n').slice(0, 1001).join('\r\n'));
  await upload(service, warm, 'warm.csv');

  const csv = await upload(service, files.csv, 'recipients.csv');
  log(`.csv: ${csv.seconds.toFixed(2)} s (service CPU ${csv.cpu.toFixed(2)} s), peak RSS ${fmtMB(csv.peakRss)}`);
  const xlsx = await upload(service, files.xlsx, 'recipients.xlsx');
  log(`.xlsx: ${xlsx.seconds.toFixed(2)} s (service CPU ${xlsx.cpu.toFixed(2)} s), peak RSS ${fmtMB(xlsx.peakRss)}`);

  const wrong: string[] = [];
  for (const [name, r] of [
    ['.csv', csv],
    ['.xlsx', xlsx],
  ] as const) {
    if (r.body.rowCount !== ROWS) wrong.push(`${name}: rowCount ${r.body.rowCount}, expected ${ROWS}`);
    if (r.body.validCount !== files.valid) wrong.push(`${name}: validCount ${r.body.validCount}, expected ${files.valid}`);
    const rows = r.body.errors.map((e) => e.row);
    if (rows.length !== files.errorRows.length || rows.some((row, i) => row !== files.errorRows[i]))
      wrong.push(`${name}: error rows differ from the ${files.errorRows.length} expected`);
  }
  const lines = [
    '',
    `recipient-file benchmark (${fmtInt(ROWS)} rows, ${TAGS} tags, ${fmtInt(files.valid)} valid, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  .csv  upload to 201:  ${csv.seconds.toFixed(2).padStart(6)} s   service CPU ${csv.cpu.toFixed(2)} s   peak RSS ${fmtMB(csv.peakRss)}   (${(size(files.csv) / 1024 / 1024).toFixed(1)} MB)`,
    `  .xlsx upload to 201:  ${xlsx.seconds.toFixed(2).padStart(6)} s   service CPU ${xlsx.cpu.toFixed(2)} s   peak RSS ${fmtMB(xlsx.peakRss)}   (${(size(files.xlsx) / 1024 / 1024).toFixed(1)} MB)`,
    `  .xlsx / .csv time:    ${(xlsx.seconds / csv.seconds).toFixed(2)}x`,
    `  target .xlsx <= ${SECONDS_TARGET} s: ${xlsx.seconds <= SECONDS_TARGET ? 'ok' : 'MISSED'}; peak RSS <= ${fmtMB(RSS_TARGET)}: ${xlsx.peakRss <= RSS_TARGET ? 'ok' : 'MISSED'}`,
  ];
  if (wrong.length) lines.push(`  WRONG: ${wrong.join('; ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return wrong.length ? 1 : 0;
}

await runMain(main, cleanups, log);

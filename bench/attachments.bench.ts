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
import crypto from 'node:crypto';
import os from 'node:os';
import { benchLog, fmtInt, fmtMB, intEnv, readMemory } from './helpers.ts';
import {
  createCleanups,
  randomApiKey,
  runMain,
  sendAndMeasure as measureSend,
  signedCall,
  startServiceProcess,
  startSinkProcess,
  type ServiceProcess,
  type SinkProcess,
} from './send-run.ts';

const N = intEnv('BENCH_ATTACH_RECIPIENTS', 1000);
const FILE_MB = intEnv('BENCH_ATTACH_MB', 10);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const RSS_TARGET = 400 * 1024 * 1024;

const KEY = randomApiKey();
const log = benchLog('attach-bench');
const cleanups = createCleanups(log);
let measuring = true;

// The service's output until the measurement is over; what it says while it is stopped is noise here.
const startService = (smtpPort: number) =>
  startServiceProcess(cleanups, {
    smtpPort,
    connections: CONNECTIONS,
    key: KEY,
    log,
    dataDirPrefix: 'mailer-attach-bench-',
    echo: (line) => (measuring ? line : undefined),
  });

const BODY = '<html><body><h1>Your documents</h1><p>Dear #{RECIPIENT_NAME}, please find your statement ${MONTH} attached.</p></body></html>';

function requestBody(prefix: string, attachFileIds: string[]): string {
  const recipients = Array.from({ length: N }, (_, i) => ({ address: `${prefix}${i}@example.com`, name: `User ${i}`, parameters: { MONTH: '2026-11' } }));
  return JSON.stringify({
    senderAddress: 'statements@company.com',
    senderName: 'Statements',
    title: 'Statement ${MONTH}',
    body: BODY,
    recipients,
    attachFileIds,
  });
}

/** POSTs a request and waits until the sink has every recipient; the rate is recipients per second end to end. */
function sendAndMeasure(service: ServiceProcess, sink: SinkProcess, prefix: string, attachFileIds: string[]) {
  return measureSend({ service, sink, key: KEY, n: N, label: prefix, body: requestBody(prefix, attachFileIds), timeoutMs: TIMEOUT_MS, log });
}

async function main(): Promise<number> {
  log(`attachment benchmark: ${fmtInt(N)} recipients, one ${FILE_MB} MB file, ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs`);
  const sink = await startSinkProcess(cleanups);
  const service = await startService(sink.port);
  log(`service ready (pid ${service.pid}), RSS ${fmtMB(readMemory(service.pid)?.rss ?? 0)}`);

  const file = crypto.randomBytes(FILE_MB * 1024 * 1024);
  const form = new FormData();
  form.append('fileList', new Blob([file]), 'statement-2026-11.pdf');
  const t = performance.now();
  const uploaded = await signedCall(service.baseUrl, KEY, 'POST', '/api/v1/files', form);
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

await runMain(main, cleanups, log);

// npm run bench:dkim: what DKIM signing costs the send (issue 15: at most 15 % of the throughput).
//
// One service process (`node src/main.ts`, embedded Postgres) and one SMTP sink process, as in
// bench/send.bench.ts, and in the same run, one after the other, the same request of
// BENCH_RECIPIENTS personalised mails from three senders of one project:
//   unsigned  no_reply@nosig.company.com  (not a sender domain: not signed)
//   rsa       no_reply@rsa.company.com    (a verified sender domain, RSA 2048 key: the default)
//   ed25519   no_reply@ed.company.com     (a verified sender domain, Ed25519 key)
// The domains are added and verified through the API: the service's DNS_SERVERS is a DNS server on
// loopback in this process (test/helpers/dns-server.ts) that publishes the records the API says
// to publish, so nothing is written to the database behind the service's back. A sample of the
// mails the sink received in each signed phase is verified with mailauth (an independent
// verifier) against the same DNS server: a broken signer fails the run instead of looking fast.
// Then plain nodemailer sends the same messages unsigned and signed with its own DKIM option
// (an RSA 2048 key of the bench's), for the cost of signing without the service.
//
// Environment:
//   BENCH_RECIPIENTS      recipients of each measured request (default 100000)
//   BENCH_CONNECTIONS     SMTP connections, service and baseline alike (default 4)
//   BENCH_ROUNDS          rounds of the modes (default 1); even rounds run them in reverse order so
//                         that the growing database and drifting machine favour no mode
//   BENCH_DKIM_MODES      the modes, in order (default "unsigned,rsa,ed25519")
//   BENCH_WARMUP          recipients of the untimed warm-up request of each mode (default 2000)
//   BENCH_VERIFY_SAMPLE   signed mails per phase checked with mailauth (default 50, spread over the request)
//   BENCH_CPU_PROF=1      run the service with --cpu-prof and print its top self-time functions
//   BENCH_QUIET_WAIT_S    before each measured phase, wait up to this long (default 120) for other
//                         processes to leave the CPUs alone
//   BENCH_TIMEOUT_S       bound of each phase (default 900)
//   BENCH_SKIP_BASELINE=1 skip the plain nodemailer baselines
// Exit status: 1 when recipients are lost or a sampled signature does not verify; the 15 % target
// is reported, not failed.
import crypto from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { startTestDnsServer } from '../test/helpers/dns-server.ts';
import { benchLog, fmtInt, fmtMB, fmtPct, intEnv, printSummary, summariseCpuProfile } from './helpers.ts';
import { baseline, recipient, requestBody } from './send-fixture.ts';
import {
  cpuSnap,
  createCleanups,
  othersShare,
  randomApiKey,
  revision,
  runMain,
  sendAndMeasure,
  signedCall,
  startServiceProcess,
  startSinkProcess,
  waitQuiet,
  type CpuSnap,
} from './send-run.ts';

const N = intEnv('BENCH_RECIPIENTS', 100_000);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 4);
const ROUNDS = intEnv('BENCH_ROUNDS', 1);
const WARMUP = intEnv('BENCH_WARMUP', 2_000, 0);
const SAMPLE = intEnv('BENCH_VERIFY_SAMPLE', 50, 0);
const TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', 900) * 1000;
const QUIET_WAIT_MS = intEnv('BENCH_QUIET_WAIT_S', 120, 0) * 1000;
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
const TARGET_COST = 0.15;

type Mode = 'unsigned' | 'rsa' | 'ed25519';
const MODES: Record<Mode, { domain: string; algorithm?: 'rsa-sha256' | 'ed25519-sha256' }> = {
  unsigned: { domain: 'nosig.company.com' },
  rsa: { domain: 'rsa.company.com', algorithm: 'rsa-sha256' },
  ed25519: { domain: 'ed.company.com', algorithm: 'ed25519-sha256' },
};
const modes = (process.env.BENCH_DKIM_MODES || 'unsigned,rsa,ed25519').split(',').map((m) => m.trim()) as Mode[];
for (const m of modes) if (!(m in MODES)) throw new Error(`BENCH_DKIM_MODES: unknown mode "${m}" (unsigned, rsa, ed25519)`);
const sender = (m: Mode) => `no_reply@${MODES[m].domain}`;

const KEY = randomApiKey();
const log = benchLog('dkim');
const cleanups = createCleanups(log);

interface Phase {
  mode: Mode;
  seconds: number;
  /** service CPU seconds (all threads), its Postgres, the sink */
  service: number;
  pg: number;
  sink: number;
  other: number;
}

/** Checks the kept messages: none signed (unsigned), or every one signed by the mode's domain and verified by mailauth. */
async function verifySample(mode: Mode, raws: Buffer[], dnsServer: string): Promise<{ line: string; failure?: string }> {
  if (raws.length === 0) return { line: `${mode}: no mails sampled`, failure: SAMPLE ? `${mode}: the sink kept no sample` : undefined };
  const resolver = new Resolver();
  resolver.setServers([dnsServer]);
  const bad: string[] = [];
  for (const raw of raws) {
    const signed = /^DKIM-Signature:/im.test(raw.toString('latin1', 0, Math.min(raw.length, 8192)));
    if (mode === 'unsigned') {
      if (signed) bad.push('signed although the sender domain is not verified');
      continue;
    }
    const { results } = await dkimVerify(raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') } as never);
    const r = (results as { signingDomain?: string; algo?: string; status: { result: string; comment?: string } }[])[0];
    if (!r) bad.push('no DKIM-Signature');
    else if (r.status.result !== 'pass') bad.push(`${r.status.result}${r.status.comment ? ` (${r.status.comment})` : ''}`);
    else if (r.signingDomain !== MODES[mode].domain || r.algo !== MODES[mode].algorithm) bad.push(`signed as d=${r.signingDomain} a=${r.algo}`);
  }
  const what = mode === 'unsigned' ? 'unsigned as expected' : `pass (mailauth, d=${MODES[mode].domain}, ${MODES[mode].algorithm})`;
  if (!bad.length) return { line: `${mode}: ${raws.length}/${raws.length} sampled mails ${what}` };
  const first = [...new Set(bad)].slice(0, 3).join('; ');
  return {
    line: `${mode}: ${raws.length - bad.length}/${raws.length} sampled mails ${what}; ${bad.length} NOT: ${first}`,
    failure: `${mode}: ${bad.length} sampled mails: ${first}`,
  };
}

async function main(): Promise<number> {
  const failures: string[] = [];
  const rev = revision();
  log(
    `DKIM benchmark: service at ${rev}, ${fmtInt(N)} recipients a phase, modes ${modes.join(', ')} x ${ROUNDS} round(s), ${CONNECTIONS} connections, node ${process.version}`,
  );
  const dns = await startTestDnsServer();
  cleanups.add(() => dns.close(), 'dns');
  const sink = await startSinkProcess(cleanups);
  const profDir = CPU_PROF ? fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-bench-prof-')) : undefined;
  const service = await startServiceProcess(cleanups, {
    log,
    smtpPort: sink.port,
    connections: CONNECTIONS,
    key: KEY,
    env: { DNS_SERVERS: dns.server, ...(profDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` } : {}) },
    samplePostgres: false,
  });
  log(`service ready (pid ${service.pid}), sink pid ${sink.pid}, DNS ${dns.server}`);
  const api = (method: string, target: string, body?: string) => signedCall(service.baseUrl, KEY, method, target, body, 120_000);

  // ---- the sender domains, verified through the loopback DNS server ----
  for (const m of new Set(modes)) {
    const { domain, algorithm } = MODES[m];
    if (!algorithm) continue;
    const created = await api('POST', '/api/v1/domains', JSON.stringify({ domain, algorithm }));
    if (created.status !== 201) throw new Error(`POST /domains ${domain}: ${created.status} ${JSON.stringify(created.json)}`);
    for (const k of created.json.dkimKeys as { dnsName: string; dnsValue: string }[]) dns.txt.set(k.dnsName, [k.dnsValue]);
    const checked = await api('POST', `/api/v1/domains/${domain}/verify`);
    if (checked.json?.status?.code !== 'V') throw new Error(`${domain} did not verify: ${JSON.stringify(checked.json)}`);
    log(`${domain}: verified, ${algorithm}, selector ${checked.json.dkim.selector}`);
  }

  // ---- warm-up: connections, compiled code, the key caches of each mode ----
  if (WARMUP > 0) {
    for (const m of modes) {
      const recipients = Array.from({ length: WARMUP }, (_, i) => recipient('warm', i));
      await sendAndMeasure({ service, sink, key: KEY, n: WARMUP, label: `${m} warm-up`, body: requestBody(recipients, sender(m)), timeoutMs: TIMEOUT_MS, log });
    }
    log(`warm-up done (${fmtInt(WARMUP)} mails a mode)`);
  }

  // ---- the measured phases ----
  const body = new Map(
    modes.map((m) => [
      m,
      requestBody(
        Array.from({ length: N }, (_, i) => recipient('user', i)),
        sender(m),
      ),
    ]),
  );
  const phases: Phase[] = [];
  const sampleLines: string[] = [];
  const keep = SAMPLE ? { every: Math.max(1, Math.floor(N / SAMPLE)), max: SAMPLE } : undefined;
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of round % 2 ? [...modes].reverse() : modes) {
      await waitQuiet(log, m, service, sink, QUIET_WAIT_MS);
      const a = cpuSnap(service, sink);
      const res = await sendAndMeasure({ service, sink, key: KEY, n: N, label: m, body: body.get(m)!, timeoutMs: TIMEOUT_MS, log, keep });
      const b = cpuSnap(service, sink);
      const d = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? NaN : y - x);
      phases.push({
        mode: m,
        seconds: res.seconds,
        service: d(a.service?.all, b.service?.all),
        pg: d(a.pg, b.pg),
        sink: d(a.sink?.all, b.sink?.all),
        other: othersShare(a, b),
      });
      log(`${m}: ${fmtInt(res.rate)} mails/s (${res.seconds.toFixed(1)} s), service peak RSS ${fmtMB(res.peakRss)}`);
      if (res.unique < N) failures.push(`${m}: the sink received ${fmtInt(res.unique)} of ${fmtInt(N)} recipients`);
      const v = await verifySample(m, res.kept, dns.server);
      sampleLines.push(v.line);
      if (v.failure) failures.push(v.failure);
      log(v.line);
    }
  }
  const stop = await service.stop();
  let profileLines: string[] = [];
  if (profDir) {
    const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    profileLines = files.length ? summariseCpuProfile(path.join(profDir, files[0]!), 40) : [`no .cpuprofile was written to ${profDir}`];
  }

  // ---- baselines: plain nodemailer, unsigned and signed with its own DKIM option ----
  const base: { label: string; seconds: number; cpu: number; other: number }[] = [];
  if (process.env.BENCH_SKIP_BASELINE !== '1') {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    dns.txt.set('bench._domainkey.rsa.company.com', [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]);
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const signed of [false, true]) {
      const label = signed ? 'nodemailer, RSA-signed' : 'nodemailer, unsigned';
      await waitQuiet(log, label, undefined, sink, QUIET_WAIT_MS);
      const a: CpuSnap = cpuSnap(undefined, sink);
      const r = await baseline({
        cleanups,
        log,
        sink,
        n: N,
        connections: CONNECTIONS,
        timeoutMs: TIMEOUT_MS,
        senderAddress: sender(signed ? 'rsa' : 'unsigned'),
        dkim: signed ? { domainName: 'rsa.company.com', keySelector: 'bench', privateKey: pem } : undefined,
      });
      base.push({ label, seconds: r.seconds, cpu: r.cpu, other: othersShare(a, cpuSnap(undefined, sink)) });
      if (r.failed) failures.push(`${label}: ${r.failed} sendMail calls failed`);
      log(`${label}: ${fmtInt(N / r.seconds)} mails/s`);
    }
  }

  // ---- summary ----
  const by = (m: Mode) => phases.filter((p) => p.mode === m);
  const rate = (m: Mode) => (by(m).length * N) / by(m).reduce((s, p) => s + p.seconds, 0);
  const cpuMs = (m: Mode, k: 'service' | 'pg' | 'sink') => (by(m).reduce((s, p) => s + p[k], 0) * 1000) / (by(m).length * N);
  const lines = [
    '',
    `DKIM signing benchmark (${fmtInt(N)} individual recipients a phase, ${ROUNDS} round(s), ${CONNECTIONS} SMTP connections, ${os.cpus().length} CPUs, node ${process.version}, service at ${rev}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end)`,
    `  phase                      mails/s   ratio to unsigned   service CPU/mail   postgres CPU/mail   sink CPU/mail   other processes`,
  ];
  const unsignedRate = modes.includes('unsigned') ? rate('unsigned') : NaN;
  for (const m of modes.filter((x, i) => modes.indexOf(x) === i)) {
    const ratio = rate(m) / unsignedRate;
    const target =
      m === 'unsigned' || !Number.isFinite(ratio)
        ? ''
        : ` (cost ${fmtPct(1 - ratio)}; target <= ${fmtPct(TARGET_COST)}: ${1 - ratio <= TARGET_COST ? 'ok' : 'MISSED'})`;
    const other = Math.max(...by(m).map((p) => p.other));
    lines.push(
      `  service, ${m.padEnd(17)} ${fmtInt(rate(m)).padStart(7)}   ${m === 'unsigned' ? '       -          ' : ratio.toFixed(2).padStart(8) + '          '}  ${cpuMs(m, 'service').toFixed(3)} ms          ${cpuMs(m, 'pg').toFixed(3)} ms            ${cpuMs(m, 'sink').toFixed(3)} ms        ${fmtPct(other)}${target}`,
    );
  }
  for (const b of base) {
    const ratio = base[0]!.seconds / b.seconds;
    lines.push(
      `  ${b.label.padEnd(26)} ${fmtInt(N / b.seconds).padStart(7)}   ${b === base[0] ? '       -          ' : ratio.toFixed(2).padStart(8) + '          '}  ${((b.cpu * 1000) / N).toFixed(3)} ms (bench process)                                  ${fmtPct(b.other)}`,
    );
  }
  if (ROUNDS > 1) {
    lines.push('  per phase (mails/s):');
    for (const p of phases) lines.push(`    ${p.mode.padEnd(9)} ${fmtInt(N / p.seconds)}`);
  }
  lines.push('  signatures of the sampled mails:', ...sampleLines.map((l) => '    ' + l));
  lines.push(`  service stop: ${(stop.ms / 1000).toFixed(1)} s${stop.clean ? '' : ' (NOT clean)'}`);
  if (profileLines.length) lines.push('  service CPU profile (all phases):', ...profileLines.map((l) => '  ' + l));
  return printSummary(lines, failures);
}

await runMain(main, cleanups, log);

// npm run bench:throttle: issue 16's targets for delivery with per-domain limits, on loopback.
//
// N recipients (default 100,000; one request, individual mails) spread over 50 domains
// (d0.example … d49.example), whose MX records (a DNS server in this process) point at 5 SMTP
// sinks on 127.0.0.2-6 (in this process too; each notes, per recipient domain, the most
// transactions in DATA at once and the most messages accepted within any second and any minute).
// The service runs as in production (`node src/main.ts`, its own embedded PostgreSQL per run) with
// the same limits in every run (THROTTLE_DOMAIN_CONNECTIONS, THROTTLE_DOMAIN_PER_MINUTE):
//   1. relay: SMTP_URL = the sink on 127.0.0.2 (which takes every domain);
//   2. direct: SMTP_URL=direct, each domain to its own sink;
//   3. direct, d0.example answering 421 4.7.0 at RCPT on every other connection: how many of its
//      recipients failed (and with which retry count), and the other 49 domains' throughput
//      against run 2's.
// Printed: throughput (POST -> the sink has every recipient), the ratio direct / relay (target
// >= 0.7), each limit against the most any domain saw, and run 3's figures (target: the other
// domains' throughput drops by <= 10 %; no recipient fails before its retry limit).
//
// Environment: BENCH_N (100000), BENCH_DOMAIN_CONNECTIONS (4), BENCH_DOMAIN_PER_MINUTE (6000),
// BENCH_CONNECTIONS (SMTP_MAX_CONNECTIONS, 16), BENCH_LOG_LEVEL (warn), BENCH_SKIP=relay,direct,421,
// BENCH_SLOW_WAIT_S (120: how long run 3 waits for d0.example after the other domains are done;
// then it reports how far d0.example got and stops, its recipients still queued).
import pg from 'pg';
import { SMTPServer, type SMTPServerError } from 'smtp-server';
import { startTestDnsServer } from '../test/helpers/dns-server.ts';
import { benchLog, fmtInt, intEnv, sleep } from './helpers.ts';
import { createCleanups, randomApiKey, runMain, signedCall, startBenchPostgres, startServiceProcess } from './send-run.ts';

const N = intEnv('BENCH_N', 100_000);
const DOMAINS = 50;
const HOSTS = 5;
const DOMAIN_CONNECTIONS = intEnv('BENCH_DOMAIN_CONNECTIONS', 4);
const DOMAIN_PER_MINUTE = intEnv('BENCH_DOMAIN_PER_MINUTE', 6_000);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 16);
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const RETRY_LIMIT = 3;
const SLOW = 'd0.example';
const SLOW_WAIT_MS = intEnv('BENCH_SLOW_WAIT_S', 120) * 1000;

const log = benchLog('throttle');
const cleanups = createCleanups(log);

interface DomainSeen {
  current: number;
  maxConcurrent: number;
  perSecond: Map<number, number>;
  accepted: number;
  refused: number;
}

/** The 5 sinks on one port; per-domain figures of the current run. */
async function startSinks() {
  let seen = new Map<string, DomainSeen>();
  let refuseSlow = false;
  let connections = 0;
  const waiters: (() => void)[] = [];
  const of = (d: string) => {
    const s = seen.get(d) ?? { current: 0, maxConcurrent: 0, perSecond: new Map(), accepted: 0, refused: 0 };
    seen.set(d, s);
    return s;
  };
  const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1).toLowerCase();
  const servers: SMTPServer[] = [];
  let port = 0;
  for (let h = 0; h < HOSTS; h++) {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      logger: false,
      size: 10 * 1024 * 1024,
      onConnect(session, cb) {
        (session as unknown as { refuse: boolean }).refuse = connections++ % 2 === 0;
        cb();
      },
      onRcptTo(address, session, cb) {
        const d = domainOf(address.address);
        if (refuseSlow && d === SLOW && (session as unknown as { refuse: boolean }).refuse) {
          of(d).refused++;
          const err: SMTPServerError = new Error('4.7.0 Try again later, closing connection.');
          err.responseCode = 421;
          return cb(err);
        }
        cb();
      },
      onData(stream, session, cb) {
        const domains = [...new Set(session.envelope.rcptTo.map((r) => domainOf(r.address)))];
        for (const d of domains) {
          const s = of(d);
          s.current++;
          s.maxConcurrent = Math.max(s.maxConcurrent, s.current);
        }
        stream.on('data', () => undefined);
        stream.on('end', () => {
          const sec = Math.floor(Date.now() / 1000);
          for (const r of session.envelope.rcptTo) {
            const s = of(domainOf(r.address));
            s.accepted++;
            s.perSecond.set(sec, (s.perSecond.get(sec) ?? 0) + 1);
          }
          for (const d of domains) of(d).current--;
          cb(null, 'OK');
          while (waiters.length) waiters.shift()!();
        });
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(port, `127.0.0.${2 + h}`, resolve));
    port = (server.server.address() as { port: number }).port;
    servers.push(server);
  }
  cleanups.add(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined), 'sinks');
  return {
    port,
    reset(refuse: boolean) {
      seen = new Map();
      refuseSlow = refuse;
      connections = 0;
    },
    seen: () => seen,
    accepted: (filter: (d: string) => boolean) => [...seen].filter(([d]) => filter(d)).reduce((n, [, s]) => n + s.accepted, 0),
    changed: () => new Promise<void>((r) => waiters.push(r)),
  };
}

type Sinks = Awaited<ReturnType<typeof startSinks>>;

/** Most messages within any `seconds` consecutive seconds. */
function mostWithin(perSecond: Map<number, number>, seconds: number): number {
  const secs = [...perSecond.keys()].sort((a, b) => a - b);
  let most = 0;
  for (const start of secs) {
    let n = 0;
    for (let t = start; t < start + seconds; t++) n += perSecond.get(t) ?? 0;
    most = Math.max(most, n);
  }
  return most;
}

function body(): string {
  const recipients = Array.from({ length: N }, (_, i) => ({ address: `u${i}@d${i % DOMAINS}.example`, type: 'R' }));
  return JSON.stringify({
    senderAddress: 'news@company.com',
    title: 'Throttle bench',
    body: '<p>Hello, this is a benchmark mail.</p>',
    individual: true,
    recipients,
  });
}

interface RunResult {
  seconds: number;
  /** seconds until every recipient outside d0 was accepted */
  othersSeconds: number;
  maxConcurrent: number;
  maxPerSecond: number;
  maxPerMinute: number;
  failed: { retry: number; n: number }[];
  slowSent: number;
  /** recipients still queued when run 3 stopped waiting for the slow domain */
  unfinished: number;
}

async function run(label: string, sinks: Sinks, dnsServer: string, mode: 'relay' | 'direct', refuse: boolean): Promise<RunResult> {
  const key = randomApiKey();
  const databaseUrl = await startBenchPostgres(cleanups, `throttle-bench-${label}-`, 'mailer');
  sinks.reset(refuse);
  const service = await startServiceProcess(cleanups, {
    log,
    key,
    databaseUrl,
    connections: CONNECTIONS,
    env: {
      SMTP_URL: mode === 'relay' ? `smtp://127.0.0.2:${sinks.port}` : 'direct',
      DNS_SERVERS: dnsServer,
      DIRECT_ALLOW_PRIVATE: 'true',
      DIRECT_SMTP_PORT: String(sinks.port),
      DIRECT_HELO_NAME: 'bench.example.net',
      THROTTLE_DOMAIN_CONNECTIONS: String(DOMAIN_CONNECTIONS),
      THROTTLE_DOMAIN_PER_MINUTE: String(DOMAIN_PER_MINUTE),
      THROTTLE_PAUSE_MS: '2000',
      THROTTLE_PAUSE_MAX_MS: '8000',
      RETRY_LIMIT: String(RETRY_LIMIT),
      RETRY_BASE_DELAY_MS: '1000',
    },
  });
  const payload = body();
  const othersTarget = N - Math.ceil(N / DOMAINS);
  const t0 = Date.now();
  const post = await signedCall(service.baseUrl, key, 'POST', '/api/v1/mails', payload);
  if (post.status !== 201) throw new Error(`POST /mails answered ${post.status}: ${JSON.stringify(post.json)}`);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  cleanups.add(() => db.end(), 'bench db client');
  let othersAt: number | undefined;
  let lastLog = Date.now();
  let unfinished = 0;
  for (;;) {
    await Promise.race([sinks.changed(), sleep(1000)]);
    if (!service.alive()) throw new Error('the service exited during the run');
    const others = sinks.accepted((d) => d !== SLOW);
    if (othersAt === undefined && others >= othersTarget) othersAt = Date.now();
    if (othersAt !== undefined) {
      const open = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status IN ('R', 'I', 'P')`);
      if (open.rows[0]!.n === 0 && sinks.accepted(() => true) + (await failedCount(db)) >= N) break;
      // A domain backed off to its last level crawls: report how far it got instead of waiting for it.
      if (refuse && Date.now() - othersAt > SLOW_WAIT_MS) {
        unfinished = open.rows[0]!.n;
        break;
      }
    }
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`${label}: ${fmtInt(sinks.accepted(() => true))}/${fmtInt(N)} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (Date.now() - t0 > 900_000) throw new Error('timed out after 15 min');
  }
  const seconds = (Date.now() - t0) / 1000;
  const failed = await db.query<{ retry: number; n: number }>(
    `SELECT retry_count AS retry, count(*)::int AS n FROM recipients WHERE status = 'F' GROUP BY 1 ORDER BY 1`,
  );
  await service.stop();
  const seen = [...sinks.seen().values()];
  return {
    seconds,
    othersSeconds: (othersAt! - t0) / 1000,
    maxConcurrent: Math.max(...seen.map((s) => s.maxConcurrent)),
    maxPerSecond: Math.max(...seen.map((s) => mostWithin(s.perSecond, 1))),
    maxPerMinute: Math.max(...seen.map((s) => mostWithin(s.perSecond, 60))),
    failed: failed.rows,
    slowSent: sinks.seen().get(SLOW)?.accepted ?? 0,
    unfinished,
  };
}

async function failedCount(db: pg.Client): Promise<number> {
  return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status = 'F'`)).rows[0]!.n;
}

function describe(label: string, r: RunResult): string {
  return (
    `${label}: ${r.unfinished ? `${fmtInt(N - r.unfinished)} of ${fmtInt(N)} recipients done when the run stopped, after ${r.seconds.toFixed(1)} s` : `${fmtInt(N)} recipients in ${r.seconds.toFixed(1)} s = ${fmtInt(N / r.seconds)}/s`} (the 49 other domains done after ${r.othersSeconds.toFixed(1)} s = ${fmtInt((N - N / DOMAINS) / r.othersSeconds)}/s); ` +
    `per domain at most ${r.maxConcurrent} transactions at once (limit ${DOMAIN_CONNECTIONS}), ${r.maxPerSecond} in a second, ${r.maxPerMinute} in a minute (limit ${DOMAIN_PER_MINUTE}/min, bucket ${Math.max(1, DOMAIN_PER_MINUTE / 60)}); ` +
    `failed ${r.failed.length ? r.failed.map((f) => `${f.n} at retry ${f.retry}`).join(', ') : 'none'}`
  );
}

async function main(): Promise<number> {
  const dns = await startTestDnsServer();
  cleanups.add(() => dns.close(), 'dns');
  for (let i = 0; i < DOMAINS; i++) {
    dns.mx.set(`d${i}.example`, [{ priority: 10, exchange: `mx${i % HOSTS}.sinks.example` }]);
  }
  for (let h = 0; h < HOSTS; h++) dns.a.set(`mx${h}.sinks.example`, [`127.0.0.${2 + h}`]);
  const sinks = await startSinks();
  log(
    `${fmtInt(N)} recipients over ${DOMAINS} domains and ${HOSTS} sinks; limits ${DOMAIN_CONNECTIONS} transactions and ${DOMAIN_PER_MINUTE}/min a domain; SMTP_MAX_CONNECTIONS ${CONNECTIONS}`,
  );
  const results: Record<string, RunResult> = {};
  if (!SKIP.has('relay')) {
    results.relay = await run('relay', sinks, dns.server, 'relay', false);
    log(describe('relay', results.relay));
  }
  if (!SKIP.has('direct')) {
    results.direct = await run('direct', sinks, dns.server, 'direct', false);
    log(describe('direct', results.direct));
  }
  if (!SKIP.has('421')) {
    const r = await run('421', sinks, dns.server, 'direct', true);
    results.refuse = r;
    log(describe(`direct, ${SLOW} answering 421 to every other connection`, r));
    const refused = sinks.seen().get(SLOW)?.refused ?? 0;
    log(
      `  ${SLOW}: ${fmtInt(r.slowSent)} of ${fmtInt(N / DOMAINS)} delivered, ${fmtInt(refused)} RCPT refused with 421; recipients failed: ${r.failed.map((f) => `${f.n} at retry ${f.retry}`).join(', ') || 'none'}` +
        (r.unfinished ? `; ${fmtInt(r.unfinished)} still queued ${SLOW_WAIT_MS / 1000} s after the other domains were done (the run stopped there)` : ''),
    );
    const early = r.failed.filter((f) => f.retry < RETRY_LIMIT).reduce((n, f) => n + f.n, 0);
    log(`  target: no recipient failed before its retry limit (${RETRY_LIMIT}): ${early === 0 ? 'met' : `MISSED (${early})`}`);
    if (results.direct) {
      const drop = 1 - results.direct.othersSeconds / r.othersSeconds;
      log(`  target: the other domains' throughput drops by <= 10 %: ${(drop * 100).toFixed(1)} % (${drop <= 0.1 ? 'met' : 'MISSED'})`);
    }
  }
  if (results.relay && results.direct) {
    const ratio = results.relay.seconds / results.direct.seconds;
    log(`target: direct throughput >= 0.7 x relay: ${ratio.toFixed(2)} (${ratio >= 0.7 ? 'met' : 'MISSED'})`);
  }
  for (const [name, r] of Object.entries(results)) {
    const held = r.maxConcurrent <= DOMAIN_CONNECTIONS && r.maxPerMinute <= DOMAIN_PER_MINUTE + Math.max(1, DOMAIN_PER_MINUTE / 60);
    log(`target: every per-domain limit held (${name}): ${held ? 'met' : 'MISSED'}`);
  }
  return 0;
}

await runMain(main, cleanups, log);

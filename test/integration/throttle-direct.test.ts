import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { startTestDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { finishedRequestRow, startTestService, type TestService, waitFor } from '../helpers/test-service.ts';

// Slow-down replies and unreachable domains in direct mode (issue 16 item 3): a DNS server on
// loopback routes slow.example to a sink on 127.0.0.2, fast.example to one on 127.0.0.3, and
// dead.example to 127.0.0.9, where nothing listens.

let dns: TestDnsServer;
let svc: TestService;
let slowHost: TestSink;
let fastHost: TestSink;

function route(domain: string, address: string): void {
  dns.mx.set(domain, [{ priority: 10, exchange: `mx.${domain}` }]);
  dns.a.set(`mx.${domain}`, [address]);
}

beforeAll(async () => {
  dns = await startTestDnsServer();
  slowHost = await startTestSink({ host: '127.0.0.2' });
  fastHost = await startTestSink({ host: '127.0.0.3', port: slowHost.port });
  route('slow.example', '127.0.0.2');
  route('fast.example', '127.0.0.3');
  route('dead.example', '127.0.0.9');
  svc = await startTestService({
    smtpUrl: 'direct',
    env: {
      DNS_SERVERS: dns.server,
      DIRECT_ALLOW_PRIVATE: 'true',
      DIRECT_SMTP_PORT: String(slowHost.port),
      RETRY_LIMIT: '3',
      RETRY_BASE_DELAY_MS: '200',
      THROTTLE_PAUSE_MS: '1000',
      THROTTLE_PAUSE_MAX_MS: '3000',
    },
  });
});

afterAll(async () => {
  await svc?.stop();
  await Promise.all([slowHost, fastHost].map((s) => s?.close()));
  await dns?.close();
});

afterEach(() => {
  for (const s of [slowHost, fastHost]) s.reset();
});

const addresses = (prefix: string, domain: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}@${domain}`);

async function post(to: string[]): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', {
    body: { senderAddress: 'news@company.com', title: 'T', body: '<p>b</p>', individual: true, recipients: to.map((address) => ({ address, type: 'R' })) },
  });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

type State = { backoff_level: number; paused_until: Date | null; last_reply: string | null; last_reply_at: Date | null };
async function stateOf(domain: string): Promise<State | undefined> {
  const res = await sql<State>`SELECT backoff_level, paused_until, last_reply, last_reply_at FROM delivery_throttle WHERE key = ${'domain:' + domain}`.execute(
    svc.db.db,
  );
  return res.rows[0];
}

describe('slow-down replies', () => {
  it('a domain answering 421 4.7.0 is paused and slowed, its recipients retried within their limit, while another domain flows; it recovers on successes', async () => {
    slowHost.refuseGreeting({ code: 421, message: '4.7.0 Try again later, closing connection.' });
    const started = Date.now();
    const requestId = await post([...addresses('s', 'slow.example', 20), ...addresses('f', 'fast.example', 30)]);
    // the other domain is not held up by the paused one
    await fastHost.waitForMessages(30, 10_000);
    const fastDone = Date.now() - started;
    const paused = await waitFor(async () => {
      const st = await stateOf('slow.example');
      return st && st.backoff_level >= 1 && st.paused_until && st.paused_until.getTime() > Date.now() ? st : undefined;
    });
    expect(paused.last_reply).toMatch(/^421 4\.7\.0 Try again later/);
    expect(paused.last_reply_at).not.toBeNull();
    // while paused, its mails wait without spending retries
    const waiting = await svc.db.db
      .selectFrom('recipients')
      .select(['retry_count', 'temporary_result_code'])
      .where('address', 'like', '%@slow.example')
      .execute();
    expect(waiting.some((r) => r.temporary_result_code === 'DELIVERY_THROTTLED' && r.retry_count === 0)).toBe(true);
    let peak = paused.backoff_level;
    const watch = setInterval(() => {
      void stateOf('slow.example').then((st) => {
        if (st) peak = Math.max(peak, st.backoff_level);
      });
    }, 100);
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      slowHost.refuseGreeting(undefined);
      await finishedRequestRow(svc, requestId);
    } finally {
      clearInterval(watch);
    }
    const rows = await svc.db.db.selectFrom('recipients').select(['address', 'status', 'retry_count']).execute();
    const slow = rows.filter((r) => r.address.endsWith('@slow.example'));
    console.log(
      `slow-down: fast.example's 30 delivered in ${fastDone} ms; slow.example peaked at level ${peak}, its 20 done in ${Date.now() - started} ms, ` +
        `retries ${slow.map((r) => r.retry_count).join(',')}`,
    );
    expect(rows.every((r) => r.status === 'S')).toBe(true);
    // never failed for the slow-down: each was refused at most a few times, below RETRY_LIMIT
    expect(Math.max(...slow.map((r) => r.retry_count))).toBeLessThan(3);
    // recovery: successes with no slow-down lower the level step by step (20 a step)
    const before = (await stateOf('slow.example'))!.backoff_level;
    expect(before).toBeLessThanOrEqual(peak);
    await finishedRequestRow(svc, await post(addresses('again', 'slow.example', 40)));
    const after = (await stateOf('slow.example'))!.backoff_level;
    expect(after).toBeLessThan(peak);
    expect(after).toBeLessThanOrEqual(Math.max(0, before - 1));
  }, 60_000);

  it("a domain none of whose hosts can be reached is paused instead of burning every queued mail's retries", async () => {
    const requestId = await post([...addresses('d', 'dead.example', 20), ...addresses('g', 'fast.example', 10)]);
    await fastHost.waitForMessages(10, 10_000);
    const st = await waitFor(async () => {
      const s = await stateOf('dead.example');
      return s?.paused_until && s.paused_until.getTime() > Date.now() ? s : undefined;
    });
    expect(st.last_reply).toMatch(/ECONNREFUSED|connect/i);
    await new Promise((r) => setTimeout(r, 1_500));
    const rows = await svc.db.db
      .selectFrom('recipients')
      .select(['status', 'retry_count', 'temporary_result_code'])
      .where('address', 'like', '%@dead.example')
      .execute();
    const tried = rows.filter((r) => r.retry_count > 0).length;
    console.log(
      `unreachable: after 1.5 s, ${tried} of 20 recipients of dead.example tried; the rest held (${rows.filter((r) => r.temporary_result_code === 'DELIVERY_THROTTLED').length})`,
    );
    expect(rows.filter((r) => r.status === 'F')).toEqual([]);
    expect(tried).toBeLessThan(12);
    expect(rows.filter((r) => r.temporary_result_code === 'DELIVERY_THROTTLED').length).toBeGreaterThan(8);
    expect((await svc.call('POST', `/api/v1/mails/requests/${requestId}/cancel`)).status).toBe(200);
  }, 30_000);
});

import crypto from 'node:crypto';
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { startServiceProcess } from '../helpers/service-process.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { finishedRequestRow, startTestService, type TestService, waitFor } from '../helpers/test-service.ts';
import { createTestDb } from '../helpers/test-db.ts';
import { loadConfig } from '../../src/config.ts';
import { createBatchThrottle } from '../../src/modules/delivery/throttle.ts';
import { finishThrottle, pruneThrottleStates, takeThrottle } from '../../src/modules/delivery/throttle.repository.ts';
import { THROTTLE_BACKED_OFF_IDLE_MS, THROTTLE_IDLE_MS } from '../../src/modules/delivery/throttle-policy.ts';
import { claimDueMails, releaseMails } from '../../src/modules/delivery/delivery.repository.ts';
import { ALL_MONTHS } from '../helpers/seed-rows.ts';
import { createClaimCursor } from '../../src/modules/delivery/claim-cursor.ts';

// Throttling per destination domain and per project (issue 16), through a relay: two workers on
// one database share the limits, which the sink checks (most transactions of a domain in DATA at
// once, and when each of its messages arrived).

let sink: TestSink;
beforeAll(async () => {
  sink = await startTestSink();
});
afterAll(async () => {
  await sink?.close();
});
afterEach(() => sink.reset());

const mail = (addresses: string[]) => ({
  senderAddress: 'news@company.com',
  title: 'T',
  body: '<p>hello</p>',
  individual: true,
  recipients: addresses.map((address) => ({ address, type: 'R' })),
});
const addresses = (prefix: string, domain: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}@${domain}`);

/** Most messages of `times` (ms) within any window of `windowMs`. */
// The sink sees when a message arrived, not when its worker took the token: a message delayed
// on its way (a busy CI machine) lands in the same window as later ones. A token bucket of
// `burst` refilled at `perSecond` lets at most burst + perSecond × (window + that delay) arrive
// within a window; the tests allow 500 ms of it (CI once saw 11 in a second where 10 was the
// exact bound), which still fails by far without a limit (every message within one second).
const ARRIVAL_JITTER_MS = 500;
const mostAllowed = (burst: number, perSecond: number, windowMs: number) => Math.floor(burst + (perSecond * (windowMs + ARRIVAL_JITTER_MS)) / 1000);

function mostWithin(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

async function pair(env: Record<string, string>): Promise<[TestService, TestService]> {
  const db = await createTestDb();
  const a = await startTestService({ smtpUrl: sink.url, db, env });
  const b = await startTestService({ smtpUrl: sink.url, db, env, box: a.box, key: a.key });
  return [a, b];
}

async function stopPair([a, b]: TestService[]) {
  await Promise.all([a?.stop(), b?.stop()]);
  await a?.db.drop();
}

describe('throttling across two workers on one database', () => {
  it("holds a domain's transactions and rate across both workers while other domains' mail flows", async () => {
    const svcs = await pair({ SMTP_MAX_CONNECTIONS: '6', THROTTLE_DOMAINS: 'limited.example=connections:2,perMinute:600' });
    try {
      sink.setDataDelay(100);
      const [a] = svcs;
      const started = Date.now();
      const res = await a.call('POST', '/api/v1/mails', { body: mail([...addresses('l', 'limited.example', 40), ...addresses('f', 'free.example', 40)]) });
      expect(res.status).toBe(201);
      await finishedRequestRow(a, res.body.requestId as string);
      const stats = sink.domainStats();
      const limited = stats.get('limited.example')!;
      const free = stats.get('free.example')!;
      const span = Math.max(...limited.acceptedAt) - started;
      console.log(
        `throttle: limited.example (2 connections, 600/min) max ${limited.maxConcurrent} at once, ${mostWithin(limited.acceptedAt, 1000)} in a second at most, 40 in ${span} ms; ` +
          `free.example max ${free.maxConcurrent} at once, 40 in ${Math.max(...free.acceptedAt) - started} ms`,
      );
      expect(limited.acceptedAt).toHaveLength(40);
      expect(free.acceptedAt).toHaveLength(40);
      expect(limited.maxConcurrent).toBeLessThanOrEqual(2);
      // 600/min: a bucket of 10 (one second's worth) refilled at 10/s: 40 take at least 3 s
      expect(span).toBeGreaterThanOrEqual(2_900);
      expect(mostWithin(limited.acceptedAt, 1000)).toBeLessThanOrEqual(mostAllowed(10, 10, 1000));
      // the other domain is not held behind it
      expect(free.maxConcurrent).toBeGreaterThan(2);
      expect(Math.max(...free.acceptedAt) - started).toBeLessThan(span);
      // both workers sent, through the same limits
      const rows = await a.db.db.selectFrom('recipients').select(['status', 'retry_count']).execute();
      expect(rows.every((r) => r.status === 'S' && r.retry_count === 0)).toBe(true);
    } finally {
      await stopPair(svcs);
    }
  }, 60_000);

  it('holds a per-project rate across both workers', async () => {
    const svcs = await pair({ SMTP_MAX_CONNECTIONS: '4', THROTTLE_PROJECT_PER_MINUTE: '300' });
    try {
      const [a] = svcs;
      const started = Date.now();
      const res = await a.call('POST', '/api/v1/mails', { body: mail([...addresses('p', 'one.example', 15), ...addresses('q', 'two.example', 15)]) });
      await finishedRequestRow(a, res.body.requestId as string);
      const times = [...sink.domainStats().values()].flatMap((s) => s.acceptedAt);
      expect(times).toHaveLength(30);
      // 300/min: a bucket of 5 refilled at 5/s: 30 take at least 5 s
      expect(Math.max(...times) - started).toBeGreaterThanOrEqual(4_900);
      expect(mostWithin(times, 1000)).toBeLessThanOrEqual(mostAllowed(5, 5, 1000));
    } finally {
      await stopPair(svcs);
    }
  }, 60_000);
});

describe('a mail held back by a limit', () => {
  it('stays queued without an attempt counted, says why, and is sent when its limit lets it', async () => {
    const svc = await startTestService({ smtpUrl: sink.url, env: { THROTTLE_DOMAINS: 'slow.example=perMinute:20' } });
    try {
      const res = await svc.call('POST', '/api/v1/mails', { body: mail(addresses('s', 'slow.example', 3)) });
      const requestId = res.body.requestId as string;
      await sink.waitForMessages(1);
      // 20/min: one now, the next in 3 s
      const waiting = await waitFor(async () => {
        const rows = await svc.db.db
          .selectFrom('recipients as r')
          .innerJoin('mails as m', 'm.id', 'r.mail_id')
          .select(['r.status', 'r.retry_count', 'r.temporary_result_code', 'm.next_attempt_at', 'm.lease_token'])
          .where('r.status', 'in', ['R', 'I'])
          .execute();
        return rows.length === 2 && rows.every((r) => r.temporary_result_code === 'DELIVERY_THROTTLED' && r.lease_token === null) ? rows : undefined;
      });
      expect(waiting.map((r) => r.retry_count)).toEqual([0, 0]);
      // due again when the bucket has a token for it, not at once
      for (const r of waiting) expect(new Date(r.next_attempt_at!).getTime()).toBeGreaterThan(Date.now() + 500);
      const list = (await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=10`)).body.content as { mailId: string }[];
      const details = await Promise.all(list.map(async (m) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`)).body));
      const shown = details.flatMap(
        (d) => d.recipients as { status: { code: string }; temporaryResultCode: string | null; temporaryResultCodeMessage: string | null }[],
      );
      const held = shown.filter((r) => r.temporaryResultCode === 'DELIVERY_THROTTLED');
      expect(held).toHaveLength(2);
      expect(held[0]!.temporaryResultCodeMessage).toMatch(/limit/i);
      await finishedRequestRow(svc, requestId);
      const times = sink
        .domainStats()
        .get('slow.example')!
        .acceptedAt.sort((x, y) => x - y);
      expect(times).toHaveLength(3);
      expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(5_500);
      const rows = await svc.db.db.selectFrom('recipients').select(['status', 'retry_count', 'result_code']).execute();
      expect(rows.every((r) => r.status === 'S' && r.retry_count === 0 && r.result_code === 'MAIL_SENT')).toBe(true);
      const attempts = await svc.db.db.selectFrom('mails').select('attempts').execute();
      expect(attempts.map((m) => m.attempts)).toEqual([1, 1, 1]);
    } finally {
      await svc.stop();
    }
  }, 60_000);

  it("keeps a domain's counters across a restart", async () => {
    const db = await createTestDb();
    const env = { THROTTLE_DOMAINS: 'restart.example=perMinute:20' };
    let svc = await startTestService({ smtpUrl: sink.url, db, env });
    try {
      const first = await svc.call('POST', '/api/v1/mails', { body: mail(['a@restart.example']) });
      await finishedRequestRow(svc, first.body.requestId as string);
      const { box, key } = svc;
      await svc.stop();
      svc = await startTestService({ smtpUrl: sink.url, db, env, box, key });
      const second = await svc.call('POST', '/api/v1/mails', { body: mail(['b@restart.example']) });
      await finishedRequestRow(svc, second.body.requestId as string);
      const times = sink
        .domainStats()
        .get('restart.example')!
        .acceptedAt.sort((x, y) => x - y);
      // the restarted worker found the bucket empty: the second mail waited for its token (3 s at 20/min)
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(2_500);
      const row = await sql<{
        minute_count: number;
      }>`SELECT minute_count + prev_minute_count AS minute_count FROM delivery_throttle WHERE key = 'domain:restart.example'`.execute(db.db);
      expect(row.rows[0]!.minute_count).toBeGreaterThanOrEqual(1);
    } finally {
      await svc.stop();
      await db.drop();
    }
  }, 60_000);
});

describe('a relay that is busy', () => {
  it("is the relay's trouble: its 421 to whole transactions is retried, and pauses or slows none of the recipients' domains", async () => {
    const svc = await startTestService({
      smtpUrl: sink.url,
      env: { RETRY_LIMIT: '5', RETRY_BASE_DELAY_MS: '200', THROTTLE_PAUSE_MS: '100', THROTTLE_PAUSE_MAX_MS: '200' },
    });
    try {
      let refused = 0;
      // The relay's own limit, at the end of DATA (nodemailer's pool retries a 421 once on a new connection first).
      sink.onData(() => (refused++ < 6 ? { code: 421, message: '4.7.0 Too many concurrent connections from your host, try again later' } : 'accept'));
      const res = await svc.call('POST', '/api/v1/mails', { body: mail(addresses('r', 'busy-relay.example', 3)) });
      await finishedRequestRow(svc, res.body.requestId as string);
      expect(refused).toBeGreaterThanOrEqual(6);
      const rows = await svc.db.db.selectFrom('recipients').select(['status', 'retry_count']).execute();
      expect(rows.every((r) => r.status === 'S')).toBe(true);
      // some were retried, through the relay's trouble...
      expect(rows.some((r) => r.retry_count > 0)).toBe(true);
      // ...and the domain was neither backed off nor paused for it
      const state = await sql<{ backoff_level: number; paused_until: Date | null; last_reply: string | null }>`
        SELECT backoff_level, paused_until, last_reply FROM delivery_throttle WHERE key = 'domain:busy-relay.example'`.execute(svc.db.db);
      expect(state.rows[0]).toMatchObject({ backoff_level: 0, paused_until: null, last_reply: null });
    } finally {
      sink.onData(() => 'accept');
      await svc.stop();
    }
  }, 60_000);
});

describe('no starving, no leaks', () => {
  it("a throttled domain's backlog does not fill the claims: another request's mail goes out at once", async () => {
    const svc = await startTestService({ smtpUrl: sink.url, env: { THROTTLE_DOMAINS: 'backlog.example=perMinute:60', DELIVERY_CLAIM_BATCH: '20' } });
    try {
      const big = await svc.call('POST', '/api/v1/mails', { body: mail(addresses('b', 'backlog.example', 400)) });
      expect(big.status).toBe(201);
      await waitFor(async () => (sink.domainStats().get('backlog.example')?.acceptedAt.length ?? 0) >= 1, 15_000, 'the backlog sending');
      const other = await svc.newKey('starving-other-tenant');
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const posted = Date.now();
        const res = await svc.call('POST', '/api/v1/mails', { body: mail(addresses(`o${i}-`, 'other.example', 5)), key: other });
        expect(res.status).toBe(201);
        await waitFor(async () => sink.messages.filter((m) => m.to[0]!.startsWith(`o${i}-`)).length === 5, 10_000, 'the other mails');
        latencies.push(Date.now() - posted);
      }
      // the same request's other domain too: a held domain's mails don't hold back the rest of its request
      const mixed = await svc.call('POST', '/api/v1/mails', { body: mail([...addresses('m', 'backlog.example', 100), ...addresses('n', 'mixed.example', 5)]) });
      const posted = Date.now();
      await waitFor(async () => sink.messages.filter((m) => m.to[0]!.endsWith('@mixed.example')).length === 5, 10_000, 'the mixed request');
      console.log(
        `starving: other tenants' mails out ${latencies.join(', ')} ms after their POST; the mixed request's other domain in ${Date.now() - posted} ms`,
      );
      // well under a second on a quiet machine; behind the 1/s backlog it would be minutes
      expect(Math.max(...latencies)).toBeLessThan(6_000);
      const claims = await sql<{ n: number }>`SELECT sum(attempts)::int AS n FROM mails`.execute(svc.db.db);
      // the held mails were not attempted (nor counted): the 60/min domain sent a few
      expect(claims.rows[0]!.n).toBeLessThan(60);
      expect((await svc.call('POST', `/api/v1/mails/requests/${big.body.requestId}/cancel`)).status).toBe(200);
      expect((await svc.call('POST', `/api/v1/mails/requests/${mixed.body.requestId}/cancel`)).status).toBe(200);
    } finally {
      await svc.stop();
    }
  }, 60_000);

  it('more requests with due mail than a claim looks at: the claims go round them all, so a newer request is not starved', async () => {
    // Mail held back by a limit comes due again; with more requests than a claim probes
    // (its batch size) always having some due, claims that always began at the oldest request
    // would never reach a newer one. Here the claims are made by hand (no workers), and every
    // claimed mail is given back at once, as a held one comes due again.
    const svc = await startTestService({ smtpUrl: sink.url, workers: false });
    try {
      for (let i = 0; i < 8; i++) expect((await svc.call('POST', '/api/v1/mails', { body: mail(addresses(`c${i}-`, 'crowd.example', 3)) })).status).toBe(201);
      const requests = (await sql<{ id: string }>`SELECT id FROM mail_requests ORDER BY id`.execute(svc.db.db)).rows.map((r) => String(r.id));
      expect(requests).toHaveLength(8);
      await sql`UPDATE mail_requests SET status = 'I'`.execute(svc.db.db);
      await sql`UPDATE mails SET next_attempt_at = now() - interval '1 second'`.execute(svc.db.db);
      const reached: string[][] = [];
      const cursor = createClaimCursor(Date.now, 0);
      for (let claim = 0; claim < 4; claim++) {
        const token = crypto.randomUUID();
        const claimed = await claimDueMails(svc.db.db, 5, 60_000, token, cursor.start(), ALL_MONTHS);
        cursor.claimed(claimed);
        reached.push([...new Set(claimed.map((m) => m.request_id))].sort((a, b) => Number(a) - Number(b)));
        await releaseMails(
          svc.db.db,
          token,
          claimed.map((m) => m.id),
          ALL_MONTHS,
        );
      }
      console.log(`claims of 5 over 8 requests with due mail reached: ${reached.map((r) => r.join(',')).join(' | ')}`);
      // each claim takes one mail of each of 5 requests (in turn), and the next starts where it stopped
      expect(reached[0]).toEqual(requests.slice(0, 5));
      expect(reached[1]).toEqual([...requests.slice(0, 2), ...requests.slice(5)]);
      expect(new Set(reached.slice(0, 2).flat())).toEqual(new Set(requests));
      expect(new Set(reached.slice(2).flat())).toEqual(new Set(requests));
    } finally {
      await svc.stop();
    }
  });

  it('the oldest request behind the cursor gets a turn in every claim, while newer requests fill the part after it, and leaves the cursor where it is', async () => {
    // Under a steady stream of new requests the part after the cursor is always full, so claims
    // never go round: a large request the cursor had passed got no mail out until the stream paused.
    const svc = await startTestService({ smtpUrl: sink.url, workers: false });
    try {
      for (let i = 0; i < 8; i++) expect((await svc.call('POST', '/api/v1/mails', { body: mail(addresses(`o${i}-`, 'old.example', 1)) })).status).toBe(201);
      const requests = (await sql<{ id: string }>`SELECT id FROM mail_requests ORDER BY id`.execute(svc.db.db)).rows.map((r) => String(r.id));
      await sql`UPDATE mail_requests SET status = 'I'`.execute(svc.db.db);
      await sql`UPDATE mails SET next_attempt_at = now() - interval '1 second'`.execute(svc.db.db);
      // the cursor stands at the 4th: the 1st..4th are behind it, the 5th..8th after it
      const cursor = createClaimCursor(Date.now, 0);
      cursor.claimed([{ request_id: requests[3]!, part: 1 }]);
      const claimed = await claimDueMails(svc.db.db, 4, 60_000, crypto.randomUUID(), cursor.start(), ALL_MONTHS);
      const reached = claimed.map((m) => [m.request_id, m.part] as const).sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(reached).toEqual([
        [requests[0], 0],
        [requests[4], 1],
        [requests[5], 1],
        [requests[6], 1],
      ]);
      cursor.claimed(claimed);
      expect(cursor.position).toBe(requests[6]);
    } finally {
      await svc.stop();
    }
  });

  it('a request whose POST committed after the claims passed its id is in the next claim, not left until the claims go round', async () => {
    // A request's id is taken when its POST begins; it becomes visible at the commit. The claims
    // start from where the cursor stood a moment ago at the latest (CURSOR_LOOK_BACK_MS).
    const svc = await startTestService({ smtpUrl: sink.url, workers: false });
    try {
      // the first is an older, larger request still sending: it keeps part 0 of every claim
      expect((await svc.call('POST', '/api/v1/mails', { body: mail(addresses('big-', 'late.example', 5)) })).status).toBe(201);
      for (let i = 1; i < 12; i++) expect((await svc.call('POST', '/api/v1/mails', { body: mail(addresses(`l${i}-`, 'late.example', 1)) })).status).toBe(201);
      const requests = (await sql<{ id: string }>`SELECT id FROM mail_requests ORDER BY id`.execute(svc.db.db)).rows.map((r) => String(r.id));
      await sql`UPDATE mail_requests SET status = 'I'`.execute(svc.db.db);
      await sql`UPDATE mails SET next_attempt_at = now() - interval '1 second'`.execute(svc.db.db);
      // the 6th is not visible yet (its POST has not committed)
      const late = requests[5]!;
      await sql`UPDATE mails SET next_attempt_at = now() + interval '1 hour' WHERE request_id = ${late}::bigint`.execute(svc.db.db);
      const run = async (lookBackMs: number) => {
        let t = 0;
        const cursor = createClaimCursor(() => t, lookBackMs);
        // the claims had reached the 5th
        cursor.claimed([{ request_id: requests[4]!, part: 1 }]);
        t = 2_000;
        const token = crypto.randomUUID();
        const first = await claimDueMails(svc.db.db, 4, 60_000, token, cursor.start(), ALL_MONTHS);
        cursor.claimed(first);
        expect(first.map((m) => m.request_id)).not.toContain(late);
        // it commits
        await sql`UPDATE mails SET next_attempt_at = now() - interval '1 second' WHERE request_id = ${late}::bigint`.execute(svc.db.db);
        t = 2_500;
        const next = await claimDueMails(svc.db.db, 4, 60_000, token, cursor.start(), ALL_MONTHS);
        const reached = next.map((m) => m.request_id);
        // back for the next run
        await releaseMails(
          svc.db.db,
          token,
          [...first, ...next].map((m) => m.id),
          ALL_MONTHS,
        );
        await sql`UPDATE mails SET next_attempt_at = now() + interval '1 hour' WHERE request_id = ${late}::bigint`.execute(svc.db.db);
        return reached;
      };
      expect(await run(1_000)).toContain(late);
      // without the look-back it waits behind the newer requests (and the large one in part 0)
      expect(await run(0)).not.toContain(late);
    } finally {
      await svc.stop();
    }
  });

  it("a mail gives its domain's transaction slot to the batch's next mail once its transaction ended, while it is still recorded", async () => {
    // Held until the recording, a slot also covered the record's wait for its group and its
    // write: with a loop's share of the default 10 (3 of 4 loops' 4 in flight), the transactions
    // a single-domain stream kept open fell well below its SMTP connections.
    const db = await createTestDb();
    try {
      const config = loadConfig({ DATA_DIR: os.tmpdir(), THROTTLE_DOMAIN_CONNECTIONS: '1' }).throttle;
      const throttle = createBatchThrottle(db.db, config, {
        token: crypto.randomUUID(),
        leaseMs: 30_000,
        direct: false,
        now: () => new Date(),
        maxSlots: 4,
        loops: 1,
        paused: new Map(),
      });
      const planned = await throttle.plan([
        { id: '1', projectId: '1', addresses: ['a@one.example'] },
        { id: '2', projectId: '1', addresses: ['b@one.example'] },
      ]);
      expect([...planned.admitted]).toEqual(['1', '2']);
      const order: string[] = [];
      const { promise: recording, resolve: recorded } = Promise.withResolvers<void>();
      const first = throttle.withSlots('1', async (releaseSlots) => {
        order.push('1 sent');
        releaseSlots();
        await recording;
        order.push('1 recorded');
      });
      await throttle.withSlots('2', async () => void order.push('2 sent'));
      expect(order).toEqual(['1 sent', '2 sent']);
      recorded();
      await first;
      expect(order).toEqual(['1 sent', '2 sent', '1 recorded']);
      await throttle.finish();
    } finally {
      await db.drop();
    }
  });

  it('counts a domain’s unreachable pauses in a row apart from its back-off level: a slow-down, a success, any other reply or a long gap starts it again', async () => {
    const db = await createTestDb();
    try {
      const key = 'domain:flaky.example';
      const want = [{ key, want: 1, perMinute: 6000, connections: 2 }];
      const pause = { pauseMs: 100, pauseMaxMs: 200 };
      const report = (signal: 'slow-down' | 'unreachable' | null, successes = 0, answered = 0) => [
        { key, refund: 0, signal, reply: signal === 'slow-down' ? '421 4.7.0 later' : signal ? 'connect ETIMEDOUT' : null, successes, answered },
      ];
      const state = async () => {
        const g = (await takeThrottle(db.db, 'h', 30_000, { max: 10, share: 1 }, want))[0]!;
        await finishThrottle(db.db, 'h', [{ key, refund: g.granted, signal: null, reply: null, successes: 0, answered: 0 }], pause);
        return { level: g.level, unreachablePauses: g.unreachablePauses };
      };
      const finish = (signal: 'slow-down' | 'unreachable' | null, successes = 0, answered = 0) =>
        finishThrottle(db.db, 'h', report(signal, successes, answered), pause);
      const afterPause = () => sql`UPDATE delivery_throttle SET paused_until = now() - interval '1 ms'`.execute(db.db);
      expect(await state()).toEqual({ level: 0, unreachablePauses: 0 });
      // a slow-down, days ago, left the level up: the first timeout after it is the first unreachable pause
      await finish('slow-down');
      await afterPause();
      expect(await state()).toEqual({ level: 1, unreachablePauses: 0 });
      await finish('unreachable');
      expect(await state()).toEqual({ level: 2, unreachablePauses: 1 });
      // more reports within the same pause count once
      await finish('unreachable');
      expect(await state()).toEqual({ level: 2, unreachablePauses: 1 });
      await afterPause();
      await finish('unreachable');
      expect(await state()).toEqual({ level: 3, unreachablePauses: 2 });
      // a success ends the run
      await afterPause();
      await finish(null, 1);
      expect(await state()).toEqual({ level: 3, unreachablePauses: 0 });
      // and so does a pause for a slow-down
      await finish('unreachable');
      await afterPause();
      await finish('slow-down');
      expect(await state()).toEqual({ level: 5, unreachablePauses: 0 });
      // and so does any other reply (a host answered: 451 4.3.0, 550, …)
      await afterPause();
      await finish('unreachable');
      expect(await state()).toEqual({ level: 6, unreachablePauses: 1 });
      await afterPause();
      await finish(null, 0, 1);
      expect(await state()).toEqual({ level: 6, unreachablePauses: 0 });
      // a pause that ended long ago (more than THROTTLE_PAUSE_MAX_MS) is not the same run
      await finish('unreachable');
      await sql`UPDATE delivery_throttle SET paused_until = now() - interval '1 second'`.execute(db.db);
      await finish('unreachable');
      expect(await state()).toEqual({ level: 6, unreachablePauses: 1 });
    } finally {
      await db.drop();
    }
  });

  it("writes a key's row at a batch's end only when the report changes it: a domain answering well costs no write", async () => {
    const db = await createTestDb();
    try {
      const key = 'domain:fine.example';
      const pause = { pauseMs: 100, pauseMaxMs: 200 };
      const take = async () => (await takeThrottle(db.db, 'h', 30_000, { max: 10, share: 1 }, [{ key, want: 2, perMinute: 6000, connections: 2 }]))[0]!;
      const version = async () => (await sql<{ v: string }>`SELECT xmin::text AS v FROM delivery_throttle WHERE key = ${key}`.execute(db.db)).rows[0]!.v;
      const finish = (refund: number, successes: number, answered = 0) =>
        finishThrottle(db.db, 'h', [{ key, refund, signal: null, reply: null, successes, answered }], pause);
      const slots = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_throttle_slots WHERE holder = 'h'`.execute(db.db)).rows[0]!.n;
      expect((await take()).granted).toBe(2);
      let v = await version();
      await finish(0, 2);
      // nothing refunded, not backed off: the row stays the version the take wrote; the slots go
      expect(await version()).toBe(v);
      expect(await slots()).toBe(0);
      // a refund is written
      await take();
      v = await version();
      await finish(1, 1);
      expect(await version()).not.toBe(v);
      // a backed-off domain counts its successes toward recovery, as before
      await sql`UPDATE delivery_throttle SET backoff_level = 1, successes = 0 WHERE key = ${key}`.execute(db.db);
      await take();
      await finish(0, 3);
      const row = (
        await sql<{ backoff_level: number; successes: number }>`SELECT backoff_level, successes FROM delivery_throttle WHERE key = ${key}`.execute(db.db)
      ).rows[0]!;
      expect(row).toEqual({ backoff_level: 1, successes: 3 });
      // and an unreachable run ends at a success
      await sql`UPDATE delivery_throttle SET backoff_level = 0, successes = 0, unreachable_pauses = 2 WHERE key = ${key}`.execute(db.db);
      const pauses = async () => (await sql<{ n: number }>`SELECT unreachable_pauses AS n FROM delivery_throttle WHERE key = ${key}`.execute(db.db)).rows[0]!.n;
      await take();
      await finish(0, 1);
      expect(await pauses()).toBe(0);
      // as it does at any other reply, with no success
      await sql`UPDATE delivery_throttle SET unreachable_pauses = 2 WHERE key = ${key}`.execute(db.db);
      await take();
      await finish(0, 0, 1);
      expect(await pauses()).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it("keeps its two functions' plans while they run, with the same answers on every call of a session that plans every statement", async () => {
    const db = await createTestDb();
    try {
      const config = await sql<{ proname: string; proconfig: string[] | null }>`
        SELECT proname, proconfig FROM pg_proc WHERE proname IN ('delivery_throttle_take2', 'delivery_throttle_finish2') ORDER BY proname`.execute(db.db);
      expect(config.rows).toEqual([
        { proname: 'delivery_throttle_finish2', proconfig: ['plan_cache_mode=force_generic_plan', 'enable_seqscan=off'] },
        { proname: 'delivery_throttle_take2', proconfig: ['plan_cache_mode=force_generic_plan', 'enable_seqscan=off'] },
      ]);
      // one session (as a claim loop's connection is), many calls: the plans kept from the first
      // call answer as planning each call did (the service's sessions plan every other statement)
      await db.db.connection().execute(async (conn) => {
        const mode = await sql<{ m: string }>`SELECT current_setting('plan_cache_mode') AS m`.execute(conn);
        expect(mode.rows[0]!.m).toBe('force_custom_plan');
        for (let i = 0; i < 8; i++) {
          const key = `domain:plans${i % 2}.example`;
          const [took] = await takeThrottle(conn, 'h', 30_000, { max: 10, share: 1 }, [{ key, want: 2, perMinute: 6000, connections: 2 }]);
          expect(took).toMatchObject({ key, granted: 2, slots: 2, level: 0 });
          await finishThrottle(conn, 'h', [{ key, refund: 2, signal: null, reply: null, successes: 0, answered: 0 }], { pauseMs: 100, pauseMaxMs: 200 });
          const held = await sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_throttle_slots WHERE holder = 'h'`.execute(conn);
          expect(held.rows[0]!.n).toBe(0);
        }
      });
    } finally {
      await db.drop();
    }
  });

  it('prunes the state of keys idle for an hour (a week when backed off, never while paused); a take after it starts afresh', async () => {
    const db = await createTestDb();
    try {
      const want = (key: string) => ({ key, want: 1, perMinute: 6000, connections: 2 });
      const keys = ['domain:idle.example', 'domain:busy.example', 'domain:backedoff.example', 'domain:paused.example', 'domain:oldbackoff.example'];
      await takeThrottle(db.db, 'h', 30_000, { max: 10, share: 1 }, keys.map(want));
      await finishThrottle(
        db.db,
        'h',
        keys.map((key) => ({ key, refund: 1, signal: null, reply: null, successes: 0, answered: 0 })),
        { pauseMs: 1000, pauseMaxMs: 2000 },
      );
      await sql`UPDATE delivery_throttle SET refilled_at = now() - interval '2 hours' WHERE key <> 'domain:busy.example'`.execute(db.db);
      await sql`UPDATE delivery_throttle SET backoff_level = 2 WHERE key IN ('domain:backedoff.example', 'domain:oldbackoff.example')`.execute(db.db);
      await sql`UPDATE delivery_throttle SET refilled_at = now() - interval '8 days' WHERE key = 'domain:oldbackoff.example'`.execute(db.db);
      await sql`UPDATE delivery_throttle SET paused_until = now() + interval '1 minute' WHERE key = 'domain:paused.example'`.execute(db.db);
      await sql`INSERT INTO delivery_throttle_slots (key, slot, holder, lease_until) VALUES ('domain:busy.example', 9, 'dead', now() - interval '2 hours')`.execute(
        db.db,
      );
      expect(await pruneThrottleStates(db.db, THROTTLE_IDLE_MS, THROTTLE_BACKED_OFF_IDLE_MS)).toBe(2);
      const left = await sql<{ key: string }>`SELECT key FROM delivery_throttle ORDER BY key`.execute(db.db);
      expect(left.rows.map((r) => r.key)).toEqual(['domain:backedoff.example', 'domain:busy.example', 'domain:paused.example']);
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_throttle_slots`.execute(db.db)).rows[0]!.n).toBe(0);
      // a pruned key is created again by the next take, with a full bucket
      const again = await takeThrottle(db.db, 'h2', 30_000, { max: 10, share: 1 }, [want('domain:idle.example')]);
      expect(again[0]).toMatchObject({ key: 'domain:idle.example', granted: 1, level: 0, unreachablePauses: 0 });
      expect(await pruneThrottleStates(db.db, THROTTLE_IDLE_MS, THROTTLE_BACKED_OFF_IDLE_MS)).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it("a lost worker's transaction slots free themselves when their lease runs out", async () => {
    const db = await createTestDb();
    try {
      const want = [{ key: 'domain:lost.example', want: 5, perMinute: 6000, connections: 2 }];
      const first = await takeThrottle(db.db, 'lost-worker', 30_000, { max: 10, share: 1 }, want);
      expect(first[0]).toMatchObject({ granted: 5, slots: 2 });
      // the lost worker never gives them back: another batch gets no slot, so no token either
      const second = await takeThrottle(db.db, 'live-worker', 30_000, { max: 10, share: 1 }, want);
      expect(second[0]).toMatchObject({ granted: 0, slots: 0 });
      await sql`UPDATE delivery_throttle_slots SET lease_until = now() - interval '1 second' WHERE holder = 'lost-worker'`.execute(db.db);
      const third = await takeThrottle(db.db, 'live-worker', 30_000, { max: 10, share: 1 }, want);
      expect(third[0]).toMatchObject({ granted: 5, slots: 2 });
      // what a batch did not use goes back at its end, with its slots
      await finishThrottle(db.db, 'live-worker', [{ key: 'domain:lost.example', refund: 5, signal: null, reply: null, successes: 0, answered: 0 }], {
        pauseMs: 1000,
        pauseMaxMs: 2000,
      });
      const slots = await sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_throttle_slots`.execute(db.db);
      expect(slots.rows[0]!.n).toBe(0);
      const fourth = await takeThrottle(db.db, 'live-worker', 30_000, { max: 10, share: 1 }, want);
      expect(fourth[0]!.granted).toBe(5);
    } finally {
      await db.drop();
    }
  });

  it("claim loops that get none of a domain's transactions wait for them instead of claiming and holding the backlog again at once", async () => {
    // One transaction at once for the domain, four claim loops: three get no slot. Several
    // worker processes on one database meet this with the default limit of 10 (twelve loops).
    const db = await createTestDb();
    const svc = await startServiceProcess({
      name: 'svc',
      databaseUrl: db.url,
      smtpUrl: sink.url,
      env: { WORKER_CONCURRENCY: '4', SMTP_MAX_CONNECTIONS: '4', THROTTLE_DOMAINS: 'one.example=connections:1', LOG_LEVEL: 'debug' },
    });
    try {
      sink.setDataDelay(30);
      // A backlog far larger than what the slot lets go in the window looked at.
      const res = await svc.call('POST', '/api/v1/mails', mail(addresses('s', 'one.example', 3_000)));
      expect(res.status).toBe(201);
      await sink.waitForMessages(1, 30_000);
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 5_000));
      const batches = svc.logs().filter((r) => r.msg === 'delivery batch done' && new Date(r.time).getTime() >= from);
      const allHeld = batches.filter((r) => r.mails === 0 && r.held > 0);
      console.log(
        `throttle, 1 slot and 4 loops, 5 s of a 3,000-mail backlog: ${sink.messages.length} sent; ${batches.length} batches, ${allHeld.length} of them held whole ` +
          `(${allHeld.reduce((sum, r) => sum + (r.held as number), 0)} mails held)`,
      );
      // Each waiting loop claims again when the held mails come due (500 ms), when a sending loop
      // finds more to do, or at its poll (1 s): a few claims a second, not one after the other.
      expect(allHeld.length).toBeLessThanOrEqual(60);
    } finally {
      await svc.stop(0);
      await db.drop();
    }
  }, 60_000);
});

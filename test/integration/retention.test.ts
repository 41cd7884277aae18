import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import pg from 'pg';
import { seedHistory } from '../../scripts/seed-history.ts';
import { createLogger } from '../../src/logger.ts';
import { HISTORY_PARTITIONS } from '../../src/modules/retention/history-partitions.job.ts';
import { dropHistoryMonth, ensureHistoryPartitions, historyMonths } from '../../src/modules/retention/history-partitions.ts';
import { PURGE_HISTORY } from '../../src/modules/retention/purge-history.job.ts';
import { purgeHistory } from '../../src/modules/retention/retention.service.ts';
import { startTestService, waitFor, type TestService } from '../helpers/test-service.ts';
import { expectError } from '../helpers/responses.ts';
import { seedSentHistory } from '../helpers/seed-rows.ts';
import { useTestSink } from '../helpers/use-test-service.ts';

/**
 * RETENTION_DAYS (0: kept for ever): finished requests older than N days are deleted with their
 * mails, recipients and request files, in small batches that skip locked rows; requests still
 * being stored, waiting or sending are never touched; sending goes on while the purge runs.
 */

const DAY = 24 * 3600 * 1000;
const logger = createLogger('silent');
const seqOf = (requestId: string) => String(BigInt(requestId.slice(8)));

const sink = useTestSink();

async function rowCounts(svc: TestService, requestId: string) {
  const id = seqOf(requestId);
  const r = await sql<{ requests: number; mails: number; recipients: number; files: number }>`
    SELECT (SELECT count(*)::int FROM mail_requests WHERE id = ${id}) AS requests,
           (SELECT count(*)::int FROM mails WHERE request_id = ${id}) AS mails,
           (SELECT count(*)::int FROM recipients WHERE request_id = ${id}) AS recipients,
           (SELECT count(*)::int FROM request_files WHERE request_id = ${id}) AS files
  `.execute(svc.db.db);
  return r.rows[0]!;
}

/** The request was made `days` ago: its mails and recipients too (they share its created_at, and with it their month). */
async function age(svc: TestService, requestId: string, days: number) {
  const id = seqOf(requestId);
  const at = new Date(Date.now() - days * DAY);
  await sql`UPDATE mail_requests SET created_at = ${at} WHERE id = ${id}`.execute(svc.db.db);
  await sql`UPDATE mails SET created_at = ${at} WHERE request_id = ${id}`.execute(svc.db.db);
  await sql`UPDATE recipients SET created_at = ${at} WHERE request_id = ${id}`.execute(svc.db.db);
}

describe('the retention boundary', () => {
  let svc: TestService;
  beforeAll(async () => {
    // a deferred recipient waits 10 minutes for its retry: its request stays in I
    svc = await startTestService({ smtpUrl: sink.url, env: { RETRY_BASE_DELAY_MS: '600000', RETENTION_DAYS: '30' } });
    sink.onRcpt((a) => (a.startsWith('later') ? 'defer' : 'accept'));
  });
  afterAll(async () => {
    sink.reset();
    await svc.stop();
  });

  const send = async (body: Record<string, unknown>) => {
    const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'a@company.com', title: 'Retention', body: 'b', ...body } });
    expect(res.status).toBe(201);
    return res.body.requestId as string;
  };
  const status = async (requestId: string) => (await svc.call('GET', `/api/v1/mails/requests/${requestId}/status`)).body;

  // (The test database has no partition for last month: rows of a month without one sit in the
  // default partition and are purged to the day; a month with one goes whole, below.)
  it('purges a finished request N+1 days old and a confirm-and-send one no longer sendable; keeps one N-1 days old, a reserved one and one still I', async () => {
    const upload = await svc.call('POST', '/api/v1/files').attach('fileList', Buffer.from('hello'), 'a.txt');
    expect(upload.status).toBe(201);
    const old = await send({ recipients: [{ address: 'x1@example.com' }, { address: 'x2@example.com' }], attachFileIds: [upload.body.files[0].fileId] });
    const recent = await send({ recipients: [{ address: 'y@example.com' }] });
    const ready = await send({ recipients: [{ address: 'z@example.com' }], confirmAndSend: true });
    const reserved = await send({ recipients: [{ address: 'r@example.com' }], reservationUtc: Date.now() + 3_600_000 });
    const sending = await send({ recipients: [{ address: 'later@example.com' }] });
    await waitFor(async () => (await status(old)).finishCount === 2 && (await status(recent)).finishCount === 1, 15_000, 'both sent');
    await waitFor(
      async () =>
        (await rowCounts(svc, sending)).requests &&
        (await sql<{ c: string }>`SELECT result_code AS c FROM recipients WHERE request_id = ${seqOf(sending)}`.execute(svc.db.db)).rows[0]?.c ===
          'RESENDING_MAIL',
      15_000,
      'the deferred recipient waiting for its retry',
    );
    expect((await svc.call('GET', `/api/v1/mails/requests?requestId=${ready}`)).body.content[0].emailStatus.code).toBe('R');
    expect((await svc.call('GET', `/api/v1/mails/requests?requestId=${sending}`)).body.content[0].emailStatus.code).toBe('I');
    await age(svc, old, 31);
    await age(svc, recent, 29);
    await age(svc, ready, 40);
    await age(svc, reserved, 40);
    await age(svc, sending, 40);
    expect(await rowCounts(svc, old)).toEqual({ requests: 1, mails: 2, recipients: 2, files: 1 });

    const purged = await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() });
    // the confirm-and-send request can no longer be sent now (30 days): it is finished too
    expect(purged).toEqual({ requests: 2, mails: 3, recipients: 3 });
    expect(await rowCounts(svc, old)).toEqual({ requests: 0, mails: 0, recipients: 0, files: 0 });
    expect(await rowCounts(svc, ready)).toEqual({ requests: 0, mails: 0, recipients: 0, files: 0 });
    for (const kept of [recent, reserved, sending]) expect((await rowCounts(svc, kept)).requests).toBe(1);

    // The views know nothing of it any more.
    expectError(await svc.call('GET', `/api/v1/mails/requests/${old}/status`), '77103');
    const list = await svc.call('GET', '/api/v1/mails/requests');
    expect(list.status).toBe(200);
    expect(list.body.content.map((r: { requestId: string }) => r.requestId).sort()).toEqual([recent, reserved, sending].sort());

    // Idempotent: nothing left to purge.
    expect(await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() })).toEqual({
      requests: 0,
      mails: 0,
      recipients: 0,
    });
  });

  it('runs as a scheduled job when RETENTION_DAYS is set', async () => {
    const schedules = await sql<{ name: string; cron: string }>`SELECT name, cron FROM pgboss.schedule WHERE name = ${PURGE_HISTORY}`.execute(svc.db.db);
    expect(schedules.rows).toEqual([{ name: PURGE_HISTORY, cron: expect.any(String) }]);
    const old = await send({ recipients: [{ address: 'j@example.com' }] });
    await waitFor(async () => (await status(old)).finishCount === 1, 15_000, 'sent');
    await age(svc, old, 45);
    await svc.queue.boss.send(PURGE_HISTORY, {});
    await waitFor(async () => (await rowCounts(svc, old)).requests === 0, 15_000, 'the job to purge the old request');
  });
});

describe('RETENTION_DAYS unset', () => {
  it('keeps everything and schedules nothing', async () => {
    const svc = await startTestService({ smtpUrl: sink.url });
    try {
      const res = await svc.call('POST', '/api/v1/mails', {
        body: { senderAddress: 'a@company.com', title: 't', body: 'b', recipients: [{ address: 'k@example.com' }] },
      });
      expect(res.status).toBe(201);
      await waitFor(
        async () =>
          (await rowCounts(svc, res.body.requestId)).recipients === 1 &&
          (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/status`)).body.finishCount === 1,
      );
      await age(svc, res.body.requestId, 3000);
      expect(svc.config.retentionDays).toBe(0);
      expect(await purgeHistory({ db: svc.db.db, config: svc.config, logger, now: () => new Date() })).toEqual({ requests: 0, mails: 0, recipients: 0 });
      expect((await rowCounts(svc, res.body.requestId)).requests).toBe(1);
      const schedules = await sql`SELECT name FROM pgboss.schedule WHERE name = ${PURGE_HISTORY}`.execute(svc.db.db);
      expect(schedules.rows).toEqual([]);
    } finally {
      await svc.stop();
    }
  });
});

describe('the purge never blocks sending', () => {
  it('purges a large old history while a request is delivered, skipping rows someone holds', async () => {
    sink.reset();
    const svc = await startTestService({ smtpUrl: sink.url });
    const holder = new pg.Client({ connectionString: svc.db.url });
    try {
      // 20,000 recipients of history, all created 400 to 700 days ago
      const seeded = await seedHistory(svc.db.db, { recipients: 20_000, projects: 3, days: 300, now: new Date(Date.now() - 400 * DAY), seed: 7 });
      // Requests still waiting are kept, but for confirm-and-send ones past the 30 days in which
      // they could be sent now (they are finished in all but name).
      const waiting = await sql<{ n: number; unconfirmed: number }>`
        SELECT count(*) FILTER (WHERE NOT (status = 'R' AND confirm_and_send))::int AS n,
               count(*) FILTER (WHERE status = 'R' AND confirm_and_send)::int AS unconfirmed
        FROM mail_requests WHERE status IN ('P', 'R', 'I')`.execute(svc.db.db);
      const { n: kept, unconfirmed } = waiting.rows[0]!;

      // A request being delivered, slowly (100 ms per message, 2 connections: about 20 s).
      sink.setDataDelay(100);
      const recipients = Array.from({ length: 400 }, (_, i) => ({ address: `live${i}@example.com` }));
      const post = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'a@company.com', title: 'Live', body: 'b', recipients } });
      expect(post.status).toBe(201);
      const live: string = post.body.requestId;
      await waitFor(async () => sink.messages.length >= 5, 15_000, 'delivery to start');

      // Someone holds an old finished request (as cancel or send-now would, in their transaction).
      await holder.connect();
      await holder.query('BEGIN');
      const held = await holder.query<{ id: string }>(
        "SELECT id FROM mail_requests WHERE status = 'S' AND created_at < now() - interval '400 days' ORDER BY created_at LIMIT 1 FOR UPDATE",
      );
      const heldId = held.rows[0]!.id;

      const purging = purgeHistory(
        { db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() },
        { maxRequests: 500, maxRecipients: 5_000 },
      );
      let timer: NodeJS.Timeout | undefined;
      const purged = await Promise.race([
        purging,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the purge waited (for a lock?)')), 60_000))),
      ]).finally(() => clearTimeout(timer));
      const deliveredDuringPurge = sink.messages.length;
      const liveStatusAtEnd = (await svc.call('GET', `/api/v1/mails/requests?requestId=${live}`)).body.content[0].emailStatus.code;

      // An unconfirmed request the sweeper happens to hold at that moment is left for the next run.
      expect(purged.requests).toBeLessThanOrEqual(seeded.requests - kept - 1);
      expect(purged.requests).toBeGreaterThanOrEqual(seeded.requests - kept - unconfirmed - 1);
      expect(purged.recipients).toBeGreaterThan(15_000);
      const left = await sql<{ id: string; status: string }>`SELECT id, status FROM mail_requests WHERE id <> ${seqOf(live)} ORDER BY id`.execute(svc.db.db);
      expect(left.rows.filter((r) => r.id === heldId)).toHaveLength(1);
      expect(left.rows.filter((r) => r.id !== heldId).every((r) => ['P', 'R', 'I'].includes(r.status))).toBe(true);
      // The purge finished while the live request was still being delivered.
      expect(deliveredDuringPurge).toBeLessThan(400);
      expect(liveStatusAtEnd).toBe('I');

      await holder.query('ROLLBACK');
      sink.setDataDelay(0);
      await waitFor(
        async () => (await svc.call('GET', `/api/v1/mails/requests/${live}/status`)).body.finishCount === 400,
        60_000,
        'the live request to finish',
      );
      const liveRows = await sql<{
        status: string;
        n: number;
      }>`SELECT status, count(*)::int AS n FROM recipients WHERE request_id = ${seqOf(live)} GROUP BY status`.execute(svc.db.db);
      expect(liveRows.rows).toEqual([{ status: 'S', n: 400 }]);
      // The request is rolled up by the batch that recorded its last mails, just after that
      // recording (statements later than finishCount can see it); a missed roll-up would wait for
      // the sweep, every 15 s.
      await waitFor(
        async () => (await svc.call('GET', `/api/v1/mails/requests?requestId=${live}`)).body.content[0].emailStatus.code === 'S',
        3_000,
        'the live request to be rolled up',
      );

      // Resumable: the next run takes what was held, and the live request is too young to go.
      const again = await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() });
      expect(purged.requests + again.requests).toBe(seeded.requests - kept);
      expect((await rowCounts(svc, live)).recipients).toBe(400);
    } finally {
      sink.reset();
      sink.setDataDelay(0);
      await holder.end().catch(() => undefined);
      await svc.stop();
    }
  });
});

describe('history by month (mails and recipients are partitioned by month of created_at)', () => {
  const months = async (svc: TestService) =>
    (
      await sql<{ name: string }>`
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'mails'::regclass ORDER BY 1`.execute(svc.db.db)
    ).rows.map((r) => r.name);
  const monthName = (d: Date) => `mails_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

  it('drops the months wholly past retention at once; a month holding a request still waiting is purged row by row; the month the cutoff falls in is kept whole', async () => {
    const svc = await startTestService({ smtpUrl: sink.url, workers: false });
    try {
      const cutoff = new Date(Date.now() - 30 * DAY);
      const cutoffMonth = new Date(Date.UTC(cutoff.getUTCFullYear(), cutoff.getUTCMonth(), 1));
      // about 5,000 recipients made over the 95 days before the cutoff's month: three or four months, all wholly past it
      const seeded = await seedHistory(svc.db.db, { recipients: 5_000, projects: 2, days: 95, now: new Date(cutoffMonth.getTime() - DAY), seed: 11 });
      const past = (await months(svc)).filter((name) => name !== 'mails_default' && name < monthName(cutoffMonth));
      expect(past.length).toBeGreaterThanOrEqual(3);
      // Everything of those months is finished, but one request of the oldest: it waits for its reservation.
      await sql`UPDATE mail_requests SET status = 'S' WHERE status IN ('P', 'R', 'I') AND created_at < ${cutoffMonth}`.execute(svc.db.db);
      await sql`UPDATE mails SET status = 'S' WHERE status IN ('R', 'I') AND created_at < ${cutoffMonth}`.execute(svc.db.db);
      const oldest = past[0]!;
      const waiting = (await sql<{ id: string }>`SELECT request_id AS id FROM ${sql.table(oldest)} ORDER BY created_at DESC LIMIT 1`.execute(svc.db.db))
        .rows[0]!;
      await sql`UPDATE mail_requests SET status = 'R', reservation_at = now() + interval '1 day' WHERE id = ${waiting.id}`.execute(svc.db.db);
      await sql`UPDATE mails SET status = 'R' WHERE request_id = ${waiting.id}`.execute(svc.db.db);
      // The month the cutoff falls in, with a finished request older than the cutoff (its first seconds).
      await ensureHistoryPartitions(svc.db.db, cutoff);
      const project = await svc.newKey('retention-months');
      const inCutoffMonth = await seedSentHistory(svc.db.pool, {
        projectId: project.projectId,
        recipients: 2,
        perRequest: 2,
        createdAt: new Date(cutoffMonth.getTime() + 10_000),
      });
      expect(cutoff.getTime()).toBeGreaterThan(cutoffMonth.getTime() + 10_000);
      const before = await sql<{ requests: number; recipients: number; oldest: number }>`
        SELECT (SELECT count(*)::int FROM mail_requests WHERE created_at < ${cutoffMonth}) AS requests,
               (SELECT count(*)::int FROM recipients WHERE created_at < ${cutoffMonth}) AS recipients,
               (SELECT count(*)::int FROM ${sql.table(oldest.replace('mails', 'recipients'))}) AS oldest`.execute(svc.db.db);
      const waitingRecipients = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM recipients WHERE request_id = ${waiting.id}`.execute(svc.db.db))
        .rows[0]!.n;
      expect(before.rows[0]!.oldest).toBeGreaterThan(waitingRecipients);

      const purged = await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() });

      // The held month is still there; the others past the cutoff are gone, tables and all.
      const after = await months(svc);
      expect(after).toContain(oldest);
      for (const name of past.slice(1)) expect(after).not.toContain(name);
      // Every request made before the cutoff's month went, with its rows, but the one still waiting:
      // the held month's own rows were purged row by row.
      const left = await sql<{ id: string }>`SELECT id FROM mail_requests WHERE created_at < ${cutoffMonth}`.execute(svc.db.db);
      expect(left.rows.map((r) => String(r.id))).toEqual([String(waiting.id)]);
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(oldest.replace('mails', 'recipients'))}`.execute(svc.db.db)).rows[0]!.n).toBe(
        waitingRecipients,
      );
      expect(purged.requests).toBe(before.rows[0]!.requests - 1);
      expect(purged.recipients).toBe(before.rows[0]!.recipients - waitingRecipients);
      expect(seeded.recipients).toBe(before.rows[0]!.recipients);
      // The cutoff's month is kept whole until it is wholly past: its request older than the cutoff too.
      const kept = await sql<{ n: number }>`SELECT count(*)::int AS n FROM recipients WHERE project_id = ${project.projectId}::bigint`.execute(svc.db.db);
      expect(kept.rows[0]!.n).toBe(2);
      expect((await svc.call('GET', `/api/v1/mails/requests/${inCutoffMonth.requestIds[0]}/status`, { key: project })).status).toBe(200);

      // Once it is sent, the next run drops its month too.
      await sql`UPDATE mail_requests SET status = 'S' WHERE id = ${waiting.id}`.execute(svc.db.db);
      await sql`UPDATE mails SET status = 'S' WHERE request_id = ${waiting.id}`.execute(svc.db.db);
      const again = await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() });
      expect(again).toEqual({ requests: 1, mails: expect.any(Number), recipients: waitingRecipients });
      expect(await months(svc)).not.toContain(oldest);
    } finally {
      await svc.stop();
    }
  });

  it('a run killed after dropping a month, before deleting its requests: the next run deletes them', async () => {
    const svc = await startTestService({ smtpUrl: sink.url, workers: false });
    try {
      const cutoff = new Date(Date.now() - 30 * DAY);
      const cutoffMonth = new Date(Date.UTC(cutoff.getUTCFullYear(), cutoff.getUTCMonth(), 1));
      await seedHistory(svc.db.db, { recipients: 1_000, projects: 1, days: 20, now: new Date(cutoffMonth.getTime() - 40 * DAY), seed: 5 });
      await sql`UPDATE mail_requests SET status = 'S' WHERE created_at < ${cutoffMonth}`.execute(svc.db.db);
      await sql`UPDATE mails SET status = 'S' WHERE created_at < ${cutoffMonth}`.execute(svc.db.db);
      const past = (await historyMonths(svc.db.db)).filter((m) => m.to <= cutoffMonth);
      expect(past.length).toBeGreaterThanOrEqual(1);
      // What the run did up to the kill: the months' tables dropped, their requests not yet deleted.
      for (const month of past) {
        expect(await svc.db.db.transaction().execute((tx) => dropHistoryMonth(tx, month, cutoff))).toBe(true);
      }
      const orphans = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests WHERE created_at < ${cutoffMonth}`.execute(svc.db.db)).rows[0]!.n;
      expect(orphans).toBeGreaterThan(0);

      const next = await purgeHistory({ db: svc.db.db, config: { ...svc.config, retentionDays: 30 }, logger, now: () => new Date() });
      expect(next).toEqual({ requests: orphans, mails: 0, recipients: 0 });
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests WHERE created_at < ${cutoffMonth}`.execute(svc.db.db)).rows[0]!.n).toBe(0);
    } finally {
      await svc.stop();
    }
  });

  it('the months ahead are made by the history-partitions job; rows that went to the default partition move into their month when it is made', async () => {
    const svc = await startTestService({ smtpUrl: sink.url });
    try {
      const now = new Date();
      const ahead = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 15));
      expect(await months(svc)).toContain(monthName(ahead));
      // a row of a month far ahead (a clock gone wrong, say) waits in the default partition
      const far = new Date(Date.UTC(now.getUTCFullYear() + 3, 4, 20));
      await sql`INSERT INTO recipients (mail_id, request_id, project_id, address, type, created_at) VALUES (1, 1, 1, 'far@example.com', 'R', ${far})`.execute(
        svc.db.db,
      );
      const where = async () =>
        (await sql<{ part: string }>`SELECT tableoid::regclass::text AS part FROM recipients WHERE address = 'far@example.com'`.execute(svc.db.db)).rows[0]
          ?.part;
      expect(await where()).toBe('recipients_default');
      // the job run that reaches its month (its clock two months before) makes it, and the row moves in
      expect(await ensureHistoryPartitions(svc.db.db, new Date(Date.UTC(far.getUTCFullYear(), 2, 1)))).toBe(6);
      expect(await where()).toBe(`recipients_p${far.getUTCFullYear()}05`);
      // made once: a second run makes nothing
      expect(await ensureHistoryPartitions(svc.db.db, new Date(Date.UTC(far.getUTCFullYear(), 2, 1)))).toBe(0);
      // A row still arriving in the default partition for the month being made (a writer's
      // transaction open meanwhile) waits, then moves in with the others.
      const writer = new pg.Client({ connectionString: svc.db.url });
      await writer.connect();
      try {
        const later = new Date(Date.UTC(far.getUTCFullYear(), 6, 9));
        await writer.query('BEGIN');
        await writer.query(
          `INSERT INTO recipients (mail_id, request_id, project_id, address, type, created_at) VALUES (1, 1, 1, 'late@example.com', 'R', $1)`,
          [later],
        );
        const making = ensureHistoryPartitions(svc.db.db, new Date(Date.UTC(far.getUTCFullYear(), 6, 1)));
        await new Promise((r) => setTimeout(r, 300));
        await writer.query('COMMIT');
        expect(await making).toBe(6);
        const late = await sql<{ part: string }>`SELECT tableoid::regclass::text AS part FROM recipients WHERE address = 'late@example.com'`.execute(svc.db.db);
        expect(late.rows).toEqual([{ part: `recipients_p${far.getUTCFullYear()}07` }]);
      } finally {
        await writer.end();
      }
      // the job is scheduled on every worker process
      const schedules = await sql<{ name: string }>`SELECT name FROM pgboss.schedule WHERE name = ${HISTORY_PARTITIONS}`.execute(svc.db.db);
      expect(schedules.rows).toHaveLength(1);
    } finally {
      await svc.stop();
    }
  });
});

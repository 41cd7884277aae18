import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { seedHistory, type SeededHistory } from '../../scripts/seed-history.ts';
import type { Db } from '../../src/db/schema.ts';
import { START_RESERVATION } from '../../src/modules/lifecycle/start-reservation.job.ts';
import { rollUpStatus } from '../../src/modules/lifecycle/roll-up-status.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { dayNumber } from '../../src/shared/clock.ts';
import { RESULT_CODES } from '../../src/shared/i18n.ts';
import { formatNumericId, parseNumericId } from '../../src/shared/ids.ts';
import { createTestDb } from '../helpers/test-db.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * The history generator (npm run seed:history): what it writes is what the service would have
 * written (ids, counts, roll-ups, codes), reproducible by seed, and the views answer over it.
 */

const N = 12_000;
const TZ = 'Asia/Seoul';
const { svc } = useTestService({ workers: false });
let seeded: SeededHistory;
let db: Db;

beforeAll(async () => {
  db = svc.db.db;
  seeded = await seedHistory(db, { recipients: N, projects: 6, days: 730, seed: 42, box: svc.box, queue: svc.queue, displayTimezone: TZ });
});

const rows = async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(db)).rows;

describe('counts add up', () => {
  it('writes exactly the recipients asked for, with their mails and requests', async () => {
    const [c] = await rows(sql<{ requests: number; mails: number; recipients: number }>`
      SELECT (SELECT count(*)::int FROM mail_requests) AS requests, (SELECT count(*)::int FROM mails) AS mails, (SELECT count(*)::int FROM recipients) AS recipients`);
    expect(c).toEqual({ requests: seeded.requests, mails: seeded.mails, recipients: N });
    expect(seeded.recipients).toBe(N);
    expect(seeded.requests).toBeGreaterThan(1000);
  });

  it('reports the size of the database on disk (for the capacity model)', async () => {
    const [size] = await rows(sql<{ bytes: string }>`SELECT pg_database_size(current_database()) AS bytes`);
    // read right after the seed: later tests in this file write little
    expect(seeded.databaseBytes).toBeGreaterThan(0);
    expect(Math.abs(seeded.databaseBytes - Number(size!.bytes)) / Number(size!.bytes)).toBeLessThan(0.5);
  });

  it('every recipient has its mail and request, in the same project', async () => {
    const orphans = await rows(sql<{ n: number }>`
      SELECT count(*)::int AS n FROM recipients r
      LEFT JOIN mails m ON m.id = r.mail_id LEFT JOIN mail_requests q ON q.id = r.request_id
      WHERE m.id IS NULL OR q.id IS NULL OR m.request_id <> r.request_id OR m.project_id <> r.project_id OR q.project_id <> r.project_id
        OR r.created_at <> q.created_at`);
    expect(orphans[0]!.n).toBe(0);
    const mailOrphans = await rows(sql<{ n: number }>`
      SELECT count(*)::int AS n FROM mails m LEFT JOIN mail_requests q ON q.id = m.request_id
      WHERE q.id IS NULL OR q.project_id <> m.project_id OR q.id_day <> m.id_day OR q.created_at <> m.created_at`);
    expect(mailOrphans[0]!.n).toBe(0);
  });

  it('request_count, recipient_count, stored_count and mail recipient_count agree with the rows', async () => {
    const bad = await rows(sql<{ id: string }>`
      SELECT q.id FROM mail_requests q
      LEFT JOIN (SELECT request_id, count(*) AS mails, sum(recipient_count) AS in_mails, min(seq) AS lo, max(seq) AS hi FROM mails GROUP BY request_id) m ON m.request_id = q.id
      LEFT JOIN (SELECT request_id, count(*) AS n FROM recipients GROUP BY request_id) r ON r.request_id = q.id
      WHERE q.request_count <> m.mails OR q.recipient_count <> r.n OR q.stored_count <> q.recipient_count OR m.in_mails <> r.n
        OR m.lo <> 1 OR m.hi <> m.mails`);
    expect(bad).toEqual([]);
    const badMails = await rows(sql<{ id: string }>`
      SELECT m.id FROM mails m JOIN (SELECT mail_id, count(*) AS n, bool_or(address = m2.representative_address) AS has_rep
        FROM recipients JOIN mails m2 ON m2.id = mail_id GROUP BY mail_id) r ON r.mail_id = m.id
      WHERE r.n <> m.recipient_count OR NOT r.has_rep OR (m.recipient_count > 30)`);
    expect(badMails).toEqual([]);
  });
});

describe('statuses and codes', () => {
  it('a mail rolls up its recipients, a request its mails (cancelled requests are C)', async () => {
    const mailCounts = await rows(sql<{ id: string; status: string; counts: Record<string, number> }>`
      SELECT m.id, m.status, jsonb_object_agg(r.status, r.n) AS counts
      FROM mails m JOIN (SELECT mail_id, status, count(*)::int AS n FROM recipients GROUP BY mail_id, status) r ON r.mail_id = m.id
      GROUP BY m.id, m.status`);
    expect(mailCounts).toHaveLength(seeded.mails);
    const wrongMails = mailCounts.filter((m) => (rollUpStatus(m.counts) ?? 'R') !== m.status);
    expect(wrongMails).toEqual([]);

    const requestCounts = await rows(sql<{ id: string; status: string; counts: Record<string, number>; canceled_at: Date | null; finished_at: Date | null }>`
      SELECT q.id, q.status, q.canceled_at, q.finished_at, jsonb_object_agg(m.status, m.n) AS counts
      FROM mail_requests q JOIN (SELECT request_id, status, count(*)::int AS n FROM mails GROUP BY request_id, status) m ON m.request_id = q.id
      GROUP BY q.id`);
    for (const r of requestCounts) {
      if (r.status === 'C') {
        expect(r.canceled_at).not.toBeNull();
        expect(r.counts.C).toBeGreaterThan(0);
      } else {
        expect({ id: r.id, status: rollUpStatus(r.counts) ?? 'R' }).toEqual({ id: r.id, status: r.status });
        expect(r.canceled_at).toBeNull();
      }
      expect({ id: r.id, finished: r.finished_at !== null }).toEqual({ id: r.id, finished: r.status !== 'R' });
    }
  });

  it('has realistic proportions: mostly S, some F, PF, C and U, a few R ahead', async () => {
    const byStatus = Object.fromEntries(
      (await rows(sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM mail_requests GROUP BY status`)).map((r) => [r.status, r.n]),
    );
    expect(byStatus.S).toBeGreaterThan(seeded.requests * 0.7);
    for (const s of ['F', 'PF', 'C']) expect(byStatus[s]).toBeGreaterThan(0);
    expect(byStatus.P ?? 0).toBe(0);
    expect(byStatus.I ?? 0).toBe(0);
    const recipientsByStatus = Object.fromEntries(
      (await rows(sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM recipients GROUP BY status`)).map((r) => [r.status, r.n]),
    );
    expect(recipientsByStatus.U).toBeGreaterThan(0);
    const main = await rows(sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests WHERE project_id = ${seeded.main.id}`);
    expect(main[0]!.n / seeded.requests).toBeGreaterThan(0.5);
    const projects = await rows(sql<{ n: number }>`SELECT count(DISTINCT project_id)::int AS n FROM mail_requests`);
    expect(projects[0]!.n).toBe(6);
    const kinds = await rows(sql<{ general: number; ad: number; tpl: number; reserved: number }>`
      SELECT count(*) FILTER (WHERE NOT individual)::int AS general, count(*) FILTER (WHERE advertising)::int AS ad,
             count(*) FILTER (WHERE template_sid IS NOT NULL)::int AS tpl, count(*) FILTER (WHERE reservation_at IS NOT NULL)::int AS reserved
      FROM mail_requests`);
    for (const v of Object.values(kinds[0]!)) expect(v).toBeGreaterThan(0);
    // templates exist in their project
    const badTemplates = await rows(sql<{ n: number }>`
      SELECT count(*)::int AS n FROM mail_requests q LEFT JOIN templates t ON t.sid = q.template_sid AND t.project_id = q.project_id
      WHERE q.template_sid IS NOT NULL AND (t.sid IS NULL OR t.name <> q.template_name)`);
    expect(badTemplates[0]!.n).toBe(0);
  });

  it('result codes agree with statuses; received and finished dates are where they belong', async () => {
    const combos = await rows(sql<{ status: string; code: string | null; received: boolean; finished: boolean; retry: number }>`
      SELECT DISTINCT status, result_code AS code, received_at IS NOT NULL AS received, finished_at IS NOT NULL AS finished, retry_count AS retry FROM recipients`);
    const errorCodes = RESULT_CODES.filter(
      (c) => c.endsWith('_ERROR') || c.endsWith('_FAIL') || ['SEND_BLOCK_ADDRESS', 'CONTENT_HAS_TAG_FORM', 'NONEXISTENT_DOMAIN_ADDRESS'].includes(c),
    );
    for (const c of combos) {
      if (c.status === 'S') expect(c).toEqual({ status: 'S', code: 'MAIL_SENT', received: true, finished: true, retry: c.retry });
      else if (c.status === 'F') expect(errorCodes).toContain(c.code);
      else if (c.status === 'U') expect(c.code).toBe('UNSUBSCRIBE_ADDRESS');
      else if (c.status === 'C') expect(c.code).toBe('CANCELED_MAIL');
      else expect(c).toEqual({ status: 'R', code: null, received: false, finished: false, retry: 0 });
      if (c.status !== 'S') expect(c.received).toBe(false);
      if (c.code === 'RESEND_MAIL_FAIL') expect(c.retry).toBe(3);
    }
    expect(new Set(combos.filter((c) => c.status === 'F').map((c) => c.code)).size).toBeGreaterThan(3);
    expect(combos.some((c) => c.status === 'S' && c.retry > 0)).toBe(true);
    const timeline = await rows(sql<{ n: number }>`
      SELECT count(*)::int AS n FROM recipients r JOIN mail_requests q ON q.id = r.request_id
      WHERE r.finished_at < q.created_at OR r.finished_at > q.finished_at OR q.finished_at > now() OR q.created_at > now()
        OR q.created_at < now() - interval '731 days'`);
    expect(timeline[0]!.n).toBe(0);
  });

  it('public ids are yyyyMMdd (display time zone) + 12 digits of mail_id_seq; ids grow with time', async () => {
    const reqs = await rows(sql<{ id: string; id_day: number; created_at: Date }>`SELECT id, id_day, created_at FROM mail_requests ORDER BY id`);
    for (const r of reqs) {
      expect({ id: r.id, day: r.id_day }).toEqual({ id: r.id, day: dayNumber(r.created_at, TZ) });
      const pub = formatNumericId(r.id_day, r.id);
      expect(pub).toMatch(/^\d{20}$/);
      expect(parseNumericId(pub)).toEqual({ day: r.id_day, seq: BigInt(r.id) });
    }
    for (let i = 1; i < reqs.length; i++) expect(reqs[i]!.created_at >= reqs[i - 1]!.created_at).toBe(true);
    const seq = await rows(
      sql<{
        last: string;
        max: string;
      }>`SELECT (SELECT last_value FROM mail_id_seq)::text AS last, (SELECT greatest(max(m.id), max(q.id)) FROM mails m, mail_requests q)::text AS max`,
    );
    expect(BigInt(seq[0]!.last) >= BigInt(seq[0]!.max)).toBe(true);
  });

  it('reservations still ahead have their start jobs', async () => {
    const ahead = await rows(sql<{ id: string }>`SELECT id::text FROM mail_requests WHERE status = 'R' AND NOT confirm_and_send`);
    const jobs = await rows(sql<{ id: string }>`SELECT DISTINCT data->>'requestId' AS id FROM pgboss.job WHERE name = ${START_RESERVATION}`);
    expect(jobs.map((j) => j.id).sort()).toEqual(ahead.map((r) => r.id).sort());
  });
});

describe('the views answer over it (responses validated against the spec)', () => {
  const key = (): CreatedKey => ({
    projectId: seeded.main.id,
    projectName: seeded.main.name,
    accessKey: seeded.main.accessKey!,
    secretKey: seeded.main.secretKey!,
  });

  it('request list, status, mail list, one mail and the recipient view', async () => {
    const startUtc = Date.now() - 731 * 24 * 3600 * 1000;
    const list = await svc.call('GET', `/api/v1/mails/requests?size=50&startUtc=${startUtc}&endUtc=${Date.now()}`, { key: key() });
    expect(list.status).toBe(200);
    expect(list.body.content).toHaveLength(50);
    const inMain = await rows(sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_requests WHERE project_id = ${seeded.main.id}`);
    expect(list.body.totalElements).toBe(inMain[0]!.n);
    const big = await rows(sql<{ id: string; id_day: number }>`
      SELECT id, id_day FROM mail_requests WHERE project_id = ${seeded.main.id} AND status = 'PF' ORDER BY recipient_count DESC LIMIT 1`);
    const requestId = formatNumericId(big[0]!.id_day, big[0]!.id);
    const status = await svc.call('GET', `/api/v1/mails/requests/${requestId}/status`, { key: key() });
    expect(status.status).toBe(200);
    expect(status.body.finishCount).toBe(status.body.requestCount);
    const mails = await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=20`, { key: key() });
    expect(mails.status).toBe(200);
    const mail = await svc.call('GET', `/api/v1/mails/${mails.body.content[0].mailId}`, { key: key() });
    expect(mail.status).toBe(200);
    const search = await svc.call('GET', `/api/v1/mails/requests?title=${encodeURIComponent('newsletter')}&sendStatus=S`, { key: key() });
    expect(search.status).toBe(200);
    expect(search.body.content.length).toBeGreaterThan(0);
    const recipients = await svc.call('GET', '/api/v1/mails/recipients?size=30', { key: key() });
    expect(recipients.status).toBe(200);
    expect(recipients.body.content.length).toBe(30);
  });

  it('every project got a working access key', async () => {
    expect(seeded.projects).toHaveLength(6);
    for (const p of seeded.projects) {
      const res = await svc.call('GET', '/api/v1/mails/requests?size=1', {
        key: { projectId: p.id, projectName: p.name, accessKey: p.accessKey!, secretKey: p.secretKey! },
      });
      expect(res.status).toBe(200);
    }
  });
});

describe('reproducible', () => {
  it('the same seed gives the same history (ids aside), also loaded in bulk; the bulk load rebuilds every index', async () => {
    const other = await createTestDb();
    const indexes = async (d: Db) =>
      (
        await sql<{
          def: string;
        }>`SELECT indexdef AS def FROM pg_indexes WHERE tablename IN ('mail_requests', 'mails', 'recipients') ORDER BY indexname`.execute(d)
      ).rows.map((r) => r.def);
    try {
      const before = await indexes(other.db);
      expect(before.length).toBeGreaterThan(5);
      await seedHistory(other.db, { recipients: N, projects: 6, days: 730, seed: 42, displayTimezone: TZ, bulk: true, chunkRecipients: 5000 });
      expect(await indexes(other.db)).toEqual(before);
      const fingerprint = async (d: Db) =>
        (
          await sql<{ f: string }>`
            SELECT md5(string_agg(concat_ws('|', p.name, q.status, q.title, q.sender_address, q.individual, q.advertising, q.recipient_count, r.address, r.name, r.type, r.status, r.result_code, r.retry_count), ',' ORDER BY q.created_at, q.id, r.id)) AS f
            FROM recipients r JOIN mail_requests q ON q.id = r.request_id JOIN projects p ON p.id = q.project_id`.execute(d)
        ).rows[0]!.f;
      // created_at depends on `now`; the rest of the history does not
      expect(await fingerprint(other.db)).toBe(await fingerprint(db));
    } finally {
      await other.drop();
    }
  });

  it('refuses a recipient count that is not a whole number >= 1', async () => {
    await expect(seedHistory(db, { recipients: 0 })).rejects.toThrow(/recipients/);
  });

  it.each([
    [['--recipients', 'ten'], /--recipients must be a whole number/],
    [[], /--recipients is required/],
    [['--recipients', '10', '--days', '-3'], /--days/],
    [['--recipients', '10', '--colour', 'red'], /colour/],
  ])('the CLI refuses %j with a usage message, before touching any database', (args, message) => {
    const res = spawnSync(process.execPath, ['scripts/seed-history.ts', ...args], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).toContain('usage: npm run seed:history');
  });
});

import { describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import pg from 'pg';
import { applyReports } from '../../src/modules/feedback/feedback.service.ts';
import { createLogger } from '../../src/logger.ts';
import { finishRequestsIfDone } from '../../src/modules/lifecycle/lifecycle.service.ts';
import { rollUpStatus } from '../../src/modules/lifecycle/roll-up-status.ts';
import { type SeededRequest, seedProject, seedRequest } from '../helpers/seed-rows.ts';
import { useTestDb } from '../helpers/use-test-service.ts';

// A request's roll-up is one statement (finishDoneRequests): its final status is computed in SQL
// from its mails' statuses. rollUpStatus (roll-up-status.ts) says the same for a mail from its
// recipients'; the two must agree on every mix of statuses.

const db = useTestDb();
const FINAL = ['S', 'F', 'PF', 'U', 'C'] as const;
// a mail is never P (mails_status_check); rollUpStatus counts P for recipients
const PENDING = ['R', 'I'] as const;

/** every mix of final statuses (one mail each), alone and with one pending mail */
function mixes(): string[][] {
  const out: string[][] = [];
  for (let bits = 1; bits < 1 << FINAL.length; bits++) {
    const mix = FINAL.filter((_, i) => bits & (1 << i)) as string[];
    out.push(mix);
    for (const p of PENDING) out.push([...mix, p]);
  }
  out.push(['R'], ['I', 'I']);
  return out;
}

describe('finishRequestsIfDone', () => {
  // likelyPending: the done requests are looked for first (doneAmong), as a batch of a large request's mails does
  it.each([false, true])(
    'gives each request the status rollUpStatus gives its mails, for every mix, and leaves the pending ones sending (likelyPending %s)',
    async (likelyPending) => {
      const projectId = await seedProject(db.db, `roll-up-${likelyPending}`);
      const cases = mixes();
      const seeded: SeededRequest[] = [];
      for (const statuses of cases) {
        const request = await seedRequest(db.db, { projectId, status: 'I', recipients: statuses.map((_, i) => ({ address: `r${i}@example.com` })) });
        await sql`
        UPDATE mails m SET status = u.status FROM unnest(${request.mailIds.map((id) => id.slice(8))}::bigint[], ${statuses}::text[]) AS u(id, status)
        WHERE m.id = u.id`.execute(db.db);
        seeded.push(request);
      }
      const rollUp = () =>
        finishRequestsIfDone(
          { db: db.db },
          seeded.map((r) => r.id),
          undefined,
          likelyPending,
        );
      await rollUp();
      const rows = await db.db
        .selectFrom('mail_requests')
        .select(['id', 'status', 'finished_at'])
        .where(
          'id',
          'in',
          seeded.map((r) => r.id),
        )
        .execute();
      const statusOf = new Map(rows.map((r) => [String(r.id), r]));
      const wrong = cases.flatMap((statuses, i) => {
        const counts: Record<string, number> = {};
        for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
        const expected = rollUpStatus(counts);
        const want = expected === null || expected === 'I' ? 'I' : expected;
        const got = statusOf.get(seeded[i]!.id)!;
        return got.status === want && (want === 'I') === (got.finished_at === null) ? [] : [{ statuses, want, got: got.status }];
      });
      expect(wrong).toEqual([]);
      // each finished request's event would go to the outbox (none here: the project has no endpoints), and a second roll-up changes nothing
      const finished = rows.filter((r) => r.status !== 'I').length;
      expect(finished).toBe(31);
      await rollUp();
      const again = await db.db
        .selectFrom('mail_requests')
        .select(['id', 'finished_at'])
        .where('status', '!=', 'I')
        .where('project_id', '=', projectId)
        .execute();
      expect(again.map((r) => [String(r.id), r.finished_at?.getTime()]).sort()).toEqual(
        rows
          .filter((r) => r.status !== 'I')
          .map((r) => [String(r.id), r.finished_at?.getTime()])
          .sort(),
      );
    },
  );
});

describe('a late failure while the request is rolled up', () => {
  /** A request whose two mails were both sent (S), not rolled up yet (I); one recipient's id. */
  async function sentNotRolledUp(name: string) {
    const projectId = await seedProject(db.db, name);
    const request = await seedRequest(db.db, { projectId, status: 'I', recipients: [{ address: 'fails@example.com' }, { address: 'ok@example.com' }] });
    const failing = await db.db
      .selectFrom('recipients')
      .select(['id', 'mail_id'])
      .where('request_id', '=', request.id)
      .where('address', '=', 'fails@example.com')
      .executeTakeFirstOrThrow();
    return { request, recipientId: String(failing.id), mailId: String(failing.mail_id) };
  }
  const statusOf = async (requestId: string) =>
    (await db.db.selectFrom('mail_requests').select('status').where('id', '=', requestId).executeTakeFirstOrThrow()).status;
  const mailStatus = async (mailId: string) => (await db.db.selectFrom('mails').select('status').where('id', '=', mailId).executeTakeFirstOrThrow()).status;

  /** Another connection, for a transaction the test holds open. */
  async function session(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    return client;
  }
  /** Another connection in a transaction held open after these statements, for the test to commit when it chooses. */
  async function holding(...statements: [string, unknown[]][]): Promise<pg.Client> {
    const client = await session();
    await client.query('BEGIN');
    for (const [text, params] of statements) await client.query(text, params);
    return client;
  }
  /** Waits until `n` backends of this database wait on a lock. */
  async function lockWaiters(n: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(db.db);
      if (rows[0]!.n >= n) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${n} lock waiters expected`);
  }
  const feedbackDeps = () => ({ db: db.db, now: () => new Date(), logger: createLogger('silent') });
  const hardBounce = (recipientId: string) => ({
    recipientIds: [recipientId],
    report: {
      kind: 'dsn' as const,
      recipients: [{ finalRecipient: 'fails@example.com', action: 'failed', status: '5.1.1', diagnosticCode: '550 5.1.1 no such user' }],
      original: {},
    },
  });

  it('a roll-up that counted before the failure committed leaves the request to the roll-up after it: PF, not S', async () => {
    const { request, recipientId, mailId } = await sentNotRolledUp('late-1');
    // Something holds the failing recipient: the bounce locks the request, then waits there.
    const holder = await holding(['SELECT 1 FROM recipients WHERE id = $1 FOR UPDATE', [recipientId]]);
    try {
      const applied = applyReports(feedbackDeps(), [hardBounce(recipientId)]);
      await lockWaiters(1);
      // The roll-up counts now (both mails S in its snapshot), then waits for the request the bounce holds.
      const rollUp = finishRequestsIfDone({ db: db.db }, [request.id]);
      await lockWaiters(2);
      // The bounce goes on: the mail fails, the request's row is rewritten, the bounce commits.
      await holder.query('COMMIT');
      expect(await applied).toEqual(['hard_bounce']);
      await rollUp;
      expect(await mailStatus(mailId)).toBe('F');
      // not S from counts that missed the failure: the roll-up skipped it, the bounce's own rolled it up
      expect(await statusOf(request.id)).toBe('PF');
    } finally {
      await holder.end();
    }
  });

  it('a roll-up that counted before a rewrite of the request committed leaves it sending', async () => {
    const { request, mailId } = await sentNotRolledUp('late-1b');
    // The failure as rollUpAfterFailure writes it, held open: the mail failed, the request's row rewritten.
    const bounce = await holding(
      [`UPDATE mail_requests SET status = status WHERE id = $1`, [request.id]],
      [`UPDATE mails SET status = 'F' WHERE id = $1`, [mailId]],
    );
    try {
      const rollUp = finishRequestsIfDone({ db: db.db }, [request.id]);
      await lockWaiters(1);
      await bounce.query('COMMIT');
      await rollUp;
      expect(await statusOf(request.id)).toBe('I');
      // the roll-up after the rewrite's commit counts the failure
      await finishRequestsIfDone({ db: db.db }, [request.id]);
      expect(await statusOf(request.id)).toBe('PF');
    } finally {
      await bounce.end();
    }
  });

  it('a bounce waits for a roll-up that holds the request, then rolls the request up again: PF, not S', async () => {
    const { request, recipientId, mailId } = await sentNotRolledUp('late-2');
    // Something holds the request's row: the roll-up counts (both mails S) and queues behind it,
    // and the bounce comes after the roll-up.
    const holder = await holding(['SELECT 1 FROM mail_requests WHERE id = $1 FOR UPDATE', [request.id]]);
    try {
      const rollUp = finishRequestsIfDone({ db: db.db }, [request.id]);
      await lockWaiters(1);
      const applied = applyReports(feedbackDeps(), [hardBounce(recipientId)]);
      // The bounce waits for the request's row too (it locks requests still sending); without that
      // it committed the failure here, and the roll-up went on with its counts to S.
      await Promise.race([lockWaiters(2), applied]);
      await holder.query('COMMIT');
      await rollUp;
      expect(await applied).toEqual(['hard_bounce']);
      expect(await mailStatus(mailId)).toBe('F');
      expect(await statusOf(request.id)).toBe('PF');
    } finally {
      await holder.end();
    }
  });

  it('a bounce batch takes the requests before their recipients, as a cancel does: waiting for one, it holds none of them', async () => {
    const { request, recipientId } = await sentNotRolledUp('late-order');
    // as a cancel holds it: the request, then (after) its recipients
    const canceller = await holding(['SELECT 1 FROM mail_requests WHERE id = $1 FOR UPDATE', [request.id]]);
    const other = await session();
    try {
      const applied = applyReports(feedbackDeps(), [hardBounce(recipientId)]);
      await lockWaiters(1);
      // the waiting bounce holds no recipient (before, it locked them first: a cancel then waited on it in a cycle)
      await other.query('BEGIN');
      await expect(other.query('SELECT 1 FROM recipients WHERE id = $1 FOR UPDATE NOWAIT', [recipientId])).resolves.toBeTruthy();
      await other.query('ROLLBACK');
      await canceller.query('COMMIT');
      expect(await applied).toEqual(['hard_bounce']);
      expect(await statusOf(request.id)).toBe('PF');
    } finally {
      await Promise.all([canceller.end(), other.end()]);
    }
  });

  it('a bounce batch takes a request still storing (P) too: it may become I before the batch rolls its failures up', async () => {
    const { request, recipientId, mailId } = await sentNotRolledUp('late-storing');
    await sql`UPDATE mail_requests SET status = 'P' WHERE id = ${request.id}::bigint`.execute(db.db);
    // the store job's last batch holds the request and moves it to I
    const storing = await holding([`UPDATE mail_requests SET status = 'I' WHERE id = $1`, [request.id]]);
    try {
      const applied = applyReports(feedbackDeps(), [hardBounce(recipientId)]);
      // the batch waits for the request before it takes any recipient
      await lockWaiters(1);
      await storing.query('COMMIT');
      expect(await applied).toEqual(['hard_bounce']);
      expect(await mailStatus(mailId)).toBe('F');
      // I by then, its mails done: the bounce's own roll-up finished it
      expect(await statusOf(request.id)).toBe('PF');
    } finally {
      await storing.end();
    }
  });

  it('a failure of a mail of a request with mails still pending leaves it sending', async () => {
    const projectId = await seedProject(db.db, 'late-4');
    const request = await seedRequest(db.db, { projectId, status: 'I', recipients: [{ address: 'fails@example.com' }, { address: 'pending@example.com' }] });
    await sql`UPDATE mails SET status = 'R' WHERE request_id = ${request.id}::bigint AND representative_address = 'pending@example.com'`.execute(db.db);
    const failing = await db.db
      .selectFrom('recipients')
      .select(['id', 'mail_id'])
      .where('request_id', '=', request.id)
      .where('address', '=', 'fails@example.com')
      .executeTakeFirstOrThrow();
    expect(await applyReports(feedbackDeps(), [hardBounce(String(failing.id))])).toEqual(['hard_bounce']);
    expect(await mailStatus(String(failing.mail_id))).toBe('F');
    expect(await statusOf(request.id)).toBe('I');
    // its last mail sent, the delivery's roll-up finishes it with the failure counted
    await sql`UPDATE mails SET status = 'S' WHERE request_id = ${request.id}::bigint AND representative_address = 'pending@example.com'`.execute(db.db);
    await finishRequestsIfDone({ db: db.db }, [request.id]);
    expect(await statusOf(request.id)).toBe('PF');
  });

  it('a failure of a mail of a request still sending rolls the request up once its last mail is done', async () => {
    const { request, recipientId, mailId } = await sentNotRolledUp('late-3');
    // the roll-up of the batch that sent the last mail was lost (killed): the bounce's own finishes it
    expect(await applyReports(feedbackDeps(), [hardBounce(recipientId)])).toEqual(['hard_bounce']);
    expect(await mailStatus(mailId)).toBe('F');
    expect(await statusOf(request.id)).toBe('PF');
  });
});

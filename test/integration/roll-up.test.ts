import { describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
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
  it('gives each request the status rollUpStatus gives its mails, for every mix, and leaves the pending ones sending', async () => {
    const projectId = await seedProject(db.db, 'roll-up');
    const cases = mixes();
    const seeded: SeededRequest[] = [];
    for (const statuses of cases) {
      const request = await seedRequest(db.db, { projectId, status: 'I', recipients: statuses.map((_, i) => ({ address: `r${i}@example.com` })) });
      await sql`
        UPDATE mails m SET status = u.status FROM unnest(${request.mailIds.map((id) => id.slice(8))}::bigint[], ${statuses}::text[]) AS u(id, status)
        WHERE m.id = u.id`.execute(db.db);
      seeded.push(request);
    }
    await finishRequestsIfDone(
      { db: db.db },
      seeded.map((r) => r.id),
    );
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
    await finishRequestsIfDone(
      { db: db.db },
      seeded.map((r) => r.id),
    );
    const again = await db.db.selectFrom('mail_requests').select(['id', 'finished_at']).where('status', '!=', 'I').execute();
    expect(again.map((r) => [String(r.id), r.finished_at?.getTime()]).sort()).toEqual(
      rows
        .filter((r) => r.status !== 'I')
        .map((r) => [String(r.id), r.finished_at?.getTime()])
        .sort(),
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { orderedIds } from '../../src/modules/mails/recipients.read-model.ts';
import { parseViewFilters } from '../../src/modules/mails/view-rows.ts';
import { seedSentHistory } from '../helpers/seed-rows.ts';
import { createTestDb } from '../helpers/test-db.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * Rows arrive oldest first, so the indexes are ascending (migration 20261206010000): a descending
 * one takes every insert at the left end of its key range, where its pages split in halves and
 * stay half empty (25 % more index pages for the recipients, and twice the time to insert into
 * recipients_project_status). The views read them backwards for the newest first.
 */

const { svc } = useTestService();

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  Plans?: PlanNode[];
}

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe('the indexes are ascending', () => {
  it('no index of the service declares a descending column', async () => {
    const { rows } = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relnamespace = current_schema()::regnamespace AND EXISTS (SELECT 1 FROM unnest(i.indoption::int2[]) o WHERE o & 1 = 1)
      ORDER BY 1`.execute(svc.db.db);
    expect(rows.map((r) => r.name)).toEqual([]);
  });

  it("each month's index carries its parent's name and the month", async () => {
    const { rows } = await sql<{ child: string; parent: string; tbl: string }>`
      SELECT ci.relname AS child, pi.relname AS parent, t.relname AS tbl
      FROM pg_inherits h JOIN pg_class ci ON ci.oid = h.inhrelid JOIN pg_class pi ON pi.oid = h.inhparent
      JOIN pg_index x ON x.indexrelid = ci.oid JOIN pg_class t ON t.oid = x.indrelid
      WHERE pi.relkind = 'I' AND t.relname ~ '^recipients_p[0-9]{6}$'
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ci.oid)`.execute(svc.db.db);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.child).toBe(`${r.parent}${r.tbl.slice('recipients'.length)}`);
  });

  it("an index of the operator's with a name too long to carry a month does not stop the months being made", async () => {
    const own = await createTestDb();
    try {
      const long = `recipients_${'x'.repeat(50)}`; // 61 bytes: <name>_pYYYYMM would be cut to 63, the same for every month
      await sql`CREATE INDEX ${sql.id(long)} ON recipients (name)`.execute(own.db);
      const made = await sql<{ n: number }>`SELECT ensure_history_partitions('2031-01-01', '2031-03-01') AS n`.execute(own.db);
      expect(made.rows[0]!.n).toBe(6);
      const { rows } = await sql<{ tbl: string; name: string; attached: boolean }>`
        SELECT t.relname AS tbl, c.relname AS name, EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) AS attached
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname IN ('recipients_p203101', 'recipients_p203102', 'recipients_p203103') AND pg_get_indexdef(i.indexrelid) LIKE '%(name)'
        ORDER BY 1`.execute(own.db);
      // one each, attached to the parent index, under a name PostgreSQL chose
      expect(rows.map((r) => [r.tbl, r.attached])).toEqual([
        ['recipients_p203101', true],
        ['recipients_p203102', true],
        ['recipients_p203103', true],
      ]);
      // and the service's own are still named with their month
      const status = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'recipients_project_status_p203102'`.execute(own.db);
      expect(status.rows[0]!.n).toBe(1);
    } finally {
      await own.drop();
    }
  });

  it('the recipient view pages newest first (and oldest first) without a sort, by reading the indexes backwards (forwards)', async () => {
    const key = await svc.newKey('ascending');
    const now = new Date();
    await seedSentHistory(svc.db.pool, { projectId: key.projectId, recipients: 12, perRequest: 3, createdAt: now });
    const cases = [
      [{}, 'recipients_project_created'],
      [{ sendStatus: 'S' }, 'recipients_project_status'],
      [{ sendResultCode: 'MAIL_SENT' }, 'recipients_project_result'],
      [{ bounceType: 'ANY' }, 'recipients_bounced'],
    ] as const;
    for (const [query, index] of cases) {
      const filters = parseViewFilters('recipients', query, { timeZone: svc.config.displayTimezone, now });
      for (const [dir, scan] of [
        ['DESC', 'Backward'],
        ['ASC', 'Forward'],
      ] as const) {
        const plan = await svc.db.db.transaction().execute(async (tx) => {
          // with sorting and sequential scans priced out, a plan still sorts when no index gives the order
          await sql`SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`.execute(tx);
          const res = await sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>`EXPLAIN (FORMAT JSON) ${orderedIds(key.projectId, filters, dir, 20, 0)}`.execute(tx);
          return res.rows[0]!['QUERY PLAN'][0].Plan;
        });
        const all = nodes(plan);
        const scans = all.filter((n) => n['Index Name']?.startsWith(index));
        const what = { query, dir };
        expect({ ...what, sorts: all.filter((n) => n['Node Type'].includes('Sort')).length }).toEqual({ ...what, sorts: 0 });
        expect({ ...what, scans: scans.length > 0 }).toEqual({ ...what, scans: true });
        for (const s of scans) expect({ ...what, direction: s['Scan Direction'] }).toEqual({ ...what, direction: scan });
      }
    }
  });
});

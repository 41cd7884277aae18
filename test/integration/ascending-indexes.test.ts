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

  it("indexes of the operator's whose names can't carry a month (too long, quoted with a space or a backslash, taken) don't stop the months being made", async () => {
    const own = await createTestDb();
    try {
      const names = [
        `recipients_${'x'.repeat(50)}`, // 61 bytes: <name>_pYYYYMM would be cut to 63, the same for every month
        'recipients ops idx',
        'recipients\\1 back\\& idx',
      ];
      for (const [i, name] of names.entries()) {
        await sql`CREATE INDEX ${sql.id(name)} ON recipients (${sql.id(['name', 'type', 'parameters'][i]!)})`.execute(own.db);
      }
      // a relation already holds the name a month's copy of one of the service's indexes would take
      await sql`CREATE TABLE recipients_project_status_p209902 (x int)`.execute(own.db);
      const made = await sql<{ n: number }>`SELECT ensure_history_partitions('2099-01-01', '2099-03-01') AS n`.execute(own.db);
      expect(made.rows[0]!.n).toBe(6);
      const { rows } = await sql<{ tbl: string; parent: string; name: string }>`
        SELECT t.relname AS tbl, p.relname AS parent, c.relname AS name
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_inherits h ON h.inhrelid = c.oid JOIN pg_class p ON p.oid = h.inhparent
        WHERE t.relname = 'recipients_p209902' ORDER BY 2`.execute(own.db);
      const parents = (
        await sql<{ name: string }>`
        SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'recipients'::regclass ORDER BY 1`.execute(own.db)
      ).rows;
      // every index of the table has its copy in the month, attached to it
      expect(rows.map((r) => r.parent)).toEqual(parents.map((p) => p.name));
      const nameOf = new Map(rows.map((r) => [r.parent, r.name]));
      expect(nameOf.get('recipients ops idx')).toBe('recipients ops idx_p209902');
      expect(nameOf.get('recipients\\1 back\\& idx')).toBe('recipients\\1 back\\& idx_p209902');
      // too long, or taken: a name PostgreSQL chose; the others are named with their month
      expect(nameOf.get(names[0]!)).toMatch(/^recipients_p209902_.*_idx$/);
      expect(nameOf.get('recipients_project_status')).toMatch(/^recipients_p209902_.*_idx$/);
      expect(nameOf.get('recipients_project_created')).toBe('recipients_project_created_p209902');
    } finally {
      await own.drop();
    }
  });

  it('the recipient view pages newest first (and oldest first) without a sort, by reading the indexes backwards (forwards)', async () => {
    const key = await svc.newKey('ascending');
    const now = new Date();
    await seedSentHistory(svc.db.pool, { projectId: key.projectId, recipients: 12, perRequest: 3, createdAt: now });
    const cases = [{}, { sendStatus: 'S' }, { sendResultCode: 'MAIL_SENT' }, { bounceType: 'ANY' }] as const;
    for (const query of cases) {
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
        // (which index serves a filter is the planner's choice, by the statistics: any in order)
        const scans = all.filter((n) => n['Index Name']?.startsWith('recipients_'));
        const what = { query, dir };
        expect({ ...what, sorts: all.filter((n) => n['Node Type'].includes('Sort')).length }).toEqual({ ...what, sorts: 0 });
        expect({ ...what, scans: scans.length > 0 }).toEqual({ ...what, scans: true });
        for (const s of scans) expect({ ...what, direction: s['Scan Direction'] }).toEqual({ ...what, direction: scan });
      }
    }
  });
});

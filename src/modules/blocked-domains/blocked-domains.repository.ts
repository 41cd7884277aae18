import { type RawBuilder, sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

/** Adds the (normalised) domains not yet on the project's list; returns how many were added. */
export async function insertDomains(db: Db | Tx, projectId: string, domains: string[], at: Date): Promise<number> {
  if (domains.length === 0) return 0;
  const res = await sql<{ id: string }>`
    INSERT INTO blocked_domains (project_id, domain, created_at)
    SELECT ${projectId}, d, ${at} FROM unnest(${domains}::text[]) AS d
    ON CONFLICT (project_id, domain) DO NOTHING
    RETURNING id
  `.execute(db);
  return res.rows.length;
}

/** Removes the (normalised) domains; returns how many were removed. */
export async function deleteDomains(db: Db | Tx, projectId: string, domains: string[]): Promise<number> {
  if (domains.length === 0) return 0;
  const res = await sql`DELETE FROM blocked_domains WHERE project_id = ${projectId} AND domain = ANY(${domains}::text[])`.execute(db);
  return Number(res.numAffectedRows ?? 0n);
}

/** The (project, domain) pairs on their project's list, as `key` `project\ndomain`: one index probe per pair. */
export function blockedPairsQuery(projectIds: string[], domains: string[]): RawBuilder<{ key: string }> {
  return sql<{ key: string }>`
    SELECT b.project_id || E'\n' || b.domain AS key
    FROM unnest(${projectIds}::bigint[], ${domains}::text[]) AS q(project_id, domain)
    JOIN blocked_domains b ON b.project_id = q.project_id AND b.domain = q.domain`;
}

export interface BlockedDomainFilter {
  projectId: string;
  /** part of the domain (normalised) */
  domain?: string;
}

function filtered(db: Db, f: BlockedDomainFilter) {
  let q = db.selectFrom('blocked_domains').where('project_id', '=', f.projectId);
  if (f.domain) q = q.where('domain', 'like', '%' + f.domain.replace(/[\\%_]/g, (c) => '\\' + c) + '%');
  return q;
}

export async function listDomains(
  db: Db,
  f: BlockedDomainFilter,
  sort: { column: 'created_at' | 'domain'; direction: 'asc' | 'desc' }[],
  limit: number,
  offset: number,
) {
  let q = filtered(db, f).select(['domain', 'created_at']);
  for (const s of sort) q = q.orderBy(s.column, s.direction);
  return q.orderBy('id', 'desc').limit(limit).offset(offset).execute();
}

export async function countDomains(db: Db, f: BlockedDomainFilter): Promise<number> {
  const row = await filtered(db, f)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

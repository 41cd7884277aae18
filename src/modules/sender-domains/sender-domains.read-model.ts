import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

export interface KeyRow {
  id: string;
  sender_domain_id: string;
  selector: string;
  algorithm: string;
  public_key: string;
  status: string;
  created_at: Date;
  verified_at: Date | null;
}

export interface DomainRow {
  id: string;
  domain: string;
  created_at: Date;
  checked_at: Date | null;
  spf_found: boolean;
  dmarc_found: boolean;
}

/** The keys of the domains, oldest first (never the private key). */
export async function keysOf(db: Db | Tx, domainIds: string[]): Promise<KeyRow[]> {
  if (domainIds.length === 0) return [];
  return db
    .selectFrom('dkim_keys')
    .select(['id', 'sender_domain_id', 'selector', 'algorithm', 'public_key', 'status', 'created_at', 'verified_at'])
    .where('sender_domain_id', 'in', domainIds)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

export async function listDomains(db: Db, projectId: string, limit: number, offset: number): Promise<DomainRow[]> {
  return db
    .selectFrom('sender_domains')
    .select(['id', 'domain', 'created_at', 'checked_at', 'spf_found', 'dmarc_found'])
    .where('project_id', '=', projectId)
    .orderBy('domain', 'asc')
    .limit(limit)
    .offset(offset)
    .execute();
}

export async function countDomains(db: Db, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('sender_domains')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A request's signing key, as `signingKeyJoin` adds it to a query of requests (all null: none). */
export interface SigningKeyColumns {
  dkim_domain: string | null;
  dkim_key_id: string | null;
  dkim_selector: string | null;
  dkim_algorithm: string | null;
  dkim_sealed_private_key: string | null;
}

/**
 * For delivery, joined to a query of requests (`requests` names their alias) so that a request's
 * signing key comes with its other columns, in the same statement: when its sender address is
 * in one of its project's domains with a verified key, that domain's newest verified key (so a
 * rotated key signs once its record verifies). Select its columns with `signingKeyColumns`.
 */
export function signingKeyJoin(requests: string) {
  const r = sql.ref(requests);
  return sql`LEFT JOIN LATERAL (
      SELECT d.domain, k.id AS key_id, k.selector, k.algorithm, k.sealed_private_key
      FROM sender_domains d JOIN dkim_keys k ON k.sender_domain_id = d.id AND k.status = 'V'
      WHERE d.project_id = ${r}.project_id AND d.domain = lower(substring(${r}.sender_address from '@([^@]*)$'))
      ORDER BY k.created_at DESC, k.id DESC
      LIMIT 1
    ) dkim ON true`;
}

export const signingKeyColumns = sql`dkim.domain AS dkim_domain, dkim.key_id AS dkim_key_id, dkim.selector AS dkim_selector,
      dkim.algorithm AS dkim_algorithm, dkim.sealed_private_key AS dkim_sealed_private_key`;

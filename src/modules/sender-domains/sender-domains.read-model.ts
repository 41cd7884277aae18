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

export interface SigningKeyRow {
  request_id: string;
  domain: string;
  key_id: string;
  selector: string;
  algorithm: string;
  sealed_private_key: string;
}

/**
 * For delivery: each request whose sender address is in one of its project's domains with a
 * verified key, and that domain's newest verified key (so a rotated key signs once its record
 * verifies). One query for all the requests a claim loads.
 */
export async function signingKeysForRequests(db: Db | Tx, requestIds: string[]): Promise<SigningKeyRow[]> {
  if (requestIds.length === 0) return [];
  const res = await sql<SigningKeyRow>`
    SELECT DISTINCT ON (r.id) r.id AS request_id, d.domain, k.id AS key_id, k.selector, k.algorithm, k.sealed_private_key
    FROM mail_requests r
    JOIN sender_domains d ON d.project_id = r.project_id AND d.domain = lower(substring(r.sender_address from '@([^@]*)$'))
    JOIN dkim_keys k ON k.sender_domain_id = d.id AND k.status = 'V'
    WHERE r.id = ANY(${requestIds}::bigint[])
    ORDER BY r.id, k.created_at DESC, k.id DESC
  `.execute(db);
  return res.rows;
}

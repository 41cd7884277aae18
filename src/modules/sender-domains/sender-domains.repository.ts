import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';

export interface NewKey {
  selector: string;
  algorithm: string;
  publicKey: string;
  sealedPrivateKey: string;
}

/** The domain with its first key; undefined when the project already has it. */
export async function insertDomain(db: Tx, projectId: string, domain: string, key: NewKey, at: Date): Promise<string | undefined> {
  const row = await db
    .insertInto('sender_domains')
    .values({ project_id: projectId, domain, created_at: at })
    .onConflict((oc) => oc.columns(['project_id', 'domain']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!row) return undefined;
  await insertKey(db, row.id, key, at);
  return row.id;
}

export async function insertKey(db: Db | Tx, domainId: string, key: NewKey, at: Date): Promise<void> {
  await db
    .insertInto('dkim_keys')
    .values({
      sender_domain_id: domainId,
      selector: key.selector,
      algorithm: key.algorithm,
      public_key: key.publicKey,
      sealed_private_key: key.sealedPrivateKey,
      created_at: at,
    })
    .execute();
}

/** The project's domain row, locked for a change when `db` is a transaction. */
export async function findDomain(db: Db | Tx, projectId: string, domain: string, lock = false) {
  let q = db.selectFrom('sender_domains').selectAll().where('project_id', '=', projectId).where('domain', '=', domain);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function deleteDomain(db: Db | Tx, projectId: string, domain: string): Promise<boolean> {
  const res = await db.deleteFrom('sender_domains').where('project_id', '=', projectId).where('domain', '=', domain).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function deleteKey(db: Tx, domainId: string, selector: string): Promise<boolean> {
  const res = await db.deleteFrom('dkim_keys').where('sender_domain_id', '=', domainId).where('selector', '=', selector).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** The checked state: each key's status, and whether SPF and DMARC records were found. */
export async function recordCheck(
  db: Tx,
  domainId: string,
  check: { spfFound: boolean; dmarcFound: boolean; keys: { id: string; verified: boolean }[] },
  at: Date,
): Promise<void> {
  await db.updateTable('sender_domains').set({ checked_at: at, spf_found: check.spfFound, dmarc_found: check.dmarcFound }).where('id', '=', domainId).execute();
  for (const k of check.keys) {
    await db
      .updateTable('dkim_keys')
      .set({ status: k.verified ? 'V' : 'F', verified_at: k.verified ? sql<Date>`coalesce(verified_at, ${at})` : null })
      .where('id', '=', k.id)
      .execute();
  }
}

import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { badRequest } from '../../shared/errors.ts';
import { countSelected, currentGroupSids, filterGroupSids } from '../address-book/address-book.read-model.ts';
import { combinationPage } from '../address-book/group-combination.ts';
import type { GroupFilter } from '../address-book/group-filter.ts';
import type { MailTarget, RecipientSource } from './store-in-batches.ts';

/**
 * recipientGroupFilter: a request whose recipients are address-book groups. The POST counts
 * what the filter selects (the 201's `count`) and stores the request in P; the store-recipients
 * job (store-in-batches.ts) then expands the groups into mails here, set-based, a batch per
 * transaction: `INSERT INTO mails … SELECT` over the next page of selected addresses (keyset on
 * address id, the cursor saved with the batch) and `INSERT INTO recipients … SELECT` from the
 * mails it returned. A crash resumes after the last committed batch; an address is stored at
 * most once per request.
 *
 * Each batch reads the book as it is then: addresses added to (or removed from) a group while
 * the request expands are included (or not) if the cursor has not passed them yet. When the
 * request leaves P its counts become what was actually stored.
 */

/** Addresses stored per transaction. */
export const GROUP_STORE_BATCH = 50_000;

/** The count a group-filtered request starts with; unknown groups are 77103, an empty selection 77102. */
export async function countGroupRecipients(db: Db, projectId: string, filter: GroupFilter): Promise<number> {
  const sids = await filterGroupSids(db, projectId, filter, { requireAll: true, field: 'recipientGroupFilter.groups' });
  const count = await countSelected(db, sids, filter.andFilter);
  if (count === 0) {
    throw badRequest(`recipientGroupFilter: the groups ${filter.groups.map((g) => `"${g}"`).join(filter.andFilter ? ' and ' : ' or ')} select no address`);
  }
  return count;
}

/** One batch: the next `limit` selected addresses become mails seq from+1… and their recipients. */
async function insertBatch(
  tx: Tx,
  req: MailTarget & { from: number; cursor: string },
  groupSids: string[],
  andFilter: boolean,
  limit: number,
): Promise<{ stored: number; lastId: string | null }> {
  const res = await sql<{ stored: number; last_id: string | null }>`
    WITH src AS MATERIALIZED (
      SELECT c.id, c.address, (${req.from}::int + row_number() OVER (ORDER BY c.id))::int AS seq
      FROM (${combinationPage(groupSids, andFilter, req.cursor, limit)}) c
    ),
    m AS (
      INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
      SELECT nextval('mail_id_seq'), ${req.idDay}, ${req.requestId}, ${req.projectId}, src.seq, 1, src.address, ${req.nextAttemptAt}, ${req.createdAt}
      FROM src
      RETURNING id, representative_address
    ),
    r AS (
      INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
      SELECT m.id, ${req.requestId}, ${req.projectId}, m.representative_address, NULL, 'R', NULL, ${req.createdAt} FROM m
    )
    SELECT count(*)::int AS stored, max(id)::text AS last_id FROM src
  `.execute(tx);
  const row = res.rows[0]!;
  return { stored: row.stored, lastId: row.last_id };
}

/**
 * The groups as a recipient source. The AND query drives from its first group: the smallest,
 * measured once per run. Each batch reads the book as it is then (a group deleted meanwhile
 * selects nothing; for AND, the whole filter), and when it is used up the request's counts
 * become what was actually stored.
 */
export async function groupSource(db: Db, projectId: string, filter: GroupFilter): Promise<RecipientSource> {
  const bySize = await filterGroupSids(db, projectId, filter, { requireAll: false, field: 'groups' });
  const rank = (sid: string) => {
    const i = bySize.indexOf(sid);
    return i < 0 ? bySize.length : i;
  };
  return {
    name: 'address-book',
    async storeBatch(tx, req, target) {
      const current = await currentGroupSids(tx, req.project_id, filter.groups);
      const sids = filter.andFilter && current.size < filter.groups.length ? [] : [...current.values()].sort((a, b) => rank(a) - rank(b));
      const { stored, lastId } = await insertBatch(
        tx,
        { ...target, from: req.stored_count, cursor: req.recipient_group_cursor ?? '0' },
        sids,
        filter.andFilter,
        GROUP_STORE_BATCH,
      );
      if (stored > 0) await tx.updateTable('mail_requests').set({ recipient_group_cursor: lastId }).where('id', '=', req.id).execute();
      return { stored, exhausted: stored < GROUP_STORE_BATCH };
    },
    async finish(tx: Tx, req, storedCount) {
      await tx.updateTable('mail_requests').set({ request_count: storedCount, recipient_count: storedCount }).where('id', '=', req.id).execute();
    },
  };
}

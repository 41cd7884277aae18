import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { QUEUES, type DeliverChunkJob, type JobQueue, type StoreRecipientsJob } from '../../jobs/queue.ts';
import type { Logger } from '../../logger.ts';
import { badRequest } from '../../shared/errors.ts';
import { countSelected, currentGroupSids, filterGroupSids } from '../address-book/address-book.read-model.ts';
import { combinationPage } from '../address-book/group-combination.ts';
import type { GroupFilter } from '../address-book/group-filter.ts';
import { chunkJobsFor, finishRequestIfDone } from '../delivery/delivery.service.ts';
import * as repo from './requests.repository.ts';

/**
 * recipientGroupFilter: a request whose recipients are address-book groups. The POST counts
 * what the filter selects (the 201's `count`) and stores the request in P; the store-recipients
 * job then expands the groups into mails here, set-based, a batch per transaction:
 * `INSERT INTO mails … SELECT` over the next page of selected addresses (keyset on address id)
 * and `INSERT INTO recipients … SELECT` from the mails it returned, with the request's
 * stored_count and cursor and the batch's deliver-chunk jobs in the same transaction. A crash
 * resumes after the last committed batch; an address is stored at most once per request.
 *
 * Each batch reads the book as it is then: addresses added to (or removed from) a group while
 * the request expands are included (or not) if the cursor has not passed them yet. When the
 * request leaves P its counts become what was actually stored.
 */

/** Addresses stored per transaction. */
export const GROUP_STORE_BATCH = 50_000;
/** A run hands over to a new job after this long, so no job outlives pg-boss's expiry. */
const RUN_BUDGET_MS = 240_000;

export interface GroupStoreDeps {
  db: Db;
  queue: JobQueue;
  logger: Logger;
  now: () => Date;
  isStopping?: () => boolean;
}

/** The count a group-filtered request starts with; unknown groups are 77103, an empty selection 77102. */
export async function countGroupRecipients(db: Db, projectId: string, filter: GroupFilter): Promise<number> {
  const sids = await filterGroupSids(db, projectId, filter, { requireAll: true, field: 'recipientGroupFilter.groups' });
  const count = await countSelected(db, sids, filter.andFilter);
  if (count === 0) {
    throw badRequest(`recipientGroupFilter: the groups ${filter.groups.map((g) => `"${g}"`).join(filter.andFilter ? ' and ' : ' or ')} select no address`);
  }
  return count;
}

export async function hasGroupFilter(db: Db, requestId: string): Promise<boolean> {
  const row = await db.selectFrom('mail_requests').select('recipient_group_filter').where('id', '=', requestId).executeTakeFirst();
  return row !== undefined && row.recipient_group_filter !== null;
}

async function lockGroupRequest(tx: Tx, requestId: string) {
  return tx
    .selectFrom('mail_requests')
    .select(['id', 'id_day', 'project_id', 'status', 'stored_count', 'reservation_at', 'confirm_and_send', 'created_at', 'recipient_group_filter', 'recipient_group_cursor'])
    .where('id', '=', requestId)
    .forUpdate()
    .executeTakeFirst();
}

/** One batch: the next `limit` selected addresses become mails seq from+1… and their recipients. */
async function insertBatch(
  tx: Tx,
  req: { requestId: string; projectId: string; idDay: number; nextAttemptAt: Date | null; createdAt: Date; from: number; cursor: string },
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
 * Job: expands a group-filtered request (status P) into mails in batches, then moves it to I
 * (or R when reserved or awaiting confirmation) like the payload path. Stops when the request
 * is no longer P (cancelled); hands over to a new job when the worker is stopping.
 */
export async function storeFromGroups(deps: GroupStoreDeps, requestId: string): Promise<void> {
  const log = deps.logger.child({ requestId });
  const head = await deps.db.selectFrom('mail_requests').select(['project_id', 'status', 'recipient_group_filter']).where('id', '=', requestId).executeTakeFirst();
  if (!head || head.status !== 'P') return;
  const filter = head.recipient_group_filter as unknown as GroupFilter;
  // The AND query drives from its first group: the smallest, measured once per run.
  const bySize = await filterGroupSids(deps.db, head.project_id, filter, { requireAll: false, field: 'groups' });
  const rank = (sid: string) => {
    const i = bySize.indexOf(sid);
    return i < 0 ? bySize.length : i;
  };
  const started = Date.now();
  let total = 0;
  for (;;) {
    if (deps.isStopping?.() || Date.now() - started > RUN_BUDGET_MS) {
      // The cursor and stored_count say where the next job goes on.
      await deps.queue.insert<StoreRecipientsJob>(QUEUES.storeRecipients, [{ data: { requestId } }]);
      log.info({ stored: total }, 'group expansion handed over to a new job');
      return;
    }
    const done = await deps.db.transaction().execute(async (tx) => {
      const req = await lockGroupRequest(tx, requestId);
      if (!req || req.status !== 'P') return true;
      const nextAttemptAt = req.confirm_and_send ? null : (req.reservation_at ?? req.created_at);
      // The book as it is now: a group deleted meanwhile selects nothing (for AND: the whole filter).
      const current = await currentGroupSids(tx, req.project_id, filter.groups);
      const sids = filter.andFilter && current.size < filter.groups.length ? [] : [...current.values()].sort((a, b) => rank(a) - rank(b));
      const from = req.stored_count;
      const batchStart = performance.now();
      const { stored, lastId } = await insertBatch(
        tx,
        { requestId, projectId: req.project_id, idDay: req.id_day, nextAttemptAt, createdAt: req.created_at, from, cursor: req.recipient_group_cursor ?? '0' },
        sids,
        filter.andFilter,
        GROUP_STORE_BATCH,
      );
      const storedCount = from + stored;
      if (stored > 0) {
        await tx.updateTable('mail_requests').set({ stored_count: storedCount, recipient_group_cursor: lastId }).where('id', '=', requestId).execute();
        if (nextAttemptAt) await deps.queue.insertInTx<DeliverChunkJob>(tx, QUEUES.deliverChunk, chunkJobsFor(requestId, from + 1, storedCount, nextAttemptAt, deps.now()));
      }
      total += stored;
      log.debug({ stored: storedCount, ms: Math.round(performance.now() - batchStart) }, 'stored recipients from groups');
      if (stored === GROUP_STORE_BATCH) return false;
      // The counts become what was stored (the book may have changed since the POST).
      await tx.updateTable('mail_requests').set({ request_count: storedCount, recipient_count: storedCount }).where('id', '=', requestId).execute();
      if (storedCount === 0) {
        // The groups were emptied before anything was stored: nothing to send, nothing sent.
        await repo.setStatus(tx, requestId, 'P', 'F');
        await repo.markFinished(tx, requestId, deps.now());
        log.warn('group filter selected no address by the time the request was stored');
        return true;
      }
      const sendsNow = nextAttemptAt !== null && nextAttemptAt.getTime() <= deps.now().getTime();
      await repo.setStatus(tx, requestId, 'P', sendsNow ? 'I' : 'R');
      return true;
    });
    if (done) break;
  }
  log.info({ stored: total }, 'request stored from address-book groups');
  await finishRequestIfDone(deps.db, requestId);
}

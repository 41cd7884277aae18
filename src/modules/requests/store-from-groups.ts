import type { AppDeps } from '../../deps.ts';
import { badRequest } from '../../shared/errors.ts';
import { combinationPage, countSelected, currentGroupSids, filterGroupSids } from '../address-book/address-book.read-model.ts';
import type { GroupFilter } from '../address-book/group-filter.ts';
import { insertSelectedAddresses, setGroupCursor, settleRecipientCounts } from './store-batches.repository.ts';
import type { RecipientSource } from './store-in-batches.ts';

/**
 * recipientGroupFilter: a request whose recipients are address-book groups. The POST counts
 * what the filter selects (the 201's `count`) and stores the request in P; the store-recipients
 * job (store-in-batches.ts) then expands the groups into mails (store-batches.repository.ts), set-based, a batch per
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
export async function countGroupRecipients(deps: Pick<AppDeps, 'db'>, projectId: string, filter: GroupFilter): Promise<number> {
  const sids = await filterGroupSids(deps.db, projectId, filter, { requireAll: true, field: 'recipientGroupFilter.groups' });
  const count = await countSelected(deps.db, sids, filter.andFilter);
  if (count === 0) {
    throw badRequest(`recipientGroupFilter: the groups ${filter.groups.map((g) => `"${g}"`).join(filter.andFilter ? ' and ' : ' or ')} select no address`);
  }
  return count;
}

/**
 * The groups as a recipient source. The AND query drives from its first group: the smallest,
 * measured once per run. Each batch reads the book as it is then (a group deleted meanwhile
 * selects nothing; for AND, the whole filter), and when it is used up the request's counts
 * become what was actually stored.
 */
export async function groupSource(deps: Pick<AppDeps, 'db'>, projectId: string, filter: GroupFilter): Promise<RecipientSource> {
  const bySize = await filterGroupSids(deps.db, projectId, filter, { requireAll: false, field: 'groups' });
  const rank = (sid: string) => {
    const i = bySize.indexOf(sid);
    return i < 0 ? bySize.length : i;
  };
  return {
    name: 'address-book',
    async storeBatch(tx, req, target) {
      const current = await currentGroupSids(tx, req.project_id, filter.groups);
      const sids = filter.andFilter && current.size < filter.groups.length ? [] : [...current.values()].sort((a, b) => rank(a) - rank(b));
      const cursor = req.recipient_group_cursor ?? '0';
      const { stored, lastId } = await insertSelectedAddresses(
        tx,
        target,
        req.stored_count,
        combinationPage(sids, filter.andFilter, cursor, GROUP_STORE_BATCH),
      );
      if (stored > 0) await setGroupCursor(tx, req.id, lastId);
      return { stored, exhausted: stored < GROUP_STORE_BATCH };
    },
    async finish(tx, req, storedCount) {
      await settleRecipientCounts(tx, req.id, storedCount);
    },
  };
}

import type { Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import { badRequest } from '../../shared/errors.ts';
import {
  combinationPage,
  countSelected,
  currentGroupSids,
  filterGroupSids,
  firstSharedId,
  sharedStart,
  splitSelection,
} from '../address-book/address-book.read-model.ts';
import type { GroupFilter } from '../address-book/group-filter.ts';
import { insertSelectedAddresses, settleRecipientCounts } from './store-batches.repository.ts';
import { BatchRaced, type PartedSource } from './store-in-parts.ts';
import type { StorePart } from './store-parts.repository.ts';

/**
 * recipientGroupFilter: a request whose recipients are address-book groups. The POST counts
 * what the filter selects (the 201's `count`) and stores the request in P; the store-recipients
 * job then expands the groups into mails in parts stored at once (store-in-parts.ts): the
 * selection, as it is when the job splits it, is cut in address-id ranges of equal counts, each
 * with the range of mail numbers its count needs. Each batch is set-based (store-batches.repository.ts): `INSERT INTO mails …
 * SELECT` over the next page of the part's selected addresses (keyset on address id, the part's
 * cursor saved with the batch) and `INSERT INTO recipients … SELECT` from the same rows, their
 * ids drawn before either insert.
 * A crash resumes each part after its last committed batch; an address is stored at most once
 * per request.
 *
 * Each batch reads the book as it is then: addresses added to (or removed from) a group while
 * the request expands are included (or not) if their part's cursor has not passed them yet. When
 * the request leaves P its counts become what was actually stored.
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
export async function groupSource(deps: Pick<AppDeps, 'db'>, projectId: string, filter: GroupFilter): Promise<PartedSource> {
  const bySize = await filterGroupSids(deps.db, projectId, filter, { requireAll: false, field: 'groups' });
  const rank = (sid: string) => {
    const i = bySize.indexOf(sid);
    return i < 0 ? bySize.length : i;
  };
  const groupsNow = async (tx: Tx) => {
    const current = await currentGroupSids(tx, projectId, filter.groups);
    return filter.andFilter && current.size < filter.groups.length ? [] : [...current.values()].sort((a, b) => rank(a) - rank(b));
  };
  /** The part's next `limit` selected addresses after its cursor, as the groups are now, from `start` on when given. */
  const pageAfter = (groups: string[], part: StorePart, limit: number, start: string | null = null) => {
    // its limit is what lies within its bound: a part with its own numbers (not a full part going
    // on), whose range the start has not passed
    const fits = part.lastSeq !== null && part.keyLast !== null && (start === null || BigInt(start) <= BigInt(part.keyLast));
    return combinationPage(groups, filter.andFilter, part.keyAfter, limit, part.keyLast, start, fits);
  };
  /** Parts whose last batch raced a change below its start: their next batch takes no start. */
  const raced = new Set<number>();
  return {
    name: 'address-book',
    batch: GROUP_STORE_BATCH,
    async split(tx, req, count) {
      // A request stored in P before parts existed goes on after its own cursor and numbers.
      const after = req.recipient_group_cursor ?? '0';
      // Cut by what the groups select now (they may have grown or shrunk since the POST counted
      // them); each part's numbers are as many as its addresses now.
      const pieces = await splitSelection(tx, await groupsNow(tx), filter.andFilter, after, count);
      let keyAfter = after;
      let nextSeq = req.stored_count + 1;
      return pieces.map((piece, i) => {
        // The last part has no bound: addresses added to the book meanwhile come after every other.
        const last = i === pieces.length - 1;
        const part = { keyAfter, keyLast: last ? null : piece.lastId, nextSeq, lastSeq: last ? null : nextSeq + piece.n - 1 };
        keyAfter = piece.lastId;
        nextSeq += piece.n;
        return part;
      });
    },
    async storeBatch(tx, part, target, limit) {
      const groups = await groupsNow(tx);
      // An AND starts where every group has a member (firstSharedId), so a part's first page does
      // not read the groups' leading ranges in vain. That start is a statement of its own: an
      // older address that every group holds since just after it (READ COMMITTED) is below it, and
      // would fall behind the cursor for good. So the page's statement takes the start again, on
      // its own snapshot: if it lies below (such an address, or one a group alone gained), the
      // batch rolls back and runs again without a start, which is always right.
      const start = raced.delete(part.part) ? null : await firstSharedId(tx, groups, filter.andFilter, part.keyAfter);
      const again = start === null ? null : sharedStart(groups, filter.andFilter, part.keyAfter);
      const { stored, lastId, also } = await insertSelectedAddresses(tx, target, part.nextSeq - 1, pageAfter(groups, part, limit, start), again);
      if (start !== null && also !== null && BigInt(also) < BigInt(start)) {
        raced.add(part.part);
        throw new BatchRaced();
      }
      return { stored, lastKey: lastId ?? part.keyAfter };
    },
    async hasMore(tx, part) {
      const next = await pageAfter(await groupsNow(tx), part, 1).execute(tx);
      return next.rows.length > 0;
    },
    async finish(tx, req, storedCount) {
      await settleRecipientCounts(tx, req.id, storedCount);
    },
  };
}

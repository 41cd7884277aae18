import type { Writable } from 'node:stream';
import type { AppDeps } from '../../deps.ts';
import type { Tx } from '../../db/schema.ts';
import { XlsxWriter } from '../../shared/xlsx/xlsx-writer.ts';
import * as repo from './address-book.repository.ts';
import type { AddressBook, AddressBookRequest, AddressDeleteRequest, GroupRelationDeleteRequest } from './address-book.mapper.ts';
import { countSelected, filterGroupSids, getAddressBook, groupSidOrNotFound, selectedAddresses } from './address-book.read-model.ts';
import { checkGroupName, type GroupFilter } from './group-filter.ts';
import { validateAddressBookRequest, validateAddressList } from './validate-address-book.ts';

type Deps = Pick<AppDeps, 'db'>;

/** Every write runs under the project's address-book lock, so "the state just before" is exact. */
async function inBookTransaction<T>(deps: Deps, projectId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return deps.db.transaction().execute(async (tx) => {
    await repo.lockAddressBook(tx, projectId);
    return fn(tx);
  });
}

/**
 * createAddressBook: an upsert of groups and their addresses, in one transaction (all or
 * nothing). Answers the address book as it was just before, as NCP does.
 */
export async function createAddressBook(deps: Deps, projectId: string, body: AddressBookRequest): Promise<{ before: AddressBook; addresses: number }> {
  const groups = validateAddressBookRequest(body);
  return inBookTransaction(deps, projectId, async (tx) => {
    const before = await getAddressBook(tx, projectId);
    const sids = await repo.upsertGroups(
      tx,
      projectId,
      groups.map((g) => g.groupName),
    );
    const seen = new Set<string>();
    const distinct: string[] = [];
    const pairSids: string[] = [];
    const pairAddresses: string[] = [];
    for (const g of groups) {
      const sid = sids.get(g.groupName)!;
      for (const address of g.addresses) {
        const key = address.toLowerCase();
        if (!seen.has(key)) {
          seen.add(key);
          distinct.push(address);
        }
        pairSids.push(sid);
        pairAddresses.push(address);
      }
    }
    await repo.insertAddresses(tx, projectId, distinct);
    await repo.insertMembers(tx, projectId, pairSids, pairAddresses);
    return { before, addresses: distinct.length };
  });
}

export async function deleteAddressBook(deps: Deps, projectId: string): Promise<{ deletedAddressCount: number }> {
  return inBookTransaction(deps, projectId, async (tx) => ({ deletedAddressCount: await repo.deleteAll(tx, projectId) }));
}

/** deleteAddress: the addresses leave the book and every group; unknown ones are ignored. */
export async function deleteAddress(deps: Deps, projectId: string, body: AddressDeleteRequest): Promise<AddressBook> {
  const addresses = validateAddressList('emailAddresses', body.emailAddresses);
  return inBookTransaction(deps, projectId, async (tx) => {
    await repo.deleteAddresses(tx, projectId, addresses);
    return getAddressBook(tx, projectId);
  });
}

/** deleteRecipientGroup: the group goes, its addresses stay in the book. */
export async function deleteRecipientGroup(deps: Deps, projectId: string, groupName: unknown): Promise<AddressBook> {
  const name = checkGroupName('groupName', groupName);
  return inBookTransaction(deps, projectId, async (tx) => {
    await repo.deleteGroup(tx, await groupSidOrNotFound(tx, projectId, name));
    return getAddressBook(tx, projectId);
  });
}

/** deleteRecipientGroupRelation: the addresses leave one group and stay in the book. */
export async function deleteRecipientGroupRelation(deps: Deps, projectId: string, body: GroupRelationDeleteRequest): Promise<AddressBook> {
  const name = checkGroupName('groupName', body.groupName);
  const addresses = validateAddressList('emailAddresses', body.emailAddresses);
  return inBookTransaction(deps, projectId, async (tx) => {
    await repo.deleteMembers(tx, projectId, await groupSidOrNotFound(tx, projectId, name), addresses);
    return getAddressBook(tx, projectId);
  });
}

/** deleteRecipientGroupRelationEmpty: the group stays, empty; its addresses stay in the book. */
export async function deleteRecipientGroupRelationEmpty(deps: Deps, projectId: string, groupName: unknown): Promise<AddressBook> {
  const name = checkGroupName('groupName', groupName);
  return inBookTransaction(deps, projectId, async (tx) => {
    await repo.emptyGroup(tx, await groupSidOrNotFound(tx, projectId, name));
    return getAddressBook(tx, projectId);
  });
}

/** Addresses read per query while writing the combination download. */
const DOWNLOAD_PAGE = 10_000;

/**
 * getGroupCombination: the count and then every address, from one snapshot (a repeatable-read
 * transaction), so the file holds exactly `X-Total-Count` rows even while the book changes.
 * `start` is called with the count before the first byte is written (headers).
 */
export async function writeGroupCombination(
  deps: Deps,
  projectId: string,
  filter: GroupFilter,
  out: Writable,
  start: (total: number) => void,
): Promise<number> {
  return deps.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (tx) => {
      const sids = await filterGroupSids(tx, projectId, filter, { requireAll: true, field: 'groups' });
      const total = await countSelected(tx, sids, filter.andFilter);
      start(total);
      const writer = new XlsxWriter(out, { sheetName: 'addresses', headerRow: ['address'], columnWidths: [40] });
      for await (const page of selectedAddresses(tx, sids, filter.andFilter, DOWNLOAD_PAGE)) {
        for (const address of page) await writer.addRow([address]);
      }
      await writer.finish();
      return total;
    });
}

import { badRequest } from '../../shared/errors.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import { checkGroupName } from './group-filter.ts';

/**
 * The rules of the address-book operations (ncp-api-reference §8) that the OpenAPI schema can't
 * say well. Pure; throws 400/77102 naming the field and the rule. Group names: group-filter.ts.
 */
export const ADDRESS_BOOK_LIMITS = {
  /** addresses in one createAddressBook, deleteAddress or deleteRecipientGroupRelation call, all groups together */
  addressesPerCall: 100_000,
  /** groups in one createAddressBook call */
  groupsPerCall: 1_000,
} as const;

export interface GroupAddresses {
  groupName: string;
  /** trimmed, valid, one per address whatever its case (the first spelling wins) */
  addresses: string[];
}

/** A list of addresses: every one a valid e-mail address; case-insensitive duplicates collapse to the first. */
function checkAddresses(field: string, list: unknown, budget: { left: number }): string[] {
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw badRequest(`${field}: must be a list of e-mail addresses`);
  if (list.length > budget.left) {
    throw badRequest(`${field}: at most ${ADDRESS_BOOK_LIMITS.addressesPerCall} addresses per request`);
  }
  budget.left -= list.length;
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const raw = list[i] as unknown;
    if (typeof raw !== 'string') throw badRequest(`${field}[${i}]: must be a string`);
    const address = raw.trim();
    if (!address) throw badRequest(`${field}[${i}]: required`);
    if (!isValidEmail(address)) throw badRequest(`${field}[${i}]: "${address.slice(0, 100)}" is not a valid e-mail address`);
    const key = address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(address);
  }
  return out;
}

/** createAddressBook's body: groups, each named once, with their addresses. */
export function validateAddressBookRequest(body: { groups?: unknown }): GroupAddresses[] {
  const groups = body.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw badRequest('groups: required (at least one group)');
  if (groups.length > ADDRESS_BOOK_LIMITS.groupsPerCall) throw badRequest(`groups: at most ${ADDRESS_BOOK_LIMITS.groupsPerCall} groups per request`);
  const budget = { left: ADDRESS_BOOK_LIMITS.addressesPerCall };
  const names = new Set<string>();
  return groups.map((g: unknown, i) => {
    if (typeof g !== 'object' || g === null) throw badRequest(`groups[${i}]: must be an object with groupName and emailAddresses`);
    const entry = g as { groupName?: unknown; emailAddresses?: unknown };
    const groupName = checkGroupName(`groups[${i}].groupName`, entry.groupName);
    if (names.has(groupName)) throw badRequest(`groups[${i}].groupName: "${groupName}" is given more than once`);
    names.add(groupName);
    return { groupName, addresses: checkAddresses(`groups[${i}].emailAddresses`, entry.emailAddresses, budget) };
  });
}

/** deleteAddress / deleteRecipientGroupRelation: a non-empty list of addresses. */
export function validateAddressList(field: string, list: unknown): string[] {
  if (!Array.isArray(list) || list.length === 0) throw badRequest(`${field}: required (at least one address)`);
  return checkAddresses(field, list, { left: ADDRESS_BOOK_LIMITS.addressesPerCall });
}

import type { components } from '../../generated/api.ts';

export type AddressBook = components['schemas']['AddressBook'];
export type AddressBookRequest = components['schemas']['AddressBookRequest'];
export type AddressDeleteRequest = components['schemas']['AddressDeleteRequest'];
export type GroupRelationDeleteRequest = components['schemas']['GroupRelationDeleteRequest'];

export interface GroupCountRow {
  sid: string;
  name: string;
  address_count: string;
}

export function toAddressBook(totalAddressCount: string | number, groups: GroupCountRow[]): AddressBook {
  return {
    totalAddressCount: Number(totalAddressCount),
    groups: groups.map((g) => ({ sid: Number(g.sid), groupName: g.name, addressCount: Number(g.address_count) })),
  };
}

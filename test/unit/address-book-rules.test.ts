import { describe, expect, it } from '@jest/globals';
import { checkGroupName, validateGroupFilter } from '../../src/modules/address-book/group-filter.ts';
import { ADDRESS_BOOK_LIMITS, validateAddressBookRequest, validateAddressList } from '../../src/modules/address-book/validate-address-book.ts';
import { validateMailRequest, type MailRequestInput } from '../../src/modules/requests/validate-mail-request.ts';
import { AppError } from '../../src/shared/errors.ts';

/** The pure rules of the address book and of recipientGroupFilter. */

function expect400(fn: () => unknown, message: RegExp) {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AppError);
  expect({ status: (caught as AppError).status, code: (caught as AppError).code }).toEqual({ status: 400, code: '77102' });
  expect((caught as AppError).message).toMatch(message);
}

describe('group names', () => {
  it.each(['10대', 'vip', 'A.b_c-1', 'x'.repeat(100), '한글'])('accepts %s', (name) => {
    expect(checkGroupName('groupName', name)).toBe(name);
  });
  it.each([
    ['', /groupName: required/],
    ['a b', /groupName: only Hangul/],
    ['x'.repeat(101), /groupName: at most 100 characters/],
    ['日本', /groupName: only Hangul/],
    [42, /groupName: required/],
    [null, /groupName: required/],
  ])('refuses %p', (name, message) => expect400(() => checkGroupName('groupName', name), message));
});

describe('validateAddressBookRequest', () => {
  it('keeps groups in order, trims addresses and collapses case-insensitive duplicates to the first spelling', () => {
    expect(
      validateAddressBookRequest({
        groups: [
          { groupName: 'a', emailAddresses: [' Kim@Example.com', 'kim@example.com', 'lee@example.com'] },
          { groupName: 'b' },
          { groupName: 'c', emailAddresses: null },
        ],
      }),
    ).toEqual([
      { groupName: 'a', addresses: ['Kim@Example.com', 'lee@example.com'] },
      { groupName: 'b', addresses: [] },
      { groupName: 'c', addresses: [] },
    ]);
  });

  it('counts the address cap over all groups of the request', () => {
    const half = Array.from({ length: ADDRESS_BOOK_LIMITS.addressesPerCall / 2 }, (_, i) => `u${i}@example.com`);
    expect(
      validateAddressBookRequest({
        groups: [
          { groupName: 'a', emailAddresses: half },
          { groupName: 'b', emailAddresses: half },
        ],
      }),
    ).toHaveLength(2);
    expect400(
      () =>
        validateAddressBookRequest({
          groups: [
            { groupName: 'a', emailAddresses: half },
            { groupName: 'b', emailAddresses: [...half, 'x@example.com'] },
          ],
        }),
      /groups\[1\]\.emailAddresses: at most 100000 addresses per request/,
    );
  });

  it.each([
    [{}, /^groups: required/],
    [{ groups: [] }, /^groups: required/],
    [{ groups: 'a' }, /^groups: required/],
    [{ groups: [null] }, /^groups\[0\]: must be an object/],
    [{ groups: [{ groupName: 'a' }, { groupName: 'a' }] }, /^groups\[1\]\.groupName: "a" is given more than once/],
    [{ groups: [{ groupName: 'a', emailAddresses: ['ok@example.com', 'bad'] }] }, /^groups\[0\]\.emailAddresses\[1\]: "bad" is not a valid e-mail address/],
    [{ groups: [{ groupName: 'a', emailAddresses: [''] }] }, /^groups\[0\]\.emailAddresses\[0\]: required/],
    [{ groups: [{ groupName: 'a', emailAddresses: [{}] }] }, /^groups\[0\]\.emailAddresses\[0\]: must be a string/],
    [{ groups: [{ groupName: 'a', emailAddresses: 'x@example.com' }] }, /^groups\[0\]\.emailAddresses: must be a list/],
    [{ groups: Array.from({ length: ADDRESS_BOOK_LIMITS.groupsPerCall + 1 }, (_, i) => ({ groupName: `g${i}` })) }, /^groups: at most 1000 groups/],
  ])('refuses %j', (body, message) => expect400(() => validateAddressBookRequest(body as { groups?: unknown }), message));
});

describe('validateAddressList', () => {
  it('requires at least one valid address', () => {
    expect(validateAddressList('emailAddresses', ['A@x.com', 'a@x.com'])).toEqual(['A@x.com']);
    expect400(() => validateAddressList('emailAddresses', []), /^emailAddresses: required/);
    expect400(() => validateAddressList('emailAddresses', undefined), /^emailAddresses: required/);
    expect400(() => validateAddressList('emailAddresses', ['a@x.com', 'no']), /^emailAddresses\[1\]/);
  });
});

describe('validateGroupFilter', () => {
  it('keeps andFilter and the distinct names in order', () => {
    expect(validateGroupFilter({ andFilter: false, groups: ['b', 'a', 'b'] })).toEqual({ andFilter: false, groups: ['b', 'a'] });
    expect(validateGroupFilter({ andFilter: true, groups: ['a', 'b', 'c', 'd', 'e', 'a'] })).toEqual({ andFilter: true, groups: ['a', 'b', 'c', 'd', 'e'] });
  });
  it.each([
    [null, /^recipientGroupFilter: must be an object/],
    [[], /^recipientGroupFilter: must be an object/],
    [{ groups: ['a'] }, /^recipientGroupFilter\.andFilter: required/],
    [{ andFilter: 'true', groups: ['a'] }, /^recipientGroupFilter\.andFilter/],
    [{ andFilter: true }, /^recipientGroupFilter\.groups: required/],
    [{ andFilter: true, groups: [] }, /^recipientGroupFilter\.groups: required/],
    [{ andFilter: true, groups: ['a', 'b', 'c', 'd', 'e', 'f'] }, /^recipientGroupFilter\.groups: at most 5 groups/],
    [{ andFilter: true, groups: ['ok', 'not ok'] }, /^recipientGroupFilter\.groups\[1\]: only Hangul/],
  ])('refuses %j', (input, message) => expect400(() => validateGroupFilter(input), message));
  it('names query parameters without a prefix', () => {
    expect400(() => validateGroupFilter({ andFilter: undefined, groups: ['a'] }, ''), /^andFilter: required/);
    expect400(() => validateGroupFilter({ andFilter: true, groups: [] }, ''), /^groups: required/);
  });
});

describe('createMailRequest with recipientGroupFilter', () => {
  const NOW = new Date('2026-11-15T03:00:00.000Z');
  const input = (over: Partial<MailRequestInput>): MailRequestInput => ({ senderAddress: 'news@example.com', title: 't', body: 'b', ...over });
  const validate = (over: Partial<MailRequestInput>) => validateMailRequest(input(over), NOW, 'Asia/Seoul');

  it('needs no recipients (absent, null or empty) and carries the filter', () => {
    for (const recipients of [undefined, null, []]) {
      const v = validate({ recipients, recipientGroupFilter: { andFilter: true, groups: ['a', 'a', 'b'] } });
      expect(v.groupFilter).toEqual({ andFilter: true, groups: ['a', 'b'] });
      expect(v.recipients).toEqual([]);
    }
    expect(validate({ recipients: [{ address: 'x@example.com' }] }).groupFilter).toBeNull();
  });

  it.each([
    [{ individual: false }, /^recipientGroupFilter: address-book groups are sent individually/],
    [{ recipients: [{ address: 'x@example.com' }] }, /^recipients: not allowed together with recipientGroupFilter/],
    [{ recipientFileId: 'rf-1' }, /^recipientFileId: not allowed together with recipientGroupFilter/],
  ])('refuses %j', (over, message) => expect400(() => validate({ recipientGroupFilter: { andFilter: false, groups: ['a'] }, ...over }), message));
});

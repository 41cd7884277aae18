import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';
import { expectError, asFile } from '../helpers/responses.ts';

/** The seven NCP address-book operations and the combination download (an extension endpoint). */

const { svc } = useTestService({ workers: false });
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});
beforeEach(async () => {
  expect((await svc.call('DELETE', '/api/v1/address-book')).status).toBe(200);
  expect((await svc.call('DELETE', '/api/v1/address-book', { key: other })).status).toBe(200);
});

const create = (groups: unknown, key?: CreatedKey) => svc.call('POST', '/api/v1/address-book', { body: { groups }, key });
const book = async (key?: CreatedKey) => {
  const res = await svc.call('GET', '/api/v1/address-book', { key });
  expect(res.status).toBe(200);
  return res.body as { totalAddressCount: number; groups: { sid: number; groupName: string; addressCount: number }[] };
};
const counts = (b: Awaited<ReturnType<typeof book>>) => ({
  total: b.totalAddressCount,
  groups: Object.fromEntries(b.groups.map((g) => [g.groupName, g.addressCount])),
});

/** The download as bytes; an error answer parsed as JSON. */
function combination(query: string, key?: CreatedKey) {
  return asFile(svc.call('GET', `/api/v1/address-book/combination?${query}`, { key }));
}
async function combinationRows(query: string): Promise<{ total: number; rows: string[][] }> {
  const res = await combination(query);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/spreadsheetml/);
  expect(res.headers['content-disposition']).toMatch(/^attachment/);
  const { sheets } = await readXlsx(res.body as Buffer);
  return { total: Number(res.headers['x-total-count']), rows: sheets[0]! };
}

describe('createAddressBook', () => {
  it('answers 201 with the book as it was just before, then getAddressBook shows the new state', async () => {
    const first = await create([{ groupName: '10대', emailAddresses: ['kim@example.com', 'lee@example.com'] }, { groupName: 'men' }]);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ totalAddressCount: 0, groups: [] });
    const after = await book();
    expect(after).toEqual({
      totalAddressCount: 2,
      groups: [
        { sid: expect.any(Number), groupName: '10대', addressCount: 2 },
        { sid: expect.any(Number), groupName: 'men', addressCount: 0 },
      ],
    });
    const second = await create([{ groupName: 'men', emailAddresses: ['kim@example.com'] }]);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(after);
  });

  it('is an upsert: an existing group gets the new addresses added, its sid stays', async () => {
    await create([{ groupName: 'vip', emailAddresses: ['a@example.com', 'b@example.com'] }]);
    const sid = (await book()).groups[0]!.sid;
    await create([{ groupName: 'vip', emailAddresses: ['b@example.com', 'c@example.com'] }]);
    expect(await book()).toEqual({ totalAddressCount: 3, groups: [{ sid, groupName: 'vip', addressCount: 3 }] });
  });

  it('stores an address once whatever its case, keeping the first spelling', async () => {
    await create([
      { groupName: 'g1', emailAddresses: ['Kim@Example.com', 'kim@example.com', ' KIM@EXAMPLE.COM '] },
      { groupName: 'g2', emailAddresses: ['kim@EXAMPLE.com'] },
    ]);
    await create([{ groupName: 'g1', emailAddresses: ['KIM@example.com'] }]);
    expect(counts(await book())).toEqual({ total: 1, groups: { g1: 1, g2: 1 } });
    const rows = await sql<{ address: string }>`SELECT address FROM address_book_addresses`.execute(svc.db.db);
    expect(rows.rows).toEqual([{ address: 'Kim@Example.com' }]);
  });

  it('takes 100,000 addresses in one call (stored in bulk) and refuses 100,001', async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `user${i}@bulk.example.com`);
    const res = await create([
      { groupName: 'bulk-a', emailAddresses: many.slice(0, 60_000) },
      { groupName: 'bulk-b', emailAddresses: many.slice(60_000) },
    ]);
    expect(res.status).toBe(201);
    expect(counts(await book())).toEqual({ total: 100_000, groups: { 'bulk-a': 60_000, 'bulk-b': 40_000 } });
    const tooMany = await create([{ groupName: 'bulk-c', emailAddresses: [...many, 'one-more@bulk.example.com'] }]);
    expectError(tooMany, '77102', /groups\[0\]\.emailAddresses: at most 100000 addresses/);
  }, 60_000);

  it.each([
    ['no groups', {}, /groups/],
    ['empty groups', { groups: [] }, /groups/],
    ['a group without a name', { groups: [{ emailAddresses: ['a@example.com'] }] }, /groups\[0\]\.groupName/],
    ['an empty name', { groups: [{ groupName: '' }] }, /groups\[0\]\.groupName: required/],
    ['a name with a space', { groups: [{ groupName: 'my group' }] }, /groups\[0\]\.groupName: only Hangul/],
    ['a name over 100 characters', { groups: [{ groupName: 'x'.repeat(101) }] }, /groups\[0\]\.groupName: at most 100 characters/],
    ['a name twice', { groups: [{ groupName: 'a' }, { groupName: 'b' }, { groupName: 'a' }] }, /groups\[2\]\.groupName: "a" is given more than once/],
    [
      'an invalid address',
      { groups: [{ groupName: 'a', emailAddresses: ['ok@example.com', 'not-an-address'] }] },
      /groups\[0\]\.emailAddresses\[1\]: "not-an-address" is not a valid e-mail address/,
    ],
    ['a number as address', { groups: [{ groupName: 'a', emailAddresses: [42] }] }, /groups\[0\]\.emailAddresses\[0\]/],
    ['addresses not a list', { groups: [{ groupName: 'a', emailAddresses: 'a@example.com' }] }, /groups\[0\]\.emailAddresses/],
    ['a group that is not an object', { groups: ['a'] }, /groups\[0\]/],
  ])('refuses %s with 400/77102 naming the field, storing nothing', async (_name, body, message) => {
    await create([{ groupName: 'existing', emailAddresses: ['keep@example.com'] }]);
    const before = await book();
    const res = await svc.call('POST', '/api/v1/address-book', { body });
    expectError(res, '77102', message);
    expect(await book()).toEqual(before);
  });

  it('stores nothing when one group of several is invalid (all or nothing)', async () => {
    const res = await create([
      { groupName: 'good', emailAddresses: ['a@example.com'] },
      { groupName: 'bad', emailAddresses: ['b@'] },
    ]);
    expectError(res, '77102', /groups\[1\]\.emailAddresses\[0\]/);
    expect(await book()).toEqual({ totalAddressCount: 0, groups: [] });
  });

  it('accepts JSON with \\uXXXX escapes and a charset', async () => {
    const res = await svc
      .call('POST', '/api/v1/address-book')
      .set('Content-Type', 'application/json; charset=utf-8')
      .send('{"groups":[{"groupName":"\\uD55C\\uAE00","emailAddresses":["x@example.com"]}]}');
    expect(res.status).toBe(201);
    expect(counts(await book())).toEqual({ total: 1, groups: { 한글: 1 } });
  });
});

describe('deleting', () => {
  beforeEach(async () => {
    await create([
      { groupName: 'g1', emailAddresses: ['a@example.com', 'b@example.com', 'c@example.com'] },
      { groupName: 'g2', emailAddresses: ['b@example.com', 'c@example.com', 'd@example.com'] },
    ]);
  });

  it('deleteAddressBook removes every address and group and says how many addresses', async () => {
    const res = await svc.call('DELETE', '/api/v1/address-book');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deletedAddressCount: 4 });
    expect(await book()).toEqual({ totalAddressCount: 0, groups: [] });
  });

  it('deleteAddress (JSON body on DELETE) removes the addresses from the book and from every group, case-insensitively', async () => {
    const res = await svc.call('DELETE', '/api/v1/address-book/address', { body: { emailAddresses: ['B@EXAMPLE.COM', 'nobody@example.com'] } });
    expect(res.status).toBe(200);
    expect(counts(res.body)).toEqual({ total: 3, groups: { g1: 2, g2: 2 } });
    expect(res.body).toEqual(await book());
  });

  it('deleteAddress refuses an invalid address naming it, and an empty list', async () => {
    expectError(
      await svc.call('DELETE', '/api/v1/address-book/address', { body: { emailAddresses: ['a@example.com', 'bad address'] } }),
      '77102',
      /emailAddresses\[1\]/,
    );
    expectError(await svc.call('DELETE', '/api/v1/address-book/address', { body: { emailAddresses: [] } }), '77102', /emailAddresses/);
    expectError(await svc.call('DELETE', '/api/v1/address-book/address', { body: {} }), '77102', /emailAddresses/);
    // no body at all: no media type either (as for every JSON operation)
    expect((await svc.call('DELETE', '/api/v1/address-book/address')).body).toMatchObject({ error: { code: '77002' } });
    expect(counts(await book())).toEqual({ total: 4, groups: { g1: 3, g2: 3 } });
  });

  it('deleteRecipientGroup deletes the group and keeps its addresses', async () => {
    const res = await svc.call('DELETE', '/api/v1/address-book/recipient-groups?groupName=g1');
    expect(res.status).toBe(200);
    expect(counts(res.body)).toEqual({ total: 4, groups: { g2: 3 } });
    // a new group of the same name starts empty
    await create([{ groupName: 'g1' }]);
    expect(counts(await book())).toEqual({ total: 4, groups: { g1: 0, g2: 3 } });
  });

  it('deleteRecipientGroup with a Hangul name, URL-encoded', async () => {
    await create([{ groupName: '20대', emailAddresses: ['a@example.com'] }]);
    const res = await svc.call('DELETE', `/api/v1/address-book/recipient-groups?groupName=${encodeURIComponent('20대')}`);
    expect(res.status).toBe(200);
    expect(counts(res.body)).toEqual({ total: 4, groups: { g1: 3, g2: 3 } });
  });

  it('deleteRecipientGroupRelation (JSON body on DELETE) removes memberships only', async () => {
    const res = await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address', {
      body: { groupName: 'g1', emailAddresses: ['A@example.com', 'b@example.com', 'd@example.com'] },
    });
    expect(res.status).toBe(200);
    expect(counts(res.body)).toEqual({ total: 4, groups: { g1: 1, g2: 3 } });
  });

  it('deleteRecipientGroupRelationEmpty empties the group and keeps the group and the addresses', async () => {
    const res = await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address/empty?groupName=g2');
    expect(res.status).toBe(200);
    expect(counts(res.body)).toEqual({ total: 4, groups: { g1: 3, g2: 0 } });
  });

  it('an unknown group is 400/77103 naming it; a missing or malformed name 400/77102; nothing changes', async () => {
    expectError(await svc.call('DELETE', '/api/v1/address-book/recipient-groups?groupName=nope'), '77103', /group "nope" does not exist/);
    expectError(await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address/empty?groupName=nope'), '77103', /nope/);
    expectError(
      await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address', { body: { groupName: 'nope', emailAddresses: ['a@example.com'] } }),
      '77103',
      /nope/,
    );
    expectError(await svc.call('DELETE', '/api/v1/address-book/recipient-groups'), '77102', /groupName/);
    expectError(await svc.call('DELETE', '/api/v1/address-book/recipient-groups?groupName='), '77102', /groupName/);
    expectError(
      await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address', { body: { groupName: 'g1', emailAddresses: ['x@'] } }),
      '77102',
      /emailAddresses\[0\]/,
    );
    expectError(
      await svc.call('DELETE', '/api/v1/address-book/recipient-groups/address', { body: { emailAddresses: ['a@example.com'] } }),
      '77102',
      /groupName/,
    );
    expect(counts(await book())).toEqual({ total: 4, groups: { g1: 3, g2: 3 } });
  });
});

describe('client compatibility', () => {
  it('takes Content-Type: application/json on GET and on DELETE without a body', async () => {
    await create([{ groupName: 'g1', emailAddresses: ['a@example.com'] }]);
    const get = await svc.call('GET', '/api/v1/address-book').set('Content-Type', 'application/json');
    expect(get.status).toBe(200);
    const del = await svc
      .call('DELETE', '/api/v1/address-book/recipient-groups/address/empty?groupName=g1')
      .set('Content-Type', 'application/json; charset=utf-8');
    expect(del.status).toBe(200);
    expect(counts(del.body)).toEqual({ total: 1, groups: { g1: 0 } });
    const all = await svc.call('DELETE', '/api/v1/address-book', { body: {} });
    expect(all.body).toEqual({ deletedAddressCount: 1 });
  });
});

describe('tenancy', () => {
  it("another project's book is invisible and untouchable", async () => {
    await create([{ groupName: 'mine', emailAddresses: ['a@example.com'] }]);
    await create([{ groupName: 'theirs', emailAddresses: ['a@example.com', 'b@example.com'] }], other);
    expect(counts(await book())).toEqual({ total: 1, groups: { mine: 1 } });
    expect(counts(await book(other))).toEqual({ total: 2, groups: { theirs: 2 } });
    expectError(await svc.call('DELETE', '/api/v1/address-book/recipient-groups?groupName=theirs'), '77103', /theirs/);
    expectError(await combination('andFilter=false&groups=theirs'), '77103', /theirs/);
    const deleted = await svc.call('DELETE', '/api/v1/address-book/address', { body: { emailAddresses: ['a@example.com'] } });
    expect(counts(deleted.body)).toEqual({ total: 0, groups: { mine: 0 } });
    expect(counts(await book(other))).toEqual({ total: 2, groups: { theirs: 2 } });
    expect((await svc.call('DELETE', '/api/v1/address-book')).body).toEqual({ deletedAddressCount: 0 });
    expect(counts(await book(other))).toEqual({ total: 2, groups: { theirs: 2 } });
  });
});

describe('getGroupCombination', () => {
  beforeEach(async () => {
    await create([
      { groupName: 'g1', emailAddresses: ['a@example.com', 'b@example.com', 'c@example.com'] },
      { groupName: 'g2', emailAddresses: ['C@example.com', 'd@example.com', 'B@example.com'] },
      { groupName: 'g3', emailAddresses: ['c@example.com', 'e@example.com'] },
    ]);
  });

  it('AND: the addresses in every group, header row first, X-Total-Count', async () => {
    expect(await combinationRows('andFilter=true&groups=g1&groups=g2')).toEqual({ total: 2, rows: [['address'], ['b@example.com'], ['c@example.com']] });
    expect(await combinationRows('andFilter=true&groups=g1&groups=g2&groups=g3')).toEqual({ total: 1, rows: [['address'], ['c@example.com']] });
  });

  it('OR: the addresses in any group, each once, in the order they were added; groups comma-separated', async () => {
    const expected = { total: 5, rows: [['address'], ['a@example.com'], ['b@example.com'], ['c@example.com'], ['d@example.com'], ['e@example.com']] };
    expect(await combinationRows('andFilter=false&groups=g1&groups=g2&groups=g3')).toEqual(expected);
    expect(await combinationRows('andFilter=false&groups=g1%2Cg2,g3')).toEqual(expected);
  });

  it('an empty combination is a file with the header only', async () => {
    await create([{ groupName: 'empty' }]);
    expect(await combinationRows('andFilter=false&groups=empty')).toEqual({ total: 0, rows: [['address']] });
  });

  it.each([
    ['an unknown group', 'andFilter=true&groups=g1&groups=nope', '77103', /groups: group "nope" does not exist/],
    ['no groups', 'andFilter=true', '77102', /groups/],
    ['no andFilter', 'groups=g1', '77102', /andFilter/],
    ['andFilter not a boolean', 'andFilter=maybe&groups=g1', '77102', /andFilter/],
    ['six groups', 'andFilter=false&groups=g1,g2,g3,a,b,c', '77102', /groups: at most 5 groups/],
    ['a malformed group name', 'andFilter=false&groups=a%20b', '77102', /groups\[0\]/],
  ] as const)('refuses %s', async (_name, query, code, message) => {
    expectError(await combination(query), code, message);
  });
});

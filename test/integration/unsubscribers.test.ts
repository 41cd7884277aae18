import { beforeAll, describe, expect, it } from '@jest/globals';
import supertest from 'supertest';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

// registerUnsubscribers, deleteUnsubscribers, getUnsubscribersList (ncp-api-reference §9.1-9.3).

const { svc, sink } = useTestService({ env: { PUBLIC_BASE_URL: 'http://unsub.test' } });
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

const list = (query = '', key?: CreatedKey) => svc.call('GET', `/api/v1/unsubscribers${query}`, { key });
const addresses = async (query = '', key?: CreatedKey) => {
  const res = await list(query, key);
  expect(res.status).toBe(200);
  return res.body.content.map((r: { address: string }) => r.address);
};
async function sendAd(address: string): Promise<{ requestId: string; status: string; code: string }> {
  const res = await svc.call('POST', '/api/v1/mails', {
    body: { senderAddress: 'ads@company.com', title: 'Ad', body: '<p>x</p>', advertising: true, recipients: [{ address }] },
  });
  expect(res.status).toBe(201);
  const requestId = res.body.requestId as string;
  const status = (await finishedRequestRow(svc, requestId)).emailStatus.code;
  const rec = await svc.db.db
    .selectFrom('recipients')
    .select('result_code')
    .where('request_id', '=', String(BigInt(requestId.slice(8))))
    .executeTakeFirst();
  return { requestId, status, code: rec?.result_code ?? '' };
}

describe('registerUnsubscribers', () => {
  it('adds new addresses (201) and counts what was ignored: repeats in the request and ones already listed, any case', async () => {
    const res = await svc.call('POST', '/api/v1/unsubscribers', {
      body: { blockedReceivers: ['a1@example.com', 'B1@example.com', 'b1@EXAMPLE.com', 'c1@example.com'] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ count: 3, requestCount: 4, ignoreCount: 1 });
    const again = await svc.call('POST', '/api/v1/unsubscribers', {
      body: { blockedReceivers: ['A1@example.com', 'd1@example.com'] },
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ count: 1, requestCount: 2, ignoreCount: 1 });
    expect((await addresses('?size=100')).sort()).toEqual(['B1@example.com', 'a1@example.com', 'c1@example.com', 'd1@example.com']);
  });

  it('refuses bad input with 400/77102 naming the field, and stores nothing', async () => {
    const before = await addresses('?size=100');
    const post = (body: unknown) => svc.call('POST', '/api/v1/unsubscribers', { body: body as object });
    expectError(await post({}), '77102', 'blockedReceivers');
    expectError(await post({ blockedReceivers: [] }), '77102', 'blockedReceivers');
    expectError(await post({ blockedReceivers: 'x@example.com' }), '77102', 'blockedReceivers');
    expectError(await post({ blockedReceivers: [42] }), '77102', 'blockedReceivers');
    expectError(await post({ blockedReceivers: ['ok@example.com', 'not-an-address'] }), '77102', 'blockedReceivers[1]');
    expectError(await post({ blockedReceivers: ['ok@example.com', null] }), '77102', 'blockedReceivers');
    const bad = await svc.call('POST', '/api/v1/unsubscribers').set('Content-Type', 'application/json').send('{"blockedReceivers": [');
    expect(bad.status).toBe(400);
    expect(await addresses('?size=100')).toEqual(before);
  });

  it('an address registered by the manager gets U / UNSUBSCRIBE_ADDRESS on advertising mail', async () => {
    const sent = await sendAd('c1@example.com');
    expect(sent).toMatchObject({ status: 'U', code: 'UNSUBSCRIBE_ADDRESS' });
    expect(sink.messages.some((m) => m.to.includes('c1@example.com'))).toBe(false);
  });
});

describe('getUnsubscribersList', () => {
  it("answers NCP's page: address, blockDate (NesDateTime), isRegByManager; newest first", async () => {
    const res = await list('?size=2');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ totalElements: 4, totalPages: 2, size: 2, number: 0, first: true, last: false, numberOfElements: 2 });
    expect(res.body.sort).toEqual([
      { direction: 'DESC', property: 'createUtc', ignoreCase: false, nullHandling: 'NATIVE', ascending: false, descending: true },
    ]);
    const [row] = res.body.content;
    expect(row).toEqual({
      address: 'd1@example.com',
      isRegByManager: true,
      blockDate: {
        utc: expect.any(Number),
        formattedDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        formattedDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{3}$/),
      },
    });
    const page2 = await list('?size=2&page=1');
    expect(page2.body).toMatchObject({ number: 1, last: true, numberOfElements: 2 });
  });

  it('filters by part of the address (any case), by isRegByManager and by date; sorts by isRegByManager', async () => {
    // One entry made by a recipient, through its link.
    const ad = await sendAd('self@example.com');
    expect(ad.status).toBe('S');
    const mail = sink.messages.find((m) => m.to.includes('self@example.com'))!;
    const url = /List-Unsubscribe:\s*<([^>]+)>/.exec(mail.raw.toString('latin1'))![1]!;
    const res = await supertest(svc.app).post(url.slice('http://unsub.test'.length)).type('form').send('List-Unsubscribe=One-Click');
    expect(res.status).toBe(200);

    expect(await addresses('?emailAddress=B1@EXAMPLE')).toEqual(['B1@example.com']);
    expect(await addresses('?emailAddress=%25')).toEqual([]); // LIKE wildcards are literal
    expect(await addresses('?isRegByManager=false')).toEqual(['self@example.com']);
    expect((await addresses('?isRegByManager=true&size=100')).length).toBe(4);
    expect(await addresses('?startDateTime=2099-01-01')).toEqual([]);
    expect(await addresses(`?endUtc=${Date.now() - 3_600_000}`)).toEqual([]);
    expect((await addresses(`?startUtc=${Date.now() - 3_600_000}&size=100`)).length).toBe(5);
    expect((await addresses('?sort=isRegByManager,asc&size=100'))[0]).toBe('self@example.com');
    expect((await addresses('?sort=isRegByManager,desc&size=100'))[4]).toBe('self@example.com');
  });

  it('refuses bad query parameters with 400/77102 naming them', async () => {
    expectError(await list('?sort=address'), '77102', 'sort');
    expectError(await list('?isRegByManager=maybe'), '77102', 'isRegByManager');
    expectError(await list('?startDateTime=yesterday'), '77102', 'startDateTime');
    expectError(await list('?startUtc=abc'), '77102', 'startUtc');
    expectError(await list('?size=0'), '77102', 'size');
    expectError(await list('?startDateTime=2025-02-01&endDateTime=2025-01-01'), '77102', 'startDateTime');
  });

  it('another project sees none of it and its list is its own', async () => {
    expect(await addresses('', other)).toEqual([]);
    const res = await svc.call('POST', '/api/v1/unsubscribers', { key: other, body: { blockedReceivers: ['a1@example.com'] } });
    expect(res.body).toEqual({ count: 1, requestCount: 1, ignoreCount: 0 });
    expect(await addresses('', other)).toEqual(['a1@example.com']);
  });
});

describe('deleteUnsubscribers', () => {
  it('removes listed addresses (JSON body on DELETE), counts the rest as ignored, leaves other projects alone', async () => {
    const res = await svc.call('DELETE', '/api/v1/unsubscribers', { body: { blockedReceivers: ['A1@EXAMPLE.COM', 'nobody@example.com'] } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ count: 1, requestCount: 2, ignoreCount: 1 });
    expect(await addresses('?size=100')).not.toContain('a1@example.com');
    expect(await addresses('', other)).toEqual(['a1@example.com']);
  });

  it('a recipient that unsubscribed by link shows unsubscribed=false (with the date) once the manager removes the address; ads reach it again', async () => {
    const before = await svc.db.db
      .selectFrom('recipients')
      .select(['unsubscribed', 'unsubscribed_at'])
      .where('address', '=', 'self@example.com')
      .executeTakeFirstOrThrow();
    expect(before.unsubscribed).toBe(true);
    const res = await svc.call('DELETE', '/api/v1/unsubscribers', { body: { blockedReceivers: ['self@example.com'] } });
    expect(res.body).toEqual({ count: 1, requestCount: 1, ignoreCount: 0 });
    const after = await svc.db.db
      .selectFrom('recipients')
      .select(['unsubscribed', 'unsubscribed_at'])
      .where('address', '=', 'self@example.com')
      .executeTakeFirstOrThrow();
    expect(after.unsubscribed).toBe(false);
    expect(after.unsubscribed_at!.getTime()).toBeGreaterThanOrEqual(before.unsubscribed_at!.getTime());
    expect((await sendAd('self@example.com')).status).toBe('S');
  });

  it("matches an address by PostgreSQL's lower-casing, whatever JavaScript's makes of it (U+0130): found, filtered and removed", async () => {
    // 'İ'.toLowerCase() is two characters in JavaScript, lower('İ') one in PostgreSQL
    const added = await svc.call('POST', '/api/v1/unsubscribers', { body: { blockedReceivers: ['İnfo@turkish.example'] } });
    expect(added.body).toMatchObject({ count: 1 });
    expect(await addresses(`?emailAddress=${encodeURIComponent('İnfo@turkish')}`)).toEqual(['İnfo@turkish.example']);
    const res = await svc.call('DELETE', '/api/v1/unsubscribers', { body: { blockedReceivers: ['İnfo@turkish.example'] } });
    expect(res.body).toEqual({ count: 1, requestCount: 1, ignoreCount: 0 });
    expect(await addresses('?emailAddress=turkish')).toEqual([]);
  });

  it('refuses bad input with 400/77102 and deletes nothing', async () => {
    const before = await addresses('?size=100');
    expectError(await svc.call('DELETE', '/api/v1/unsubscribers', { body: { blockedReceivers: ['B1@example.com', 'bad'] } }), '77102', 'blockedReceivers[1]');
    expectError(await svc.call('DELETE', '/api/v1/unsubscribers', { body: {} }), '77102', 'blockedReceivers');
    expect(await addresses('?size=100')).toEqual(before);
  });

  it('needs a signature like every API operation', async () => {
    const res = await supertest(svc.app).get('/api/v1/unsubscribers');
    expect(res.status).toBe(401);
  });
});

import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { iterateViewRows, parseViewFilters } from '../../src/modules/mails/view-rows.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

/**
 * The recipient view (GET /mails/recipients, an extension endpoint) after real sends: every field,
 * every filter of the search bar, paging, sorting, bad filters, tenancy, the bounded count;
 * the same filters on the request and mail views; iterateViewRows (exports) in the same order.
 */

const { svc, sink } = useTestService({ env: { RETRY_LIMIT: '1', RETRY_BASE_DELAY_MS: '200' } });
let other: CreatedKey;

const LIST = '/api/v1/mails/recipients';
const ids = {} as Record<'alpha' | 'beta' | 'gamma', string>;
let betaRejectedMailId: string;
let otherRequestId: string;

async function create(body: Record<string, unknown>, key?: CreatedKey): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', { body, key });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function get(target: string, key?: CreatedKey) {
  return svc.call('GET', target, { key });
}

async function ok(target: string, opts: { key?: CreatedKey; headers?: Record<string, string> } = {}) {
  const res = await svc.call('GET', target, opts);
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
  return res.body;
}

const recipients = (query = '', key?: CreatedKey) => ok(`${LIST}${query ? `?${query}` : ''}`, { key });
const addresses = (page: { content: { address: string }[] }) => page.content.map((r) => r.address);

beforeAll(async () => {
  sink.onRcpt((address) => (address.startsWith('reject') ? 'reject' : 'accept'));
  other = await svc.newKey('other');

  ids.alpha = await create({
    senderAddress: 'alpha@company.com',
    title: 'Alpha Newsletter for ${NAME}',
    body: '<p>Hi ${NAME}</p>',
    recipients: [
      { address: 'kim@example.com', name: 'Kim', parameters: { NAME: 'Kim' } },
      { address: 'park@example.com', name: 'Park', parameters: { NAME: 'Park' } },
    ],
  });
  ids.beta = await create({
    senderAddress: 'Beta@Company.com',
    title: 'Beta notice 100%_off',
    body: '<p>beta</p>',
    recipients: [
      { address: 'lee@example.com', name: 'Lee' },
      { address: 'reject-beta@example.com', name: 'Rejected' },
    ],
  });
  ids.gamma = await create({
    senderAddress: 'gamma@company.com',
    title: 'Gamma general',
    body: '<p>to all</p>',
    individual: false,
    recipients: [
      { address: 'g0@example.com', type: 'R' },
      { address: 'gc@example.com', type: 'C' },
    ],
  });
  otherRequestId = await create(
    { senderAddress: 'alpha@company.com', title: 'Other project', body: '<p>x</p>', recipients: [{ address: 'kim@example.com' }] },
    other,
  );

  const done = (id: string, key?: CreatedKey) => finishedRequestRow(svc, id, { key });
  await Promise.all([done(ids.alpha), done(ids.beta), done(ids.gamma), done(otherRequestId, other)]);
  const mails = (await ok(`/api/v1/mails/requests/${ids.beta}/mails`)).content as { mailId: string; representativeRecipient: string }[];
  betaRejectedMailId = mails.find((m) => m.representativeRecipient === 'reject-beta@example.com')!.mailId;

  // Filters on values the API can't set here: a template and the console as the dispatch tool.
  await svc.db.db.updateTable('mail_requests').set({ template_sid: '77', template_name: 'tpl' }).where('title', '=', 'Gamma general').execute();
  await svc.db.db.updateTable('mail_requests').set({ dispatch_type: 'CONSOLE' }).where('title', '=', 'Beta notice 100%_off').execute();
  // Park unsubscribed through the mail's link.
  await svc.db.db.updateTable('recipients').set({ unsubscribed: true, unsubscribed_at: new Date() }).where('address', '=', 'park@example.com').execute();
}, 40_000);

describe('getRecipientList rows', () => {
  it('lists every recipient of the project, newest request first, each request in reverse insertion order', async () => {
    const page = await recipients();
    expect(addresses(page)).toEqual(['gc@example.com', 'g0@example.com', 'reject-beta@example.com', 'lee@example.com', 'park@example.com', 'kim@example.com']);
    expect(page).toMatchObject({ totalElements: 6, totalPages: 1, first: true, last: true, numberOfElements: 6, size: 10, number: 0 });
    expect(page.sort).toEqual([{ direction: 'DESC', property: 'createUtc', ignoreCase: false, nullHandling: 'NATIVE', ascending: false, descending: true }]);
    expect(page.totalElementsExact).toBeUndefined();
  });

  it("shows every field of the guide's recipient list", async () => {
    const [kim] = (await recipients('recipientAddress=kim@example.com')).content;
    expect(kim).toEqual({
      projectId: svc.key.projectId,
      requestId: ids.alpha,
      mailId: expect.stringMatching(/^\d{20}$/),
      requestDate: expect.objectContaining({ utc: expect.any(Number) }),
      sendDate: expect.objectContaining({ utc: expect.any(Number) }),
      reservationDate: null,
      emailStatus: { label: 'Sent successfully', code: 'S' },
      templateSid: null,
      templateName: null,
      title: 'Alpha Newsletter for Kim',
      address: 'kim@example.com',
      name: 'Kim',
      type: { label: 'Recipient', code: 'R' },
      received: true,
      receivedDate: expect.objectContaining({ utc: expect.any(Number) }),
      unsubscribed: false,
      unsubscribedDate: null,
      sendResultCode: 'MAIL_SENT',
      sendResultCodeMessage: 'Sent successfully.',
      sendResultMessage: expect.any(String),
      retryCount: 0,
      temporaryResultCode: null,
      temporaryResultCodeMessage: null,
      bounceType: null,
      bounceStatus: null,
      bounceMessage: null,
      bounceDate: null,
      complaintType: null,
      complaintDate: null,
    });
    const request = (await ok(`/api/v1/mails/requests?requestId=${ids.alpha}`)).content[0];
    expect(kim.requestDate).toEqual(request.requestDate);
    const mail = await ok(`/api/v1/mails/${kim.mailId}`);
    expect(mail.recipients.map((r: { address: string }) => r.address)).toEqual(['kim@example.com']);

    const [park] = (await recipients('recipientAddress=park@example.com')).content;
    expect(park).toMatchObject({ title: 'Alpha Newsletter for Park', unsubscribed: true, unsubscribedDate: { utc: expect.any(Number) } });
    const [rejected] = (await recipients('recipientAddress=reject-beta@example.com')).content;
    expect(rejected).toMatchObject({ emailStatus: { code: 'F' }, received: false, receivedDate: null, sendResultCode: 'RECIPIENT_ADDRESS_ERROR' });
    const [cc] = (await recipients('recipientAddress=gc@example.com')).content;
    expect(cc).toMatchObject({ type: { code: 'C' }, templateSid: 77, templateName: 'tpl', title: 'Gamma general' });
  });

  it('localises labels by x-ncp-lang', async () => {
    const page = await ok(`${LIST}?recipientAddress=kim@example.com`, { headers: { 'x-ncp-lang': 'ja-JP' } });
    expect(page.content[0]).toMatchObject({ emailStatus: { label: '送信成功', code: 'S' }, type: { label: '受信者' }, sendResultCodeMessage: '送信成功' });
  });

  it("never shows another project's recipients, nor its ids", async () => {
    expect(addresses(await recipients('', other))).toEqual(['kim@example.com']);
    expect((await recipients(`requestId=${otherRequestId}`)).content).toEqual([]);
    expect((await recipients(`requestId=${ids.alpha}`, other)).content).toEqual([]);
  });
});

describe('getRecipientList filters', () => {
  const cases: [string, string, string[]][] = [
    ['requestId', `requestId=${'REQ:beta'}`, ['reject-beta@example.com', 'lee@example.com']],
    ['recipientAddress (ignoring case)', 'recipientAddress=KIM@example.com', ['kim@example.com']],
    ['senderAddress (ignoring case)', 'senderAddress=beta@company.com', ['reject-beta@example.com', 'lee@example.com']],
    ['title (partial, ignoring case; % and _ are literal)', 'title=100%25_OFF', ['reject-beta@example.com', 'lee@example.com']],
    ['title (no wildcard meaning)', 'title=100__off', []],
    ['templateSid', 'templateSid=77', ['gc@example.com', 'g0@example.com']],
    ['dispatchType', 'dispatchType=console', ['reject-beta@example.com', 'lee@example.com']],
    ['sendStatus', 'sendStatus=F', ['reject-beta@example.com']],
    [
      'sendStatus (several)',
      'sendStatus=F&sendStatus=s',
      ['gc@example.com', 'g0@example.com', 'reject-beta@example.com', 'lee@example.com', 'park@example.com', 'kim@example.com'],
    ],
    ['sendResultCode', 'sendResultCode=RECIPIENT_ADDRESS_ERROR', ['reject-beta@example.com']],
    [
      'sendResultCode (comma-separated)',
      'sendResultCode=recipient_address_error%2CMAIL_SENT',
      ['gc@example.com', 'g0@example.com', 'reject-beta@example.com', 'lee@example.com', 'park@example.com', 'kim@example.com'],
    ],
    ['two filters narrow together', 'senderAddress=alpha@company.com&recipientAddress=park@example.com', ['park@example.com']],
    ['a request-level and a recipient-level filter', 'dispatchType=CONSOLE&sendStatus=S', ['lee@example.com']],
    ['an address of no recipient', 'recipientAddress=nobody@example.com', []],
    ['a malformed requestId matches nothing', 'requestId=abc', []],
  ];
  it.each(cases)('%s', async (_name, query, expected) => {
    const page = await recipients(query.replace('REQ:beta', ids.beta));
    expect(addresses(page)).toEqual(expected);
    expect(page.totalElements).toBe(expected.length);
  });

  it('mailId', async () => {
    expect(addresses(await recipients(`mailId=${betaRejectedMailId}`))).toEqual(['reject-beta@example.com']);
  });

  it('date range: inclusive ends, *Utc wins, string dates in the display time zone', async () => {
    const [kim] = (await recipients('recipientAddress=kim@example.com')).content;
    const at = kim.requestDate.utc as number;
    expect(addresses(await recipients(`recipientAddress=kim@example.com&startUtc=${at}&endUtc=${at}`))).toEqual(['kim@example.com']);
    expect(addresses(await recipients(`recipientAddress=kim@example.com&startUtc=${at + 1}`))).toEqual([]);
    expect(addresses(await recipients(`recipientAddress=kim@example.com&endUtc=${at - 1}`))).toEqual([]);
    const day = kim.requestDate.formattedDate as string;
    expect(addresses(await recipients(`recipientAddress=kim@example.com&startDateTime=${day}&endDateTime=${day}`))).toEqual(['kim@example.com']);
    expect(addresses(await recipients(`recipientAddress=kim@example.com&startDateTime=2000-01-01&endDateTime=2000-01-02&startUtc=${at}&endUtc=${at}`))).toEqual(
      ['kim@example.com'],
    );
    // without dates, the last two months; an old range finds nothing
    expect(addresses(await recipients('recipientAddress=kim@example.com&startDateTime=2020-01-01&endDateTime=2020-12-31'))).toEqual([]);
  });

  const bad: [string, string][] = [
    ['sendStatus=X', 'sendStatus'],
    ['sendStatus=PF', 'sendStatus'],
    ['sendResultCode=NOPE', 'sendResultCode'],
    ['startUtc=2000&endUtc=1000', 'startUtc'],
    ['startDateTime=2025-02-01&endDateTime=2025-01-01', 'startDateTime'],
    ['startDateTime=yesterday', 'startDateTime'],
    ['dispatchType=SMTP', 'dispatchType'],
    ['templateSid=x', 'templateSid'],
    ['sort=title', 'sort'],
    ['size=0', 'size'],
    ['page=-1', 'page'],
  ];
  it.each(bad)('refuses %s with 400/77102 naming the field', async (query, field) => {
    expectError(await get(`${LIST}?${query}`), '77102', field);
  });

  it('lists the allowed codes when one is unknown', async () => {
    const res = await get(`${LIST}?sendStatus=S,Q`);
    expect(res.body.error.message).toBe('sendStatus: unknown status "Q" (allowed: R, I, S, F, U, C)');
    const res2 = await get(`${LIST}?sendResultCode=NOPE`);
    expect(res2.body.error.message).toMatch(/^sendResultCode: unknown send result code "NOPE" \(allowed: MAIL_SENT, .*UNKNOWN_CAUSE_FAIL\)$/);
  });
});

describe('getRecipientList paging and sorting', () => {
  it('pages through in the default order, with correct totals', async () => {
    const all = addresses(await recipients());
    const p0 = await recipients('size=4');
    const p1 = await recipients('size=4&page=1');
    expect([...addresses(p0), ...addresses(p1)]).toEqual(all);
    expect(p0).toMatchObject({ totalElements: 6, totalPages: 2, first: true, last: false, numberOfElements: 4 });
    expect(p1).toMatchObject({ totalElements: 6, totalPages: 2, first: false, last: true, numberOfElements: 2 });
  });

  it('answers a page beyond the end with empty content and correct totals', async () => {
    const page = await recipients('size=4&page=7');
    expect(page).toMatchObject({ content: [], totalElements: 6, totalPages: 2, number: 7, numberOfElements: 0, last: true, first: false });
    const filtered = await recipients('sendStatus=F&page=3');
    expect(filtered).toMatchObject({ content: [], totalElements: 1, totalPages: 1 });
  });

  it('sorts oldest first on request', async () => {
    const page = await recipients('sort=createUtc,asc');
    expect(addresses(page)).toEqual(['kim@example.com', 'park@example.com', 'lee@example.com', 'reject-beta@example.com', 'g0@example.com', 'gc@example.com']);
    expect(page.sort[0]).toMatchObject({ property: 'createUtc', direction: 'ASC' });
  });

  it('sorts by status, ties in request order in the same direction', async () => {
    expect(addresses(await recipients('sort=statusCode,asc'))).toEqual([
      'reject-beta@example.com',
      'kim@example.com',
      'park@example.com',
      'lee@example.com',
      'g0@example.com',
      'gc@example.com',
    ]);
    expect(addresses(await recipients('sort=statusCode,desc&size=2&page=0'))).toEqual(['gc@example.com', 'g0@example.com']);
  });
});

describe('the same filters on the request and mail views', () => {
  const requestIds = async (query: string) => ((await ok(`/api/v1/mails/requests?${query}`)).content as { requestId: string }[]).map((r) => r.requestId);

  it('sendResultCode on the request view: requests with such a recipient', async () => {
    expect(await requestIds('sendResultCode=RECIPIENT_ADDRESS_ERROR')).toEqual([ids.beta]);
    expect(await requestIds('sendResultCode=MAIL_SENT')).toEqual([ids.gamma, ids.beta, ids.alpha]);
    expectError(await get('/api/v1/mails/requests?sendResultCode=NOPE'), '77102', 'sendResultCode');
  });

  it('templateSid, dispatchType, senderAddress and title mean the same requests as on the recipient view', async () => {
    expect(await requestIds('templateSid=77')).toEqual([ids.gamma]);
    expect(await requestIds('dispatchType=CONSOLE')).toEqual([ids.beta]);
    expect(await requestIds('senderAddress=BETA@company.com')).toEqual([ids.beta]);
    expect(await requestIds('title=100%25_off')).toEqual([ids.beta]);
  });

  it('the mail view takes the date range, senderAddress, templateSid, dispatchType and sendResultCode', async () => {
    const mails = async (query: string) =>
      ((await ok(`/api/v1/mails/requests/${ids.beta}/mails?${query}`)).content as { representativeRecipient: string }[]).map((m) => m.representativeRecipient);
    expect(await mails('sendResultCode=RECIPIENT_ADDRESS_ERROR')).toEqual(['reject-beta@example.com']);
    expect(await mails('dispatchType=CONSOLE')).toEqual(['lee@example.com', 'reject-beta@example.com']);
    expect(await mails('dispatchType=API')).toEqual([]);
    expect(await mails('senderAddress=beta@company.com')).toEqual(['lee@example.com', 'reject-beta@example.com']);
    expect(await mails('templateSid=77')).toEqual([]);
    expect(await mails('startUtc=0&endUtc=1000')).toEqual([]);
    expect(await mails(`startUtc=0&endUtc=${Date.now() + 60_000}`)).toEqual(['lee@example.com', 'reject-beta@example.com']);
    expectError(await get(`/api/v1/mails/requests/${ids.beta}/mails?startUtc=2000&endUtc=1000`), '77102', 'startUtc');
    expectError(await get(`/api/v1/mails/requests/${ids.beta}/mails?sendResultCode=X`), '77102', 'sendResultCode');
  });
});

describe('iterateViewRows (exports)', () => {
  const opts = { lang: 'en' as const, timeZone: 'Asia/Seoul', batchSize: 2 };
  const all = async <T>(it: AsyncIterable<T[]>) => {
    const out: T[] = [];
    for await (const batch of it) out.push(...batch);
    return out;
  };

  it('yields every row of each view as its endpoint renders them, in batches by keyset', async () => {
    const now = new Date();
    const f = (view: 'requests' | 'mails' | 'recipients', raw: Record<string, unknown>) => parseViewFilters(view, raw, { timeZone: 'Asia/Seoul', now });
    const projectId = svc.key.projectId;
    expect(await all(iterateViewRows(svc.db.db, projectId, 'recipients', f('recipients', {}), opts))).toEqual((await recipients()).content);
    expect(await all(iterateViewRows(svc.db.db, projectId, 'recipients', f('recipients', { senderAddress: 'alpha@company.com' }), opts))).toEqual(
      (await recipients('senderAddress=alpha@company.com')).content,
    );
    expect(await all(iterateViewRows(svc.db.db, projectId, 'recipients', f('recipients', { sendStatus: 'S,F' }), opts))).toEqual(
      (await recipients('sendStatus=S,F')).content,
    );
    expect(await all(iterateViewRows(svc.db.db, projectId, 'requests', f('requests', {}), opts))).toEqual((await ok('/api/v1/mails/requests')).content);
    expect(await all(iterateViewRows(svc.db.db, projectId, 'mails', f('mails', { requestId: ids.beta }), opts))).toEqual(
      (await ok(`/api/v1/mails/requests/${ids.beta}/mails`)).content,
    );
  });

  it('refuses the mail view without a requestId, and bad filters, naming the field', () => {
    const now = new Date();
    expect(() => parseViewFilters('mails', {}, { timeZone: 'Asia/Seoul', now })).toThrow(/requestId/);
    expect(() => parseViewFilters('recipients', { sendStatus: 'PF' }, { timeZone: 'Asia/Seoul', now })).toThrow(/sendStatus/);
    expect(() => parseViewFilters('requests', { sendStatus: 'PF' }, { timeZone: 'Asia/Seoul', now })).not.toThrow();
  });
});

describe('the bounded count', () => {
  it('counts exactly up to 10,000 rows, then says the total is a lower bound', async () => {
    const big = await svc.newKey('big');
    // 10,050 recipient rows of one request, as the service would have stored them
    await sql`
      WITH r AS (
        INSERT INTO mail_requests (id, id_day, project_id, status, sender_address, title, body, individual, advertising, confirm_and_send, request_count, recipient_count, stored_count)
        VALUES (nextval('mail_id_seq'), 20261127, ${big.projectId}, 'S', 's@example.com', 'Big', '<p>b</p>', true, false, false, 10050, 10050, 10050)
        RETURNING id, created_at
      ), m AS (
        INSERT INTO mails (id, id_day, request_id, project_id, seq, status, recipient_count, representative_address, created_at)
        SELECT nextval('mail_id_seq'), 20261127, r.id, ${big.projectId}, g, 'S', 1, 'u' || g || '@example.com', r.created_at FROM r, generate_series(1, 10050) g
        RETURNING id, request_id, seq, created_at
      )
      INSERT INTO recipients (mail_id, request_id, project_id, address, type, status, result_code, created_at)
      SELECT m.id, m.request_id, ${big.projectId}, 'u' || m.seq || '@example.com', 'R', 'S', 'MAIL_SENT', m.created_at FROM m`.execute(svc.db.db);
    const page = await recipients('size=10', big);
    expect(page).toMatchObject({ numberOfElements: 10, last: false, totalElementsExact: false });
    expect(page.totalElements).toBeGreaterThan(10);
    expect(page.totalElements).toBeLessThanOrEqual(10_050);
    const exact = await recipients('sendStatus=F', big);
    expect(exact).toMatchObject({ totalElements: 0, last: true });
    expect(exact.totalElementsExact).toBeUndefined();
    // the last page is known exactly: it is not full
    const tail = await recipients('size=1000&page=10', big);
    expect(tail).toMatchObject({ numberOfElements: 50, totalElements: 10_050, last: true });
  });
});

describe('odd input never gives a 500', () => {
  const odd = [
    'title=%00',
    'recipientAddress=a%00b',
    'senderAddress=%00',
    `title=${'x'.repeat(5000)}`,
    'title=%5C',
    'title=%E2%80%AE%F0%9F%98%80',
    `sendStatus=${Array(200).fill('S').join(',')}`,
    'requestId=%00',
    'mailId=99999999999999999999',
    'requestId=20261127999999999999',
    'startUtc=-62198755200000',
    'endUtc=8640000000000000',
    'templateSid=99999999999999999',
    'sort=createUtc,asc&sort=statusCode,desc&sort=sendUtc&sort=receivedUtc',
    'page=2147483647&size=1000',
  ];
  it.each(odd.map((q) => [q.length > 80 ? `${q.slice(0, 40)}… (${q.length} characters)` : q, q]))('%s', async (_label, query) => {
    for (const path of ['/api/v1/mails/recipients', '/api/v1/mails/requests', `/api/v1/mails/requests/${'REQ'}/mails`]) {
      const res = await get(`${path.replace('REQ', ids.beta)}?${query}`);
      expect([200, 400]).toContain(res.status);
      if (res.status === 400) expect(res.body.error.code).toMatch(/^7710[23]$/);
    }
  });
});

import { beforeAll, describe, expect, it } from '@jest/globals';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

/**
 * The NCP views through HTTP after real sends (statuses, search, what NCP clients rely on): getMailRequestList,
 * getMailRequestStatus, getMailList, getMail; their filters, paging, sorting, labels, dates
 * and tenancy.
 */

const { svc, sink } = useTestService({ env: { RETRY_LIMIT: '1', RETRY_BASE_DELAY_MS: '200' } });
let other: CreatedKey;

const LIST = '/api/v1/mails/requests';

/** requestIds of project 1, by role */
const ids = {} as Record<'alpha' | 'beta' | 'gamma' | 'delta' | 'reserved', string>;
let otherRequestId: string;
let otherMailId: string;
let alphaMailId: string;
let betaRejectedMailId: string;
let deltaMailId: string;
let reservationUtc: number;

async function create(body: Record<string, unknown>, key?: CreatedKey): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', { body, key });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function list(query: string, opts: { key?: CreatedKey; headers?: Record<string, string> } = {}) {
  const res = await svc.call('GET', `${LIST}${query ? `?${query}` : ''}`, opts);
  return res;
}

async function listOk(query: string, opts: { key?: CreatedKey; headers?: Record<string, string> } = {}) {
  const res = await list(query, opts);
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
  return res.body;
}

const idsOf = (page: { content: { requestId: string }[] }) => page.content.map((r) => r.requestId);

async function finished(requestId: string, key?: CreatedKey) {
  return finishedRequestRow(svc, requestId, { key });
}

/** NesDateTime as NCP shows it: the instant in Asia/Seoul (UTC+9, no DST), ms after a space. */
function expectNesDateTime(value: { utc: number; formattedDate: string; formattedDateTime: string }) {
  expect(value).toEqual({ utc: expect.any(Number), formattedDate: expect.any(String), formattedDateTime: expect.any(String) });
  const iso = new Date(value.utc + 9 * 3600_000).toISOString(); // yyyy-MM-ddTHH:mm:ss.SSSZ
  expect(value.formattedDate).toBe(iso.slice(0, 10));
  expect(value.formattedDateTime).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 19)} ${iso.slice(20, 23)}`);
  expect(value.formattedDateTime).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{3}$/);
}

beforeAll(async () => {
  sink.onRcpt((address) => (address.startsWith('reject') ? 'reject' : 'accept'));
  other = await svc.newKey('other');

  ids.alpha = await create({
    senderAddress: 'alpha@company.com',
    senderName: 'Alpha Team',
    title: 'Alpha Newsletter for ${NAME}',
    body: '<p>Hi ${NAME}</p>',
    recipients: [{ address: 'kim@example.com', name: 'Kim', parameters: { NAME: 'Kim' } }],
  });
  ids.beta = await create({
    senderAddress: 'beta@company.com',
    title: 'Beta notice',
    body: '<p>beta</p>',
    recipients: [
      { address: 'lee@example.com', name: 'Lee' },
      { address: 'reject-beta@example.com', name: 'Rejected' },
    ],
  });
  ids.gamma = await create({
    senderAddress: 'alpha@company.com',
    title: 'Gamma failure',
    body: '<p>gamma</p>',
    recipients: [{ address: 'reject-gamma@example.com' }],
  });
  ids.delta = await create({
    senderAddress: 'delta@company.com',
    title: 'Delta general',
    body: '<p>to all</p>',
    individual: false,
    recipients: [
      { address: 'd0@example.com', name: 'D Zero', type: 'R' },
      { address: 'd1@example.com', type: 'R' },
      { address: 'dc@example.com', name: 'D Cc', type: 'C' },
      { address: 'd2@example.com', type: 'R' },
    ],
  });
  reservationUtc = Date.now() + 3600_000;
  ids.reserved = await create({
    senderAddress: 'epsilon@company.com',
    title: 'Epsilon reserved',
    body: '<p>later</p>',
    reservationUtc,
    recipients: [{ address: 'later@example.com' }],
  });
  otherRequestId = await create(
    { senderAddress: 'alpha@company.com', title: 'Other project mail', body: '<p>x</p>', recipients: [{ address: 'kim@example.com' }] },
    other,
  );

  await Promise.all([ids.alpha, ids.beta, ids.gamma, ids.delta].map((id) => finished(id)));
  await finished(otherRequestId, other);

  const mailsOf = async (requestId: string, key?: CreatedKey) =>
    (await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails`, { key })).body.content as { mailId: string; representativeRecipient: string }[];
  alphaMailId = (await mailsOf(ids.alpha))[0]!.mailId;
  betaRejectedMailId = (await mailsOf(ids.beta)).find((m) => m.representativeRecipient === 'reject-beta@example.com')!.mailId;
  deltaMailId = (await mailsOf(ids.delta))[0]!.mailId;
  otherMailId = (await mailsOf(otherRequestId, other))[0]!.mailId;
}, 40_000);

describe('getMailRequestList: the sends as rows', () => {
  it('lists the five requests of the project, newest first, with their statuses', async () => {
    const page = await listOk('');
    expect(idsOf(page)).toEqual([ids.reserved, ids.delta, ids.gamma, ids.beta, ids.alpha]);
    const status = Object.fromEntries(page.content.map((r: { requestId: string; emailStatus: { code: string } }) => [r.requestId, r.emailStatus.code]));
    expect(status).toEqual({ [ids.alpha]: 'S', [ids.beta]: 'PF', [ids.gamma]: 'F', [ids.delta]: 'S', [ids.reserved]: 'R' });
  });

  it('shows a row with every field', async () => {
    const [row] = (await listOk(`requestId=${ids.alpha}`)).content;
    expect(row).toMatchObject({
      requestId: ids.alpha,
      templateSid: null,
      templateName: null,
      emailStatus: { label: 'Sent successfully', code: 'S' },
      senderAddress: 'alpha@company.com',
      senderName: 'Alpha Team',
      dispatchType: 'API',
      reservationDate: null,
      requestCount: 1,
      recipientCount: 1,
      title: 'Alpha Newsletter for ${NAME}',
      advertising: false,
      cancelDate: null,
      reservationStatus: { code: 'N' },
    });
    expect(row.elapsedTime).toMatch(/^\d{2,}:\d{2}:\d{2}\.\d{3}$/);
    expect(typeof row.requesterIp).toBe('string');
    expectNesDateTime(row.requestDate);
    expectNesDateTime(row.sendDate);
    expect(row.sendDate.utc).toBeGreaterThanOrEqual(row.requestDate.utc);
  });

  it('counts mails and recipients of a general request', async () => {
    const [row] = (await listOk(`requestId=${ids.delta}`)).content;
    expect(row).toMatchObject({ requestCount: 1, recipientCount: 4, emailStatus: { code: 'S' } });
  });

  it('shows a reserved request in R with its reservationDate and reservationStatus Y', async () => {
    const [row] = (await listOk(`requestId=${ids.reserved}`)).content;
    expect(row).toMatchObject({ emailStatus: { code: 'R' }, reservationStatus: { code: 'Y' }, sendDate: null, elapsedTime: null });
    expect(row.reservationDate.utc).toBe(reservationUtc);
    expectNesDateTime(row.reservationDate);
  });
});

describe('getMailRequestList filters', () => {
  it('filters by requestId', async () => {
    expect(idsOf(await listOk(`requestId=${ids.beta}`))).toEqual([ids.beta]);
  });

  it('filters by mailId (the request that holds the mail)', async () => {
    expect(idsOf(await listOk(`mailId=${betaRejectedMailId}`))).toEqual([ids.beta]);
  });

  it('matches nothing for a well-formed unknown requestId and for a malformed one', async () => {
    expect((await listOk('requestId=20200101000000000001')).content).toEqual([]);
    expect((await listOk('requestId=not-an-id')).content).toEqual([]);
  });

  it('filters by a part of the title, ignoring case', async () => {
    expect(idsOf(await listOk('title=newsletter'))).toEqual([ids.alpha]);
    expect(idsOf(await listOk('title=LPHA+NEWS'))).toEqual([ids.alpha]);
  });

  it('takes % and _ in the title filter literally', async () => {
    expect((await listOk('title=%25')).content).toEqual([]);
    expect((await listOk('title=_')).content).toEqual([]);
  });

  it('filters by senderAddress', async () => {
    expect(idsOf(await listOk('senderAddress=alpha%40company.com'))).toEqual([ids.gamma, ids.alpha]);
    expect(idsOf(await listOk('senderAddress=ALPHA@company.com'))).toEqual([ids.gamma, ids.alpha]);
  });

  it('filters by recipientAddress, cc included', async () => {
    expect(idsOf(await listOk('recipientAddress=reject-beta%40example.com'))).toEqual([ids.beta]);
    expect(idsOf(await listOk('recipientAddress=dc@example.com'))).toEqual([ids.delta]);
    expect(idsOf(await listOk('recipientAddress=kim@example.com'))).toEqual([ids.alpha]);
  });

  it('filters by one sendStatus', async () => {
    expect(idsOf(await listOk('sendStatus=PF'))).toEqual([ids.beta]);
    expect(idsOf(await listOk('sendStatus=R'))).toEqual([ids.reserved]);
  });

  it('filters by sendStatus repeated', async () => {
    expect(idsOf(await listOk('sendStatus=S&sendStatus=PF'))).toEqual([ids.delta, ids.beta, ids.alpha]);
  });

  it('filters by sendStatus comma-separated (encoded and raw comma)', async () => {
    expect(idsOf(await listOk('sendStatus=S%2CF'))).toEqual([ids.delta, ids.gamma, ids.alpha]);
    expect(idsOf(await listOk('sendStatus=F,PF'))).toEqual([ids.gamma, ids.beta]);
  });

  it('accepts lower-case status codes', async () => {
    expect(idsOf(await listOk('sendStatus=pf'))).toEqual([ids.beta]);
  });

  it('filters by dispatchType', async () => {
    expect((await listOk('dispatchType=API')).totalElements).toBe(5);
    expect((await listOk('dispatchType=CONSOLE')).content).toEqual([]);
  });

  it('combines filters (AND)', async () => {
    expect(idsOf(await listOk('senderAddress=alpha%40company.com&sendStatus=F'))).toEqual([ids.gamma]);
    expect(idsOf(await listOk('senderAddress=alpha%40company.com&title=beta'))).toEqual([]);
  });

  it('filters by startUtc/endUtc, both ends inclusive', async () => {
    const [beta] = (await listOk(`requestId=${ids.beta}`)).content;
    const t = beta.requestDate.utc as number;
    expect(idsOf(await listOk(`startUtc=${t}&endUtc=${t}`))).toEqual([ids.beta]);
    expect(idsOf(await listOk(`startUtc=${t}`))).toEqual([ids.reserved, ids.delta, ids.gamma, ids.beta]);
    expect(idsOf(await listOk(`startUtc=0&endUtc=${t}`))).toEqual([ids.beta, ids.alpha]);
    expect((await listOk(`startUtc=${Date.now() + 3600_000}`)).content).toEqual([]);
  });

  it('filters by startDateTime/endDateTime as dates in Asia/Seoul', async () => {
    const [alpha] = (await listOk(`requestId=${ids.alpha}`)).content;
    const [reserved] = (await listOk(`requestId=${ids.reserved}`)).content;
    const first = alpha.requestDate.formattedDate as string;
    const last = reserved.requestDate.formattedDate as string;
    expect(idsOf(await listOk(`startDateTime=${first}&endDateTime=${last}`))).toHaveLength(5);
    const dayBefore = new Date(Date.parse(`${first}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    expect((await listOk(`startDateTime=${dayBefore}&endDateTime=${dayBefore}`)).content).toEqual([]);
  });

  it('filters by "yyyy-MM-dd HH:mm" as sent by URLSearchParams, the end minute included', async () => {
    const [beta] = (await listOk(`requestId=${ids.beta}`)).content;
    const minute = (beta.requestDate.formattedDateTime as string).slice(0, 16);
    const qs = new URLSearchParams({ startDateTime: minute, endDateTime: minute }).toString();
    expect(qs).toContain('+');
    expect(qs).toContain('%3A');
    expect(idsOf(await listOk(qs))).toContain(ids.beta);
    const byBeta = await listOk(`${qs}&requestId=${ids.beta}`);
    expect(idsOf(byBeta)).toEqual([ids.beta]);
  });

  it('lets startUtc win over startDateTime', async () => {
    const page = await listOk(`startUtc=${Date.now() + 3600_000}&startDateTime=2000-01-01`);
    expect(page.content).toEqual([]);
  });

  it('accepts "yyyy-MM-dd HH:mm:ss SSS" and "yyyy-MM-dd HH:mm:ss.SSS" dates', async () => {
    const [beta] = (await listOk(`requestId=${ids.beta}`)).content;
    const exact = beta.requestDate.formattedDateTime as string; // yyyy-MM-dd HH:mm:ss SSS
    const dotted = `${exact.slice(0, 19)}.${exact.slice(20)}`;
    expect(idsOf(await listOk(`startDateTime=${encodeURIComponent(exact)}&endDateTime=${encodeURIComponent(exact)}`))).toEqual([ids.beta]);
    expect(idsOf(await listOk(`startDateTime=${encodeURIComponent(dotted)}&endDateTime=${encodeURIComponent(dotted)}`))).toEqual([ids.beta]);
  });
});

describe('getMailRequestList paging and sorting', () => {
  const sortDesc = { direction: 'DESC', property: 'createUtc', ignoreCase: false, nullHandling: 'NATIVE', ascending: false, descending: true };

  it('answers a Spring page with every field', async () => {
    const page = await listOk('size=2');
    expect(page).toEqual({
      content: expect.any(Array),
      last: false,
      totalElements: 5,
      totalPages: 3,
      first: true,
      numberOfElements: 2,
      size: 2,
      number: 0,
      sort: [sortDesc],
    });
    expect(idsOf(page)).toEqual([ids.reserved, ids.delta]);
  });

  it('defaults to page 0 of size 10', async () => {
    const page = await listOk('');
    expect(page).toMatchObject({ size: 10, number: 0, first: true, last: true, totalElements: 5, totalPages: 1, numberOfElements: 5 });
  });

  it('answers a middle and the last page', async () => {
    const middle = await listOk('size=2&page=1');
    expect(middle).toMatchObject({ first: false, last: false, number: 1, numberOfElements: 2, totalElements: 5 });
    expect(idsOf(middle)).toEqual([ids.gamma, ids.beta]);
    const last = await listOk('size=2&page=2');
    expect(last).toMatchObject({ first: false, last: true, number: 2, numberOfElements: 1, totalElements: 5, totalPages: 3 });
    expect(idsOf(last)).toEqual([ids.alpha]);
  });

  it('answers an empty page past the end, not an error', async () => {
    const page = await listOk('size=2&page=10');
    expect(page).toMatchObject({ content: [], numberOfElements: 0, number: 10, totalElements: 5, totalPages: 3, last: true, first: false });
  });

  it('sorts by createUtc,asc and createUtc,desc', async () => {
    const asc = await listOk('sort=createUtc,asc');
    const desc = await listOk('sort=createUtc,desc');
    expect(idsOf(asc)).toEqual([ids.alpha, ids.beta, ids.gamma, ids.delta, ids.reserved]);
    expect(idsOf(desc)).toEqual([...idsOf(asc)].reverse());
    expect(asc.sort).toEqual([{ ...sortDesc, direction: 'ASC', ascending: true, descending: false }]);
    expect(desc.sort).toEqual([sortDesc]);
  });

  it('sorts ascending when no direction is given (Spring default)', async () => {
    expect(idsOf(await listOk('sort=createUtc'))).toEqual([ids.alpha, ids.beta, ids.gamma, ids.delta, ids.reserved]);
  });

  it('sorts by recipientCount,desc then createUtc', async () => {
    const page = await listOk('sort=recipientCount,desc&sort=createUtc,asc');
    expect(idsOf(page)).toEqual([ids.delta, ids.beta, ids.alpha, ids.gamma, ids.reserved]);
    expect(page.sort.map((s: { property: string; direction: string }) => `${s.property},${s.direction}`)).toEqual(['recipientCount,DESC', 'createUtc,ASC']);
  });
});

describe('getMailRequestList refuses bad filters with 400/77102', () => {
  it('an unknown status', async () => expectError(await list('sendStatus=X'), '77102', 'sendStatus'));
  it('an unknown status among good ones', async () => expectError(await list('sendStatus=S%2CBOGUS'), '77102', 'sendStatus'));
  it('an inverted startUtc/endUtc range', async () => expectError(await list(`startUtc=${Date.now()}&endUtc=${Date.now() - 86_400_000}`), '77102', 'startUtc'));
  it('an inverted startDateTime/endDateTime range', async () =>
    expectError(await list('startDateTime=2025-02-01&endDateTime=2025-01-01'), '77102', 'startDateTime'));
  it('a malformed startDateTime', async () => expectError(await list('startDateTime=01%2F02%2F2025'), '77102', 'startDateTime'));
  it('an impossible endDateTime', async () => expectError(await list('endDateTime=2025-02-30'), '77102', 'endDateTime'));
  it('a startUtc that is no number', async () => expectError(await list('startUtc=yesterday'), '77102', 'startUtc'));
  it('an unknown sort property', async () => expectError(await list('sort=bogus,asc'), '77102', 'sort'));
  it('a sort of only a direction', async () => expectError(await list('sort=desc'), '77102', 'sort'));
  it('size 0', async () => expectError(await list('size=0'), '77102', 'size'));
  it('size over 1000', async () => expectError(await list('size=1001'), '77102', 'size'));
  it('a negative page', async () => expectError(await list('page=-1'), '77102', 'page'));
  it('a page that is no number', async () => expectError(await list('page=first'), '77102', 'page'));
  it('an unknown dispatchType', async () => expectError(await list('dispatchType=EMAIL'), '77102', 'dispatchType'));
});

describe('labels by x-ncp-lang', () => {
  const labelOf = async (requestId: string, lang?: string) =>
    (await listOk(`requestId=${requestId}`, lang ? { headers: { 'x-ncp-lang': lang } } : {})).content[0].emailStatus;

  it('labels S in ko-KR, ja-JP and en-US', async () => {
    expect(await labelOf(ids.alpha, 'ko-KR')).toEqual({ label: '발송성공', code: 'S' });
    expect(await labelOf(ids.alpha, 'ja-JP')).toEqual({ label: '送信成功', code: 'S' });
    expect(await labelOf(ids.alpha, 'en-US')).toEqual({ label: 'Sent successfully', code: 'S' });
  });

  it('defaults to en-US without the header and for an unknown language', async () => {
    expect(await labelOf(ids.alpha)).toEqual({ label: 'Sent successfully', code: 'S' });
    expect(await labelOf(ids.alpha, 'fr-FR')).toEqual({ label: 'Sent successfully', code: 'S' });
  });

  it('labels PF and F in Korean', async () => {
    expect(await labelOf(ids.beta, 'ko-KR')).toEqual({ label: '일부실패', code: 'PF' });
    expect(await labelOf(ids.gamma, 'ko-KR')).toEqual({ label: '발송실패', code: 'F' });
  });

  it('labels reservationStatus in Korean', async () => {
    const [row] = (await listOk(`requestId=${ids.reserved}`, { headers: { 'x-ncp-lang': 'ko-KR' } })).content;
    expect(row.reservationStatus).toEqual({ label: '예약발송', code: 'Y' });
  });

  it('labels countsByStatus, recipient types and result messages', async () => {
    const status = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/status`, { headers: { 'x-ncp-lang': 'ja-JP' } })).body;
    expect(status.countsByStatus).toEqual([
      { status: { label: '送信失敗', code: 'F' }, count: 1 },
      { status: { label: '送信成功', code: 'S' }, count: 1 },
    ]);
    const mail = (await svc.call('GET', `/api/v1/mails/${deltaMailId}`, { headers: { 'x-ncp-lang': 'ko-KR' } })).body;
    expect(mail.recipients.map((r: { type: unknown }) => r.type)).toEqual([
      { label: '수신자', code: 'R' },
      { label: '수신자', code: 'R' },
      { label: '수신자', code: 'R' },
      { label: '참조인', code: 'C' },
    ]);
    expect(mail.recipients[0].sendResultCodeMessage).toBe('발송 성공했습니다.');
  });
});

describe('getMailRequestStatus', () => {
  it('counts a request with one sent and one failed mail', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/status`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      requestId: ids.beta,
      readyCompleted: true,
      allSentSuccess: false,
      requestCount: 2,
      sentCount: 1,
      finishCount: 2,
      readyCount: 2,
      reservationDate: null,
      countsByStatus: [
        { status: { label: 'Failed to send', code: 'F' }, count: 1 },
        { status: { label: 'Sent successfully', code: 'S' }, count: 1 },
      ],
    });
  });

  it('counts a request sent in full', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/status`);
    expect(res.body).toMatchObject({ allSentSuccess: true, readyCompleted: true, requestCount: 1, sentCount: 1, finishCount: 1, readyCount: 1 });
    expect(res.body.countsByStatus).toEqual([{ status: { label: 'Sent successfully', code: 'S' }, count: 1 }]);
  });

  it('counts a request whose only mail failed', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.gamma}/status`);
    expect(res.body).toMatchObject({ allSentSuccess: false, requestCount: 1, sentCount: 0, finishCount: 1, readyCount: 1 });
  });

  it('counts a reserved request: ready, nothing finished, its reservationDate', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.reserved}/status`);
    expect(res.body).toMatchObject({ readyCompleted: true, allSentSuccess: false, requestCount: 1, sentCount: 0, finishCount: 0, readyCount: 1 });
    expect(res.body.reservationDate.utc).toBe(reservationUtc);
    expectNesDateTime(res.body.reservationDate);
    expect(res.body.countsByStatus).toEqual([{ status: { label: 'Ready to send', code: 'R' }, count: 1 }]);
  });
});

describe('getMailList', () => {
  it('shows a general mail to 4 addresses as "first(3)"', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.delta}/mails`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ totalElements: 1, numberOfElements: 1, first: true, last: true });
    expect(res.body.content[0]).toMatchObject({
      requestId: ids.delta,
      mailId: deltaMailId,
      title: 'Delta general',
      emailStatus: { code: 'S' },
      senderAddress: 'delta@company.com',
      representativeRecipient: 'd0@example.com(3)',
      reservationStatus: { code: 'N' },
      advertising: false,
    });
    expect(res.body.content[0].mailId).toMatch(/^\d{20}$/);
    expectNesDateTime(res.body.content[0].requestDate);
    expectNesDateTime(res.body.content[0].sendDate);
  });

  it('shows individual mails one row each, titles as sent', async () => {
    const beta = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails`)).body;
    expect(
      beta.content.map((m: { representativeRecipient: string; emailStatus: { code: string } }) => [m.representativeRecipient, m.emailStatus.code]),
    ).toEqual([
      ['lee@example.com', 'S'],
      ['reject-beta@example.com', 'F'],
    ]);
    const alpha = (await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/mails`)).body;
    expect(alpha.content[0].title).toBe('Alpha Newsletter for Kim');
  });

  it('filters the mails by sendStatus and recipientAddress', async () => {
    const failed = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails?sendStatus=F`)).body;
    expect(failed.content.map((m: { mailId: string }) => m.mailId)).toEqual([betaRejectedMailId]);
    const byAddress = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails?recipientAddress=lee%40example.com`)).body;
    expect(byAddress.content).toHaveLength(1);
    expect(byAddress.content[0].representativeRecipient).toBe('lee@example.com');
  });

  it('sorts the mails by id,desc', async () => {
    const asc = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails`)).body.content.map((m: { mailId: string }) => m.mailId);
    const desc = (await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails?sort=id,desc`)).body.content.map((m: { mailId: string }) => m.mailId);
    expect(desc).toEqual([...asc].reverse());
  });

  it('refuses P as a mail status (400/77102)', async () => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${ids.beta}/mails?sendStatus=P`), '77102', 'sendStatus');
  });
});

describe('getMail', () => {
  it('shows a failed recipient with its result code and the raw SMTP reply', async () => {
    const res = await svc.call('GET', `/api/v1/mails/${betaRejectedMailId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      requestId: ids.beta,
      mailId: betaRejectedMailId,
      title: 'Beta notice',
      body: '<p>beta</p>',
      emailStatus: { code: 'F' },
      senderAddress: 'beta@company.com',
      senderName: null,
      reservationDate: null,
      referencesHeader: null,
      advertising: false,
      attachFiles: [],
      templateSid: null,
      templateName: null,
    });
    expectNesDateTime(res.body.requestDate);
    expect(res.body.recipients).toEqual([
      {
        address: 'reject-beta@example.com',
        name: 'Rejected',
        type: { label: 'Recipient', code: 'R' },
        received: false,
        receivedDate: null,
        status: { label: 'Failed to send', code: 'F' },
        retryCount: 0,
        sendResultMessage: expect.stringContaining('550'),
        sendResultCode: 'RECIPIENT_ADDRESS_ERROR',
        sendResultCodeMessage: expect.any(String),
        temporaryResultCode: null,
        temporaryResultCodeMessage: null,
        bounceType: null,
        bounceStatus: null,
        bounceMessage: null,
        bounceDate: null,
        complaintType: null,
        complaintDate: null,
      },
    ]);
  });

  it('shows a sent recipient as received with its receivedDate', async () => {
    const res = await svc.call('GET', `/api/v1/mails/${alphaMailId}`);
    expect(res.body.title).toBe('Alpha Newsletter for Kim');
    expect(res.body.body).toBe('<p>Hi Kim</p>');
    const [r] = res.body.recipients;
    expect(r).toMatchObject({ address: 'kim@example.com', name: 'Kim', received: true, status: { code: 'S' }, sendResultCode: 'MAIL_SENT', retryCount: 0 });
    expect(r.sendResultMessage).toMatch(/^250/);
    expectNesDateTime(r.receivedDate);
    expectNesDateTime(res.body.sendDate);
  });

  it('lists every recipient of a general mail, To then Cc', async () => {
    const res = await svc.call('GET', `/api/v1/mails/${deltaMailId}`);
    expect(res.body.recipients.map((r: { address: string; name: string | null; type: { code: string } }) => [r.address, r.name, r.type.code])).toEqual([
      ['d0@example.com', 'D Zero', 'R'],
      ['d1@example.com', null, 'R'],
      ['d2@example.com', null, 'R'],
      ['dc@example.com', 'D Cc', 'C'],
    ]);
  });
});

describe('tenancy', () => {
  it("another project sees none of project 1's requests in the list", async () => {
    const page = await listOk('', { key: other });
    expect(idsOf(page)).toEqual([otherRequestId]);
    expect(page.totalElements).toBe(1);
  });

  it("another project finds nothing with project 1's requestId, mailId or recipient as a filter", async () => {
    expect((await listOk(`requestId=${ids.alpha}`, { key: other })).content).toEqual([]);
    expect((await listOk(`mailId=${alphaMailId}`, { key: other })).content).toEqual([]);
    expect(idsOf(await listOk('recipientAddress=kim%40example.com', { key: other }))).toEqual([otherRequestId]);
    expect(idsOf(await listOk('recipientAddress=lee%40example.com', { key: other }))).toEqual([]);
  });

  it("another project gets 400/77103 for project 1's request status", async () => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/status`, { key: other }), '77103');
  });

  it("another project gets 400/77103 for project 1's mail list", async () => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/mails`, { key: other }), '77103');
  });

  it("another project gets 400/77103 for project 1's mail", async () => {
    expectError(await svc.call('GET', `/api/v1/mails/${alphaMailId}`, { key: other }), '77103');
  });

  it("project 1 gets 400/77103 for the other project's ids", async () => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${otherRequestId}/status`), '77103');
    expectError(await svc.call('GET', `/api/v1/mails/requests/${otherRequestId}/mails`), '77103');
    expectError(await svc.call('GET', `/api/v1/mails/${otherMailId}`), '77103');
  });

  it("answers another project's id exactly like an unknown one", async () => {
    const foreign = await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/status`, { key: other });
    const unknown = await svc.call('GET', `/api/v1/mails/requests/20200101000000000001/status`, { key: other });
    expect(foreign.body.error.message.replace(ids.alpha, 'ID')).toBe(unknown.body.error.message.replace('20200101000000000001', 'ID'));
  });
});

describe('malformed and unknown ids answer 400/77103, never 500', () => {
  const bad = [
    'abc',
    '123',
    '2026112700000000000',
    '202611270000000000001',
    '-1',
    '1e5',
    '20261127000000000001x',
    '%20',
    '00000000000000000000',
    '99999999999999999999',
  ];

  it.each(bad)('status of requestId %s', async (id) => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${id}/status`), '77103');
  });

  it.each(bad)('mails of requestId %s', async (id) => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${id}/mails`), '77103');
  });

  it.each(bad)('mail %s', async (id) => {
    expectError(await svc.call('GET', `/api/v1/mails/${id}`), '77103');
  });

  it('a mailId used as a requestId', async () => {
    expectError(await svc.call('GET', `/api/v1/mails/requests/${alphaMailId}/status`), '77103');
  });

  it('a requestId used as a mailId', async () => {
    expectError(await svc.call('GET', `/api/v1/mails/${ids.alpha}`), '77103');
  });

  it('an id with broken percent-encoding answers 400 with the service envelope (77102 "malformed uri" today), not 500', async () => {
    const res = await svc.call('GET', '/api/v1/mails/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(res.body.error.errorCode);
    expect(['77102', '77103']).toContain(res.body.error.code);
  });
});

describe('HTTP details', () => {
  it('accepts Content-Type: application/json on a GET', async () => {
    const res = await svc.call('GET', `${LIST}?requestId=${ids.alpha}`).set('Content-Type', 'application/json');
    expect(res.status).toBe(200);
    expect(idsOf(res.body)).toEqual([ids.alpha]);
  });

  it('accepts Content-Type: application/json; charset=utf-8 with an empty JSON body on a GET', async () => {
    const res = await svc.call('GET', `/api/v1/mails/requests/${ids.alpha}/status`).set('Content-Type', 'application/json; charset=utf-8').send('{}');
    expect(res.status).toBe(200);
    expect(res.body.requestId).toBe(ids.alpha);
  });

  it('answers an unknown path with the gateway 404 body', async () => {
    const res = await svc.call('GET', '/api/v1/mails/requests/20200101000000000001/nothing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { errorCode: '300', message: 'Not Found Exception' } });
    expect(res.headers['x-ncp-trace-id']).toBeTruthy();
  });

  it('answers an unknown top-level path with the gateway 404 body', async () => {
    const res = await svc.call('GET', '/api/v1/nothing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { errorCode: '300', message: 'Not Found Exception' } });
  });

  // A method the path does not have is 405/77001 (the validator knows every route's methods).
  it('answers a method the path does not have with 405/77001', async () => {
    const res = await svc.call('DELETE', `${LIST}`);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 405,
      body: { error: { code: '77001', errorCode: '77001', message: expect.any(String) } },
    });
  });

  it('carries no top-level code on success bodies', async () => {
    for (const target of [LIST, `/api/v1/mails/requests/${ids.alpha}/status`, `/api/v1/mails/requests/${ids.alpha}/mails`, `/api/v1/mails/${alphaMailId}`]) {
      const res = await svc.call('GET', target);
      expect(res.status).toBe(200);
      expect(res.body).not.toHaveProperty('code');
      expect(res.headers['x-ncp-trace-id']).toBeTruthy();
    }
  });
});

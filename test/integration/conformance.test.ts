import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import supertest from 'supertest';
import type { ReceivedMessage } from '../helpers/smtp-sink.ts';
import { finishedRequestRow, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

// What the console guide says and real NCP clients rely on (issue 10): Cc/Bcc with individual
// mail, #{UNSUBSCRIBE_URL} in every individual mail, the unsubscribed state of U rows, send dates
// and elapsed times of cancelled, reserved and sent-now requests, confirm-and-send with a
// reservation, meta-tag names, the mail views' extra fields and localised error messages.

const BASE = 'https://mail.example.test/c';
const { svc, sink } = useTestService({ env: { PUBLIC_BASE_URL: BASE }, resetSinkAfterEach: true });

async function send(body: Record<string, unknown>): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'shop@company.com', title: 'Hi', body: '<p>Hello</p>', ...body } });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function requestRow(requestId: string) {
  const res = await svc.call('GET', `/api/v1/mails/requests?requestId=${requestId}`);
  expect(res.status).toBe(200);
  return res.body.content[0];
}

async function finished(requestId: string) {
  return finishedRequestRow(svc, requestId, { also: (row) => row.sendDate !== undefined });
}

function headersOf(m: ReceivedMessage): string {
  return m.raw
    .toString('latin1')
    .split('\r\n\r\n')[0]!
    .replace(/\r\n[ \t]+/g, ' ');
}

const linkOf = (m: ReceivedMessage) => /^List-Unsubscribe: <([^>]+)>$/m.exec(headersOf(m))?.[1];

/** A row's elapsedTime ("HH:mm:ss.SSS") in milliseconds. */
function elapsedMsOf(row: { elapsedTime: string }): number {
  const [h, m, sec] = row.elapsedTime.split(':');
  return (Number(h) * 3600 + Number(m) * 60 + Number(sec)) * 1000;
}

describe('individual mail with Cc and Bcc recipients (the guide: "Cc, Bcc are ignored")', () => {
  it('accepts R+C+B with the default individual and sends each its own mail, addressed to it alone', async () => {
    const id = await send({
      recipients: [
        { address: 'to@example.com', name: 'To', type: 'R' },
        { address: 'cc@example.com', name: 'Cc', type: 'C' },
        { address: 'bcc@example.com', type: 'B' },
      ],
    });
    const row = await finished(id);
    expect(row.emailStatus.code).toBe('S');
    expect(row.requestCount).toBe(3);
    const messages = await sink.waitForMessages(3);
    for (const address of ['to@example.com', 'cc@example.com', 'bcc@example.com']) {
      const m = messages.find((x) => x.to.includes(address))!;
      expect(m.to).toEqual([address]);
      const parsed = await simpleParser(m.raw);
      expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value.map((a) => a.address) : []).toEqual([address]);
      expect(parsed.cc).toBeUndefined();
    }
  });

  it('a single Bcc recipient (a Go SDK quickstart) is sent', async () => {
    const id = await send({ recipients: [{ address: 'only-bcc@example.com', type: 'B' }] });
    expect((await finished(id)).emailStatus.code).toBe('S');
    const [m] = await sink.waitForMessages(1);
    expect(m!.to).toEqual(['only-bcc@example.com']);
  });

  it('general mail still refuses meta tags, and #{UNSUBSCRIBE_URL} with it', async () => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'shop@company.com',
        title: 'x',
        body: '<a href="#{UNSUBSCRIBE_URL}">out</a>',
        individual: false,
        recipients: [{ address: 'a@example.com' }],
      },
    });
    expectError(res, '77102', /#\{UNSUBSCRIBE_URL\}/);
  });
});

describe('#{UNSUBSCRIBE_URL} in every individual mail', () => {
  it("the guide's example 1 (examples/event.json, not advertising) carries each recipient's own working link", async () => {
    const example = JSON.parse(fs.readFileSync(new URL('../../examples/event.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    // The guide's sample domains ("naver_.com") are refused by this sink's address syntax check
    // (the built-in dev sink takes them): the same body to two deliverable addresses.
    const recipients = (example.recipients as { address: string }[]).map((r) => ({ ...r, address: r.address.replace('_.', '.') }));
    const res = await svc.call('POST', '/api/v1/mails', { body: { ...example, recipients } });
    expect(res.status).toBe(201);
    expect((await finished(res.body.requestId)).emailStatus.code).toBe('S');
    const messages = await sink.waitForMessages(2);
    const links = messages.map(linkOf);
    expect(links.every((l) => l?.startsWith(`${BASE}/unsubscribe/`))).toBe(true);
    expect(new Set(links).size).toBe(2);
    const sato = messages.find((m) => m.to.includes('hongildong@naver.com'))!;
    const parsed = await simpleParser(sato.raw);
    const link = linkOf(sato)!;
    expect(parsed.html).toContain(`<a href='${link}' target='_blank'>`);
    expect(parsed.text).toContain(link);
    expect(headersOf(sato)).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);

    // Opening the link and confirming puts the address on the project's unsubscribe list.
    const path = link.slice(BASE.length);
    expect((await supertest(svc.app).get(path)).status).toBe(200);
    const post = await supertest(svc.app).post(path).type('form').send({ action: 'unsubscribe' });
    expect(post.status).toBe(200);
    const list = await svc.call('GET', '/api/v1/unsubscribers?emailAddress=hongildong');
    expect(list.body.content.map((u: { address: string; isRegByManager: boolean }) => [u.address, u.isRegByManager])).toEqual([
      ['hongildong@naver.com', false],
    ]);
  });

  it('mail to address-book groups carries the link too', async () => {
    const book = await svc.call('POST', '/api/v1/address-book', {
      body: { groups: [{ groupName: 'newsletter', emailAddresses: ['g1@example.com', 'g2@example.com'] }] },
    });
    expect(book.status).toBe(201);
    const id = await send({ body: '<a href="#{UNSUBSCRIBE_URL}">stop</a>', recipientGroupFilter: { andFilter: false, groups: ['newsletter'] } });
    expect((await finished(id)).emailStatus.code).toBe('S');
    const messages = await sink.waitForMessages(2);
    for (const m of messages) {
      const link = linkOf(m);
      expect(link).toMatch(new RegExp(`^${BASE}/unsubscribe/`));
      expect((await simpleParser(m.raw)).html).toContain(`<a href="${link}">stop</a>`);
    }
  });

  it('an advertising mail to an unsubscribed address: the U row shows the address as unsubscribed, with its date', async () => {
    const reg = await svc.call('POST', '/api/v1/unsubscribers', { body: { blockedReceivers: ['gone@example.com'] } });
    expect(reg.status).toBe(201);
    const id = await send({ advertising: true, recipients: [{ address: 'gone@example.com' }, { address: 'stays@example.com' }] });
    expect((await finished(id)).emailStatus.code).toBe('S');
    const rows = (await svc.call('GET', `/api/v1/mails/recipients?requestId=${id}`)).body.content as Record<string, unknown>[];
    const gone = rows.find((r) => r.address === 'gone@example.com')!;
    expect(gone.sendResultCode).toBe('UNSUBSCRIBE_ADDRESS');
    expect(gone.unsubscribed).toBe(true);
    expect(gone.unsubscribedDate).toEqual(expect.objectContaining({ utc: expect.any(Number) }));
    const stays = rows.find((r) => r.address === 'stays@example.com')!;
    expect(stays.unsubscribed).toBe(false);
    expect(stays.unsubscribedDate).toBeNull();
  });
});

describe('send dates, elapsed times and how a request started', () => {
  it('a reserved request cancelled before its time shows no send date and no elapsed time', async () => {
    const id = await send({ reservationUtc: Date.now() + 3_600_000, recipients: [{ address: 'later@example.com' }] });
    expect((await requestRow(id)).reservationStatus.code).toBe('Y');
    expect((await svc.call('POST', `/api/v1/mails/requests/${id}/cancel`)).status).toBe(200);
    const row = await waitFor(async () => {
      const r = await requestRow(id);
      return r.cancelDate ? r : undefined;
    });
    expect(row.emailStatus.code).toBe('C');
    expect(row.sendDate).toBeNull();
    expect(row.elapsedTime).toBeNull();
    const mails = await svc.call('GET', `/api/v1/mails/requests/${id}/mails`);
    expect(mails.body.content[0].sendDate).toBeNull();
  });

  it('a reserved request counts its elapsed time from its reservation, not from the POST', async () => {
    // 5 s ahead: the POST has 3 s to record its requestDate before the check below loses its point
    const reservationUtc = Date.now() + 5_000;
    const id = await send({ reservationUtc, recipients: [{ address: 'timed@example.com' }] });
    const row = await finished(id);
    expect(row.emailStatus.code).toBe('S');
    expect(row.reservationStatus.code).toBe('Y');
    const elapsedMs = elapsedMsOf(row);
    // from the reservation: well under the time between the POST and the reservation
    expect(elapsedMs).toBeLessThan(row.sendDate.utc - row.requestDate.utc - 2_000);
    expect(row.sendDate.utc - reservationUtc).toBeGreaterThanOrEqual(elapsedMs - 5);
  });

  it('"send now" on a reserved request shows that it was sent now, and counts from then', async () => {
    const id = await send({ reservationUtc: Date.now() + 3_600_000, recipients: [{ address: 'now@example.com' }] });
    await new Promise((r) => setTimeout(r, 1_200));
    const sentNowAt = Date.now();
    expect((await svc.call('POST', `/api/v1/mails/requests/${id}/send`)).status).toBe(200);
    const row = await finished(id);
    expect(row.emailStatus.code).toBe('S');
    expect(row.reservationStatus.code).toBe('S');
    expect(row.reservationStatus.label).toBe('Sent now');
    // counted from the send-now (not an absolute bound: a busy machine delivers later), and so
    // at least the 1.2 s wait shorter than from the POST
    const elapsedMs = elapsedMsOf(row);
    expect(elapsedMs).toBeLessThanOrEqual(row.sendDate.utc - sentNowAt + 50);
    expect(elapsedMs).toBeLessThan(row.sendDate.utc - row.requestDate.utc - 1_000);
    const mails = await svc.call('GET', `/api/v1/mails/requests/${id}/mails`);
    expect(mails.body.content[0].reservationStatus.code).toBe('S');
  });

  it('confirmAndSend with a reservation waits for confirmation past its time; send now releases it', async () => {
    // 3 s ahead: a POST that reaches validation after the time is refused as a past reservation
    const reservationUtc = Date.now() + 3_000;
    const id = await send({ confirmAndSend: true, reservationUtc, recipients: [{ address: 'confirm@example.com' }] });
    let row = await requestRow(id);
    expect(row.reservationStatus.code).toBe('W');
    expect(Math.abs(row.reservationDate.utc - reservationUtc)).toBeLessThan(1_000);
    await new Promise((r) => setTimeout(r, Math.max(0, reservationUtc - Date.now()) + 1_500));
    row = await requestRow(id);
    expect(row.emailStatus.code).toBe('R');
    expect(row.sendDate).toBeNull();
    expect(sink.messages).toHaveLength(0);
    const ja = await svc.call('GET', `/api/v1/mails/requests?requestId=${id}`, { headers: { 'x-ncp-lang': 'ja-JP' } });
    expect(ja.body.content[0].reservationStatus.label).toBe('確認後に送信(待機中)');
    expect((await svc.call('POST', `/api/v1/mails/requests/${id}/send`)).status).toBe(200);
    row = await finished(id);
    expect(row.emailStatus.code).toBe('S');
    expect(row.reservationStatus.code).toBe('S');
    await sink.waitForMessages(1);
  });
});

describe('meta tags are the listed names only', () => {
  it.each([
    ['#{FOO}', 'title'],
    ['#{recipient_name}', 'body'],
  ])('%s is refused at POST, naming it', async (tag, field) => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'shop@company.com', title: 'x', body: 'y', [field]: `Hi ${tag}`, recipients: [{ address: 'a@example.com' }] },
    });
    expectError(res, '77102', new RegExp(`^${field}: unknown meta tag ${tag.replace(/[{}]/g, '\\$&')}`));
    expect(await svc.db.db.selectFrom('mail_requests').select('id').where('title', '=', `Hi ${tag}`).execute()).toHaveLength(0);
  });

  it('a ${} tag name may hold spaces', async () => {
    const id = await send({ title: 'For ${FULL NAME}', recipients: [{ address: 'spaces@example.com', parameters: { 'FULL NAME': 'Kim Lee' } }] });
    expect((await finished(id)).emailStatus.code).toBe('S');
    const [m] = await sink.waitForMessages(1);
    expect((await simpleParser(m!.raw)).subject).toBe('For Kim Lee');
  });
});

describe('views and errors', () => {
  it('the mail list row and the mail detail carry projectId, the reservation date and the request IP', async () => {
    const reservationUtc = Date.now() + 3_600_000;
    const id = await send({ reservationUtc, recipients: [{ address: 'fields@example.com' }] });
    const list = await svc.call('GET', `/api/v1/mails/requests/${id}/mails`);
    const item = list.body.content[0];
    const projectId = (await svc.db.db.selectFrom('mail_requests').select('project_id').where('title', '=', 'Hi').executeTakeFirstOrThrow()).project_id;
    expect(item.projectId).toBe(projectId);
    expect(item.reservationDate.utc).toBeGreaterThan(Date.now());
    expect(typeof item.requesterIp).toBe('string');
    const detail = await svc.call('GET', `/api/v1/mails/${item.mailId}`);
    expect(detail.body.projectId).toBe(projectId);
    expect(detail.body.reservationDate.utc).toBe(item.reservationDate.utc);
    expect(detail.body.reservationStatus.code).toBe('Y');
    await svc.call('POST', `/api/v1/mails/requests/${id}/cancel`);
  });

  it('error messages follow x-ncp-lang (en, ko, ja); labels did already', async () => {
    const body = { title: 'x', body: 'y', recipients: [{ address: 'a@example.com' }] };
    const en = await svc.call('POST', '/api/v1/mails', { body });
    expectError(en, '77102', 'senderAddress: required when templateSid is not given');
    const ko = await svc.call('POST', '/api/v1/mails', { body, headers: { 'x-ncp-lang': 'ko-KR' } });
    expectError(ko, '77102', 'senderAddress: templateSid이(가) 없으면 필수입니다');
    const ja = await svc.call('POST', '/api/v1/mails', { body, headers: { 'x-ncp-lang': 'ja-JP' } });
    expectError(ja, '77102', 'senderAddress: templateSid を指定しない場合は必須です');
    const missing = await svc.call('GET', '/api/v1/mails/requests/20250101000000001/status', { headers: { 'x-ncp-lang': 'ko-KR' } });
    expectError(missing, '77103', /존재하지 않습니다$/);
  });
});

import { beforeAll, describe, expect, it } from '@jest/globals';
import { simpleParser, type ParsedMail } from 'mailparser';
import express from 'express';
import supertest from 'supertest';
import { traceRequests } from '../../src/http/trace.ts';
import type { Logger } from '../../src/logger.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import type { ReceivedMessage } from '../helpers/smtp-sink.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// Advertising mail end to end: title prefix, the unsubscribe notice (basic or custom, appended or
// at #{UNSUBSCRIBE_MESSAGE}), per-recipient links and List-Unsubscribe headers, the public page
// (GET, form POST, RFC 8058 one-click POST, resubscribe) and U / UNSUBSCRIBE_ADDRESS afterwards.

let other: CreatedKey;
const BASE = 'https://mail.example.test/m';
const { svc, sink } = useTestService({ env: { PUBLIC_BASE_URL: BASE }, resetSinkAfterEach: true });

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

const page = () => supertest(svc.app);
const pathOf = (url: string) => url.slice(BASE.length);

async function send(body: Record<string, unknown>, key?: CreatedKey): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', { body: { senderAddress: 'shop@company.com', ...body }, key });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function finished(requestId: string, key?: CreatedKey) {
  return finishedRequestRow(svc, requestId, { key });
}

async function recipientsOf(requestId: string, key?: CreatedKey) {
  const list = await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=100`, { key });
  if (!list.body.content) throw new Error(`mail list: ${list.status} ${JSON.stringify(list.body)}`);
  const mails = await Promise.all(list.body.content.map(async (m: { mailId: string }) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`, { key })).body));
  return mails.flatMap((m: { emailStatus: { code: string }; recipients: { address: string }[] }) =>
    m.recipients.map((r) => ({ ...r, mailStatus: m.emailStatus.code })),
  );
}

function headersOf(m: ReceivedMessage): string {
  return m.raw
    .toString('latin1')
    .split('\r\n\r\n')[0]!
    .replace(/\r\n[ \t]+/g, ' ');
}

function listUnsubscribeUrl(m: ReceivedMessage): string {
  const url = /^List-Unsubscribe: <([^>]+)>$/m.exec(headersOf(m))?.[1];
  expect(url).toBeDefined();
  return url!;
}

async function received(address: string): Promise<{ raw: ReceivedMessage; mail: ParsedMail }> {
  const raw = sink.messages.find((m) => m.to.includes(address));
  expect(raw).toBeDefined();
  return { raw: raw!, mail: await simpleParser(raw!.raw) };
}

async function recipientRow(address: string) {
  return svc.db.db
    .selectFrom('recipients')
    .select(['id', 'unsubscribed', 'unsubscribed_at', 'status', 'result_code'])
    .where('address', '=', address)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
}

describe('advertising mail', () => {
  let kimUrl: string;
  let leeFirstUrl: string;

  it('gets the title prefix, the basic notice before </body> with its own link, and RFC 8058 headers', async () => {
    const id = await send({
      title: 'Winter sale',
      body: '<html><body><p>Hello #{RECIPIENT_NAME}</p></body></html>',
      advertising: true,
      recipients: [
        { address: 'kim@example.com', name: 'Kim' },
        { address: 'lee@example.com', name: 'Lee' },
      ],
    });
    expect((await finished(id)).emailStatus.code).toBe('S');
    await sink.waitForMessages(2);
    const kim = await received('kim@example.com');
    const lee = await received('lee@example.com');
    expect(kim.mail.subject).toBe('(광고)Winter sale');

    kimUrl = listUnsubscribeUrl(kim.raw);
    const leeUrl = listUnsubscribeUrl(lee.raw);
    expect(kimUrl).toMatch(/^https:\/\/mail\.example\.test\/m\/unsubscribe\/[A-Za-z0-9_-]{64,120}$/);
    expect(kimUrl).not.toContain('kim');
    leeFirstUrl = listUnsubscribeUrl(lee.raw);
    expect(leeUrl).not.toBe(kimUrl);
    expect(headersOf(kim.raw)).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);

    // The basic notice (Korean, like the default prefix) with the recipient's own link, before </body>.
    const html = kim.mail.html as string;
    expect(html).toContain(`<a href="${kimUrl}" target="_blank">수신거부</a>`);
    expect(html.indexOf('수신거부')).toBeLessThan(html.indexOf('</body>'));
    expect(html.indexOf('Hello Kim')).toBeLessThan(html.indexOf('수신거부'));
    expect(kim.mail.text).toContain('수신거부');
    expect(kim.mail.text).toContain(kimUrl);
    expect(lee.mail.html as string).toContain(leeUrl);
    expect(lee.mail.html as string).not.toContain(kimUrl);
  });

  it('places a custom notice at #{UNSUBSCRIBE_MESSAGE}, with #{UNSUBSCRIBE_URL} in it and in the body', async () => {
    const id = await send({
      title: 'News for #{RECIPIENT_NAME}',
      body: '<p>Top</p>#{UNSUBSCRIBE_MESSAGE}<p>Bottom <a href="#{UNSUBSCRIBE_URL}">out</a></p>',
      advertising: true,
      useBasicUnsubscribeMsg: false,
      unsubscribeMessage: '<p>Stop: <a href="#{UNSUBSCRIBE_URL}">here</a> (${SHOP})</p>',
      parameters: { SHOP: 'Shop1' },
      recipients: [{ address: 'park@example.com', name: 'Park' }],
    });
    expect((await finished(id)).emailStatus.code).toBe('S');
    await sink.waitForMessages(1);
    const { raw, mail } = await received('park@example.com');
    const url = listUnsubscribeUrl(raw);
    const html = mail.html as string;
    expect(mail.subject).toBe('(광고)News for Park');
    expect(html).toContain(`<p>Top</p><p>Stop: <a href="${url}">here</a> (Shop1)</p><p>Bottom <a href="${url}">out</a></p>`);
    expect(html).not.toContain('수신거부'); // not the basic one
    expect(html).not.toContain('#{');
    expect(mail.text).toContain(url);
    expect(mail.text!.indexOf('Top')).toBeLessThan(mail.text!.indexOf('Stop'));
    expect(mail.text!.indexOf('Stop')).toBeLessThan(mail.text!.indexOf('Bottom'));
  });

  it('non-advertising individual mail that uses #{UNSUBSCRIBE_URL} gets its own link and the headers; #{UNSUBSCRIBE_MESSAGE} stays empty', async () => {
    const id = await send({
      title: 'Receipt',
      body: '<p>Paid.[#{UNSUBSCRIBE_URL}][#{UNSUBSCRIBE_MESSAGE}]</p>',
      recipients: [{ address: 'choi@example.com' }],
    });
    expect((await finished(id)).emailStatus.code).toBe('S');
    await sink.waitForMessages(1);
    const { raw, mail } = await received('choi@example.com');
    const url = listUnsubscribeUrl(raw);
    expect(url.startsWith(`${BASE}/unsubscribe/`)).toBe(true);
    expect(mail.html).toContain(`<p>Paid.[${url}][]</p>`);
    expect(headersOf(raw)).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    expect(mail.subject).toBe('Receipt');
  });

  it('non-advertising mail without the link has no List-Unsubscribe headers', async () => {
    const id = await send({ title: 'Receipt', body: '<p>Paid.[#{UNSUBSCRIBE_MESSAGE}]</p>', recipients: [{ address: 'choi@example.com' }] });
    expect((await finished(id)).emailStatus.code).toBe('S');
    await sink.waitForMessages(1);
    const { raw, mail } = await received('choi@example.com');
    expect(mail.html).toContain('<p>Paid.[]</p>');
    expect(headersOf(raw)).not.toMatch(/^List-Unsubscribe/im);
  });

  it('the link opens a public page (no signature) showing the masked address and a confirm button; GET changes nothing', async () => {
    const res = await page().get(pathOf(kimUrl)).set('Accept-Language', 'en-US,en;q=0.9');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html; charset=utf-8/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.text).toContain('k***m@example.com');
    expect(res.text).not.toContain('kim@example.com');
    expect(res.text).toContain('<form method="post"><input type="hidden" name="action" value="unsubscribe">');
    expect(res.text).not.toMatch(/\b(src|href)=/);
    const ko = await page().get(pathOf(kimUrl)).set('Accept-Language', 'ko-KR,ko;q=0.9');
    expect(ko.text).toContain('수신거부');
    expect(await svc.db.db.selectFrom('unsubscribers').selectAll().execute()).toHaveLength(0);
    expect((await recipientRow('kim@example.com')).unsubscribed).toBe(false);
  });

  it('a one-click POST (RFC 8058 body) unsubscribes, idempotently; the recipient shows it with the date', async () => {
    const before = Date.now();
    const res = await page().post(pathOf(kimUrl)).type('form').send('List-Unsubscribe=One-Click');
    expect(res.status).toBe(200);
    expect(res.text).toContain('value="resubscribe"');
    const row = await recipientRow('kim@example.com');
    expect(row.unsubscribed).toBe(true);
    expect(row.unsubscribed_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);

    const again = await page().post(pathOf(kimUrl)).type('form').send('List-Unsubscribe=One-Click');
    expect(again.status).toBe(200);
    expect((await recipientRow('kim@example.com')).unsubscribed_at).toEqual(row.unsubscribed_at);

    const list = await svc.call('GET', '/api/v1/unsubscribers');
    expect(list.status).toBe(200);
    expect(list.body.content).toEqual([{ address: 'kim@example.com', blockDate: expect.objectContaining({ utc: expect.any(Number) }), isRegByManager: false }]);
    // The page now shows the state and offers to subscribe again.
    const shown = await page().get(pathOf(kimUrl));
    expect(shown.text).toContain('no longer receives');
    expect(shown.text).toContain('value="resubscribe"');
  });

  it('later advertising mail to the address gets U / UNSUBSCRIBE_ADDRESS without SMTP; other mail is still delivered', async () => {
    const ad = await send({
      title: 'Sale 2',
      body: '<p>x</p>',
      advertising: true,
      recipients: [{ address: 'KIM@example.com' }, { address: 'lee@example.com' }],
    });
    expect((await finished(ad)).emailStatus.code).toBe('S'); // "all sent, some unsubscribed allowed"
    const rows = await recipientsOf(ad);
    expect(rows.find((r) => r.address === 'KIM@example.com')).toMatchObject({
      status: { code: 'U' },
      sendResultCode: 'UNSUBSCRIBE_ADDRESS',
      received: false,
      mailStatus: 'U',
    });
    expect(rows.find((r) => r.address === 'lee@example.com')).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT' });

    const allU = await send({ title: 'Sale 3', body: '<p>x</p>', advertising: true, recipients: [{ address: 'kim@example.com' }] });
    expect((await finished(allU)).emailStatus.code).toBe('U');

    const plain = await send({ title: 'Your order', body: '<p>shipped</p>', recipients: [{ address: 'kim@example.com' }] });
    expect((await finished(plain)).emailStatus.code).toBe('S');
    await sink.waitForMessages(2);
    const toKim = sink.messages.filter((m) => m.to.some((t) => t.toLowerCase() === 'kim@example.com'));
    expect(toKim).toHaveLength(1);
    expect((await simpleParser(toKim[0]!.raw)).subject).toBe('Your order');
  });

  it('resubscribe on the page removes the entry, shows unsubscribed=false with its date, and ads are delivered again', async () => {
    const res = await page().post(pathOf(kimUrl)).type('form').send({ action: 'resubscribe' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('value="unsubscribe"');
    // The recipient whose link it was shows the change and its date.
    const first = await svc.db.db
      .selectFrom('recipients')
      .select(['unsubscribed', 'unsubscribed_at'])
      .where('address', '=', 'kim@example.com')
      .orderBy('id')
      .executeTakeFirstOrThrow();
    expect(first.unsubscribed).toBe(false);
    expect(first.unsubscribed_at).not.toBeNull();
    expect((await svc.call('GET', '/api/v1/unsubscribers')).body.content).toEqual([]);

    const ad = await send({ title: 'Back', body: '<p>x</p>', advertising: true, recipients: [{ address: 'kim@example.com' }] });
    expect((await finished(ad)).emailStatus.code).toBe('S');
    await sink.waitForMessages(1);
  });

  it('a form POST without one-click body unsubscribes too', async () => {
    const res = await page().post(pathOf(kimUrl)).type('form').send({ action: 'unsubscribe' });
    expect(res.status).toBe(200);
    expect((await recipientRow('kim@example.com')).unsubscribed).toBe(false); // the newest row did not use its link
    const list = await svc.call('GET', '/api/v1/unsubscribers');
    expect(list.body.content.map((r: { address: string }) => r.address)).toEqual(['kim@example.com']);
  });

  it("another project: its own link and list; it does not see or change this project's", async () => {
    const id = await send({ title: 'Other', body: '<p>o</p>', advertising: true, recipients: [{ address: 'kim@example.com' }] }, other);
    expect((await finished(id, other)).emailStatus.code).toBe('S'); // project 1's unsubscribe list does not apply
    await sink.waitForMessages(1);
    const otherUrl = listUnsubscribeUrl((await received('kim@example.com')).raw);
    expect(otherUrl).not.toBe(kimUrl);
    expect((await svc.call('GET', '/api/v1/unsubscribers', { key: other })).body.content).toEqual([]);
    // Resubscribing through project 2's link leaves project 1's entry alone.
    expect((await page().post(pathOf(otherUrl)).type('form').send({ action: 'resubscribe' })).status).toBe(200);
    expect((await svc.call('GET', '/api/v1/unsubscribers')).body.content).toHaveLength(1);
  });

  it('a link keeps working after its recipient row is gone (history purged)', async () => {
    await svc.db.db.deleteFrom('recipients').where('address', '=', 'lee@example.com').execute();
    const shown = await page().get(pathOf(leeFirstUrl));
    expect(shown.status).toBe(200);
    expect(shown.text).toContain('l***e@example.com');
    expect((await page().post(pathOf(leeFirstUrl)).type('form').send('List-Unsubscribe=One-Click')).status).toBe(200);
    const list = await svc.call('GET', '/api/v1/unsubscribers?emailAddress=lee@');
    expect(list.body.content).toEqual([expect.objectContaining({ address: 'lee@example.com', isRegByManager: false })]);
    await svc.call('DELETE', '/api/v1/unsubscribers', { body: { blockedReceivers: ['lee@example.com'] } });
  });

  it('the request log shows the page path without the token', async () => {
    const lines: { path?: string }[] = [];
    const log = { info: (l: { path?: string }) => lines.push(l), error: (l: { path?: string }) => lines.push(l) };
    const app = express();
    app.use(traceRequests({ child: () => log } as unknown as Logger));
    app.get('/unsubscribe/:token', (_req, res) => res.send('ok'));
    await supertest(app).get(pathOf(kimUrl));
    // Express routes ignore case: the page answers /Unsubscribe/... too, and its log hides the token as well.
    await supertest(app).get(pathOf(kimUrl).replace('/unsubscribe/', '/UnSubscribe/'));
    expect(lines).toEqual([expect.objectContaining({ path: '/unsubscribe/{token}' }), expect.objectContaining({ path: '/unsubscribe/{token}' })]);
    expect(JSON.stringify(lines)).not.toContain(kimUrl.split('/').pop()!);
  });

  it('forged, tampered, garbled or unknown tokens get a page saying only that the link is not valid', async () => {
    const token = kimUrl.split('/').pop()!;
    const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    const bad = [
      flip(token, 20),
      flip(token, 5),
      flip(token, 40),
      flip(token, token.length - 3),
      'x',
      'A'.repeat(80),
      token + 'A',
      token.slice(0, -4),
      '..%2F..%2Fetc',
    ];
    for (const t of bad) {
      for (const res of [await page().get(`/unsubscribe/${t}`), await page().post(`/unsubscribe/${t}`).type('form').send('List-Unsubscribe=One-Click')]) {
        expect([400, 404]).toContain(res.status);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain('not valid');
        expect(res.text).not.toContain('example.com');
      }
    }
    const garbled = await page().get('/unsubscribe/%E0%A4%A');
    expect([400, 404]).toContain(garbled.status);
    expect(garbled.text).toContain('not valid');
    const badAction = await page().post(pathOf(kimUrl)).type('form').send({ action: 'delete-everything' });
    expect(badAction.status).toBe(400);
    const huge = await page()
      .post(pathOf(kimUrl))
      .type('form')
      .send({ action: 'x'.repeat(10_000) });
    expect([400, 413]).toContain(huge.status);
    expect(huge.text).toContain('not valid');
    // none of that changed anything
    expect((await svc.call('GET', '/api/v1/unsubscribers')).body.content).toHaveLength(1);
  });
});

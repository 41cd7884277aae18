import crypto from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { ReceivedMessage } from '../helpers/smtp-sink.ts';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * Mail that renders everywhere: what the SMTP sink received, parsed with mailparser. HTML with a
 * generated text alternative; attachments (multipart/mixed) on every mail; Korean, Japanese and
 * emoji in subject, names, body and attachment names; Message-ID on the sending domain;
 * References from referencesHeader.
 */

const { svc, sink } = useTestService({ resetSinkAfterEach: true });

async function upload(files: { name: string; data: Buffer }[]): Promise<{ fileId: string; fileName: string }[]> {
  let t = svc.call('POST', '/api/v1/files');
  for (const f of files) t = t.attach('fileList', f.data, f.name);
  const res = await t;
  expect(res.status).toBe(201);
  return res.body.files;
}

const headerBlock = (m: ReceivedMessage) => m.raw.toString('latin1').split('\r\n\r\n')[0]!;
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function received(n: number, addresses?: string[]): Promise<{ raw: ReceivedMessage; parsed: ParsedMail }[]> {
  const messages = await waitFor(
    async () => {
      const got = addresses ? sink.messages.filter((m) => m.to.some((a) => addresses.includes(a))) : sink.messages;
      return got.length >= n ? got.slice() : undefined;
    },
    20_000,
    `${n} messages`,
  );
  return Promise.all(messages.map(async (raw) => ({ raw, parsed: await simpleParser(raw.raw) })));
}

describe('attachments', () => {
  it('puts the attachments on every mail as multipart/mixed around the HTML/text alternative, names in any script intact', async () => {
    const binary = crypto.randomBytes(2 * 1024 * 1024 + 123);
    const names = ['견적서_2026.pdf', '見積書 (最終版).xlsx', 'résumé 😀.bin'];
    const files = await upload([
      { name: names[0]!, data: binary },
      { name: names[1]!, data: Buffer.from('表計算') },
      { name: names[2]!, data: Buffer.from('emoji name') },
    ]);
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'no_reply@company.com',
        senderName: '홍길동 商店 🛍️',
        title: '주문 안내 ご注文のお知らせ 📦 ${NAME}',
        body: '<h1>안녕하세요 ${NAME}님</h1><p>ご注文ありがとうございます。🎉</p>',
        attachFileIds: files.map((f) => f.fileId),
        recipients: [
          { address: 'kim@example.com', name: '김철수', parameters: { NAME: '철수' } },
          { address: 'tanaka@example.jp', name: '田中太郎', parameters: { NAME: '太郎' } },
        ],
      },
    });
    expect(res.status).toBe(201);
    const mails = await received(2);
    for (const { raw, parsed } of mails) {
      expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/mixed' });
      expect(raw.raw.toString('latin1')).toMatch(/Content-Type: multipart\/alternative;/);
      expect(parsed.attachments.map((a) => a.filename)).toEqual(names);
      expect(sha(parsed.attachments[0]!.content)).toBe(sha(binary));
      expect(parsed.attachments[1]!.content.toString('utf8')).toBe('表計算');
      expect(parsed.attachments[0]!.contentType).toBe('application/pdf');
      expect(parsed.attachments[0]!.contentDisposition).toBe('attachment');
      // RFC 2231 parameters for the names, 7-bit headers only
      expect(raw.raw.toString('latin1')).toMatch(/filename\*0\*=utf-8''/i);
      expect(/[\u0080-\u00ff]/.test(headerBlock(raw))).toBe(false);
      expect(parsed.from?.value[0]).toEqual({ address: 'no_reply@company.com', name: '홍길동 商店 🛍️' });
      expect(parsed.html).toContain('ご注文ありがとうございます。🎉');
      expect(parsed.text).toContain('ご注文ありがとうございます。🎉');
      expect(parsed.messageId).toMatch(/^<[^@>]+@company\.com>$/);
    }
    const kim = mails.find((m) => m.raw.to.includes('kim@example.com'))!.parsed;
    expect(kim.subject).toBe('주문 안내 ご注文のお知らせ 📦 철수');
    expect(kim.to).toMatchObject({ value: [{ address: 'kim@example.com', name: '김철수' }] });
    expect(kim.html).toContain('안녕하세요 철수님');
    expect(kim.text).toContain('안녕하세요 철수님');
    const tanaka = mails.find((m) => m.raw.to.includes('tanaka@example.jp'))!.parsed;
    expect(tanaka.subject).toBe('주문 안내 ご注文のお知らせ 📦 太郎');
    expect(tanaka.to).toMatchObject({ value: [{ address: 'tanaka@example.jp', name: '田中太郎' }] });
  });

  it('attaches to every mail of a general (To/Cc/Bcc) request too, and the mails record MAIL_SENT', async () => {
    const [file] = await upload([{ name: '회의록.txt', data: Buffer.from('회의록 내용') }]);
    const recipients = [
      ...Array.from({ length: 31 }, (_, i) => ({ address: `to${i}@example.com`, type: 'R' })),
      { address: 'cc@example.com', type: 'C', name: '참조 이름' },
    ];
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'team@company.com', title: '회의록', body: '<p>첨부 참조</p>', individual: false, attachFileIds: [file!.fileId], recipients },
    });
    expect(res.body.count).toBe(2);
    const mails = await received(2);
    for (const { parsed } of mails) {
      expect(parsed.attachments.map((a) => [a.filename, a.content.toString('utf8')])).toEqual([['회의록.txt', '회의록 내용']]);
    }
    await waitFor(
      async () => (await svc.call('GET', `/api/v1/mails/requests?requestId=${res.body.requestId}`)).body.content[0].emailStatus.code === 'S',
      20_000,
      'request S',
    );
  });

  it('fails a mail with MIME_MESSAGE_CREATE_FAIL rather than send it without an attachment that is gone', async () => {
    const [file] = await upload([{ name: 'lost.txt', data: Buffer.from('x') }]);
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'a@company.com',
        title: 't',
        body: 'b',
        confirmAndSend: true,
        attachFileIds: [file!.fileId],
        recipients: [{ address: 'lost@example.com' }],
      },
    });
    expect(res.status).toBe(201);
    // Something outside the service removed the file (the clean-up itself never does this to a sendable request).
    await sql`DELETE FROM files WHERE id = ${file!.fileId}`.execute(svc.db.db);
    expect((await svc.call('POST', `/api/v1/mails/requests/${res.body.requestId}/send`)).status).toBe(200);
    const mailId = (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`)).body.content[0].mailId;
    const mail = await waitFor(
      async () => {
        const m = (await svc.call('GET', `/api/v1/mails/${mailId}`)).body;
        return m.recipients[0].status.code === 'F' ? m : undefined;
      },
      20_000,
      'the mail to fail',
    );
    expect(mail.recipients[0]).toMatchObject({ sendResultCode: 'MIME_MESSAGE_CREATE_FAIL', sendResultMessage: expect.stringContaining('lost.txt') });
    expect(sink.messages.filter((m) => m.to.includes('lost@example.com'))).toHaveLength(0);
  });
});

describe('headers and encodings without attachments', () => {
  it("sends multipart/alternative only, with References from referencesHeader and the Message-ID on the sender's domain", async () => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'news@mail.company.co.kr',
        senderName: 'ニュース配信',
        title: '뉴스레터 — 11월호 ✉️',
        body: '<p>이번 달 소식입니다.<br>今月のお知らせです。</p><p>😀😃😄</p>',
        referencesHeader: '<thread-2026-11@company.co.kr>',
        recipients: [{ address: 'reader@example.com', name: '독자 😀' }],
      },
    });
    expect(res.status).toBe(201);
    const { raw, parsed } = (await received(1, ['reader@example.com']))[0]!;
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(parsed.attachments).toEqual([]);
    expect(parsed.subject).toBe('뉴스레터 — 11월호 ✉️');
    expect(parsed.from?.value[0]).toEqual({ address: 'news@mail.company.co.kr', name: 'ニュース配信' });
    expect(parsed.to).toMatchObject({ value: [{ address: 'reader@example.com', name: '독자 😀' }] });
    expect(parsed.references).toBe('<thread-2026-11@company.co.kr>');
    expect(parsed.messageId).toMatch(/@mail\.company\.co\.kr>$/);
    expect(parsed.html).toContain('今月のお知らせです。');
    expect(parsed.text).toContain('이번 달 소식입니다.');
    expect(parsed.text).toContain('😀😃😄');
    expect(headerBlock(raw)).toMatch(/^Subject: =\?UTF-8\?/m);
    expect(/[\u0080-\u00ff]/.test(headerBlock(raw))).toBe(false);
  });
});

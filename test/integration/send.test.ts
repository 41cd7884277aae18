import { describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

const { svc, sink } = useTestService({ env: { RETRY_LIMIT: '2', RETRY_BASE_DELAY_MS: '200' }, resetSinkAfterEach: true });

async function finished(requestId: string) {
  return waitFor(
    async () => {
      const res = await svc.call('GET', `/api/v1/mails/requests/${requestId}/status`);
      const done = res.body.finishCount === res.body.requestCount && res.body.readyCompleted;
      const list = await svc.call('GET', `/api/v1/mails/requests?requestId=${requestId}`);
      const status = list.body.content?.[0]?.emailStatus?.code;
      return done && !['P', 'R', 'I'].includes(status) ? { status: res.body, row: list.body.content[0] } : undefined;
    },
    20_000,
    `request ${requestId} to finish`,
  );
}

async function mailsOf(requestId: string) {
  const list = await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=100`);
  expect(list.status).toBe(200);
  return Promise.all(list.body.content.map(async (m: { mailId: string }) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`)).body));
}

describe('createMailRequest → delivery', () => {
  it('sends individual, personalised mail and records every recipient (seed example 2)', async () => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'no_reply@company.com',
        senderName: '管理者',
        title: '#{RECIPIENT_NAME}様、こんにちは。 ランク変更のご案内',
        body: 'お客様のランクが${BEFORE_GRADE}から${AFTER_GRADE}に変更されました。 <br /> <a href="https://x.test/u">受信拒否</a>',
        recipients: [
          { address: 'hong@example.com', name: '佐藤一郎', type: 'R', parameters: { BEFORE_GRADE: 'SILVER', AFTER_GRADE: 'GOLD' } },
          { address: 'chulsoo@example.com', name: '田中太郎', type: 'R', parameters: { BEFORE_GRADE: 'BRONZE', AFTER_GRADE: 'SILVER' } },
        ],
        individual: true,
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ requestId: expect.stringMatching(/^\d{20}$/), count: 2 });
    expect(res.headers['x-ncp-trace-id']).toBeTruthy();
    const { status, row } = await finished(res.body.requestId);
    expect(row.emailStatus.code).toBe('S');
    expect(status).toMatchObject({ requestCount: 2, sentCount: 2, finishCount: 2, readyCount: 2, allSentSuccess: true, readyCompleted: true });

    const received = await sink.waitForMessages(2);
    const parsed = await Promise.all(received.map((m) => simpleParser(m.raw)));
    const sato = parsed.find((p) => p.subject?.startsWith('佐藤一郎'))!;
    expect(sato.subject).toBe('佐藤一郎様、こんにちは。 ランク変更のご案内');
    expect(sato.html).toContain('SILVERからGOLDに変更されました');
    expect(sato.text).toContain('SILVERからGOLDに変更されました');
    expect(sato.from?.value[0]).toEqual({ address: 'no_reply@company.com', name: '管理者' });
    expect(sato.messageId).toMatch(/@company\.com>$/);
    // RFC 2047 on the wire: no raw 8-bit bytes in the headers
    const rawHeaders = received[0]!.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(rawHeaders).toMatch(/^Subject: =\?UTF-8\?/m);
    expect(/[\u0080-\u00ff]/.test(rawHeaders)).toBe(false);

    const mails = await mailsOf(res.body.requestId);
    expect(mails).toHaveLength(2);
    for (const m of mails) {
      expect(m.recipients).toHaveLength(1);
      expect(m.recipients[0]).toMatchObject({ status: { code: 'S' }, sendResultCode: 'MAIL_SENT', received: true, retryCount: 0 });
      expect(m.recipients[0].receivedDate.utc).toEqual(expect.any(Number));
      expect(m.recipients[0].sendResultMessage).toMatch(/^250/);
      expect(m.sendDate).not.toBeNull();
    }
    const tanaka = mails.find((m: { recipients: { address: string }[] }) => m.recipients[0]!.address === 'chulsoo@example.com');
    expect(tanaka.title).toBe('田中太郎様、こんにちは。 ランク変更のご案内');
    expect(tanaka.body).toContain('BRONZEからSILVER');
  });

  it('splits general mail into mails of 30 with To/Cc headers and a per-RCPT result', async () => {
    const recipients = [
      ...Array.from({ length: 40 }, (_, i) => ({ address: `to${i}@example.com`, type: 'R' })),
      ...Array.from({ length: 5 }, (_, i) => ({ address: `cc${i}@example.com`, type: 'C' })),
      { address: 'bcc0@example.com', type: 'B' },
    ];
    sink.onRcpt((a) => (a === 'to3@example.com' ? 'reject' : 'accept'));
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'news@company.com', title: 'General ${N}', body: '<p>hello ${N}</p>', parameters: { N: 7 }, recipients, individual: false },
    });
    expect(res.status).toBe(201);
    expect(res.body.count).toBe(2); // 46 envelope recipients -> 30 + 16
    const { row } = await finished(res.body.requestId);
    expect(row).toMatchObject({ requestCount: 2, recipientCount: 46, emailStatus: { code: 'PF' } });
    const received = await sink.waitForMessages(2);
    const first = await simpleParser(received.find((m) => m.to.includes('to0@example.com'))!.raw);
    expect(first.subject).toBe('General 7');
    const second = received.find((m) => m.to.includes('cc0@example.com'))!;
    expect(second.to).toContain('bcc0@example.com');
    const parsedSecond = await simpleParser(second.raw);
    expect(parsedSecond.headers.get('bcc')).toBeUndefined();
    expect(JSON.stringify(parsedSecond.cc)).toContain('cc0@example.com');

    const mails = await mailsOf(res.body.requestId);
    const withReject = mails.find((m: { recipients: { address: string }[] }) => m.recipients.some((r) => r.address === 'to3@example.com'));
    expect(withReject.emailStatus.code).toBe('PF');
    expect(withReject.recipients).toHaveLength(30);
    const bad = withReject.recipients.find((r: { address: string }) => r.address === 'to3@example.com');
    expect(bad).toMatchObject({ status: { code: 'F' }, sendResultCode: 'RECIPIENT_ADDRESS_ERROR', received: false });
    expect(bad.sendResultMessage).toContain('550');
    expect(withReject.recipients.filter((r: { status: { code: string } }) => r.status.code === 'S')).toHaveLength(29);
  });

  it('fails only the recipient whose ${TAG} has no value (CONTENT_HAS_TAG_FORM)', async () => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: {
        senderAddress: 'a@company.com',
        title: 'Hi ${NAME}',
        body: 'Your code: ${CODE}',
        parameters: { CODE: 'X1' },
        recipients: [
          { address: 'ok@example.com', parameters: { NAME: 'Kim' } },
          { address: 'missing@example.com', parameters: {} },
        ],
      },
    });
    expect(res.status).toBe(201);
    const { row } = await finished(res.body.requestId);
    expect(row.emailStatus.code).toBe('PF');
    const mails = await mailsOf(res.body.requestId);
    const failed = mails.find((m: { recipients: { address: string }[] }) => m.recipients[0]!.address === 'missing@example.com');
    expect(failed.recipients[0]).toMatchObject({ status: { code: 'F' }, sendResultCode: 'CONTENT_HAS_TAG_FORM' });
    const ok = await sink.waitForMessages(1);
    expect((await simpleParser(ok[0]!.raw)).subject).toBe('Hi Kim');
    expect(sink.messages).toHaveLength(1);
  });

  it('retries a deferred recipient with backoff and records RESEND_MAIL_FAIL past RETRY_LIMIT', async () => {
    sink.onRcpt(() => 'defer');
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'a@company.com', title: 't', body: 'b', recipients: [{ address: 'later@example.com' }] },
    });
    const mailId = await waitFor(async () => (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`)).body.content?.[0]?.mailId);
    const resending = await waitFor(async () => {
      const m = (await svc.call('GET', `/api/v1/mails/${mailId}`)).body;
      return m.recipients[0].sendResultCode === 'RESENDING_MAIL' ? m : undefined;
    });
    expect(resending.recipients[0].retryCount).toBeGreaterThanOrEqual(1);
    expect(resending.recipients[0].status.code).toBe('I');
    expect(resending.recipients[0].sendResultMessage).toContain('451');
    const { row } = await finished(res.body.requestId);
    expect(row.emailStatus.code).toBe('F');
    const m = (await svc.call('GET', `/api/v1/mails/${mailId}`)).body;
    expect(m.recipients[0]).toMatchObject({ sendResultCode: 'RESEND_MAIL_FAIL', retryCount: 2, status: { code: 'F' } });
  });

  it('retries through a dropped connection and then delivers', async () => {
    sink.dropConnections(1);
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'a@company.com', title: 't', body: 'b', recipients: [{ address: 'drop@example.com' }] },
    });
    const { row } = await finished(res.body.requestId);
    expect(row.emailStatus.code).toBe('S');
    const [m] = await mailsOf(res.body.requestId);
    expect(m.recipients[0].sendResultCode).toBe('MAIL_SENT');
  });

  it('adds References from referencesHeader', async () => {
    const res = await svc.call('POST', '/api/v1/mails', {
      body: { senderAddress: 'a@company.com', title: 't', body: 'b', referencesHeader: '<thread-1@company.com>', recipients: [{ address: 'r@example.com' }] },
    });
    expect(res.status).toBe(201);
    await waitFor(async () => sink.messages.find((m) => m.to.includes('r@example.com')));
    const parsed = await simpleParser(sink.messages.find((m) => m.to.includes('r@example.com'))!.raw);
    expect(parsed.references).toBe('<thread-1@company.com>');
  });
});

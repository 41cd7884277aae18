import { describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { expectError } from '../helpers/responses.ts';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// createMailRequest's testMail extension (the console's test send): the guide's result code
// TEST_MAIL_SEND ("システムのテストメール送信") marks a test mail that was sent.

const { svc, sink } = useTestService({ resetSinkAfterEach: true });

const base = { senderAddress: 'ops@company.com', title: 'Hello ${NAME}', body: '<p>Dear ${NAME}</p>', parameters: { NAME: 'Kim' } };

async function recipientsOf(requestId: string) {
  const mails = (await svc.call('GET', `/api/v1/mails/requests/${requestId}/mails?size=10`)).body.content as { mailId: string }[];
  const details = await Promise.all(mails.map(async (m) => (await svc.call('GET', `/api/v1/mails/${m.mailId}`)).body));
  return details.flatMap((d) => d.recipients as { address: string; sendResultCode: string; emailStatus: { code: string } }[]);
}

describe('testMail', () => {
  it('sends the mail to its one address at once and records it as TEST_MAIL_SEND', async () => {
    const res = await svc.call('POST', '/api/v1/mails', { body: { ...base, testMail: true, recipients: [{ address: 'tester@example.com', type: 'R' }] } });
    expect(res.status).toBe(201);
    expect(res.body.count).toBe(1);
    const row = await finishedRequestRow(svc, res.body.requestId);
    expect(row.emailStatus.code).toBe('S');
    const [msg] = await sink.waitForMessages(1);
    const parsed = await simpleParser(msg!.raw);
    expect(parsed.subject).toBe('Hello Kim');
    expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0]?.address : undefined).toBe('tester@example.com');
    const [recipient] = await recipientsOf(res.body.requestId);
    expect(recipient).toMatchObject({ address: 'tester@example.com', sendResultCode: 'TEST_MAIL_SEND' });
    // the recipient view can pick test sends out by their code
    const view = await svc.call('GET', `/api/v1/mails/recipients?requestId=${res.body.requestId}&sendResultCode=TEST_MAIL_SEND`);
    expect(view.body.content).toHaveLength(1);
  });

  it('a mail that is not a test is still MAIL_SENT', async () => {
    const res = await svc.call('POST', '/api/v1/mails', { body: { ...base, recipients: [{ address: 'real@example.com' }] } });
    expect(res.status).toBe(201);
    await finishedRequestRow(svc, res.body.requestId);
    const [recipient] = await recipientsOf(res.body.requestId);
    expect(recipient?.sendResultCode).toBe('MAIL_SENT');
  });

  it('refuses a test mail to more than one address, to groups, reserved or waiting for confirmation', async () => {
    const two = [{ address: 'a@example.com' }, { address: 'b@example.com' }];
    for (const extra of [
      { recipients: two },
      { recipients: [], recipientGroupFilter: { andFilter: false, groups: ['g'] } },
      { recipients: [{ address: 'a@example.com' }], reservationUtc: Date.now() + 3600_000 },
      { recipients: [{ address: 'a@example.com' }], confirmAndSend: true },
    ]) {
      const res = await svc.call('POST', '/api/v1/mails', { body: { ...base, testMail: true, ...extra } });
      expectError(res, '77102', /^testMail: /);
    }
  });
});

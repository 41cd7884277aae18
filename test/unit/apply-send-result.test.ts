import { describe, it, expect } from '@jest/globals';
import { applySendResult, retryDelayMs } from '../../src/modules/delivery/apply-send-result.ts';
import type { RecipientState, SendResult, RetryPolicy } from '../../src/modules/delivery/apply-send-result.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const POLICY: RetryPolicy = { retryLimit: 3, baseDelayMs: 60_000 };
const SIX_HOURS = 6 * 3600 * 1000;

const rcpt = (id: string, over: Partial<RecipientState> = {}): RecipientState => ({
  id,
  address: `${id}@example.com`,
  status: 'I',
  retryCount: 0,
  pending: true,
  ...over,
});

const sent = (rejected: { address: string; error: { responseCode?: number; response?: string; errorCode?: string; message?: string } }[] = []): SendResult => ({
  kind: 'sent',
  response: '250 2.0.0 Ok: queued as ABC',
  rejected,
});

const failedWith = (response: string, errorCode = 'EENVELOPE'): SendResult => ({
  kind: 'failed',
  error: { responseCode: Number(response.slice(0, 3)), response, errorCode, message: `Message failed: ${response}` },
});

describe('retryDelayMs', () => {
  type Row = [retryCount: number, base: number, expected: number];
  const rows: Row[] = [
    [0, 60_000, 60_000],
    [1, 60_000, 60_000],
    [2, 60_000, 120_000],
    [3, 60_000, 240_000],
    [4, 60_000, 480_000],
    [5, 1_000, 16_000],
    [8, 60_000, 7_680_000],
    [9, 60_000, 15_360_000],
    [10, 60_000, SIX_HOURS], // 30,720,000 > 21,600,000
    [20, 60_000, SIX_HOURS],
    [1, SIX_HOURS + 1, SIX_HOURS],
    [1, SIX_HOURS, SIX_HOURS],
    [3, 0, 0],
  ];
  it.each(rows)('retry %i with base %i → %i ms', (n, base, expected) => {
    expect(retryDelayMs(n, base)).toBe(expected);
  });

  it('doubles each retry until the cap', () => {
    for (let n = 2; n <= 9; n++) expect(retryDelayMs(n, 60_000)).toBe(2 * retryDelayMs(n - 1, 60_000));
  });
});

describe('applySendResult: success', () => {
  it('marks every pending recipient S / MAIL_SENT with receivedAt and finishes the mail', () => {
    const out = applySendResult([rcpt('a'), rcpt('b', { retryCount: 2 })], sent(), NOW, POLICY);
    expect(out.recipients).toEqual([
      { id: 'a', status: 'S', resultCode: 'MAIL_SENT', resultMessage: '250 2.0.0 Ok: queued as ABC', retryCount: 0, receivedAt: NOW, finishedAt: NOW },
      { id: 'b', status: 'S', resultCode: 'MAIL_SENT', resultMessage: '250 2.0.0 Ok: queued as ABC', retryCount: 2, receivedAt: NOW, finishedAt: NOW },
    ]);
    expect(out.mail).toEqual({ status: 'S', nextAttemptAt: null, finishedAt: NOW });
  });
});

describe('applySendResult: per-recipient rejection', () => {
  it('fails only the rejected recipient (550 5.1.1) and makes the mail PF', () => {
    const response = '550 5.1.1 <b@example.com>: Recipient address rejected: User unknown';
    const out = applySendResult(
      [rcpt('a'), rcpt('b'), rcpt('c')],
      sent([{ address: 'b@example.com', error: { responseCode: 550, response, errorCode: 'EENVELOPE', message: `Recipient command failed: ${response}` } }]),
      NOW,
      POLICY,
    );
    const byId = Object.fromEntries(out.recipients.map((u) => [u.id, u]));
    expect(byId.a).toMatchObject({ status: 'S', resultCode: 'MAIL_SENT', receivedAt: NOW });
    expect(byId.c).toMatchObject({ status: 'S', resultCode: 'MAIL_SENT', receivedAt: NOW });
    expect(byId.b).toEqual({
      id: 'b',
      status: 'F',
      resultCode: 'RECIPIENT_ADDRESS_ERROR',
      resultMessage: response,
      retryCount: 0,
      receivedAt: null,
      finishedAt: NOW,
    });
    expect(out.mail).toEqual({ status: 'PF', nextAttemptAt: null, finishedAt: NOW });
  });

  it("keeps no NUL of a server's reply (PostgreSQL text refuses it, and the recording with it)", () => {
    const response = '550 5.1.1 no such\u0000 user';
    const out = applySendResult(
      [rcpt('a'), rcpt('b')],
      {
        kind: 'sent',
        response: '250 ok\u0000 queued',
        rejected: [{ address: 'b@example.com', error: { responseCode: 550, response, errorCode: 'EENVELOPE' } }],
      },
      NOW,
      POLICY,
    );
    expect(out.recipients.map((u) => [u.id, u.resultCode, u.resultMessage])).toEqual([
      ['a', 'MAIL_SENT', '250 ok queued'],
      ['b', 'RECIPIENT_ADDRESS_ERROR', '550 5.1.1 no such user'],
    ]);
  });

  it('matches rejected addresses case-insensitively', () => {
    const out = applySendResult(
      [rcpt('a', { address: 'Kim@Example.com' }), rcpt('b')],
      sent([{ address: 'kim@example.COM', error: { responseCode: 550, response: '550 5.1.1 User unknown' } }]),
      NOW,
      POLICY,
    );
    expect(out.recipients.find((u) => u.id === 'a')!.status).toBe('F');
    expect(out.recipients.find((u) => u.id === 'b')!.status).toBe('S');
  });

  it('all recipients rejected → mail F', () => {
    const error = { responseCode: 550, response: '550 5.1.1 User unknown' };
    const out = applySendResult(
      [rcpt('a'), rcpt('b')],
      sent([
        { address: 'a@example.com', error },
        { address: 'b@example.com', error },
      ]),
      NOW,
      POLICY,
    );
    expect(out.recipients.map((u) => u.status)).toEqual(['F', 'F']);
    expect(out.mail).toEqual({ status: 'F', nextAttemptAt: null, finishedAt: NOW });
  });

  it('a temporarily rejected recipient is retried while the others are sent', () => {
    const out = applySendResult(
      [rcpt('a'), rcpt('b', { retryCount: 1 })],
      sent([{ address: 'b@example.com', error: { responseCode: 452, response: '452 4.2.2 Mailbox full' } }]),
      NOW,
      POLICY,
    );
    expect(out.recipients.find((u) => u.id === 'a')).toMatchObject({ status: 'S' });
    expect(out.recipients.find((u) => u.id === 'b')).toEqual({
      id: 'b',
      status: 'I',
      resultCode: 'RESENDING_MAIL',
      resultMessage: '452 4.2.2 Mailbox full',
      retryCount: 2,
      receivedAt: null,
      finishedAt: null,
      temporaryResultCode: 'MAILBOX_ABNORMAL',
    });
    expect(out.mail).toEqual({ status: 'I', nextAttemptAt: new Date(NOW.getTime() + 120_000), finishedAt: null });
  });
});

describe('applySendResult: temporary failures and retries', () => {
  type Row = [retryCount: number, expectedRetry: number, delayMs: number];
  const below: Row[] = [
    [0, 1, 60_000],
    [1, 2, 120_000],
    [2, 3, 240_000],
  ];
  it.each(below)('451 at retryCount %i → I RESENDING_MAIL, retryCount %i, next attempt in %i ms', (retryCount, expectedRetry, delayMs) => {
    const res = failedWith('451 4.3.0 Try again later');
    const out = applySendResult([rcpt('a', { retryCount })], res, NOW, POLICY);
    expect(out.recipients).toEqual([
      {
        id: 'a',
        status: 'I',
        resultCode: 'RESENDING_MAIL',
        resultMessage: '451 4.3.0 Try again later',
        retryCount: expectedRetry,
        receivedAt: null,
        finishedAt: null,
        temporaryResultCode: 'RECEIVE_MAIL_SERVICE_ABNORMAL',
      },
    ]);
    expect(out.mail).toEqual({ status: 'I', nextAttemptAt: new Date(NOW.getTime() + delayMs), finishedAt: null });
  });

  it('451 at the retry limit → F RESEND_MAIL_FAIL, retryCount unchanged', () => {
    const out = applySendResult([rcpt('a', { retryCount: 3 })], failedWith('451 4.3.0 Try again later'), NOW, POLICY);
    expect(out.recipients).toEqual([
      {
        id: 'a',
        status: 'F',
        resultCode: 'RESEND_MAIL_FAIL',
        resultMessage: '451 4.3.0 Try again later',
        retryCount: 3,
        receivedAt: null,
        finishedAt: NOW,
        temporaryResultCode: 'RECEIVE_MAIL_SERVICE_ABNORMAL',
      },
    ]);
    expect(out.mail).toEqual({ status: 'F', nextAttemptAt: null, finishedAt: NOW });
  });

  it('retryLimit 0 fails a temporary error at once', () => {
    const out = applySendResult([rcpt('a')], failedWith('451 4.3.0 Try again later'), NOW, { retryLimit: 0, baseDelayMs: 1000 });
    expect(out.recipients[0]).toMatchObject({ status: 'F', resultCode: 'RESEND_MAIL_FAIL', retryCount: 0 });
  });

  it('connection error (ECONNECTION, no response) is temporary', () => {
    const res: SendResult = { kind: 'failed', error: { errorCode: 'ECONNECTION', message: 'Connection closed unexpectedly' } };
    const out = applySendResult([rcpt('a'), rcpt('b')], res, NOW, POLICY);
    for (const u of out.recipients) {
      expect(u).toMatchObject({
        status: 'I',
        resultCode: 'RESENDING_MAIL',
        resultMessage: 'Connection closed unexpectedly',
        retryCount: 1,
        finishedAt: null,
        temporaryResultCode: 'CONNECTION_ABNORMAL',
      });
    }
    expect(out.mail).toEqual({ status: 'I', nextAttemptAt: new Date(NOW.getTime() + 60_000), finishedAt: null });
  });

  it('connection error at the limit → RESEND_MAIL_FAIL', () => {
    const res: SendResult = { kind: 'failed', error: { errorCode: 'ECONNECTION', message: 'Connection closed unexpectedly' } };
    const out = applySendResult([rcpt('a', { retryCount: 3 })], res, NOW, POLICY);
    expect(out.recipients[0]).toMatchObject({ status: 'F', resultCode: 'RESEND_MAIL_FAIL', retryCount: 3, temporaryResultCode: 'CONNECTION_ABNORMAL' });
  });

  it('errorCode alone is used as the message when nothing else is known', () => {
    const res: SendResult = { kind: 'failed', error: { errorCode: 'ETIMEDOUT' } };
    expect(applySendResult([rcpt('a')], res, NOW, POLICY).recipients[0]!.resultMessage).toBe('ETIMEDOUT');
  });

  it("nextAttemptAt is the earliest of the recipients' retries", () => {
    const res = failedWith('451 4.3.0 Try again later');
    const out = applySendResult([rcpt('a', { retryCount: 2 }), rcpt('b', { retryCount: 0 }), rcpt('c', { retryCount: 1 })], res, NOW, POLICY);
    expect(out.recipients.map((u) => u.retryCount)).toEqual([3, 1, 2]);
    expect(out.mail.nextAttemptAt).toEqual(new Date(NOW.getTime() + 60_000));
  });

  it('one recipient at the limit, one below: mail stays I with a next attempt', () => {
    const res = failedWith('451 4.3.0 Try again later');
    const out = applySendResult([rcpt('a', { retryCount: 3 }), rcpt('b', { retryCount: 1 })], res, NOW, POLICY);
    expect(out.recipients.map((u) => [u.id, u.status, u.resultCode])).toEqual([
      ['a', 'F', 'RESEND_MAIL_FAIL'],
      ['b', 'I', 'RESENDING_MAIL'],
    ]);
    expect(out.mail).toEqual({ status: 'I', nextAttemptAt: new Date(NOW.getTime() + 120_000), finishedAt: null });
  });

  it('the 6 h cap applies to nextAttemptAt', () => {
    const out = applySendResult([rcpt('a', { retryCount: 15 })], failedWith('451 4.3.0 Try again later'), NOW, { retryLimit: 20, baseDelayMs: 60_000 });
    expect(out.mail.nextAttemptAt).toEqual(new Date(NOW.getTime() + SIX_HOURS));
  });
});

describe('applySendResult: permanent failures', () => {
  type Row = [response: string, resultCode: string];
  const rows: Row[] = [
    ['550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in local recipient table', 'RECIPIENT_ADDRESS_ERROR'],
    ['552 5.2.2 <a@example.com>: user is over quota', 'MAILBOX_ERROR'],
    ['554 5.7.1 <a@example.com>: Relay access denied', 'SECURITY_AND_POLICY_ERROR'],
    ['550 Requested action not taken', 'SMTP_ERROR'],
  ];
  it.each(rows)('%s → F %s with the raw reply', (response, resultCode) => {
    const out = applySendResult([rcpt('a', { retryCount: 1 })], failedWith(response), NOW, POLICY);
    expect(out.recipients).toEqual([{ id: 'a', status: 'F', resultCode, resultMessage: response, retryCount: 1, receivedAt: null, finishedAt: NOW }]);
    expect(out.mail).toEqual({ status: 'F', nextAttemptAt: null, finishedAt: NOW });
  });
});

describe('applySendResult: content failure', () => {
  it('fails every pending recipient with the given code and message', () => {
    const res: SendResult = { kind: 'content', resultCode: 'CONTENT_HAS_TAG_FORM', message: 'tag ${NAME} has no value' };
    const out = applySendResult([rcpt('a'), rcpt('b', { retryCount: 2 })], res, NOW, POLICY);
    expect(out.recipients).toEqual([
      { id: 'a', status: 'F', resultCode: 'CONTENT_HAS_TAG_FORM', resultMessage: 'tag ${NAME} has no value', retryCount: 0, receivedAt: null, finishedAt: NOW },
      { id: 'b', status: 'F', resultCode: 'CONTENT_HAS_TAG_FORM', resultMessage: 'tag ${NAME} has no value', retryCount: 2, receivedAt: null, finishedAt: NOW },
    ]);
    expect(out.mail).toEqual({ status: 'F', nextAttemptAt: null, finishedAt: NOW });
  });
});

describe('applySendResult: recipients that are not pending', () => {
  it('are not updated but count in the roll-up (S kept + new F → PF)', () => {
    const out = applySendResult([rcpt('done', { status: 'S', pending: false }), rcpt('a')], failedWith('550 5.1.1 User unknown'), NOW, POLICY);
    expect(out.recipients.map((u) => u.id)).toEqual(['a']);
    expect(out.mail).toEqual({ status: 'PF', nextAttemptAt: null, finishedAt: NOW });
  });

  it('U kept + new S → S', () => {
    const out = applySendResult([rcpt('u', { status: 'U', pending: false }), rcpt('a')], sent(), NOW, POLICY);
    expect(out.recipients.map((u) => u.id)).toEqual(['a']);
    expect(out.mail.status).toBe('S');
  });

  it('F kept + new S → PF', () => {
    const out = applySendResult([rcpt('f', { status: 'F', pending: false }), rcpt('a')], sent(), NOW, POLICY);
    expect(out.mail.status).toBe('PF');
  });

  it('a rejection for a non-pending recipient does not touch it', () => {
    const out = applySendResult(
      [rcpt('done', { status: 'S', pending: false }), rcpt('a')],
      sent([{ address: 'done@example.com', error: { responseCode: 550, response: '550 5.1.1 User unknown' } }]),
      NOW,
      POLICY,
    );
    expect(out.recipients).toHaveLength(1);
    expect(out.recipients[0]).toMatchObject({ id: 'a', status: 'S' });
    expect(out.mail.status).toBe('S');
  });

  it('no pending recipients: no updates, mail rolled up from the kept statuses', () => {
    const out = applySendResult([rcpt('a', { status: 'S', pending: false }), rcpt('b', { status: 'S', pending: false })], sent(), NOW, POLICY);
    expect(out.recipients).toEqual([]);
    expect(out.mail).toEqual({ status: 'S', nextAttemptAt: null, finishedAt: NOW });
  });
});

import { describe, expect, it } from '@jest/globals';
import { changesFor, resultCodeOfBounce } from '../../src/modules/feedback/feedback-rules.ts';
import type { FeedbackTarget } from '../../src/modules/feedback/feedback.repository.ts';
import type { DsnRecipient, ParsedReport } from '../../src/modules/feedback/parse-report.ts';

const now = new Date('2026-12-04T12:00:00Z');
const target = (id: string, address: string, over: Partial<FeedbackTarget> = {}): FeedbackTarget => ({
  id,
  mail_id: '100',
  project_id: '7',
  request_id: '9',
  address,
  status: 'S',
  bounce_type: null,
  bounce_status: null,
  bounce_message: null,
  complaint_type: null,
  ...over,
});
const dsn = (...recipients: DsnRecipient[]): ParsedReport => ({ kind: 'dsn', recipients, original: {} });

describe('changesFor: DSNs', () => {
  it('a failed 5.1.1 fails a sent recipient, with the diagnostic, and blocks the address', () => {
    const t = target('1', 'a@example.com');
    const [c] = changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.1.1', diagnosticCode: '550 5.1.1 User unknown' }), t, now);
    expect(c).toMatchObject({
      kind: 'hard_bounce',
      failed: true,
      block: { resultCode: 'RECIPIENT_ADDRESS_ERROR', resultMessage: '550 5.1.1 User unknown' },
      write: { id: '1', status: 'F', resultCode: 'RECIPIENT_ADDRESS_ERROR', bounceType: 'H', bounceStatus: '5.1.1', bouncedAt: now },
    });
  });

  it('a permanent policy or content failure fails the recipient but blocks nothing (the synchronous rule)', () => {
    const t = target('1', 'a@example.com');
    const [c] = changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.7.1', diagnosticCode: '550 5.7.1 rejected by policy' }), t, now);
    expect(c).toMatchObject({ kind: 'hard_bounce', failed: true, block: null, write: { resultCode: 'SECURITY_AND_POLICY_ERROR' } });
  });

  it('delayed, or failed with a 4.x.x status, is a soft bounce: recorded, nothing fails', () => {
    const t = target('1', 'a@example.com');
    for (const b of [
      { finalRecipient: 'a@example.com', action: 'delayed', status: '4.4.1' },
      { finalRecipient: 'a@example.com', action: 'failed', status: '4.2.2' },
    ]) {
      const [c] = changesFor(dsn(b), t, now);
      expect(c).toMatchObject({ kind: 'soft_bounce', failed: false, block: null, write: { status: 'S', resultCode: null, bounceType: 'S' } });
    }
  });

  it('delivered, relayed and expanded actions change nothing', () => {
    const t = target('1', 'a@example.com');
    for (const action of ['delivered', 'relayed', 'expanded'])
      expect(changesFor(dsn({ finalRecipient: 'a@example.com', action, status: '2.0.0' }), t, now)).toEqual([]);
  });

  it('a recipient that failed already keeps its result; the bounce is recorded beside it', () => {
    const t = target('1', 'a@example.com', { status: 'F' });
    const [c] = changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.1.1' }), t, now);
    expect(c).toMatchObject({ failed: false, write: { status: 'F', resultCode: null, bounceType: 'H' } });
  });

  it('after a hard bounce, any further bounce is a duplicate', () => {
    const t = target('1', 'a@example.com', { status: 'F', bounce_type: 'H' });
    expect(changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.1.1' }), t, now)).toEqual([]);
    expect(changesFor(dsn({ finalRecipient: 'a@example.com', action: 'delayed', status: '4.4.1' }), t, now)).toEqual([]);
  });

  it('a one-recipient mail takes the one failure even under another address (an alias rewrote it)', () => {
    const t = target('1', 'alias@example.com');
    expect(changesFor(dsn({ finalRecipient: 'real-box@example.net', action: 'failed', status: '5.1.1' }), t, now)).toHaveLength(1);
    // but not when the report lists several failures it can't tell apart
    const two = dsn(
      { finalRecipient: 'x@example.net', action: 'failed', status: '5.1.1' },
      { finalRecipient: 'y@example.net', action: 'failed', status: '5.1.1' },
    );
    expect(changesFor(two, t, now)).toEqual([]);
  });

  it('a soft bounce repeating the recorded one (status and message) is a duplicate; another delay is not', () => {
    const t = target('1', 'a@example.com', { bounce_type: 'S', bounce_status: '4.2.2', bounce_message: '452 4.2.2 full' });
    expect(changesFor(dsn({ finalRecipient: 'a@example.com', action: 'delayed', status: '4.2.2', diagnosticCode: '452 4.2.2 full' }), t, now)).toEqual([]);
    expect(
      changesFor(dsn({ finalRecipient: 'a@example.com', action: 'delayed', status: '4.4.1', diagnosticCode: '451 4.4.1 no answer' }), t, now),
    ).toHaveLength(1);
    expect(changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.2.2', diagnosticCode: '552 5.2.2 full' }), t, now)).toHaveLength(1);
  });

  it('a report that came to several tokens: a one-recipient mail takes only a failure that names it', () => {
    const t = target('1', 'bystander@example.com');
    const other = dsn({ finalRecipient: 'named@example.com', action: 'failed', status: '5.1.1' });
    expect(changesFor(other, t, now, false)).toEqual([]);
    const own = dsn({ finalRecipient: 'Bystander@Example.com', action: 'failed', status: '5.1.1' });
    expect(changesFor(own, t, now, false)).toHaveLength(1);
  });

  it('a NUL in the diagnostic is left out of what is written (PostgreSQL text cannot hold it)', () => {
    const t = target('1', 'a@example.com');
    const [c] = changesFor(
      dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.1.1', diagnosticCode: '550 5.1.1 bad\u0000user\u0000' }),
      t,
      now,
    );
    expect(c!.write).toMatchObject({ bounceMessage: '550 5.1.1 baduser', resultMessage: '550 5.1.1 baduser' });
    expect(c!.block).toMatchObject({ resultMessage: '550 5.1.1 baduser' });
    const [onlyNul] = changesFor(dsn({ finalRecipient: 'a@example.com', action: 'failed', status: '5.1.1', diagnosticCode: '\u0000' }), t, now);
    expect(onlyNul!.write.bounceMessage).toBe('5.1.1');
  });

  it('speaks for the token recipient only: blocks naming another address (a co-recipient) apply to nobody', () => {
    const a = target('1', 'a@example.com');
    const report = dsn(
      { originalRecipient: 'b@example.com', finalRecipient: 'mailbox@internal.example', action: 'failed', status: '5.1.1' },
      { finalRecipient: 'unknown@example.com', action: 'failed', status: '5.1.1' },
    );
    expect(changesFor(report, a, now)).toEqual([]);
    // matched case-insensitively by original or final recipient
    const b = target('2', 'B@Example.com');
    expect(changesFor(report, b, now).map((x) => x.write.id)).toEqual(['2']);
  });
});

describe('changesFor: complaints', () => {
  const arf = (rcpt: string[]): ParsedReport => ({ kind: 'arf', feedbackType: 'abuse', originalRcptTo: rcpt, original: {} });

  it('marks the recipient the token names, once', () => {
    const t = target('1', 'a@example.com');
    const [c] = changesFor(arf([]), t, now);
    expect(c).toMatchObject({
      kind: 'complaint',
      failed: false,
      block: null,
      write: { id: '1', status: 'S', complaintType: 'abuse', complainedAt: now, bouncedAt: null },
    });
    expect(changesFor(arf([]), { ...t, complaint_type: 'abuse' }, now)).toEqual([]);
  });

  it('feedback that is no complaint (not-spam, auth-failure) changes nothing', () => {
    const t = target('1', 'a@example.com');
    for (const feedbackType of ['not-spam', 'auth-failure', 'x-unknown']) {
      expect(changesFor({ kind: 'arf', feedbackType, originalRcptTo: [], original: {} }, t, now)).toEqual([]);
    }
    expect(changesFor({ kind: 'arf', feedbackType: 'Fraud', originalRcptTo: [], original: {} }, t, now)[0]!.write.complaintType).toBe('fraud');
  });

  it('marks the token recipient whatever address the report names (a co-recipient cannot be complained about)', () => {
    const a = target('1', 'a@example.com');
    expect(changesFor(arf(['b@example.com']), a, now).map((x) => x.write.id)).toEqual(['1']);
  });
});

describe('resultCodeOfBounce', () => {
  it.each([
    ['5.1.1', 'RECIPIENT_ADDRESS_ERROR'],
    ['5.1.2', 'NONEXISTENT_DOMAIN_ADDRESS'],
    ['5.2.1', 'MAILBOX_ERROR'],
    ['5.2.2', 'MAILBOX_ERROR'],
    ['5.3.4', 'MAIL_CONTENTS_ERROR'],
    ['5.4.4', 'NETWORK_ERROR'],
    ['5.7.1', 'SECURITY_AND_POLICY_ERROR'],
    [undefined, 'SMTP_ERROR'],
    ['garbage', 'SMTP_ERROR'],
  ])('%s → %s', (status, code) => {
    expect(resultCodeOfBounce({ action: 'failed', status })).toBe(code);
  });

  it('takes the remote reply when the status is the generic 5.0.0 (Exim)', () => {
    expect(resultCodeOfBounce({ action: 'failed', status: '5.0.0', diagnosticCode: '550 5.1.1 <x@example.com>: Recipient address rejected' })).toBe(
      'RECIPIENT_ADDRESS_ERROR',
    );
    expect(resultCodeOfBounce({ action: 'failed', status: '5.0.0', diagnosticCode: '552 5.2.2 mailbox full' })).toBe('MAILBOX_ERROR');
    // a specific status wins over the diagnostic
    expect(resultCodeOfBounce({ action: 'failed', status: '5.2.1', diagnosticCode: '550 5.1.1 user unknown' })).toBe('MAILBOX_ERROR');
  });
});

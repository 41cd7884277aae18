import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { parseDomainOverrides } from '../../src/modules/delivery/throttle-config.ts';
import { classifySmtpReply } from '../../src/modules/delivery/classify-smtp-reply.ts';
import { createClaimCursor } from '../../src/modules/delivery/claim-cursor.ts';
import { nextClaimSize } from '../../src/modules/delivery/claim-loops.ts';
import { deferralResult } from '../../src/modules/delivery/send-batch.ts';
import {
  bucketCapacity,
  DEFER_AFTER_UNREACHABLE_PAUSES,
  deferralReason,
  defers,
  heldDueAt,
  limitsAtLevel,
  MAX_BACKOFF_LEVEL,
  pauseMs,
  redactReply,
  refill,
  take,
  throttleSignal,
} from '../../src/modules/delivery/throttle-policy.ts';

const defaults = { connections: 10, perMinute: 6000 };

describe('THROTTLE_* settings', () => {
  it('has defaults, and built-in conservative limits for gmail.com, naver.com and yahoo.co.jp in direct mode', () => {
    const c = loadConfig({ SMTP_URL: 'direct' });
    expect(c.throttle.domain).toEqual({ connections: 10, perMinute: 600_000 });
    expect(c.throttle.projectPerMinute).toBe(0);
    expect(c.throttle.pauseMs).toBe(60_000);
    for (const d of ['gmail.com', 'naver.com', 'yahoo.co.jp']) expect(c.throttle.domains.get(d)!.perMinute).toBeLessThan(6000);
    // through a relay (or the built-in sink) none of them: the relay paces its own connections
    expect(loadConfig({ SMTP_URL: 'smtp://relay.example:25' }).throttle.domains.size).toBe(0);
    expect(loadConfig({}).throttle.domains.size).toBe(0);
  });

  it('overrides a built-in domain in part, and adds others over the defaults', () => {
    const c = loadConfig({ SMTP_URL: 'direct', THROTTLE_DOMAINS: ' Gmail.COM=perMinute:600 ; example.org=connections:2 ;', THROTTLE_DOMAIN_PER_MINUTE: '100' });
    expect(c.throttle.domains.get('gmail.com')).toEqual({ connections: 5, perMinute: 600 });
    // through a relay an entry for gmail.com starts from the defaults
    const relay = loadConfig({ SMTP_URL: 'smtp://relay.example:25', THROTTLE_DOMAINS: 'gmail.com=perMinute:600', THROTTLE_DOMAIN_PER_MINUTE: '100' });
    expect(relay.throttle.domains.get('gmail.com')).toEqual({ connections: 10, perMinute: 600 });
    expect(c.throttle.domains.get('example.org')).toEqual({ connections: 2, perMinute: 100 });
    expect(parseDomainOverrides('bücher.example=perMinute:5', defaults).get('xn--bcher-kva.example')).toEqual({ connections: 10, perMinute: 5 });
  });

  it.each([
    ['gmail.com', /domain=connections:N,perMinute:M/],
    ['gmail.com=', /no limits/],
    ['gmail.com=perMinute', /must be connections:N or perMinute:M/],
    ['gmail.com=perMinute:0', /between 1 and/],
    ['gmail.com=perMinute:-5', /whole number/],
    ['gmail.com=perMinute:1e9', /whole number/],
    ['gmail.com=connections:99999999999', /between 1 and/],
    ['gmail.com=speed:5', /unknown limit "speed"/],
    ['gmail.com=perMinute:5:6', /must be connections:N or perMinute:M/],
    ['com=perMinute:5', /not a domain name/],
    ['a b.com=perMinute:5', /not a domain name/],
    ['gmail.com=perMinute:5;GMAIL.com=connections:1', /given twice/],
    ['x'.repeat(300) + '.com=perMinute:5', /not a domain name/],
  ])('refuses THROTTLE_DOMAINS=%j at start with a message naming it', (value, message) => {
    let caught: unknown;
    try {
      loadConfig({ THROTTLE_DOMAINS: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toMatch(/THROTTLE_DOMAINS/);
    expect((caught as Error).message).toMatch(message);
  });

  it.each([
    [{ THROTTLE_DOMAIN_CONNECTIONS: '0' }, /THROTTLE_DOMAIN_CONNECTIONS must be between 1/],
    [{ THROTTLE_DOMAIN_PER_MINUTE: 'fast' }, /THROTTLE_DOMAIN_PER_MINUTE must be a whole number/],
    [{ THROTTLE_PROJECT_PER_MINUTE: '-1' }, /THROTTLE_PROJECT_PER_MINUTE must be a whole number/],
    [{ THROTTLE_PAUSE_MS: '5' }, /THROTTLE_PAUSE_MS must be between 100/],
    [{ THROTTLE_PAUSE_MS: '60000', THROTTLE_PAUSE_MAX_MS: '1000' }, /THROTTLE_PAUSE_MAX_MS must be between 60000/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('token bucket', () => {
  it('holds one second of the rate, at least one token, refilled by elapsed time', () => {
    expect(bucketCapacity(600)).toBe(10);
    expect(bucketCapacity(20)).toBe(1);
    expect(refill(0, 500, 600)).toBe(5);
    expect(refill(0, 60_000, 600)).toBe(10);
    expect(refill(3, -1000, 600)).toBe(3); // a clock step back adds nothing
    expect(refill(0, 1500, 20)).toBe(0.5);
  });

  it('grants whole tokens only, never more than asked', () => {
    expect(take(9.7, 20)).toEqual({ granted: 9, left: 9.7 - 9 });
    expect(take(9.7, 3)).toEqual({ granted: 3, left: 9.7 - 3 });
    expect(take(0.9, 3).granted).toBe(0);
  });

  it("spreads held mails over the times their tokens come, so they don't all come due at once", () => {
    const now = new Date(0);
    expect(heldDueAt(now, 200, 0, 600).getTime()).toBe(200);
    expect(heldDueAt(now, 200, 5, 600).getTime()).toBe(700);
    expect(heldDueAt(now, 0, 2, 20).getTime()).toBe(6000);
  });
});

describe('back-off', () => {
  it('halves the rate and the transactions per level, never below one', () => {
    expect(limitsAtLevel({ connections: 10, perMinute: 600 }, 0)).toEqual({ connections: 10, perMinute: 600 });
    expect(limitsAtLevel({ connections: 10, perMinute: 600 }, 1)).toEqual({ connections: 5, perMinute: 300 });
    expect(limitsAtLevel({ connections: 2, perMinute: 10 }, 5)).toEqual({ connections: 1, perMinute: 1 });
    expect(limitsAtLevel({ connections: 1000, perMinute: 6400 }, 99)).toEqual(limitsAtLevel({ connections: 1000, perMinute: 6400 }, MAX_BACKOFF_LEVEL));
  });

  it('pauses for the base, doubling per level, capped', () => {
    expect(pauseMs(1, 60_000, 900_000)).toBe(60_000);
    expect(pauseMs(3, 60_000, 900_000)).toBe(240_000);
    expect(pauseMs(6, 60_000, 900_000)).toBe(900_000);
  });
});

describe('what a reply says of its domain', () => {
  it.each([
    ['421-4.7.0 Try again later, closing connection. - gsmtp', 421],
    ['421-4.7.28 [203.0.113.10] Our system has detected an unusual rate of unsolicited mail originating from your IP address.', 421],
    ['421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints', 421],
    ['451 4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)', 451],
    ['421 4.3.2 The maximum number of concurrent connections per resource forest has exceeded a limit', 421],
    ['450 too many messages from your IP, slow down', 450],
    ['452 4.7.1 rate limited', 452],
  ])('slow down: %s', (response, responseCode) => {
    expect(throttleSignal({ response, responseCode })).toBe('slow-down');
  });

  it.each([
    ['451 4.3.0 try again later', 451], // greylisting, per recipient
    ['450 4.2.1 mailbox busy', 450],
    ['452 4.2.2 mailbox full', 452],
    ['550 5.7.1 rate limited', 550], // permanent: not a slow-down, a failure
    ['550 5.1.1 user unknown', 550],
  ])('not a slow-down: %s', (response, responseCode) => {
    expect(throttleSignal({ response, responseCode })).toBe('other');
  });

  it('tells no reply at all (refused, timed out) from a local error, and a success', () => {
    expect(throttleSignal({ errorCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })).toBe('unreachable');
    expect(throttleSignal({ errorCode: 'ETIMEDOUT', message: 'Connection timeout' })).toBe('unreachable');
    expect(throttleSignal({ errorCode: 'EENVELOPE', message: 'no recipients' })).toBe('other');
    expect(throttleSignal(undefined)).toBe('sent');
  });

  it('keeps no recipient address of a reply, and at most 300 characters', () => {
    expect(redactReply('421 4.7.0 <jane.doe@example.com>: too many, from a@b.c')).toBe('421 4.7.0 <<address>>: too many, from <address>');
    expect(redactReply('x'.repeat(1000))).toHaveLength(300);
    // PostgreSQL text holds no NUL: the domain's row would not be written
    expect(redactReply('421 4.7.0 slow\u0000 down')).toBe('421 4.7.0 slow down');
  });
});

describe('a paused domain that stays down defers its mails', () => {
  it('from its second unreachable pause in a row', () => {
    expect(DEFER_AFTER_UNREACHABLE_PAUSES).toBe(2);
    expect([0, 1, 2, 3].map(defers)).toEqual([false, false, true, true]);
  });

  it('says why in the result message, with the last reply', () => {
    const until = new Date('2026-12-04T10:00:00Z');
    expect(deferralReason('dead.example', 'connect ECONNREFUSED 127.0.0.9:25', until)).toBe(
      'connect ECONNREFUSED 127.0.0.9:25 (not attempted: dead.example is paused until 2026-12-04T10:00:00.000Z, unreachable in pauses running)',
    );
    expect(deferralReason('dead.example', null, until)).toMatch(/^no host answered \(not attempted/);
  });

  it('records a temporary failure whatever the reply says (never a permanent result or a send-block entry), due no sooner than the pause ends', () => {
    const now = new Date('2026-12-04T09:00:00Z');
    const until = new Date('2026-12-04T09:30:00Z');
    const r = (id: string, retryCount: number, pending = true) => ({
      id,
      address: `${id}@dead.example`,
      name: null,
      type: 'R',
      parameters: null,
      retryCount,
      status: pending ? 'R' : 'S',
      pending,
    });
    // a reply that classifySmtpReply would take for a missing domain (permanent) if it were the error
    const reason = deferralReason('dead.example', 'getaddrinfo ENOTFOUND host not found', until);
    expect(classifySmtpReply({ errorCode: 'ECONNECTION', message: reason }).temporary).toBe(false);
    const d = deferralResult([r('a', 0), r('b', 3), r('c', 0, false)], reason, until, now, { retryLimit: 3, baseDelayMs: 60_000 });
    expect(d.recipients).toEqual([
      {
        id: 'a',
        status: 'I',
        resultCode: 'RESENDING_MAIL',
        resultMessage: reason,
        retryCount: 1,
        receivedAt: null,
        finishedAt: null,
        temporaryResultCode: 'CONNECTION_ABNORMAL',
      },
      {
        id: 'b',
        status: 'F',
        resultCode: 'RESEND_MAIL_FAIL',
        resultMessage: reason,
        retryCount: 3,
        receivedAt: null,
        finishedAt: now,
        temporaryResultCode: 'CONNECTION_ABNORMAL',
      },
    ]);
    expect(d.mail).toEqual({ status: 'I', nextAttemptAt: until, finishedAt: null });
    // a retry delay beyond the pause wins
    expect(deferralResult([r('a', 0)], reason, new Date(now.getTime() + 1000), now, { retryLimit: 3, baseDelayMs: 60_000 }).mail.nextAttemptAt).toEqual(
      new Date(now.getTime() + 60_000),
    );
  });
});

describe('claims go round the due requests', () => {
  const part =
    (p: 0 | 1 | 2) =>
    (...requests: number[]) =>
      requests.map((r) => ({ request_id: String(r), part: p }));
  const ahead = part(1);
  const wrapped = part(2);
  const oldest = part(0);
  it('starts the next claim after the last request this one reached, in its wrapping order', () => {
    const cursor = createClaimCursor(() => 0, 0);
    expect(cursor.start()).toBe('0');
    cursor.claimed([]);
    expect(cursor.start()).toBe('0');
    cursor.claimed(ahead(1, 5, 9, 5));
    expect(cursor.start()).toBe('9');
    // reached 21, 25, 29 after the cursor, then 1 and 5 from the start: the next begins after 5
    cursor.claimed([...ahead(21, 29, 25), ...wrapped(1, 5)]);
    expect(cursor.start()).toBe('5');
    // ids beyond 2^53 compare exactly
    cursor.claimed([{ request_id: '9007199254740995', part: 1 }]);
    expect(cursor.start()).toBe('9007199254740995');
    cursor.claimed([{ request_id: '9007199254740993', part: 1 }]);
    expect(cursor.start()).toBe('9007199254740995');
  });
  it('moves forward only: a claim that began before another moved it does not set it back; the oldest behind it leave it', () => {
    const cursor = createClaimCursor(() => 0, 0);
    cursor.claimed(ahead(21, 25));
    cursor.claimed(ahead(18, 22));
    expect(cursor.start()).toBe('25');
    cursor.claimed([...oldest(2), ...ahead(30)]);
    expect(cursor.start()).toBe('30');
    cursor.claimed(oldest(2, 3));
    expect(cursor.start()).toBe('30');
  });
  it('mails given back unsent put it before their first request, unless it already is; not the oldest requests of part 0', () => {
    const cursor = createClaimCursor(() => 0, 0);
    cursor.claimed(ahead(40));
    cursor.released([]);
    expect(cursor.start()).toBe('40');
    cursor.released([...ahead(31, 38), ...wrapped(25)]);
    expect(cursor.start()).toBe('24');
    // already ahead of the cursor: it stays
    cursor.released(ahead(31));
    expect(cursor.start()).toBe('24');
    // part 0's requests come first in every claim anyway: going back to them would start the round over
    cursor.released(oldest(2));
    expect(cursor.start()).toBe('24');
  });
  it('a claim starts from the lowest the cursor stood within the look-back: a request whose POST committed after the claims passed its id is still found', () => {
    let t = 0;
    const cursor = createClaimCursor(() => t, 1_000);
    cursor.claimed(ahead(10));
    t = 100;
    cursor.claimed(ahead(20));
    t = 600;
    cursor.claimed(ahead(30));
    // 10 until t=100, 20 until t=600: within the second after t=100 the claims start at 10 at the latest
    t = 1_050;
    expect(cursor.start()).toBe('10');
    expect(cursor.position).toBe('30');
    t = 1_101;
    expect(cursor.start()).toBe('20');
    t = 1_601;
    expect(cursor.start()).toBe('30');
  });
  it("a loop claims what it sent while its batches' windows run out, and doubles back up once a batch used all it claimed", () => {
    const bounds = { min: 4, max: 50 };
    // 50 claimed, 38 given back: 12 next
    expect(nextClaimSize(50, 50, 38, bounds)).toBe(12);
    // never below the loop's mails in flight
    expect(nextClaimSize(12, 12, 11, bounds)).toBe(4);
    // all used: doubled up to the batch size
    expect(nextClaimSize(12, 12, 0, bounds)).toBe(24);
    expect(nextClaimSize(40, 40, 0, bounds)).toBe(50);
    // fewer due than it could claim: stays
    expect(nextClaimSize(12, 3, 0, bounds)).toBe(12);
    expect(nextClaimSize(50, 0, 0, bounds)).toBe(50);
  });
});

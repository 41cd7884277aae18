import { describe, expect, it } from '@jest/globals';
import { nextAttemptAfterFailure, webhookRetryDelayMs } from '../../src/modules/webhooks/backoff.ts';
import { isNonPublicAddress, webhookUrlProblem } from '../../src/modules/webhooks/webhook-url.ts';

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fd12:3456::1',
    'fc00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '64:ff9b::a9fe:a9fe',
    'not-an-ip',
  ])('%s is refused', (a) => expect(isNonPublicAddress(a)).toBe(true));

  it.each(['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (a) => expect(isNonPublicAddress(a)).toBe(false));
});

describe('webhookUrlProblem', () => {
  it('takes http(s) URLs to public hosts', () => {
    expect(webhookUrlProblem('https://hooks.example.com/x?y=1', false)).toBeUndefined();
    expect(webhookUrlProblem('http://8.8.8.8:8080/', false)).toBeUndefined();
  });
  it('refuses other schemes, credentials and bad URLs, whatever the setting', () => {
    for (const allow of [false, true]) {
      expect(webhookUrlProblem('ftp://example.com/', allow)).toMatch(/http/);
      expect(webhookUrlProblem('file:///etc/passwd', allow)).toMatch(/http/);
      expect(webhookUrlProblem('http://u:p@example.com/', allow)).toMatch(/password/);
      expect(webhookUrlProblem('::', allow)).toMatch(/valid/);
    }
  });
  it('refuses loopback, private and link-local literals and localhost unless allowed', () => {
    for (const u of [
      'http://127.0.0.1/',
      'http://10.0.0.1/',
      'http://169.254.169.254/',
      'http://[::1]/',
      'http://localhost/',
      'http://a.localhost/',
      'http://[fd00::1]/',
    ]) {
      expect(webhookUrlProblem(u, false)).toMatch(/WEBHOOK_ALLOW_PRIVATE/);
      expect(webhookUrlProblem(u, true)).toBeUndefined();
    }
  });
});

describe('webhook retries', () => {
  it('back off exponentially, at most 6 h apart', () => {
    expect([1, 2, 3, 4].map((n) => webhookRetryDelayMs(n, 30_000))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(webhookRetryDelayMs(30, 30_000)).toBe(6 * 3600_000);
  });
  it('with the defaults, go on for at least 24 h after the event, then give up', () => {
    const policy = { baseMs: 30_000, windowMs: 86_400_000 };
    const eventAt = new Date('2026-12-04T00:00:00Z');
    let now = eventAt;
    let attempts = 0;
    for (;;) {
      attempts++;
      const next = nextAttemptAfterFailure(attempts, eventAt, now, policy);
      if (!next) break;
      now = next;
    }
    expect(now.getTime() - eventAt.getTime()).toBeGreaterThanOrEqual(86_400_000);
    expect(attempts).toBeGreaterThan(10);
    expect(attempts).toBeLessThan(20);
  });
});

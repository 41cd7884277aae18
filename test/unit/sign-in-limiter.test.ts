// The console's failed-sign-in limiter (src/modules/console/console.router.ts): per client
// address, an IPv6 client counted by its /64 (one subscriber's network), and cheap to keep with
// many addresses.
import { describe, expect, it } from '@jest/globals';
import { createFailureCounter, signInBucket } from '../../src/modules/console/console.router.ts';

describe('signInBucket', () => {
  it('an IPv4 address is its own bucket', () => {
    expect(signInBucket('203.0.113.9')).toBe('203.0.113.9');
    expect(signInBucket('203.0.113.10')).not.toBe(signInBucket('203.0.113.9'));
  });

  it('IPv6 addresses of one /64 share a bucket, however they are written', () => {
    const bucket = signInBucket('2001:db8:1:2::1');
    for (const ip of [
      '2001:db8:1:2::ffff',
      '2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd',
      '2001:DB8:1:2:0:0:0:9',
      '2001:db8:1:2::1.2.3.4',
      'fe80::1%eth0'.replace('fe80::', '2001:db8:1:2::'),
    ]) {
      expect(signInBucket(ip)).toBe(bucket);
    }
    expect(signInBucket('2001:db8:1:3::1')).not.toBe(bucket);
    expect(signInBucket('::1')).toBe(signInBucket('::2'));
    expect(signInBucket('2001:db8::')).toBe(signInBucket('2001:db8:0:0:1::'));
  });
});

describe('createFailureCounter', () => {
  it('many addresses failing at once stay cheap to count (no scan of every address at each failure)', () => {
    const failures = createFailureCounter(10, 1 / 6);
    const started = performance.now();
    for (let i = 0; i < 25_000; i++) failures.fail(`198.18.${i >> 8}.${i & 255}`, 1_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    // the latest are still counted
    for (let i = 0; i < 10; i++) failures.fail('203.0.113.1', 1_000);
    expect(failures.wait('203.0.113.1', 1_000)).toBeGreaterThan(0);
    expect(failures.wait('198.18.97.167', 1_000)).toBe(0);
  });
});

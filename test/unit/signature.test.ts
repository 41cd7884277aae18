import { describe, it, expect } from '@jest/globals';
import crypto from 'node:crypto';
import { signRequest, verifySignature, MAX_SKEW_MS } from '../../src/http/signature.ts';

const SECRET = 'Zr5Xq9Wk3cVbN7mL2pRt8YsHu4JdGf6EaC1oKiUe';
const ACCESS = 'Ax7Bq2Lm9Np4Rs6Tu8Vw';
const TS = '1700000000000';
const NOW = Number(TS);
const TARGET = '/api/v1/mails?pageSize=10&title=%ED%95%9C';

/** Independent reference: NCP API Gateway v2, written out by hand. */
const reference = (secret: string, method: string, target: string, timestamp: string, accessKey: string) => {
  const message = method + ' ' + target + '\n' + timestamp + '\n' + accessKey;
  return crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(message, 'utf8')).digest().toString('base64');
};

const check = (over: Partial<Parameters<typeof verifySignature>[0]> = {}) =>
  verifySignature({
    secret: SECRET,
    method: 'POST',
    target: TARGET,
    timestamp: TS,
    accessKey: ACCESS,
    signature: reference(SECRET, 'POST', TARGET, TS, ACCESS),
    now: NOW,
    ...over,
  });

describe('signRequest', () => {
  type Row = [method: string, target: string];
  const rows: Row[] = [
    ['GET', '/api/v1/mails/requests/20181120000000000001/status'],
    ['POST', '/api/v1/mails'],
    ['GET', TARGET],
    ['DELETE', '/api/v1/mails/reservations/2018?x=1&y=%20'],
  ];
  it.each(rows)('%s %s matches an independent HMAC-SHA256/base64', (method, target) => {
    expect(signRequest(SECRET, method, target, TS, ACCESS)).toBe(reference(SECRET, method, target, TS, ACCESS));
  });

  it('gives a 44-char base64 string (32-byte digest)', () => {
    const sig = signRequest(SECRET, 'GET', '/', TS, ACCESS);
    expect(sig).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('upper-cases the method before signing', () => {
    expect(signRequest(SECRET, 'get', '/x', TS, ACCESS)).toBe(reference(SECRET, 'GET', '/x', TS, ACCESS));
  });

  it('signs the target exactly as sent (no decoding)', () => {
    expect(signRequest(SECRET, 'GET', '/a?b=%20', TS, ACCESS)).not.toBe(signRequest(SECRET, 'GET', '/a?b= ', TS, ACCESS));
  });

  it('depends on every input', () => {
    const s = signRequest(SECRET, 'GET', '/x', TS, ACCESS);
    expect(signRequest(SECRET + 'x', 'GET', '/x', TS, ACCESS)).not.toBe(s);
    expect(signRequest(SECRET, 'POST', '/x', TS, ACCESS)).not.toBe(s);
    expect(signRequest(SECRET, 'GET', '/y', TS, ACCESS)).not.toBe(s);
    expect(signRequest(SECRET, 'GET', '/x', '1700000000001', ACCESS)).not.toBe(s);
    expect(signRequest(SECRET, 'GET', '/x', TS, ACCESS + 'x')).not.toBe(s);
  });

  // Vectors pinned from `printf '<message>' | openssl dgst -sha256 -hmac <secret> -binary | base64`.
  it.each([
    ['key', 'GET', '/', '0', 'ak', 'ynsW1alImgfOpMoPc7QsnXo15mJHd6V9teub7UQZ+LE='],
    ['secretkeyexample', 'POST', '/api/v1/mails', '1505290625682', 'NC3CNXYZTFXFQ9DWWXYZ', 'spqQ47qT411jZnq49DT0vykZjEhdfWrqkiTV0e5DLmk='],
  ])('openssl vector: secret %j, %s %s', (secret, method, target, timestamp, accessKey, expected) => {
    expect(signRequest(secret, method, target, timestamp, accessKey)).toBe(expected);
  });
});

describe('verifySignature', () => {
  it('accepts a correct signature', () => {
    expect(check()).toBe('ok');
  });

  type Skew = [name: string, now: number, expected: 'ok' | 'skew'];
  const skews: Skew[] = [
    ['same instant', NOW, 'ok'],
    ['4m59s later', NOW + 4 * 60_000 + 59_000, 'ok'],
    ['4m59.999s later', NOW + MAX_SKEW_MS - 1, 'ok'],
    ['exactly 5 min later (rejected: >=)', NOW + MAX_SKEW_MS, 'skew'],
    ['5 min + 1 ms later', NOW + MAX_SKEW_MS + 1, 'skew'],
    ['4m59s earlier (client clock ahead)', NOW - (4 * 60_000 + 59_000), 'ok'],
    ['exactly 5 min earlier', NOW - MAX_SKEW_MS, 'skew'],
    ['an hour later', NOW + 3_600_000, 'skew'],
  ];
  it.each(skews)('%s → %s', (_name, now, expected) => {
    expect(MAX_SKEW_MS).toBe(300_000);
    expect(check({ now })).toBe(expected);
  });

  it.each(['', 'abc', '17000000000e3', '-1700000000000', '1700000000000.5', ' 1700000000000', '12345678901234567'])(
    'non-numeric or overlong timestamp %j → skew',
    (timestamp) => {
      expect(check({ timestamp, signature: reference(SECRET, 'POST', TARGET, timestamp, ACCESS) })).toBe('skew');
    },
  );

  it('skew is checked before the signature (a bad signature out of window is skew)', () => {
    expect(check({ signature: 'nope', now: NOW + MAX_SKEW_MS })).toBe('skew');
  });

  type Bad = [name: string, signature: string];
  const good = reference(SECRET, 'POST', TARGET, TS, ACCESS);
  const flipped = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
  const bad: Bad[] = [
    ['empty', ''],
    ['too short', good.slice(0, -1)],
    ['too long', good + '='],
    ['same length, one char different', flipped],
    ['hex digest instead of base64', crypto.createHmac('sha256', SECRET).update(`POST ${TARGET}\n${TS}\n${ACCESS}`).digest('hex')],
    ['multi-byte chars of the same JS length', '가'.repeat(good.length)],
  ];
  it.each(bad)('%s → mismatch', (_name, signature) => {
    expect(check({ signature })).toBe('mismatch');
  });

  it.each(['post', 'Post', 'POST'])('method %s verifies against the upper-case signature', (method) => {
    expect(check({ method })).toBe('ok');
  });

  it('a different method is a mismatch', () => {
    expect(check({ method: 'GET' })).toBe('mismatch');
  });

  it('wrong secret / access key / target → mismatch', () => {
    expect(check({ secret: SECRET + 'x' })).toBe('mismatch');
    expect(check({ accessKey: 'other' })).toBe('mismatch');
    expect(check({ target: '/api/v1/mails?pageSize=11&title=%ED%95%9C' })).toBe('mismatch');
  });
});

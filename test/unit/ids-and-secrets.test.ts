import { describe, it, expect } from '@jest/globals';
import crypto from 'node:crypto';
import { formatNumericId, parseNumericId } from '../../src/shared/ids.ts';
import { createSecretBox, parseMasterKey } from '../../src/shared/secret-box.ts';

describe('formatNumericId / parseNumericId', () => {
  type Row = [day: number, seq: bigint | string | number, id: string];
  const rows: Row[] = [
    [20181120, 1n, '20181120000000000001'],
    [20181120, 0n, '20181120000000000000'],
    [20181120, 123456789012n, '20181120123456789012'],
    [20251231, 42, '20251231000000000042'],
    [20251231, '7', '20251231000000000007'],
    [19991231, 999_999_999_999n, '19991231999999999999'],
  ];

  it.each(rows)('day %i seq %s ↔ %s', (day, seq, id) => {
    expect(formatNumericId(day, seq)).toBe(id);
    expect(parseNumericId(id)).toEqual({ day, seq: BigInt(seq) });
  });

  it('round-trips', () => {
    for (const seq of [1n, 10n, 99_999n, 100_000_000_000n]) {
      const id = formatNumericId(20260101, seq);
      expect(id).toHaveLength(20);
      expect(parseNumericId(id)).toEqual({ day: 20260101, seq });
    }
  });

  it('seq is a bigint (12 digits exceed no int, but keep the type)', () => {
    expect(typeof parseNumericId('20181120000000000001')!.seq).toBe('bigint');
  });

  const malformed: string[] = [
    '',
    '2018112000000000001', // 19 digits
    '201811200000000000001', // 21 digits
    '2018112000000000000a',
    ' 20181120000000000001',
    '20181120000000000001 ',
    '20181120000000000001\n',
    '-2018112000000000001',
    '+2018112000000000001',
    '2018-11-20-000000001',
    '２０１８１１２０００００００００００００１', // full-width digits
    '1e19',
    '20181120 00000000001',
  ];
  it.each(malformed)('%j → undefined', (id) => {
    expect(parseNumericId(id)).toBeUndefined();
  });
});

describe('secret box', () => {
  const key = crypto.randomBytes(32);
  const box = createSecretBox(key);

  it.each(['s3cr3t', 'Zr5Xq9Wk3cVbN7mL2pRt8YsHu4JdGf6EaC1oKiUe', '비밀 키 🔑', 'a:b:c', 'x'.repeat(10_000)])('seal/open round trip %#', (plain) => {
    const sealed = box.seal(plain);
    expect(sealed).not.toContain(plain);
    expect(sealed.startsWith('v1:')).toBe(true);
    expect(box.open(sealed)).toBe(plain);
  });

  it('the empty string round-trips', () => {
    expect(box.open(box.seal(''))).toBe('');
  });

  it('sealing twice gives different texts (random IV)', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    expect(box.open(a)).toBe('same');
    expect(box.open(b)).toBe('same');
  });

  it('has the format v1:iv:tag:ciphertext with a 12-byte IV and 16-byte tag', () => {
    const [v, iv, tag, enc] = box.seal('hello').split(':');
    expect(v).toBe('v1');
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(Buffer.from(enc!, 'base64')).toHaveLength(5);
  });

  const tamper = (sealed: string, index: number) => {
    const parts = sealed.split(':');
    const buf = Buffer.from(parts[index]!, 'base64');
    buf[0] = buf[0]! ^ 0x01;
    parts[index] = buf.toString('base64');
    return parts.join(':');
  };

  it.each([
    ['ciphertext', 3],
    ['auth tag', 2],
    ['IV', 1],
  ] as [string, number][])('tampered %s throws', (_name, index) => {
    const sealed = box.seal('secret value');
    expect(() => box.open(tamper(sealed, index))).toThrow();
  });

  it('a wrong key throws', () => {
    const sealed = box.seal('secret value');
    expect(() => createSecretBox(crypto.randomBytes(32)).open(sealed)).toThrow();
  });

  it('the same key in another box opens it', () => {
    expect(createSecretBox(Buffer.from(key)).open(box.seal('shared'))).toBe('shared');
  });

  it.each(['', 'plain', 'v2:a:b:c', 'v1:a:b', 'v1::b:c', 'v1:a::c'])('malformed sealed text %j throws', (sealed) => {
    expect(() => box.open(sealed)).toThrow();
  });

  it.each([0, 16, 31, 33, 64])('a %i-byte key is refused', (n) => {
    expect(() => createSecretBox(Buffer.alloc(n))).toThrow(/32 bytes/);
  });
});

describe('parseMasterKey', () => {
  const raw = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1));

  it('reads 64 hex digits', () => {
    expect(parseMasterKey(raw.toString('hex')).equals(raw)).toBe(true);
  });

  it('reads upper-case hex', () => {
    expect(parseMasterKey(raw.toString('hex').toUpperCase()).equals(raw)).toBe(true);
  });

  it('reads base64 of 32 bytes', () => {
    expect(parseMasterKey(raw.toString('base64')).equals(raw)).toBe(true);
  });

  it('reads base64 without padding', () => {
    expect(parseMasterKey(raw.toString('base64').replace(/=+$/, '')).equals(raw)).toBe(true);
  });

  it('trims surrounding whitespace (as read from a file)', () => {
    expect(parseMasterKey(`  ${raw.toString('hex')}\n`).equals(raw)).toBe(true);
    expect(parseMasterKey(`${raw.toString('base64')}\n`).equals(raw)).toBe(true);
  });

  it('64 hex digits are hex, not base64 (which would be 48 bytes)', () => {
    const hex = 'ab'.repeat(32);
    expect(parseMasterKey(hex)).toEqual(Buffer.alloc(32, 0xab));
  });

  it.each([
    ['empty', ''],
    ['62 hex digits', 'ab'.repeat(31)],
    ['66 hex digits', 'ab'.repeat(33)],
    ['base64 of 16 bytes', Buffer.alloc(16, 1).toString('base64')],
    ['base64 of 33 bytes', Buffer.alloc(33, 1).toString('base64')],
    ['a pass phrase', 'correct horse battery staple'],
  ])('%s → throws', (_name, text) => {
    expect(() => parseMasterKey(text)).toThrow(/MASTER_KEY must be 32 bytes/);
  });

  it('a parsed key works in a secret box', () => {
    const b = createSecretBox(parseMasterKey(raw.toString('hex')));
    expect(b.open(b.seal('x'))).toBe('x');
  });
});

import { describe, expect, it } from '@jest/globals';
import MimeNode from 'nodemailer/lib/mime-node';
import { isPlainAddress } from '../../src/modules/delivery/plain-address.ts';

/** What nodemailer's sendMail makes of an envelope address (MimeNode.setEnvelope, as its composer does). */
function normalised(address: string): { from: string | false; to: string[] } {
  return new MimeNode().setEnvelope({ from: address, to: [address] }).getEnvelope() as { from: string | false; to: string[] };
}

describe('isPlainAddress: the addresses composed source may take to the pool as they are', () => {
  it('accepts only addresses nodemailer would send unchanged', () => {
    const plain = [
      'user@example.com',
      'first.last+tag@mail.example.co.jp',
      "o'brien@example.org",
      'x!#$%&*/=?^_`{|}~-@a-b.example',
      'UPPER.local@example.com',
      '1234@123.example',
    ];
    for (const address of plain) {
      expect(isPlainAddress(address)).toBe(true);
      expect(normalised(address)).toEqual({ from: address, to: [address] });
    }
  });

  it('leaves to nodemailer what it would change or refuse', () => {
    const changed = [
      'user@Example.COM', // domain lower-cased
      'user@jõgeva.ee', // punycoded
      'ユーザー@example.jp', // SMTPUTF8
      'a..b@example.com', // quoted
      '.a@example.com',
      '"quoted"@example.com',
      'user@0x7f.0.0.1', // a numeric last label is an IPv4 address to the URL parser
      'user@example.123',
      'user@[127.0.0.1]',
      'user@xn--jgeva-dua.ee',
      'user',
      'user@localhost',
      'a b@example.com',
      'user@example.com ',
      'user@-example.com',
      'user<x>@example.com',
    ];
    for (const address of changed) expect([address, isPlainAddress(address)]).toEqual([address, false]);
    // the first few are changed by nodemailer indeed: this list is not only what we chose to refuse
    expect(normalised('user@Example.COM').to).toEqual(['user@example.com']);
    expect(normalised('user@jõgeva.ee').to).toEqual(['user@xn--jgeva-dua.ee']);
    expect(normalised('a..b@example.com').to).toEqual(['"a..b"@example.com']);
  });

  it('agrees with nodemailer on random addresses: every one it accepts comes out of nodemailer unchanged', () => {
    // a seeded generator: the same addresses every run
    let seed = 20261206;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = (chars: string, min: number, max: number) =>
      Array.from({ length: min + Math.floor(next() * (max - min + 1)) }, () => chars[Math.floor(next() * chars.length)]).join('');
    const localChars = 'abcXYZ019.!#$%&\'*+/=?^_`{|}~-"() ,:;<>@[\\]é';
    const domainChars = 'abcxyzABC019.-_é[]:';
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const address = `${pick(localChars, 0, 8)}@${pick(domainChars, 0, 12)}${next() < 0.5 ? '.com' : ''}`;
      if (!isPlainAddress(address)) continue;
      accepted++;
      expect([address, normalised(address)]).toEqual([address, { from: address, to: [address] }]);
    }
    // the generator reaches both sides
    expect(accepted).toBeGreaterThan(200);
    expect(accepted).toBeLessThan(19_000);
  });
});

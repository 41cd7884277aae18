import { describe, expect, it } from '@jest/globals';
import { deriveVerpKey, openVerpAddress, verpAddress } from '../../src/modules/feedback/verp.ts';

const key = deriveVerpKey(Buffer.alloc(32, 1));
const domain = 'bounces.example.test';

describe('VERP return paths', () => {
  it('round-trips a recipient id, whatever the case the MTA gives back', () => {
    for (const id of ['1', '42', '9007199254740993', (2n ** 63n - 1n).toString()]) {
      const address = verpAddress(key, domain, id);
      expect(address).toMatch(/^b-[0-9a-z]{1,13}-[a-z2-7]{16}@bounces\.example\.test$/);
      expect(address.split('@')[0]!.length).toBeLessThanOrEqual(64);
      expect(openVerpAddress(key, domain, address)).toEqual({ ok: true, recipientId: id });
      expect(openVerpAddress(key, domain, address.toUpperCase().replace('@BOUNCES.EXAMPLE.TEST', '@Bounces.Example.Test'))).toEqual({
        ok: true,
        recipientId: id,
      });
    }
  });

  it('refuses an edited id, an edited tag, another key, another domain and what is no VERP address', () => {
    const address = verpAddress(key, domain, '12345');
    const [local] = address.split('@') as [string];
    const [, id, tag] = local.split('-') as [string, string, string];
    expect(openVerpAddress(key, domain, `b-${(Number.parseInt(id, 36) + 1).toString(36)}-${tag}@${domain}`)).toEqual({ ok: false, reason: 'forged' });
    expect(openVerpAddress(key, domain, `b-${id}-${tag.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}@${domain}`)).toEqual({ ok: false, reason: 'forged' });
    expect(openVerpAddress(deriveVerpKey(Buffer.alloc(32, 2)), domain, address)).toEqual({ ok: false, reason: 'forged' });
    expect(openVerpAddress(key, 'other.example', address)).toEqual({ ok: false, reason: 'other-domain' });
    for (const bad of [
      `postmaster@${domain}`,
      `b--${tag}@${domain}`,
      `b-0-${tag}@${domain}`,
      `b-zzzzzzzzzzzzzz-${tag}@${domain}`,
      'no-at-sign',
      `@${domain}`,
    ]) {
      expect(openVerpAddress(key, domain, bad).ok).toBe(false);
    }
  });

  it('refuses a zero-padded id: one recipient has one return path, or a report could name it twice', () => {
    const address = verpAddress(key, domain, '12345');
    const [local] = address.split('@') as [string];
    const [, id, tag] = local.split('-') as [string, string, string];
    for (const padded of [`b-0${id}-${tag}@${domain}`, `b-${id.padStart(13, '0')}-${tag}@${domain}`]) {
      expect(openVerpAddress(key, domain, padded)).toEqual({ ok: false, reason: 'forged' });
    }
  });

  it('never makes an address for an id outside a bigint', () => {
    expect(() => verpAddress(key, domain, '0')).toThrow(/out of range/);
    expect(() => verpAddress(key, domain, (2n ** 63n).toString())).toThrow(/out of range/);
  });
});

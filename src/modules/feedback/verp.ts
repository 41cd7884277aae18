import crypto from 'node:crypto';

/**
 * VERP return paths (variable envelope return path): a mail's envelope sender names its
 * recipient, so a bounce that comes back says whose it is without parsing anything else.
 *
 *   b-<recipient id, base 36>-<tag>@BOUNCE_DOMAIN
 *
 * The tag is an HMAC-SHA256 of the id under a key derived from the master key, 80 bits in
 * lower-case base 32: a bounce for an address we never sent from, or with an edited id, fails
 * the check and is refused, never applied. Lower case only, because some MTAs lower-case local
 * parts; 35 characters at most, far below the 64 a local part may have.
 */
const TAG_BYTES = 10;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const LOCAL_PART = /^b-([0-9a-z]{1,13})-([a-z2-7]{16})$/;
const MAX_ID = 2n ** 63n - 1n;

export function deriveVerpKey(masterKey: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), 'outbound-mailer verp v1', 32));
}

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function tagOf(key: Buffer, id: bigint): string {
  return base32(crypto.createHmac('sha256', key).update(`r:${id}`).digest().subarray(0, TAG_BYTES));
}

/** The return path of a mail to recipient `recipientId`. */
export function verpAddress(key: Buffer, domain: string, recipientId: string): string {
  const id = BigInt(recipientId);
  if (id < 1n || id > MAX_ID) throw new Error('verp: recipient id out of range');
  return `b-${id.toString(36)}-${tagOf(key, id)}@${domain}`;
}

export type VerpCheck = { ok: true; recipientId: string } | { ok: false; reason: 'other-domain' | 'not-verp' | 'forged' };

/** Whose return path `address` is, if it is one of ours with a valid tag (case-insensitive). */
export function openVerpAddress(key: Buffer, domain: string, address: string): VerpCheck {
  const at = address.lastIndexOf('@');
  if (at < 0 || address.slice(at + 1).toLowerCase() !== domain) return { ok: false, reason: 'other-domain' };
  const m = LOCAL_PART.exec(address.slice(0, at).toLowerCase());
  if (!m) return { ok: false, reason: 'not-verp' };
  let id = 0n;
  for (const c of m[1]!) id = id * 36n + BigInt(Number.parseInt(c, 36));
  // One recipient has one return path: a zero-padded id ("b-01-...") is not it, though its tag checks.
  if (id < 1n || id > MAX_ID || id.toString(36) !== m[1]) return { ok: false, reason: 'forged' };
  const expected = Buffer.from(tagOf(key, id));
  const given = Buffer.from(m[2]!);
  return crypto.timingSafeEqual(expected, given) ? { ok: true, recipientId: id.toString() } : { ok: false, reason: 'forged' };
}

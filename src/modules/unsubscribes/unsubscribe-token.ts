import crypto from 'node:crypto';

/**
 * Unsubscribe links carry an opaque token per recipient: the project id, the recipient id and the
 * address, sealed with AES-256-GCM under a key derived from the master key, base64url. The
 * token is self-contained, so a link keeps working after its recipient row is purged
 * (RETENTION_DAYS); GCM's tag means it can't be guessed, edited into another recipient's,
 * project's or address's, or read (the address is not visible in the URL). The IV is an HMAC
 * of the contents (synthetic IV): one recipient always gets the same token, and a nonce repeats
 * only with the very same plaintext. Tokens never expire. Never log a token.
 */
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_ID = 2n ** 63n - 1n;

export interface UnsubscribeTokenClaims {
  projectId: string;
  recipientId: string;
  address: string;
}

/** 64 bytes derived from the master key (HKDF): an encryption key and an IV key, never the master key itself. */
export function deriveUnsubscribeKey(masterKey: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), 'outbound-mailer unsubscribe-token v1', 64));
}

function toId(id: string): bigint {
  if (!/^\d{1,19}$/.test(id)) throw new Error('unsubscribe token: ids must be positive integers');
  const n = BigInt(id);
  if (n < 1n || n > MAX_ID) throw new Error('unsubscribe token: id out of range');
  return n;
}

export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeTokenClaims): string {
  const plain = Buffer.alloc(16 + Buffer.byteLength(claims.address));
  plain.writeBigUInt64BE(toId(claims.projectId), 0);
  plain.writeBigUInt64BE(toId(claims.recipientId), 8);
  plain.write(claims.address, 16, 'utf8');
  const iv = crypto.createHmac('sha256', key.subarray(32)).update(plain).digest().subarray(0, IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key.subarray(0, 32), iv);
  cipher.setAAD(Buffer.from([VERSION]));
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, sealed, cipher.getAuthTag()]).toString('base64url');
}

/** What a token says, or null for anything we did not issue (malformed, forged, edited, another key). */
export function openUnsubscribeToken(key: Buffer, token: string): UnsubscribeTokenClaims | null {
  // 1 + 12 + 16 + 16 + 3 bytes at the least (ids and an address of at least 3 bytes).
  if (typeof token !== 'string' || token.length < 64 || token.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const buf = Buffer.from(token, 'base64url');
  // Only the canonical encoding: another spelling of the same bytes is not the token we issued.
  if (buf.toString('base64url') !== token || buf[0] !== VERSION) return null;
  const iv = buf.subarray(1, 1 + IV_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const sealed = buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES);
  if (sealed.length < 16 + 3) return null;
  let plain: Buffer;
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key.subarray(0, 32), iv);
    decipher.setAAD(Buffer.from([VERSION]));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(sealed), decipher.final()]);
  } catch {
    return null;
  }
  const projectId = plain.readBigUInt64BE(0);
  const recipientId = plain.readBigUInt64BE(8);
  if (projectId < 1n || recipientId < 1n || projectId > MAX_ID || recipientId > MAX_ID) return null;
  return { projectId: String(projectId), recipientId: String(recipientId), address: plain.subarray(16).toString('utf8') };
}

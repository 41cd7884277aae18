import crypto from 'node:crypto';
import { promisify } from 'node:util';

export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

const generateKeyPair = promisify(crypto.generateKeyPair);

export interface DkimKeyPair {
  /** the p= value of the DNS record: base64 SubjectPublicKeyInfo (RSA) or the raw 32-byte key (Ed25519, RFC 8463) */
  publicKey: string;
  /** PKCS#8 PEM: what is sealed at rest */
  privateKeyPem: string;
}

/** A new key: RSA 2048 (generated off the event loop) or Ed25519. */
export async function generateDkimKey(algorithm: DkimAlgorithm): Promise<DkimKeyPair> {
  const pair =
    algorithm === 'rsa-sha256'
      ? await generateKeyPair('rsa', {
          modulusLength: 2048,
          publicKeyEncoding: { type: 'spki', format: 'der' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        })
      : await generateKeyPair('ed25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const der = pair.publicKey as unknown as Buffer;
  // An Ed25519 SPKI is a 12-byte prefix and the 32-byte key; DKIM publishes the key alone.
  const publicKey = (algorithm === 'rsa-sha256' ? der : der.subarray(der.length - 32)).toString('base64');
  return { publicKey, privateKeyPem: pair.privateKey as unknown as string };
}

/** The TXT record that publishes a key: `v=DKIM1; k=rsa; p=…` (one string; resolvers join split strings). */
export function dkimRecordValue(algorithm: string, publicKey: string): string {
  return `v=DKIM1; k=${algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa'}; p=${publicKey}`;
}

/** Whether one of the TXT records found at the selector's name publishes `publicKey` (whitespace inside p= ignored). */
export function recordPublishes(records: string[], publicKey: string): boolean {
  return records.some((record) => {
    const tags = new Map<string, string>();
    for (const part of record.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
    }
    if (tags.has('v') && tags.get('v') !== 'DKIM1') return false;
    return tags.get('p') === publicKey;
  });
}

/** A selector not yet used by the domain: `om` and the time in base 36, so a re-created domain never reuses an old name. */
export function nextSelector(existing: string[], now: Date): string {
  const base = 'om' + Math.floor(now.getTime() / 1000).toString(36);
  let selector = base;
  for (let i = 2; existing.includes(selector); i++) selector = `${base}${i}`;
  return selector;
}

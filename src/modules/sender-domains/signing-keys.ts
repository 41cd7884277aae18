import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { AppDeps } from '../../deps.ts';
import { signingKeysForRequests } from './sender-domains.read-model.ts';

export interface SigningKey {
  domainName: string;
  keySelector: string;
  algorithm: string;
  /** parsed once per key: signing with the PEM would parse it again for every mail (0.1-0.3 ms of RSA 2048) */
  privateKey: KeyObject;
}

const KEY_TTL_MS = 10 * 60_000;

/**
 * For delivery: the signing key of each request whose sender domain is verified for its
 * project, looked up once per request (with its context, in one query for the requests a claim
 * loads) and decrypted and parsed once per key for a few minutes, never per mail.
 */
export function createSigningKeys(deps: Pick<AppDeps, 'db' | 'box'>) {
  const opened = new Map<string, { key: KeyObject; until: number }>();

  function open(keyId: string, sealed: string): KeyObject {
    const now = Date.now();
    const hit = opened.get(keyId);
    if (hit && hit.until > now) return hit.key;
    const key = createPrivateKey(deps.box.open(sealed));
    opened.set(keyId, { key, until: now + KEY_TTL_MS });
    while (opened.size > 1_000) opened.delete(opened.keys().next().value!);
    return key;
  }

  return async function signingKeysFor(requestIds: string[]): Promise<Map<string, SigningKey>> {
    const rows = await signingKeysForRequests(deps.db, requestIds);
    return new Map(
      rows.map((r) => [
        String(r.request_id),
        { domainName: r.domain, keySelector: r.selector, algorithm: r.algorithm, privateKey: open(String(r.key_id), r.sealed_private_key) },
      ]),
    );
  };
}

import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { AppDeps } from '../../deps.ts';
import type { SigningKeyColumns } from './sender-domains.read-model.ts';

export interface SigningKey {
  domainName: string;
  keySelector: string;
  algorithm: string;
  /** parsed once per key: signing with the PEM would parse it again for every mail (0.1-0.3 ms of RSA 2048) */
  privateKey: KeyObject;
}

const KEY_TTL_MS = 10 * 60_000;

/**
 * For delivery: a request's signing key from the columns `signingKeyJoin` loads with the request
 * (its context's one query), decrypted and parsed once per key for a few minutes, never per mail.
 */
export function createSigningKeys(deps: Pick<AppDeps, 'box'>) {
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

  return function signingKeyOf(row: SigningKeyColumns): SigningKey | null {
    if (row.dkim_key_id === null || row.dkim_sealed_private_key === null) return null;
    return {
      domainName: row.dkim_domain!,
      keySelector: row.dkim_selector!,
      algorithm: row.dkim_algorithm!,
      privateKey: open(String(row.dkim_key_id), row.dkim_sealed_private_key),
    };
  };
}

import type { components } from '../../generated/api.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { senderDomainStatusLabel, type Lang } from '../../shared/i18n.ts';
import { type DkimAlgorithm, dkimRecordValue } from './dkim-key.ts';
import type { DomainRow, KeyRow } from './sender-domains.read-model.ts';

export type SenderDomain = components['schemas']['SenderDomain'];

export const SPF_HINT = 'v=spf1 mx ~all';
export const DMARC_SUGGESTION = 'v=DMARC1; p=none; adkim=r; aspf=r';

/** The key that signs: the newest verified one (undefined: mail from the domain is not signed). */
export function signingKey<K extends Pick<KeyRow, 'status'>>(keys: K[]): K | undefined {
  return keys.findLast((k) => k.status === 'V');
}

/**
 * The domain as the API shows it. `dkim` is the newest key (the record to publish now: after a
 * rotation, the next selector's); `status` is V while some key signs, else the newest key's (P
 * before the first check, F when it was not found).
 */
export function toSenderDomain(d: DomainRow, keys: KeyRow[], view: { lang: Lang; timeZone: string }): SenderDomain {
  const newest = keys[keys.length - 1]!;
  const signing = signingKey(keys);
  const status = signing ? 'V' : newest.status;
  const key = (k: KeyRow) => ({
    selector: k.selector,
    algorithm: k.algorithm as DkimAlgorithm,
    dnsName: `${k.selector}._domainkey.${d.domain}`,
    dnsValue: dkimRecordValue(k.algorithm, k.public_key),
  });
  return {
    domain: d.domain,
    status: senderDomainStatusLabel(status, view.lang),
    dkim: key(newest),
    spf: { dnsName: d.domain, dnsValue: SPF_HINT, found: d.spf_found },
    dmarc: { dnsName: `_dmarc.${d.domain}`, dnsValue: DMARC_SUGGESTION, found: d.dmarc_found },
    dkimKeys: keys.map((k) => ({
      ...key(k),
      status: senderDomainStatusLabel(k.status, view.lang),
      signing: k === signing,
      createDate: toNesDateTime(k.created_at, view.timeZone)!,
    })),
    createDate: toNesDateTime(d.created_at, view.timeZone)!,
    checkDate: toNesDateTime(d.checked_at, view.timeZone) ?? null,
  };
}

import { domainToASCII } from 'node:url';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The stored form of a domain: lower-case ASCII (punycode), no trailing dot; undefined when it is
 * not a host name of at least two labels (a bare TLD would block a whole registry).
 */
export function normaliseDomain(raw: string): string | undefined {
  const text = raw.trim().replace(/\.$/, '');
  if (text === '' || text.length > 253) return undefined;
  const ascii = domainToASCII(text).toLowerCase();
  if (ascii === '' || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l)) ? ascii : undefined;
}

import { Resolver } from 'node:dns/promises';

/** TXT lookups for sender-domain checks, through DNS_SERVERS when set (else the system's resolvers). */
export interface TxtLookup {
  /** each record's strings joined; [] when the name has none (or does not exist) */
  txt(name: string): Promise<string[]>;
}

const ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

export function createTxtLookup(dnsServers: string[] | undefined): TxtLookup {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (dnsServers) resolver.setServers(dnsServers);
  return {
    async txt(name) {
      try {
        return (await resolver.resolveTxt(name)).map((parts) => parts.join(''));
      } catch (err) {
        if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
        throw err;
      }
    },
  };
}

import { isIP } from 'node:net';
import { isNonPublicAddress } from '../webhooks/webhook-url.ts';
import { Resolver } from 'node:dns/promises';
import { type DeliveryError, dnsTemporaryFailure, isAbsent, isNullMx, type MxRecord, noSuchDomain, orderMxHosts } from './mx-routing.ts';

/** Where a domain's mail goes: its hosts in the order to try them, each with its addresses (IPv4 first). */
export type MailRoute = { ok: true; hosts: { name: string; addresses: string[] }[] } | { ok: false; error: DeliveryError };

export interface MxResolverOptions {
  /** DNS_SERVERS; undefined: the system's resolvers */
  servers: string[] | undefined;
  /** deliver to loopback, private and link-local addresses too (DIRECT_ALLOW_PRIVATE; tests) */
  allowPrivate?: boolean;
  /** how long an answer is kept (a temporary failure never is) */
  cacheTtlMs?: number;
  now?: () => number;
  random?: () => number;
}

type MxAnswer = { kind: 'records'; records: MxRecord[] } | { kind: 'nodata' } | { kind: 'nxdomain' } | { kind: 'failed'; detail: string };
type AddressAnswer = { addresses: string[]; failed?: string };

/**
 * Resolves recipient domains to mail routes (RFC 5321 §5.1): MX hosts by preference, the domain's
 * own A/AAAA when it has no MX, none for a null MX (RFC 7505) or a domain that does not exist.
 * Answers are cached for a few minutes and lookups in flight are shared, so a burst of mails to one
 * domain asks once; SERVFAIL and time-outs are not cached, so the next attempt asks again.
 */
export function createMxResolver(opts: MxResolverOptions) {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (opts.servers) resolver.setServers(opts.servers);
  const ttl = opts.cacheTtlMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; value: Promise<unknown> }>();

  /** The cached answer for key, or a new lookup (shared while it runs; dropped if `keep` says no). */
  function cached<T>(key: string, lookup: () => Promise<T>, keep: (v: T) => boolean): Promise<T> {
    const hit = cache.get(key);
    if (hit && now() - hit.at < ttl) return hit.value as Promise<T>;
    const value = lookup().then((v) => {
      if (!keep(v) && cache.get(key)?.value === value) cache.delete(key);
      return v;
    });
    cache.set(key, { at: now(), value });
    if (cache.size > 10_000) sweep();
    return value;
  }

  function sweep(): void {
    const t = now();
    for (const [k, v] of cache) if (t - v.at >= ttl) cache.delete(k);
  }

  function mx(domain: string): Promise<MxAnswer> {
    return cached(
      `mx:${domain}`,
      async (): Promise<MxAnswer> => {
        try {
          const records = await resolver.resolveMx(domain);
          return records.length ? { kind: 'records', records } : { kind: 'nodata' };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const absent = isAbsent(code);
          return absent ? { kind: absent } : { kind: 'failed', detail: `MX of ${domain}: ${code ?? (err as Error).message}` };
        }
      },
      (a) => a.kind !== 'failed',
    );
  }

  async function oneFamily(name: string, family: 4 | 6): Promise<AddressAnswer> {
    try {
      return { addresses: family === 4 ? await resolver.resolve4(name) : await resolver.resolve6(name) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return isAbsent(code) ? { addresses: [] } : { addresses: [], failed: `${family === 4 ? 'A' : 'AAAA'} of ${name}: ${code ?? (err as Error).message}` };
    }
  }

  function addresses(name: string): Promise<AddressAnswer> {
    if (isIP(name)) return Promise.resolve({ addresses: [name] });
    return cached(
      `addr:${name}`,
      async (): Promise<AddressAnswer> => {
        const [v4, v6] = await Promise.all([oneFamily(name, 4), oneFamily(name, 6)]);
        const all = [...v4.addresses, ...v6.addresses];
        return { addresses: all, failed: all.length ? undefined : (v4.failed ?? v6.failed) };
      },
      (a) => !a.failed,
    );
  }

  return {
    async route(domain: string): Promise<MailRoute> {
      const answer = await mx(domain);
      if (answer.kind === 'nxdomain') return { ok: false, error: noSuchDomain(`${domain} does not exist (NXDOMAIN)`) };
      if (answer.kind === 'failed') return { ok: false, error: dnsTemporaryFailure(answer.detail) };
      if (answer.kind === 'records' && isNullMx(answer.records)) {
        return { ok: false, error: noSuchDomain(`${domain} accepts no mail (null MX, RFC 7505)`) };
      }
      // No MX: the domain itself is the host, with preference 0 (the implicit MX).
      const names = answer.kind === 'records' ? orderMxHosts(answer.records, opts.random) : [domain];
      const resolved = await Promise.all(names.map(async (name) => ({ name, ...(await addresses(name)) })));
      // SSRF: a domain whose MX points inside (loopback, private, link-local, …) would have the
      // worker open SMTP with a sender's content to an internal host; unless allowed, those
      // addresses are no hosts at all.
      const usable = (a: string) => opts.allowPrivate === true || !isNonPublicAddress(a);
      const hosts = resolved.map(({ name, addresses }) => ({ name, addresses: addresses.filter(usable) })).filter((h) => h.addresses.length);
      if (hosts.length) return { ok: true, hosts };
      const failed = resolved.find((h) => h.failed)?.failed;
      if (failed) return { ok: false, error: dnsTemporaryFailure(failed) };
      return {
        ok: false,
        error: noSuchDomain(
          answer.kind === 'nodata' ? `${domain} has no MX, A or AAAA record` : `no MX host of ${domain} has an address (${names.join(', ')})`,
        ),
      };
    },
  };
}

export type MxResolver = ReturnType<typeof createMxResolver>;

import type { components } from '../../generated/api.ts';
import type { AppDeps } from '../../deps.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { badRequest } from '../../shared/errors.ts';
import { parsePaging, parseSort, toPage } from '../../http/paging.ts';
import { single, type RawQuery } from '../../http/query-params.ts';
import * as repo from './blocked-domains.repository.ts';
import type { KeyLookup } from '../../db/key-lookups.ts';
import { normaliseDomain } from '../../shared/domain-name.ts';

type Schemas = components['schemas'];
export type BlockedDomainsResult = Schemas['BlockedDomainsResult'];
export type BlockedDomainsPage = Schemas['BlockedDomainsPage'];

/**
 * A project's blocked recipient domains (extension): mail to an address in a blocked domain, or
 * in a subdomain of one, fails with F / UNKNOWN_DOMAIN_ADDRESS at delivery, without an SMTP
 * attempt (like the send-block list, a delivery result: POST /mails accepts such addresses).
 * Domains compare case-insensitively, internationalised ones as their punycode form.
 */
const MAX_DOMAINS_PER_REQUEST = 10_000;

/** The domain of an address and each parent with at least two labels: "a.b.example" -> a.b.example, b.example. */
function domainAndParents(address: string): string[] {
  const domain = normaliseDomain(address.slice(address.lastIndexOf('@') + 1));
  if (!domain) return [];
  const labels = domain.split('.');
  return labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'));
}

/**
 * For each project, the lower-case addresses among its own whose domain (or a parent domain) it
 * blocks: a lookup for a whole delivery batch, whatever the number of projects in it, which
 * delivery asks together with the send-block list in one statement (readKeyLookups).
 */
export function domainBlockedLookup(recipients: { projectId: string; address: string }[]): KeyLookup<Map<string, Set<string>>> {
  const candidates = new Map<string, { projectId: string; address: string; domains: string[] }>();
  for (const r of recipients) {
    const address = r.address.toLowerCase();
    const key = `${r.projectId}\n${address}`;
    if (!candidates.has(key)) candidates.set(key, { projectId: r.projectId, address, domains: domainAndParents(address) });
  }
  const pairs = new Map<string, [string, string]>();
  for (const c of candidates.values()) for (const d of c.domains) pairs.set(`${c.projectId}\n${d}`, [c.projectId, d]);
  const list = [...pairs.values()];
  return {
    query: list.length
      ? repo.blockedPairsQuery(
          list.map((p) => p[0]),
          list.map((p) => p[1]),
        )
      : null,
    read(blocked) {
      const out = new Map<string, Set<string>>();
      if (blocked.size === 0) return out;
      for (const c of candidates.values()) {
        if (!c.domains.some((d) => blocked.has(`${c.projectId}\n${d}`))) continue;
        const set = out.get(c.projectId) ?? new Set<string>();
        set.add(c.address);
        out.set(c.projectId, set);
      }
      return out;
    },
  };
}

/** `domains`, checked: every entry a host name; duplicates (any case, any form) counted once. */
function domainsOf(body: unknown): { requestCount: number; domains: string[] } {
  const list = (body as { domains?: unknown } | null)?.domains;
  if (!Array.isArray(list) || list.length === 0) throw badRequest('domains: required (at least one domain)');
  if (list.length > MAX_DOMAINS_PER_REQUEST) throw badRequest(`domains: at most ${MAX_DOMAINS_PER_REQUEST} domains`);
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    const domain = typeof raw === 'string' ? normaliseDomain(raw) : undefined;
    if (!domain) throw badRequest(`domains[${i}]: "${String(raw).slice(0, 100)}" is not a domain name (at least two labels, e.g. "example.com")`);
    seen.add(domain);
  });
  return { requestCount: list.length, domains: [...seen] };
}

export async function registerBlockedDomains(deps: Pick<AppDeps, 'db' | 'now'>, projectId: string, body: unknown): Promise<BlockedDomainsResult> {
  const now = deps.now();
  const { requestCount, domains } = domainsOf(body);
  const count = await repo.insertDomains(deps.db, projectId, domains, now);
  return { count, requestCount, ignoreCount: requestCount - count };
}

export async function deleteBlockedDomains(deps: Pick<AppDeps, 'db'>, projectId: string, body: unknown): Promise<BlockedDomainsResult> {
  const { requestCount, domains } = domainsOf(body);
  const count = await repo.deleteDomains(deps.db, projectId, domains);
  return { count, requestCount, ignoreCount: requestCount - count };
}

const SORT_COLUMNS = { createUtc: 'created_at', domain: 'domain' } as const;

export async function getBlockedDomainList(deps: Pick<AppDeps, 'db' | 'config'>, projectId: string, query: RawQuery): Promise<BlockedDomainsPage> {
  const paging = parsePaging(query);
  const sort = parseSort(query.sort, Object.keys(SORT_COLUMNS), [{ property: 'createUtc', direction: 'DESC' }]);
  const text = single(query.domain, 'domain');
  // a part of a name: lower-cased like the stored form (an IDN part is matched as typed)
  const domain = text === undefined ? undefined : String(text).trim().toLowerCase() || undefined;
  if (domain?.includes('\u0000')) throw badRequest('domain: must not contain NUL characters');
  const filter: repo.BlockedDomainFilter = { projectId, domain };
  const order = sort.map((s) => ({
    column: SORT_COLUMNS[s.property as keyof typeof SORT_COLUMNS],
    direction: s.direction === 'ASC' ? ('asc' as const) : ('desc' as const),
  }));
  const [rows, total] = await Promise.all([
    repo.listDomains(deps.db, filter, order, paging.size, paging.page * paging.size),
    repo.countDomains(deps.db, filter),
  ]);
  return toPage(
    rows.map((r) => ({ domain: r.domain, createDate: toNesDateTime(r.created_at, deps.config.displayTimezone)! })),
    total,
    paging,
    sort,
  );
}

import type { AppDeps } from '../../deps.ts';
import { parsePaging, toPage } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { normaliseDomain } from '../../shared/domain-name.ts';
import { AppError, badRequest, notFound } from '../../shared/errors.ts';
import type { Lang } from '../../shared/i18n.ts';
import { DKIM_ALGORITHMS, type DkimAlgorithm, generateDkimKey, nextSelector, recordPublishes } from './dkim-key.ts';
import { createTxtLookup, type TxtLookup } from './dns-check.ts';
import { type SenderDomain, toSenderDomain } from './sender-domains.mapper.ts';
import * as read from './sender-domains.read-model.ts';
import * as repo from './sender-domains.repository.ts';

type Deps = Pick<AppDeps, 'db' | 'box' | 'now' | 'config'>;
type View = { lang: Lang };

/** A domain named in a body or path: 400/77102 naming `field` unless it is a host name of at least two labels. */
function domainOf(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw badRequest(`${field}: required (a domain name such as "example.com")`);
  if (raw.length > 253 || raw.includes('\u0000')) throw badRequest(`${field}: not a domain name (at most 253 characters, no control characters)`);
  const domain = normaliseDomain(raw);
  if (!domain) throw badRequest(`${field}: "${raw.slice(0, 100)}" is not a domain name (at least two labels, e.g. "example.com")`);
  return domain;
}

/** A path's domain: one the project does not have (or a malformed one) answers 77103, like another project's. */
function pathDomain(raw: string): string {
  const domain = normaliseDomain(raw.length > 253 || raw.includes('\u0000') ? '' : raw);
  if (!domain) throw notFound(`domain: "${raw.slice(0, 100)}" is not a sender domain of this project`);
  return domain;
}

const missing = (domain: string) => notFound(`domain: "${domain}" is not a sender domain of this project`);

function algorithmOf(raw: unknown): DkimAlgorithm {
  if (raw === undefined || raw === null) return 'rsa-sha256';
  if (typeof raw !== 'string' || !(DKIM_ALGORITHMS as readonly string[]).includes(raw))
    throw badRequest(`algorithm: must be one of ${DKIM_ALGORITHMS.join(', ')}`);
  return raw as DkimAlgorithm;
}

async function newKey(deps: Deps, algorithm: DkimAlgorithm, existing: string[]): Promise<repo.NewKey> {
  const pair = await generateDkimKey(algorithm);
  return { selector: nextSelector(existing, deps.now()), algorithm, publicKey: pair.publicKey, sealedPrivateKey: deps.box.seal(pair.privateKeyPem) };
}

async function view(deps: Deps, projectId: string, domain: string, v: View): Promise<SenderDomain> {
  const row = await repo.findDomain(deps.db, projectId, domain);
  if (!row) throw missing(domain);
  return toSenderDomain(row, await read.keysOf(deps.db, [row.id]), { lang: v.lang, timeZone: deps.config.displayTimezone });
}

export async function createSenderDomain(deps: Deps, projectId: string, body: unknown, v: View): Promise<SenderDomain> {
  const b = (body ?? {}) as { domain?: unknown; algorithm?: unknown };
  const domain = domainOf(b.domain, 'domain');
  const key = await newKey(deps, algorithmOf(b.algorithm), []);
  const id = await deps.db.transaction().execute((tx) => repo.insertDomain(tx, projectId, domain, key, deps.now()));
  if (!id) throw badRequest(`domain: "${domain}" is already a sender domain of this project`);
  return view(deps, projectId, domain, v);
}

export async function getSenderDomain(deps: Deps, projectId: string, rawDomain: string, v: View): Promise<SenderDomain> {
  return view(deps, projectId, pathDomain(rawDomain), v);
}

export async function getSenderDomainList(deps: Deps, projectId: string, query: RawQuery, v: View) {
  const paging = parsePaging(query);
  const [rows, total] = await Promise.all([
    read.listDomains(deps.db, projectId, paging.size, paging.page * paging.size),
    read.countDomains(deps.db, projectId),
  ]);
  const keys = await read.keysOf(
    deps.db,
    rows.map((r) => r.id),
  );
  const items = rows.map((r) =>
    toSenderDomain(
      r,
      keys.filter((k) => k.sender_domain_id === r.id),
      { lang: v.lang, timeZone: deps.config.displayTimezone },
    ),
  );
  return toPage(items, total, paging, [{ property: 'domain', direction: 'ASC' }]);
}

export async function deleteSenderDomain(deps: Deps, projectId: string, rawDomain: string): Promise<void> {
  const domain = pathDomain(rawDomain);
  if (!(await repo.deleteDomain(deps.db, projectId, domain))) throw missing(domain);
}

/** Rotation, step 1: a new key under the next selector; the current key signs until the new record verifies. */
export async function rotateSenderDomainKey(deps: Deps, projectId: string, rawDomain: string, body: unknown, v: View): Promise<SenderDomain> {
  const domain = pathDomain(rawDomain);
  const row = await repo.findDomain(deps.db, projectId, domain);
  if (!row) throw missing(domain);
  const keys = await read.keysOf(deps.db, [row.id]);
  const algorithm = algorithmOf((body as { algorithm?: unknown } | null)?.algorithm ?? keys[keys.length - 1]?.algorithm);
  const key = await newKey(
    deps,
    algorithm,
    keys.map((k) => k.selector),
  );
  await repo.insertKey(deps.db, row.id, key, deps.now());
  return view(deps, projectId, domain, v);
}

/** Rotation, last step: the old selector goes. The domain keeps at least one key. */
export async function deleteSenderDomainKey(deps: Deps, projectId: string, rawDomain: string, selector: string): Promise<void> {
  const domain = pathDomain(rawDomain);
  await deps.db.transaction().execute(async (tx) => {
    const row = await repo.findDomain(tx, projectId, domain, true);
    if (!row) throw missing(domain);
    const keys = await read.keysOf(tx, [row.id]);
    if (!keys.some((k) => k.selector === selector)) throw notFound(`selector: "${selector.slice(0, 100)}" is not a key of ${domain}`);
    if (keys.length === 1) throw badRequest(`selector: "${selector}" is the domain's only key; rotate first, or delete the domain`);
    await repo.deleteKey(tx, row.id, selector);
  });
}

let sharedLookup: { servers: string | undefined; lookup: TxtLookup } | undefined;

function lookupFor(servers: string[] | undefined): TxtLookup {
  const id = servers?.join(',');
  if (!sharedLookup || sharedLookup.servers !== id) sharedLookup = { servers: id, lookup: createTxtLookup(servers) };
  return sharedLookup.lookup;
}

/**
 * Checks every key's TXT record (V when it publishes the key, else F) and whether SPF and DMARC
 * records exist. A resolver that does not answer changes nothing: 503, try again.
 */
export async function verifySenderDomain(deps: Deps, projectId: string, rawDomain: string, v: View): Promise<SenderDomain> {
  const domain = pathDomain(rawDomain);
  const row = await repo.findDomain(deps.db, projectId, domain);
  if (!row) throw missing(domain);
  const keys = await read.keysOf(deps.db, [row.id]);
  const dns = lookupFor(deps.config.dnsServers);
  let found;
  try {
    found = await Promise.all([dns.txt(domain), dns.txt(`_dmarc.${domain}`), ...keys.map((k) => dns.txt(`${k.selector}._domainkey.${domain}`))]);
  } catch (err) {
    throw new AppError(503, '77303', `the DNS server did not answer (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing was changed, try again`);
  }
  const [spf, dmarc, ...dkim] = found;
  const check = {
    spfFound: spf!.some((r) => /^v=spf1(\s|$)/i.test(r.trim())),
    dmarcFound: dmarc!.some((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim())),
    keys: keys.map((k, i) => ({ id: k.id, verified: recordPublishes(dkim[i]!, k.public_key) })),
  };
  await deps.db.transaction().execute(async (tx) => {
    // Deleted meanwhile: nothing to record.
    if (await repo.findDomain(tx, projectId, domain, true)) await repo.recordCheck(tx, row.id, check, deps.now());
  });
  return view(deps, projectId, domain, v);
}

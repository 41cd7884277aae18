import { normaliseDomain } from '../../shared/domain-name.ts';

/** What one destination domain may take: transactions open at once and messages a minute. */
export interface DomainLimits {
  connections: number;
  perMinute: number;
}

/**
 * Conservative limits for receivers known to push back on bulk senders from a new IP. The
 * figures are a cautious starting point, not the receivers' published numbers (they publish
 * none); THROTTLE_DOMAINS overrides any of them.
 */
export const BUILT_IN_DOMAIN_LIMITS: Readonly<Record<string, DomainLimits>> = {
  'gmail.com': { connections: 5, perMinute: 1_200 },
  'naver.com': { connections: 3, perMinute: 300 },
  'yahoo.co.jp': { connections: 3, perMinute: 300 },
};

/**
 * A domain without limits of its own may take 10,000 messages a second: a ceiling, not a pace.
 * The engine hands a relay about 3,000-3,500 mails a second, often most of them to one domain;
 * a lower default would slow every bulk send through a relay. Direct delivery should set
 * THROTTLE_DOMAIN_PER_MINUTE (and THROTTLE_DOMAINS) to what its sending IPs may do.
 */
export const DEFAULT_DOMAIN_PER_MINUTE = 600_000;
export const MAX_DOMAIN_CONNECTIONS = 1_000;
export const MAX_PER_MINUTE = 10_000_000;

function whole(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new Error(`${what} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * THROTTLE_DOMAINS: `domain=connections:N,perMinute:M;domain2=perMinute:M`, each domain's
 * overrides over `defaults` (a key left out keeps the default). Throws an Error naming the
 * faulty part; the caller adds the variable's name.
 */
export function parseDomainOverrides(
  text: string,
  defaults: DomainLimits,
  builtIn: Readonly<Record<string, DomainLimits>> = BUILT_IN_DOMAIN_LIMITS,
): Map<string, DomainLimits> {
  const out = new Map<string, DomainLimits>();
  for (const entry of text.split(';')) {
    const item = entry.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw new Error(`"${item}" must be domain=connections:N,perMinute:M`);
    const name = item.slice(0, eq).trim();
    const domain = normaliseDomain(name);
    if (!domain) throw new Error(`"${name}" is not a domain name`);
    if (out.has(domain)) throw new Error(`${domain} is given twice`);
    const limits = { ...(builtIn[domain] ?? defaults) };
    const settings = item.slice(eq + 1).trim();
    if (!settings) throw new Error(`${domain} has no limits (connections:N and/or perMinute:M)`);
    for (const part of settings.split(',')) {
      const [k, v, ...rest] = part.split(':').map((x) => x.trim());
      if (v === undefined || rest.length) throw new Error(`${domain}: "${part.trim()}" must be connections:N or perMinute:M`);
      if (k === 'connections') limits.connections = whole(v, `${domain} connections`, 1, MAX_DOMAIN_CONNECTIONS);
      else if (k === 'perMinute') limits.perMinute = whole(v, `${domain} perMinute`, 1, MAX_PER_MINUTE);
      else throw new Error(`${domain}: unknown limit "${k}" (connections or perMinute)`);
    }
    out.set(domain, limits);
  }
  return out;
}

/**
 * The built-in domains' limits, then THROTTLE_DOMAINS' overrides over them. The built-in ones
 * hold in direct mode only (SMTP_URL=direct), where this service is the MTA those receivers
 * judge; through a relay, the relay talks to them and paces its own connections, and a
 * campaign to naver.com addresses must not crawl at 5 a second because of a limit meant for a
 * new sending IP. THROTTLE_DOMAINS holds in both modes.
 */
export function builtInLimits(direct: boolean): Readonly<Record<string, DomainLimits>> {
  return direct ? BUILT_IN_DOMAIN_LIMITS : {};
}

export function domainLimitTable(overrides: ReadonlyMap<string, DomainLimits>, direct: boolean): Map<string, DomainLimits> {
  return new Map([...Object.entries(builtInLimits(direct)), ...overrides]);
}

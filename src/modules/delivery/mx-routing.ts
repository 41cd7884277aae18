import { domainToASCII } from 'node:url';

/**
 * The pure rules of direct delivery (no I/O): which domain a recipient belongs to, in which order
 * a domain's MX hosts are tried, what a DNS answer means for delivery, and which SMTP errors send
 * a mail on to the next host.
 */

/** What the transport reports for a domain it could not deliver to, shaped like nodemailer's errors so classifySmtpReply reads it. */
export interface DeliveryError extends Error {
  code: string;
  response?: string;
  responseCode?: number;
}

function deliveryError(code: string, message: string): DeliveryError {
  return Object.assign(new Error(message), { code });
}

/**
 * A domain that can't receive mail: the message starts with "domain not found", which
 * classifySmtpReply maps to NONEXISTENT_DOMAIN_ADDRESS (permanent, a hard bounce).
 */
export function noSuchDomain(detail: string): DeliveryError {
  return deliveryError('ENOTFOUND', `domain not found: ${detail}`);
}

/** A DNS answer that may be different later (SERVFAIL, timeout): a connection-level error, retried. */
export function dnsTemporaryFailure(detail: string): DeliveryError {
  return deliveryError('EDNS', `DNS lookup failed: ${detail}`);
}

/**
 * The envelope's recipients by domain (A-labels, lower-case), each domain's in envelope order:
 * one SMTP transaction per domain. An address without a domain part goes under '' (refused later).
 */
export function groupByDomain(addresses: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const address of addresses) {
    const domain = domainOf(address);
    const list = groups.get(domain) ?? [];
    list.push(address);
    groups.set(domain, list);
  }
  return groups;
}

/** An address's domain as delivery keys it: lower-case ASCII (punycode), no trailing dot; '' when it has none. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  const raw = at < 0 ? '' : address.slice(at + 1).replace(/\.$/, '');
  return ((raw && domainToASCII(raw)) || raw).toLowerCase();
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** RFC 7505: a single MX whose exchange is the root (".", given by resolvers as ""): the domain accepts no mail. */
export function isNullMx(records: readonly MxRecord[]): boolean {
  return records.length === 1 && isRoot(records[0]!.exchange);
}

function isRoot(exchange: string): boolean {
  return exchange === '' || exchange === '.';
}

/**
 * MX host names in the order to try them (RFC 5321 §5.1): lowest preference first, in random
 * order among equal preferences (spreading load as the receiver intends), each name once.
 */
export function orderMxHosts(records: readonly MxRecord[], random: () => number = Math.random): string[] {
  const keyed = records
    .filter((r) => !isRoot(r.exchange))
    .map((r) => ({ name: r.exchange.toLowerCase().replace(/\.$/, ''), priority: r.priority, tie: random() }));
  keyed.sort((a, b) => a.priority - b.priority || a.tie - b.tie);
  return [...new Set(keyed.map((k) => k.name))];
}

/** node:dns error codes that say the name does not exist (NXDOMAIN) or has no record of the type asked. */
export function isAbsent(code: string | undefined): 'nxdomain' | 'nodata' | undefined {
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN' || code === 'ENONAME') return 'nxdomain';
  if (code === 'ENODATA') return 'nodata';
  return undefined;
}

/** Commands of an SMTP session before the envelope: a failure there says nothing of the mail, so another host may take it. */
const BEFORE_ENVELOPE = new Set(['EHLO', 'HELO', 'LHLO', 'STARTTLS']);

/** System errors of a connection that never opened. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Whether an error of one host lets the mail go on to the next: a connection that could not be
 * opened, or a greeting that refused (421 busy, 554), before any part of the envelope was sent.
 * nodemailer labels every socket error of a session 'CONN', also a drop after MAIL FROM or after
 * the final dot, when the first host may already have the mail: those end the attempt (retried
 * later), as do replies to MAIL, RCPT and DATA (a 5xx at RCPT is final for that recipient).
 */
export function shouldTryNextHost(err: { command?: string; code?: string; originalCode?: string; responseCode?: number; message?: string }): boolean {
  if (err.command === 'CONN') {
    if (err.responseCode !== undefined) return true; // the greeting's own refusal
    if (err.code === 'EDNS' || NEVER_CONNECTED.has(err.originalCode ?? '')) return true;
    return /connection timeout|greeting never received/i.test(err.message ?? '');
  }
  if (err.command) return BEFORE_ENVELOPE.has(err.command);
  // no command: failed before the pool's connection ran one (the socket never opened)
  return err.responseCode === undefined && err.code !== undefined && err.code !== 'EMESSAGE' && err.code !== 'EENVELOPE';
}

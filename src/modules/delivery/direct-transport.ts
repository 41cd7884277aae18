import { isIP } from 'node:net';
import nodemailer, { type SendMailOptions, type SentMessageInfo, type Transporter } from 'nodemailer';
import type { Logger } from '../../logger.ts';
import { createMxResolver } from './mx-resolver.ts';
import { type DeliveryError, groupByDomain, noSuchDomain, shouldTryNextHost } from './mx-routing.ts';
import type { SigningMailOptions } from './dkim-sign-message.ts';
import { sourceOf } from './compose-message.ts';
import type { MailTransport } from './transport.ts';

export interface DirectTransportOptions {
  /** the MX hosts' port (25) */
  port: number;
  /** the name given in EHLO */
  heloName: string;
  /** DNS_SERVERS; undefined: the system's */
  dnsServers: string[] | undefined;
  /** deliver to MX hosts on loopback, private and link-local addresses (DIRECT_ALLOW_PRIVATE) */
  allowPrivate?: boolean;
  /** most connections open to one destination host at once */
  maxConnectionsPerHost: number;
  /** connect, greeting and socket timeout */
  timeoutMs: number;
  logger: Logger;
  /** a host's pool closes after this long without a message */
  idleMs?: number;
}

/** A refused recipient as nodemailer reports it (`rejectedErrors`), so smtp-attempt and classifySmtpReply read it as from a relay. */
type RecipientError = { recipient: string; code?: string; response?: string; responseCode?: number; message: string; command?: string };

/** What one domain's transaction gave: nodemailer's info, or an error for all its recipients. */
type DomainOutcome = { domain: string; recipients: string[] } & ({ info: SentMessageInfo } | { error: DeliveryError & { rejectedErrors?: RecipientError[] } });

/** At most this many addresses are tried for one domain in one attempt (Postfix's smtp_mx_address_limit is 5 too). */
const MAX_ADDRESSES_TRIED = 5;

/** Per refused recipient of a domain, its own reply (RCPT) or the domain's error (connection, MAIL, DATA), as nodemailer's entries. */
export function recipientErrors(outcome: DomainOutcome): RecipientError[] {
  if ('info' in outcome) return (outcome.info.rejectedErrors as RecipientError[] | undefined) ?? [];
  const e = outcome.error;
  if (e.rejectedErrors?.length) return e.rejectedErrors;
  return outcome.recipients.map((recipient) => ({
    recipient,
    code: e.code,
    response: e.response,
    responseCode: e.responseCode,
    message: e.message,
    command: (e as { command?: string }).command,
  }));
}

/**
 * The outcomes of a mail's domains as one sendMail result: accepted recipients and one
 * `rejectedErrors` entry per refused one. When none was accepted, an error carrying them all, as
 * nodemailer throws when every recipient is refused: smtp-attempt then classifies each recipient by
 * its own domain's answer (one domain's NXDOMAIN and another's 421 stay apart).
 */
export function mergeOutcomes(outcomes: DomainOutcome[], envelope: { from: string; to: string[] }): SentMessageInfo {
  const accepted: string[] = [];
  const rejectedErrors: RecipientError[] = [];
  const responses: string[] = [];
  for (const o of outcomes) {
    const errors = recipientErrors(o);
    rejectedErrors.push(...errors);
    if ('info' in o) {
      const refused = new Set(errors.map((e) => e.recipient));
      accepted.push(...o.recipients.filter((r) => !refused.has(r)));
      responses.push(outcomes.length > 1 ? `${o.domain}: ${o.info.response}` : String(o.info.response));
    }
  }
  if (!accepted.length) {
    const first = rejectedErrors[0];
    throw Object.assign(new Error(`Can't send mail - all recipients were rejected${first ? `: ${first.response ?? first.message}` : ''}`), {
      code: first?.code ?? 'EENVELOPE',
      rejected: rejectedErrors.map((e) => e.recipient),
      rejectedErrors,
    });
  }
  return { accepted, rejected: rejectedErrors.map((e) => e.recipient), rejectedErrors, response: responses.join('; '), envelope, messageId: '' };
}

interface HostPool {
  transport: Transporter;
  inFlight: number;
  lastUsed: number;
}

/**
 * Delivers without a relay (SMTP_URL=direct): splits each mail's envelope by recipient domain and
 * sends one transaction per domain to its MX hosts, through one small nodemailer pool per
 * destination address and port. Same contract as a nodemailer transport (sendMail / verify /
 * close), so smtp-attempt and the result classification work unchanged.
 *
 * STARTTLS is used whenever a host offers it, with any certificate (opportunistic TLS, RFC 7435);
 * MTA-STS and DANE are not checked.
 */
export function createDirectTransport(opts: DirectTransportOptions): MailTransport {
  const resolver = createMxResolver({ servers: opts.dnsServers, allowPrivate: opts.allowPrivate });
  const idleMs = opts.idleMs ?? 30_000;
  const pools = new Map<string, HostPool>();
  let closed = false;

  // Pools of hosts no longer written to are closed, so a run over thousands of domains does not keep them all.
  const sweeper = setInterval(() => {
    const t = Date.now();
    for (const [key, pool] of pools) {
      if (pool.inFlight === 0 && t - pool.lastUsed >= idleMs) {
        pools.delete(key);
        pool.transport.close();
      }
    }
  }, idleMs);
  sweeper.unref();

  function poolFor(address: string, hostName: string): HostPool {
    const key = `${address}|${opts.port}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = {
        transport: nodemailer.createTransport({
          pool: true,
          host: address,
          port: opts.port,
          name: opts.heloName,
          secure: false,
          maxConnections: opts.maxConnectionsPerHost,
          maxMessages: 100,
          // A dropped connection is the next host's turn (or a retry later), not a re-send here.
          maxRequeues: 0,
          idleTimeout: idleMs,
          connectionTimeout: opts.timeoutMs,
          greetingTimeout: opts.timeoutMs,
          socketTimeout: opts.timeoutMs,
          // Opportunistic TLS (RFC 7435): STARTTLS when offered, any certificate; plain text if the server refuses it.
          opportunisticTLS: true,
          tls: { rejectUnauthorized: false, servername: isIP(hostName) ? undefined : hostName },
          disableFileAccess: true,
          disableUrlAccess: true,
        }),
        inFlight: 0,
        lastUsed: Date.now(),
      };
      pools.set(key, pool);
    }
    return pool;
  }

  async function sendThrough(pool: HostPool, message: SendMailOptions): Promise<SentMessageInfo> {
    pool.inFlight++;
    try {
      return await pool.transport.sendMail(message);
    } finally {
      pool.inFlight--;
      pool.lastUsed = Date.now();
    }
  }

  /**
   * One domain's transaction: its hosts by preference, moving on while a host can't be reached or
   * refuses at its greeting. (A per-domain limiter, when there is one, wraps this.)
   */
  async function deliverToDomain(domain: string, recipients: string[], message: SendMailOptions, from: string): Promise<DomainOutcome> {
    if (!domain) return { domain, recipients, error: noSuchDomain('the address has no domain part') };
    const route = await resolver.route(domain);
    if (!route.ok) {
      opts.logger.debug({ domain, reason: route.error.message }, 'direct: no route to the domain');
      return { domain, recipients, error: route.error };
    }
    let last: DeliveryError | undefined;
    let tried = 0;
    for (const host of route.hosts) {
      for (const address of host.addresses) {
        if (tried++ >= MAX_ADDRESSES_TRIED || closed) break;
        try {
          const info = await sendThrough(poolFor(address, host.name), { ...message, envelope: { from, to: recipients } });
          return { domain, recipients, info };
        } catch (err) {
          const e = err as DeliveryError & { command?: string };
          opts.logger.debug({ domain, host: host.name, address, code: e.code, reply: e.response ?? e.message }, 'direct: host answered with an error');
          if (!shouldTryNextHost(e)) return { domain, recipients, error: e };
          last = Object.assign(e, { message: `${host.name} [${address}]: ${e.message}` });
        }
      }
    }
    return { domain, recipients, error: last ?? Object.assign(new Error(`no host of ${domain} could be tried`), { code: 'ECONNECTION' }) };
  }

  return {
    async sendMail(message: SigningMailOptions): Promise<SentMessageInfo> {
      if (closed) throw Object.assign(new Error('The direct transport was closed'), { code: 'ECONNECTION' });
      const envelope = message.envelope as { from?: string; to?: string[] } | undefined;
      if (!envelope?.from || !envelope.to?.length)
        throw Object.assign(new Error('direct delivery needs an envelope with a sender and recipients'), { code: 'EENVELOPE' });
      const from = envelope.from;
      const byDomain = groupByDomain(envelope.to);
      // Built (and signed) once before any host is tried: every host and domain gets the same
      // bytes (one Message-ID, one signature), not attachment streams a first attempt consumed.
      const source = await sourceOf(message);
      const outcomes = await Promise.all([...byDomain].map(([domain, recipients]) => deliverToDomain(domain, recipients, source, from)));
      return mergeOutcomes(outcomes, { from, to: envelope.to });
    },
    // There is no relay to check: each domain's hosts are found and tried per mail.
    verify: async () => true as const,
    close(): void {
      closed = true;
      clearInterval(sweeper);
      for (const pool of pools.values()) pool.transport.close();
      pools.clear();
    },
  };
}

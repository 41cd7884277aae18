import { countThrottleHeld, countThrottleSignal } from '../../metrics.ts';
import { createLimiter, type Limiter } from '../../shared/limiter.ts';
import { recipientErrors, type SendResult } from './apply-send-result.ts';
import type { Db } from '../../db/schema.ts';
import type { ThrottleConfig } from '../../config.ts';
import { domainOf } from './mx-routing.ts';
import type { DomainLimits } from './throttle-config.ts';
import type { SmtpOutcomeInput } from './classify-smtp-reply.ts';
import {
  DEFER_FROM_LEVEL,
  deferralError,
  defers,
  pauseCause,
  heldDueAt,
  pauseMs,
  redactReply,
  SLOT_WAIT_MS,
  throttleSignal,
  type ThrottleSignal,
} from './throttle-policy.ts';
import * as repo from './throttle.repository.ts';

/** A claimed mail as the throttle sees it: its project and its pending recipients' addresses. */
export interface ThrottledMail {
  id: string;
  projectId: string;
  addresses: string[];
}

export const domainKey = (domain: string) => `domain:${domain}`;
const projectKey = (projectId: string) => `project:${projectId}`;

/** A domain's limits: its own entry (built in or THROTTLE_DOMAINS), else the defaults. */
export function limitsOf(config: ThrottleConfig, domain: string): DomainLimits {
  return config.domains.get(domain) ?? config.domain;
}

/** The metrics label of a domain: its name when it has limits of its own, else "other" (bounded cardinality). */
export function domainLabel(config: ThrottleConfig, domain: string): string {
  return config.domains.has(domain) ? domain : 'other';
}

/**
 * The delivery limits of one claimed batch: plan() takes, in one call, the tokens and transaction
 * slots the batch's mails need (per destination domain, and per project when limited) and says
 * which mails may go now and when the others are worth claiming again; withSlots() keeps a mail's
 * transactions within the domain slots the batch got; report() notes what each attempt's replies
 * say of its domains (a slow-down holds the domain's other mails of the batch back at once);
 * finish() gives back what was not used, releases the slots and moves the back-off, in one call.
 */
export function createBatchThrottle(
  db: Db,
  config: ThrottleConfig,
  opts: {
    token: string;
    leaseMs: number;
    direct: boolean;
    now: () => Date;
    maxSlots: number;
    /** claim loops in the process: a batch takes at most this share of a domain's transactions */
    loops: number;
    /** the process's domains that slowed down, and until when: the other loops' batches, admitted before, hold their mails too */
    paused: Map<string, Date>;
  },
) {
  const grants = new Map<string, repo.ThrottleGrant>();
  const keysOf = new Map<string, string[]>();
  const used = new Map<string, number>();
  const limiters = new Map<string, Limiter>();
  const signals = new Map<string, { signal: ThrottleSignal; reply: string | null; successes: number }>();
  /** domains that asked us to slow down (or could not be reached) during this batch, and until when their mails wait */
  const stopped = new Map<string, Date>();
  let held = 0;

  function domainsOf(addresses: string[]): string[] {
    return [...new Set(addresses.map(domainOf).filter(Boolean))].sort();
  }

  async function plan(mails: ThrottledMail[]): Promise<{
    admitted: Set<string>;
    held: { id: string; until: Date }[];
    /** mails of a domain paused again after its first pause: recorded as a temporary failure with `error` (not attempted), due at `until` */
    deferred: { id: string; until: Date; error: SmtpOutcomeInput }[];
  }> {
    const wants = new Map<string, repo.ThrottleWant>();
    for (const m of mails) {
      const keys = domainsOf(m.addresses).map(domainKey);
      if (config.projectPerMinute > 0 && keys.length) keys.push(projectKey(m.projectId));
      keysOf.set(m.id, keys);
      for (const key of keys) {
        const w = wants.get(key);
        if (w) w.want++;
        else if (key.startsWith('project:')) wants.set(key, { key, want: 1, perMinute: config.projectPerMinute, connections: null });
        else {
          const limits = limitsOf(config, key.slice(7));
          wants.set(key, { key, want: 1, perMinute: limits.perMinute, connections: limits.connections });
        }
      }
    }
    for (const g of await repo.takeThrottle(db, opts.token, opts.leaseMs, { max: opts.maxSlots, share: opts.loops }, [...wants.values()])) {
      grants.set(g.key, g);
      if (g.slots) limiters.set(g.key, createLimiter(g.slots));
    }
    const left = new Map([...grants].map(([k, g]) => [k, g.granted]));
    const heldFor = new Map<string, number>();
    const now = opts.now();
    const admitted = new Set<string>();
    const heldMails: { id: string; until: Date }[] = [];
    const deferredMails: { id: string; until: Date; key: string }[] = [];
    for (const m of mails) {
      const keys = keysOf.get(m.id)!;
      const blocking = keys.find((k) => (left.get(k) ?? 0) <= 0);
      if (!blocking) {
        for (const k of keys) left.set(k, left.get(k)! - 1);
        admitted.add(m.id);
        continue;
      }
      // A domain paused again after its first pause: the mail may spend a retry, not just time (below).
      const paused = keys.map((k) => grants.get(k)!).find((g) => g.pausedUntil && g.level >= DEFER_FROM_LEVEL);
      if (paused) {
        deferredMails.push({ id: m.id, until: paused.pausedUntil!, key: paused.key });
        countHeld(keys);
        continue;
      }
      const g = grants.get(blocking)!;
      const k = heldFor.get(blocking) ?? 0;
      heldFor.set(blocking, k + 1);
      const until = g.pausedUntil ?? (g.slots === 0 ? new Date(now.getTime() + SLOT_WAIT_MS) : heldDueAt(now, g.waitMs, k, g.perMinute));
      heldMails.push({ id: m.id, until });
      countHeld(keys);
    }
    const deferred: { id: string; until: Date; error: SmtpOutcomeInput }[] = [];
    if (deferredMails.length) {
      const replies = await repo.lastReplies(db, [...new Set(deferredMails.map((d) => d.key))]);
      for (const d of deferredMails) {
        const reply = replies.get(d.key) ?? null;
        if (defers(pauseCause(reply), grants.get(d.key)!.level))
          deferred.push({ id: d.id, until: d.until, error: deferralError(d.key.slice(7), reply, d.until) });
        else heldMails.push({ id: d.id, until: d.until });
      }
    }
    return { admitted, held: heldMails, deferred };
  }

  function countHeld(keys: string[]) {
    held++;
    for (const k of keys) if (k.startsWith('domain:')) countThrottleHeld(domainLabel(config, k.slice(7)));
  }

  /** Runs fn holding one transaction slot of each of the mail's domains (taken in name order: no deadlock). */
  function withSlots<R>(mailId: string, fn: () => Promise<R>, priority?: number): Promise<R> {
    const ls = (keysOf.get(mailId) ?? []).flatMap((k) => limiters.get(k) ?? []);
    const run = (i: number): Promise<R> => (i === ls.length ? fn() : ls[i]!(() => run(i + 1), priority));
    return run(0);
  }

  /**
   * When a domain of the mail slowed down during this batch (or another loop's): until when the
   * mail waits (it is not attempted), and, when this batch's stop took the domain to a level that
   * defers (defers()), the error to record it with instead of holding it.
   */
  function heldUntil(mailId: string): { until: Date; error?: SmtpOutcomeInput } | undefined {
    let until: Date | undefined;
    let error: SmtpOutcomeInput | undefined;
    const now = opts.now();
    for (const k of keysOf.get(mailId) ?? []) {
      let at = stopped.get(k);
      if (at && !error) {
        const s = signals.get(k);
        const cause = s?.signal === 'slow-down' ? 'slow-down' : 'unreachable';
        if (defers(cause, (grants.get(k)?.level ?? 0) + 1)) error = deferralError(k.slice(7), s?.reply ?? null, at);
      }
      const shared = opts.paused.get(k);
      if (shared && shared <= now) opts.paused.delete(k);
      else if (shared && (!at || shared > at)) at = shared;
      if (at && (!until || at > until)) until = at;
    }
    if (!until) return undefined;
    countHeld(keysOf.get(mailId) ?? []);
    return { until, error };
  }

  /** An attempt was made: its tokens are spent, and each domain's replies are noted. */
  function report(mailId: string, pending: { address: string }[], result: SendResult) {
    for (const k of keysOf.get(mailId) ?? []) used.set(k, (used.get(k) ?? 0) + 1);
    if (result.kind !== 'sent' && result.kind !== 'failed') return;
    // Through a relay, a whole attempt that failed (the relay's 421 for too many connections, its
    // timeout) is the relay's trouble (relay-health), not its recipients' domains': pausing every
    // domain of a campaign because the relay was busy for a moment would leave them all crawling.
    // Only the relay's replies to single recipients speak for their domain.
    if (result.kind === 'failed' && !opts.direct) return;
    const errorOf = recipientErrors(result);
    for (const r of pending) {
      const error = errorOf(r.address);
      let signal = throttleSignal(error);
      // Through a relay, no reply is the relay's trouble (relay-health), not the domain's.
      if (signal === 'unreachable' && !opts.direct) signal = 'other';
      const key = domainKey(domainOf(r.address));
      const s = signals.get(key) ?? { signal: 'other', reply: null, successes: 0 };
      if (signal === 'sent') s.successes++;
      else if (signal === 'slow-down' || (signal === 'unreachable' && s.signal !== 'slow-down')) {
        if (s.signal !== signal) countThrottleSignal(domainLabel(config, key.slice(7)), signal);
        s.signal = signal;
        s.reply = redactReply(error?.response ?? error?.message ?? error?.errorCode ?? '');
        const level = grants.get(key)?.level ?? 0;
        if (!stopped.has(key)) {
          const until = new Date(opts.now().getTime() + pauseMs(level + 1, config.pauseMs, config.pauseMaxMs));
          stopped.set(key, until);
          if (!(opts.paused.get(key)! > until)) opts.paused.set(key, until);
        }
      }
      signals.set(key, s);
    }
  }

  /** Unused tokens back, slots released, back-off moved: one call. Returns how many mails were held back. */
  async function finish(): Promise<number> {
    const reports: repo.ThrottleReport[] = [...grants.values()].map((g) => {
      const s = signals.get(g.key);
      const stop = s && (s.signal === 'slow-down' || s.signal === 'unreachable');
      return {
        key: g.key,
        refund: Math.max(0, g.granted - (used.get(g.key) ?? 0)),
        signal: stop ? s.signal : null,
        reply: stop ? s.reply : null,
        successes: s?.successes ?? 0,
      };
    });
    if (reports.length) await repo.finishThrottle(db, opts.token, reports, config);
    return held;
  }

  return { plan, withSlots, heldUntil, report, finish };
}

export type BatchThrottle = ReturnType<typeof createBatchThrottle>;

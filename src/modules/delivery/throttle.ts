import { countThrottleHeld, countThrottleSignal } from '../../metrics.ts';
import { createLimiter, type Limiter } from '../../shared/limiter.ts';
import { recipientErrors, type SendResult } from './apply-send-result.ts';
import type { Db } from '../../db/schema.ts';
import type { ThrottleConfig } from '../../config.ts';
import { domainOf } from './mx-routing.ts';
import type { DomainLimits } from './throttle-config.ts';
import { deferralReason, defers, hasReplyCode, heldDueAt, pauseMs, redactReply, SLOT_WAIT_MS, throttleSignal, type ThrottleSignal } from './throttle-policy.ts';
import * as repo from './throttle.repository.ts';

/** A claimed mail as the throttle sees it: its project and its pending recipients' addresses. */
export interface ThrottledMail {
  id: string;
  projectId: string;
  addresses: string[];
}

export const domainKey = (domain: string) => `domain:${domain}`;

/** A mail deferred by its domains that stay unreachable (createBatchThrottle's plan and heldUntil). */
export interface Deferral {
  id: string;
  until: Date;
  reason: string;
}
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
  const signals = new Map<string, { signal: ThrottleSignal; reply: string | null; successes: number; answered: number }>();
  /** domains that asked us to slow down (or could not be reached) during this batch, and until when their mails wait */
  const stopped = new Map<string, Date>();
  let held = 0;

  function domainsOf(addresses: string[]): string[] {
    return [...new Set(addresses.map(domainOf).filter(Boolean))].sort();
  }

  async function plan(mails: ThrottledMail[]): Promise<{
    admitted: Set<string>;
    held: { id: string; until: Date }[];
    /** mails whose domains all stay unreachable (defers()): recorded as a temporary failure saying `reason` (not attempted), due at `until` */
    deferred: Deferral[];
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
      countHeld(keys);
      const deferring = deferringKeys(keys, (k) => {
        const g = grants.get(k)!;
        return g.pausedUntil && defers(g.unreachablePauses) ? g.pausedUntil : undefined;
      });
      if (deferring) {
        deferredMails.push({ id: m.id, ...deferring });
        continue;
      }
      const g = grants.get(blocking)!;
      const k = heldFor.get(blocking) ?? 0;
      heldFor.set(blocking, k + 1);
      const until = g.pausedUntil ?? (g.slots === 0 ? new Date(now.getTime() + SLOT_WAIT_MS) : heldDueAt(now, g.waitMs, k, g.perMinute));
      heldMails.push({ id: m.id, until });
    }
    const replies = deferredMails.length ? await repo.lastReplies(db, [...new Set(deferredMails.map((d) => d.key))]) : new Map<string, string>();
    const deferred = deferredMails.map((d) => ({ id: d.id, until: d.until, reason: deferralReason(d.key.slice(7), replies.get(d.key) ?? null, d.until) }));
    return { admitted, held: heldMails, deferred };
  }

  function countHeld(keys: string[]) {
    held++;
    for (const k of keys) if (k.startsWith('domain:')) countThrottleHeld(domainLabel(config, k.slice(7)));
  }

  /**
   * Runs fn holding one transaction slot of each of the mail's domains (taken in name order: no
   * deadlock); fn gives them back early with `releaseSlots` (its transaction ended), else they go
   * back when it settles.
   */
  function withSlots<R>(mailId: string, fn: (releaseSlots: () => void) => Promise<R>, priority?: number): Promise<R> {
    const ls = (keysOf.get(mailId) ?? []).flatMap((k) => limiters.get(k) ?? []);
    const releases: (() => void)[] = [];
    const releaseSlots = () => {
      for (const release of releases) release();
    };
    const run = (i: number): Promise<R> =>
      i === ls.length
        ? fn(releaseSlots)
        : ls[i]!((release) => {
            releases.push(release);
            return run(i + 1);
          }, priority);
    return run(0);
  }

  /**
   * In direct mode, whether every domain of a mail stays unreachable (`pausedUntil` gives, for a
   * domain key, when its deferring pause ends, else undefined): the latest end and a key to
   * quote; undefined when one of its domains does not (the mail is held instead).
   */
  function deferringKeys(keys: string[], pausedUntil: (key: string) => Date | undefined): { until: Date; key: string } | undefined {
    if (!opts.direct) return undefined;
    let found: { until: Date; key: string } | undefined;
    for (const k of keys) {
      if (!k.startsWith('domain:')) continue;
      const until = pausedUntil(k);
      if (!until) return undefined;
      if (!found || until > found.until) found = { until, key: k };
    }
    return found;
  }

  /**
   * When a domain of the mail slowed down during this batch (or another loop's): until when the
   * mail waits (it is not attempted), and, when this batch found every domain of the mail still
   * unreachable at the end of a run of unreachable pauses that already defers (defers(), as the
   * grant saw it: the count this batch's own report adds is not known for sure until finish()),
   * why it is deferred instead of held.
   */
  function heldUntil(mailId: string): { until: Date; reason?: string } | undefined {
    let until: Date | undefined;
    const now = opts.now();
    const keys = keysOf.get(mailId) ?? [];
    for (const k of keys) {
      let at = stopped.get(k);
      const shared = opts.paused.get(k);
      if (shared && shared <= now) opts.paused.delete(k);
      else if (shared && (!at || shared > at)) at = shared;
      if (at && (!until || at > until)) until = at;
    }
    if (!until) return undefined;
    countHeld(keys);
    const deferring = deferringKeys(keys, (k) => {
      const at = stopped.get(k);
      const s = signals.get(k);
      // not when a host of the domain answered in this batch too (that ends the run)
      return at && s?.signal === 'unreachable' && s.successes === 0 && s.answered === 0 && defers(grants.get(k)?.unreachablePauses ?? 0) ? at : undefined;
    });
    if (!deferring) return { until };
    return { until, reason: deferralReason(deferring.key.slice(7), signals.get(deferring.key)?.reply ?? null, deferring.until) };
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
      const s = signals.get(key) ?? { signal: 'other', reply: null, successes: 0, answered: 0 };
      if (signal === 'sent') s.successes++;
      else if (signal === 'other' && hasReplyCode(error)) s.answered++;
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
        answered: s?.answered ?? 0,
      };
    });
    if (reports.length) await repo.finishThrottle(db, opts.token, reports, config);
    return held;
  }

  return { plan, withSlots, heldUntil, report, finish };
}

export type BatchThrottle = ReturnType<typeof createBatchThrottle>;

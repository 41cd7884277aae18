import crypto from 'node:crypto';
import { createLimiter } from '../../shared/limiter.ts';
import { createClaimCursor } from './claim-cursor.ts';
import { domainBlockedLookup } from '../blocked-domains/blocked-domains.service.ts';
import { finishRequestsIfDone, sendingWithoutPending, startOverdueReservations } from '../lifecycle/lifecycle.service.ts';
import { blockedLookup } from '../send-block/send-block.service.ts';
import { unsubscribedLookup } from '../unsubscribes/unsubscribes.service.ts';
import { readKeyLookups } from '../../db/key-lookups.ts';
import { watchBatch } from './batch-watch.ts';
import * as repo from './delivery.repository.ts';
import { deliverySettings, type DeliveryDeps } from './delivery-deps.ts';
import { BATCH_WINDOW_MS, CLAIM_LINGER_MS, LEASE_MS, POLL_MS, RECORD_GROUP, RESERVATION_GRACE_MS } from './delivery-settings.ts';
import { historyRangeOf } from '../../db/history-range.ts';
import { createRelayHealth } from './relay-health.ts';
import { createSendingMonths } from './sending-months.ts';
import { createContextCache } from './request-contexts.ts';
import { batchRecording, createRecorder, type MailOutcome } from './result-recorder.ts';
import { claimAgainAtOnce, createLoopWakeups } from './loop-wakeups.ts';
import { createBatchSender } from './send-batch.ts';
import { createBatchThrottle } from './throttle.ts';
import { pruneThrottleStates } from './throttle.repository.ts';
import { THROTTLE_BACKED_OFF_IDLE_MS, THROTTLE_IDLE_MS } from './throttle-policy.ts';

/**
 * The next claim's size after a batch claimed `claimed` of `limit` and gave `released` back
 * unsent because its window ran out: what the batch did hand over (never less than `min`, the
 * loop's mails in flight), so a loop under a steady stream of new requests claims about what it
 * sends in a window instead of claiming and giving back the rest, claim after claim (each a
 * write of every mail twice, and a recipients' read); doubled, up to `max`, after a batch that
 * used all it claimed.
 */
export function nextClaimSize(limit: number, claimed: number, released: number, bounds: { min: number; max: number }): number {
  if (released > 0) return Math.min(bounds.max, Math.max(bounds.min, claimed - released));
  if (claimed >= limit) return Math.min(bounds.max, limit * 2);
  return limit;
}

/**
 * A process's delivery worker: `loops` claim loops, each claiming due mails of all sending
 * requests in batches (repo.claimDueMails), sending them through the pooled transport and
 * recording every recipient's result as it comes. Idle loops wait for a NOTIFY on mails_due,
 * for the earliest retry they scheduled themselves, for a loop that claimed a full batch, or
 * POLL_MS, whichever is first (loop-wakeups.ts).
 */
export function createDeliveryWorker(deps: DeliveryDeps) {
  const settings = deliverySettings(deps.config);
  const contextsFor = createContextCache(deps, settings);
  const sendBatch = createBatchSender(deps, settings, createRelayHealth(deps.logger));
  /** the outcomes of all the loops' batches, recorded together */
  const recorder = createRecorder(deps);

  /** domains that slowed down, as this process's batches met them (the database has the truth; this spares the other loops' retries) */
  const pausedDomains = new Map<string, Date>();
  let stopping = false;
  /** where the claims start (claimDueMails goes round the due requests) */
  const cursor = createClaimCursor();
  /** the created_at range the claims look in */
  const sendingMonths = createSendingMonths(deps.db);
  /** NOTIFYs on mails_due heard so far */
  let notifications = 0;
  const wakeups = createLoopWakeups({ pollMs: POLL_MS, lingerMs: CLAIM_LINGER_MS });
  let retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;

  /** A retry recorded here falls due at `at`: a loop looks then (other processes find it by polling). */
  function wakeAt(at: Date) {
    const ms = Math.max(0, at.getTime() - Date.now());
    if (retryTimer && retryTimer.at <= at.getTime()) return;
    if (retryTimer) clearTimeout(retryTimer.timer);
    const timer = setTimeout(() => {
      retryTimer = undefined;
      wakeups.wake();
    }, ms);
    timer.unref();
    retryTimer = { at: at.getTime(), timer };
  }

  /**
   * Claims one batch of at most `limit` mails and sends it; returns how many mails were claimed,
   * how many went back unsent (the window ran out), and whether the delivery limits held back
   * every one.
   */
  async function runBatch(limit: number): Promise<{ claimed: number; released: number; allHeld: boolean }> {
    const token = crypto.randomUUID();
    const heard = notifications;
    wakeups.claiming();
    const t0 = performance.now();
    const claimed = await repo.claimDueMails(deps.db, limit, LEASE_MS, token, cursor.start(), await sendingMonths());
    cursor.claimed(claimed);
    // When each stage of the batch ended, in ms since it began (the debug log's `at`).
    const at: Record<string, number> = { claimed: Math.round(performance.now() - t0) };
    const mark = (stage: string) => {
      at[stage] = Math.round(performance.now() - t0);
    };
    if (claimed.length === 0) return { claimed: 0, released: 0, allHeld: false };
    // the batch's statements on mails and recipients name the months of its mails
    const months = historyRangeOf(claimed.map((m) => m.created_at));
    const byRequest = new Map<string, repo.ClaimedMail[]>();
    for (const m of claimed) {
      const list = byRequest.get(m.request_id) ?? [];
      list.push(m);
      byRequest.set(m.request_id, list);
    }
    const requestIds = [...byRequest.keys()];
    // The claim's order, requests in turn: a group that loads late (a new request) still goes first.
    const turns: { id: string; turn: number; request: bigint }[] = [];
    for (const [requestId, mails] of byRequest) {
      mails.sort((a, b) => a.seq - b.seq);
      for (const [turn, m] of mails.entries()) turns.push({ id: m.id, turn, request: BigInt(requestId) });
    }
    turns.sort((a, b) => a.turn - b.turn || (a.request < b.request ? -1 : a.request > b.request ? 1 : 0));
    const turnOf = new Map(turns.map((t, i) => [t.id, i]));
    // Leases renewed while the batch is sent; a cancel must stop what is claimed but not yet
    // handed to SMTP, so the requests' statuses are watched meanwhile.
    const watch = watchBatch(deps, token, requestIds, months);
    // RECORD_GROUP places of the slot are for mails sent and not yet recorded: once that many of
    // the batch's outcomes wait for a recording group, batchRecording (below) ends the linger.
    const slot = createLimiter(settings.inFlight + RECORD_GROUP);
    const transportSlot = createLimiter(settings.inFlight);
    // Starts at the first handover after a NOTIFY: loading a batch may take a while on a busy database.
    let windowEnds: number | undefined;
    const released: string[] = [];
    const held: { id: string; until: Date }[] = [];
    const throttle = createBatchThrottle(deps.db, deps.config.throttle, {
      token,
      leaseMs: LEASE_MS,
      direct: deps.config.smtpUrl === 'direct',
      now: deps.now,
      maxSlots: settings.inFlight,
      loops: settings.loops,
      paused: pausedDomains,
    });
    let nextRetry: Date | undefined;
    // Once a recording failed, nothing more of the batch is handed to SMTP: it goes back unsent.
    let recordFailed = false;
    const recordOfBatch = batchRecording((o: MailOutcome, opts) => recorder({ ...o, token, months }, opts), RECORD_GROUP);
    const record = async (o: MailOutcome) => {
      await recordOfBatch(o).catch((err) => {
        recordFailed = true;
        throw err;
      });
      if (o.mail.nextAttemptAt && (!nextRetry || o.mail.nextAttemptAt < nextRetry)) nextRetry = o.mail.nextAttemptAt;
    };
    try {
      // A few queries for the whole batch, however many requests it spans: the API shares the pool.
      const [ctxs, rows] = await Promise.all([
        contextsFor(requestIds),
        repo.loadRecipients(
          deps.db,
          claimed.map((m) => m.id),
          months,
        ),
      ]);
      mark('loaded');
      const recipientsOf = new Map<string, repo.DeliveryRecipientRow[]>();
      for (const r of rows) {
        const list = recipientsOf.get(r.mail_id) ?? [];
        list.push(r);
        recipientsOf.set(r.mail_id, list);
      }
      const pending = rows.filter((r) => r.status === 'R' || r.status === 'I');
      const projectOf = new Map(requestIds.flatMap((id, i) => (ctxs[i] ? byRequest.get(id)!.map((m) => [m.id, ctxs[i]!.projectId] as const) : [])));
      // The delivery limits, for the whole batch at once: what may go now, and when the rest is due again.
      const planned = await throttle.plan(
        claimed
          .filter((m) => projectOf.has(m.id))
          .sort((a, b) => turnOf.get(a.id)! - turnOf.get(b.id)!)
          .map((m) => ({
            id: m.id,
            projectId: projectOf.get(m.id)!,
            addresses: (recipientsOf.get(m.id) ?? []).filter((r) => r.status === 'R' || r.status === 'I').map((r) => r.address),
          })),
      );
      mark('planned');
      held.push(...planned.held);
      // More may be due: an idle loop helps instead of waiting for its poll (not when the limits
      // held this claim back whole: the next would be held too).
      if (claimed.length === limit && planned.held.length < claimed.length) wakeups.wake();
      // Mails whose domains stay down spend a retry each pause, without a connection (sendBatch records them).
      const deferred = new Map(planned.deferred.map((d) => [d.id, d]));
      // The send-block list, the projects' blocked domains and (for advertising mail) their
      // unsubscribe lists: one statement for the batch.
      const advertising = new Set(requestIds.flatMap((id, i) => (ctxs[i]?.advertising ? byRequest.get(id)!.map((m) => m.id) : [])));
      const ofProject = (rows: repo.DeliveryRecipientRow[]) => rows.map((r) => ({ projectId: projectOf.get(r.mail_id)!, address: r.address }));
      const [blocked, domainBlocked, unsubscribed] = await readKeyLookups(deps.db, [
        blockedLookup(
          pending.map((r) => r.address),
          deps.now(),
        ),
        domainBlockedLookup(ofProject(pending.filter((r) => projectOf.has(r.mail_id)))),
        unsubscribedLookup(ofProject(pending.filter((r) => advertising.has(r.mail_id)))),
      ]);
      mark('listed');
      const sent = await Promise.allSettled(
        requestIds.map(async (requestId, i) => {
          const ctx = ctxs[i];
          // Gone (purged): its mails stay claimed until the lease runs out, like a lost worker's.
          if (!ctx) return;
          const admitted = byRequest.get(requestId)!.filter((m) => planned.admitted.has(m.id) || deferred.has(m.id));
          if (!admitted.length) return;
          await sendBatch(ctx, admitted, {
            recipientsOf,
            blocked,
            domainBlocked,
            unsubscribed,
            slot,
            transportSlot,
            turnOf,
            isCancelled: () => watch.cancelled().has(requestId),
            isOver: () => {
              if (stopping || recordFailed) return true;
              if (notifications === heard) return false;
              windowEnds ??= Date.now() + BATCH_WINDOW_MS;
              return Date.now() > windowEnds;
            },
            release: (id) => void released.push(id),
            hold: (id, until) => void held.push({ id, until }),
            deferred,
            throttle,
            record,
          });
        }),
      );
      mark('sent');
      const failed = sent.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      if (released.length) {
        await repo.releaseMails(deps.db, token, released, months);
        const back = new Set(released);
        cursor.released(claimed.filter((m) => back.has(m.id)));
      }
      if (held.length) {
        await repo.holdMails(deps.db, token, held, months);
        const first = new Date(Math.min(...held.map((h) => h.until.getTime())));
        if (!nextRetry || first < nextRetry) nextRetry = first;
      }
    } finally {
      watch.stop();
      // Unused tokens and the slots go back even when the batch failed (a lost process's expire with their lease).
      await throttle
        .finish()
        .catch((err) => deps.logger.warn({ err: (err as Error).message }, "throttle: giving back a batch's limits failed; its slots expire"));
      mark('throttled');
      // Whatever else failed, requests whose mails are all recorded roll up now (best effort: the
      // sweep rolls up any this misses). A batch with more mails than requests is mostly a large
      // request's, which has more left: those are looked for first.
      await finishRequestsIfDone(deps, requestIds, months, claimed.length > requestIds.length).catch((err) =>
        deps.logger.warn({ err: (err as Error).message }, 'roll-up failed; the sweep will retry'),
      );
    }
    if (nextRetry) wakeAt(nextRetry);
    mark('done');
    deps.logger.debug(
      {
        mails: claimed.length - released.length - held.length,
        released: released.length,
        held: held.length,
        requests: requestIds.length,
        at,
      },
      'delivery batch done',
    );
    return { claimed: claimed.length, released: released.length, allHeld: held.length === claimed.length };
  }

  async function loop(): Promise<void> {
    // What this loop claims at once: DELIVERY_CLAIM_BATCH, less while its batches' windows run
    // out (new requests keep arriving, nextClaimSize).
    let limit = settings.claimBatch;
    while (!stopping) {
      let claimed = 0;
      let released = 0;
      let allHeld = false;
      // the size this claim was made with (the wait below asks whether it took all it could)
      const asked = limit;
      try {
        ({ claimed, released, allHeld } = await runBatch(asked));
        limit = nextClaimSize(asked, claimed, released, { min: settings.inFlight, max: settings.claimBatch });
      } catch (err) {
        // The mails stay claimed until their lease runs out; then any loop takes them again. The
        // claim may not have run: what it was to take up is left for the next loop done.
        deps.logger.error({ err }, 'delivery batch failed');
        wakeups.claimFailed();
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      // A short claim took every due mail there was when it ran; another claim finds more only
      // when some were inserted since (a NOTIFY) or came due (the retry timer, the poll): the
      // loop waits for them, unless one of them found no loop idle (loop-wakeups.ts).
      // A batch the limits held back whole (its domains' transactions all taken: more claim loops
      // than a domain has slots, as with several worker processes) is most likely followed by
      // another: claiming again at once spins through the backlog, holding mail after mail and
      // taking the database from the loops that send. The loop waits like one whose claim was
      // short; the sending loops go on claiming meanwhile.
      if (stopping || claimAgainAtOnce({ asked, claimed, released, allHeld })) continue;
      await wakeups.next();
    }
  }

  /**
   * Starts reservations whose time passed a while ago but are still R (their job was lost);
   * runs periodically in every worker process. Returns how many it started.
   */
  async function sweep(): Promise<number> {
    const started = await startOverdueReservations(deps, RESERVATION_GRACE_MS, 200);
    if (started) deps.logger.warn({ requests: started }, 'sweeper started reservations whose job was lost');
    // A request whose last roll-up was lost (an error in its batch, a kill between recording and
    // rolling up) would stay I for good.
    const unfinished = await sendingWithoutPending(deps, 200);
    if (unfinished.length) {
      await finishRequestsIfDone(deps, unfinished);
      deps.logger.warn({ requests: unfinished.length }, 'sweeper rolled up requests left sending with nothing to send');
    }
    const pruned = await pruneThrottleStates(deps.db, THROTTLE_IDLE_MS, THROTTLE_BACKED_OFF_IDLE_MS);
    if (pruned) deps.logger.debug({ keys: pruned }, 'sweeper pruned idle delivery limit states');
    return started;
  }

  let loops: Promise<void>[] = [];
  return {
    /** Starts the claim loops. */
    start() {
      loops = Array.from({ length: settings.loops }, () => loop());
    },
    /** Mails may be due (a NOTIFY on mails_due): an idle loop looks at once, busy ones make room soon. */
    notified() {
      notifications++;
      wakeups.notified();
    },
    sweep,
    /** Stop claiming: each loop records what it handed to SMTP and gives the rest back; resolves when all have. */
    async stop() {
      stopping = true;
      wakeups.stop();
      if (retryTimer) clearTimeout(retryTimer.timer);
      await Promise.all(loops);
    },
  };
}

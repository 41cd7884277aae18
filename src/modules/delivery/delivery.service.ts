import crypto from 'node:crypto';
import type { SentMessageInfo, Transporter } from 'nodemailer';
import type { Db, Tx } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import { applySendResult, type MailUpdate, type RecipientUpdate, type RetryPolicy, type SendResult } from './apply-send-result.ts';
import { buildMessage, type MailRecipient } from './build-message.ts';
import type { SmtpOutcomeInput } from './classify-smtp-reply.ts';
import * as repo from './delivery.repository.ts';
import { buildRequestContext, type RequestContext } from './request-context.ts';
import { attachmentsForDelivery } from '../files/files.read-model.ts';
import { rollUpStatus } from './roll-up-status.ts';
import { HARD_BOUNCE_CODES } from './classify-smtp-reply.ts';
import { skipListedRecipients } from './skip-listed-recipients.ts';
import { isBlankHtml } from './blank-body.ts';
import type { Lang } from '../../shared/i18n.ts';
import { blockedAmong, recordHardBounces, type HardBounce } from '../send-block/send-block.service.ts';
import { unsubscribedAmong, unsubscribeUrl } from '../unsubscribes/unsubscribes.service.ts';
import { domainBlockedAmong } from '../blocked-domains/blocked-domains.service.ts';
import { unsubscribeMessageFor } from '../unsubscribes/unsubscribe-message.ts';
import { countRecipientResults } from '../../metrics.ts';
import { createRelayHealth } from './relay-health.ts';

/** A claim not renewed within this time is taken to be lost with its worker. */
export const LEASE_MS = 30_000;
/** How often a sending batch looks for a cancel of its requests. */
export const CANCEL_WATCH_MS = 250;
/**
 * Mails of one claim loop with the transport at once: all loops together keep about four per
 * SMTP connection queued, enough to keep each busy. More would only queue in the pool, where a
 * new request's mail waits behind them.
 */
export function inFlightPerLoop(smtpConnections: number, loops: number): number {
  return Math.max(2, Math.ceil((4 * smtpConnections) / loops));
}
/**
 * Once mails were stored after its claim, a claim loop hands mails of its batch to SMTP for this
 * long at most; the rest goes back and is claimed again, in turn with the new ones. So a new
 * request's mail waits about one window, however slow the relay is and however large the
 * requests ahead of it; with nothing new, a batch is sent whole.
 */
export const BATCH_WINDOW_MS = 250;
/**
 * Results are recorded in groups of at most this many, as they come, and a loop has at most
 * this many sent but not yet recorded (plus those still with the transport): all a kill can
 * make it send twice.
 */
export const RECORD_GROUP = 10;
/** Live workers renew their claims this often, however long the relay takes. */
export const LEASE_RENEW_MS = 10_000;
/**
 * An idle claim loop looks for due mails this often even without a notification: a missed
 * NOTIFY, a retry falling due in another process, a lease run out.
 */
export const POLL_MS = 1_000;
/** A reservation still R this long after its time has lost its job: the sweep starts it. */
export const RESERVATION_GRACE_MS = 5_000;

/** Rolls each request up to its final status once no mail of it is pending. Safe to call from anywhere, any number of times. */
export async function finishRequestsIfDone(db: Db, requestIds: string[]): Promise<void> {
  // A request still sending answers from the pending index alone, instead of counting all its mails.
  const done = await repo.requestsWithoutPending(db, requestIds);
  if (!done.length) return;
  const counts = await repo.mailStatusCounts(db, done);
  const finished: { id: string; status: string }[] = [];
  for (const id of done) {
    const status = rollUpStatus(counts.get(id) ?? {});
    if (status && status !== 'I') finished.push({ id, status });
  }
  await repo.finishRequests(db, finished);
}

export async function finishRequestIfDone(db: Db, requestId: string): Promise<void> {
  await finishRequestsIfDone(db, [requestId]);
}

/** sendMailRequestNow and a reservation's time: the claim loops of every process look at once. */
export const notifyDue = repo.notifyDue;

/** Job: a reservation's time has come. */
export async function startReservation(db: Db, requestId: string): Promise<void> {
  if (await repo.startReservedRequest(db, requestId)) await repo.notifyDue(db);
}

export interface DeliveryDeps {
  db: Db;
  transport: Transporter;
  logger: Logger;
  retry: RetryPolicy;
  now: () => Date;
  /** DATA_DIR: attachments are read from its files/ */
  dataDir: string;
  /** advertising mail: the token key, PUBLIC_BASE_URL and the basic notice's language */
  unsubscribe: { key: Buffer; baseUrl: string; lang: Lang };
  /** claim loops in this process (WORKER_CONCURRENCY) */
  loops: number;
  /** mails a loop claims at once (DELIVERY_CLAIM_BATCH) */
  claimBatch: number;
  /** mails a loop has with the transport at once (inFlightPerLoop) */
  inFlight: number;
}

export type Limiter = <R>(fn: () => Promise<R>, priority?: number) => Promise<R>;

/** At most `limit` calls of the returned function run at once; of those waiting, the lowest `priority` goes next (then the first come). */
export function createLimiter(limit: number): Limiter {
  let running = 0;
  const waiting: { priority: number; go: () => void }[] = [];
  return async (fn, priority = 0) => {
    if (running >= limit) {
      await new Promise<void>((go) => {
        let i = waiting.length;
        while (i > 0 && waiting[i - 1]!.priority > priority) i--;
        waiting.splice(i, 0, { priority, go });
      });
    } else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next.go();
      else running--;
    }
  };
}

function errorInput(err: unknown): SmtpOutcomeInput {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  return { responseCode: e.responseCode, response: e.response, errorCode: e.code, message: e.message };
}

async function attempt(transport: Transporter, ctx: RequestContext, recipients: MailRecipient[], unsubscribeUrl: string | undefined): Promise<SendResult> {
  let built;
  try {
    built = buildMessage(ctx, recipients, unsubscribeUrl);
  } catch (err) {
    return { kind: 'content', resultCode: 'MIME_MESSAGE_CREATE_FAIL', message: String((err as Error).message) };
  }
  if (!built.ok) return { kind: 'content', resultCode: 'CONTENT_HAS_TAG_FORM', message: `no value for tag \${${built.missingTag}}` };
  if (typeof built.message.html === 'string' && isBlankHtml(built.message.html)) {
    return { kind: 'content', resultCode: 'EMPTY_BODY_CONTENT', message: 'the body renders empty (no text or image after substitution)' };
  }
  try {
    const info = (await transport.sendMail(built.message)) as SentMessageInfo & {
      rejectedErrors?: { recipient?: string; responseCode?: number; response?: string; code?: string; message?: string }[];
      rejected?: (string | { address: string })[];
    };
    const rejected = (info.rejectedErrors ?? []).map((e) => ({ address: e.recipient ?? '', error: errorInput(e) }));
    return { kind: 'sent', response: String(info.response ?? ''), rejected };
  } catch (err) {
    const e = err as { rejectedErrors?: { recipient?: string }[] };
    // All recipients refused at RCPT: each has its own reply.
    if (Array.isArray(e.rejectedErrors) && e.rejectedErrors.length) {
      return { kind: 'sent', response: '', rejected: e.rejectedErrors.map((x) => ({ address: x.recipient ?? '', error: errorInput(x) })) };
    }
    return { kind: 'failed', error: errorInput(err) };
  }
}

/** One mail's outcome, as the batch records it. */
interface MailOutcome {
  mailId: string;
  projectId: string;
  mail: MailUpdate;
  recipients: RecipientUpdate[];
  all: MailRecipient[];
}

/**
 * A process's delivery worker: `loops` claim loops, each claiming due mails of all sending
 * requests in batches (repo.claimDueMails), sending them through the pooled transport and
 * recording every recipient's result as it comes. Idle loops wait for a NOTIFY on mails_due
 * (wake()), for the earliest retry they scheduled themselves, or POLL_MS, whichever is first.
 */
export function createDeliveryWorker(deps: DeliveryDeps) {
  const contexts = new Map<string, Promise<RequestContext | undefined>>();
  const relay = createRelayHealth(deps.logger);

  async function loadContexts(requestIds: string[]): Promise<Map<string, RequestContext>> {
    const [rows, attachments] = await Promise.all([repo.loadRequestsForDelivery(deps.db, requestIds), attachmentsForDelivery(deps.db, deps.dataDir, requestIds)]);
    const out = new Map<string, RequestContext>();
    for (const row of rows) {
      const notice = row.advertising
        ? unsubscribeMessageFor({ useBasicUnsubscribeMsg: row.use_basic_unsubscribe_msg, unsubscribeMessage: row.unsubscribe_message }, deps.unsubscribe.lang)
        : null;
      out.set(String(row.id), buildRequestContext(row, attachments.get(String(row.id)) ?? [], notice));
    }
    return out;
  }

  /** Requests not seen before are loaded together (two queries for a batch); loops claiming the same new request share one load. */
  function contextsFor(requestIds: string[]): Promise<(RequestContext | undefined)[]> {
    const missing = requestIds.filter((id) => !contexts.has(id));
    if (missing.length) {
      const loading = loadContexts(missing);
      for (const id of missing) {
        const one = loading.then((m) => m.get(id));
        one.catch(() => contexts.delete(id));
        contexts.set(id, one);
      }
      while (contexts.size > 1_000) contexts.delete(contexts.keys().next().value!);
    }
    return Promise.all(requestIds.map((id) => contexts.get(id)!));
  }

  /** Recording is retried for a while: a result lost to a database blip would mean sending again. */
  async function recordWithRetry(token: string, mails: repo.MailResultRow[], recipients: (RecipientUpdate & { mailId: string })[], bounces: (HardBounce & { mailId: string })[]) {
    // Hard bounces block their address in the same transaction as the results that report them.
    const blockBounces = bounces.length
      ? async (tx: Tx, held: Set<string>) => {
          await recordHardBounces(tx, bounces.filter((b) => held.has(b.mailId)), deps.now());
        }
      : undefined;
    for (let attemptNo = 1; ; attemptNo++) {
      try {
        await repo.recordResults(deps.db, token, mails, recipients, blockBounces);
        return countRecipientResults(recipients);
      } catch (err) {
        if (attemptNo >= 8) throw err;
        deps.logger.warn({ err: (err as Error).message, attempt: attemptNo }, 'recording results failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attemptNo, 8_000)));
      }
    }
  }

  function recordOutcomes(token: string, results: MailOutcome[]) {
    const mailRows: repo.MailResultRow[] = results.map((r) => ({ id: r.mailId, ...r.mail }));
    const recipientRows = results.flatMap((r) => r.recipients.map((u) => ({ ...u, mailId: r.mailId })));
    const bounces = results.flatMap((r) =>
      r.recipients
        .filter((u) => u.status === 'F' && HARD_BOUNCE_CODES.has(u.resultCode))
        .map((u) => ({ mailId: r.mailId, address: r.all.find((x) => x.id === u.id)!.address, projectId: r.projectId, resultCode: u.resultCode, resultMessage: u.resultMessage })),
    );
    return recordWithRetry(token, mailRows, recipientRows, bounces);
  }

  /**
   * Records a batch's outcomes as they come, in groups of at most RECORD_GROUP (one recording at a
   * time; what arrives meanwhile goes in the next group). record() resolves once its outcome is
   * recorded: the sender holds its transport slot until then, so what a kill can leave sent but
   * unrecorded is bounded by the slots.
   */
  function createRecorder(token: string) {
    const queued: { outcome: MailOutcome; done: () => void; failed: (err: unknown) => void }[] = [];
    let busy = false;
    const next = () => {
      if (busy || !queued.length) return;
      busy = true;
      const group = queued.splice(0, RECORD_GROUP);
      recordOutcomes(token, group.map((g) => g.outcome))
        .then(
          () => group.forEach((g) => g.done()),
          (err) => group.forEach((g) => g.failed(err)),
        )
        .finally(() => {
          busy = false;
          next();
        });
    };
    return (outcome: MailOutcome) =>
      new Promise<void>((done, failed) => {
        queued.push({ outcome, done, failed });
        next();
      });
  }

  /** An individual mail's link: its one recipient's own. */
  function urlFor(ctx: RequestContext, first: MailRecipient): string | undefined {
    if (!ctx.unsubscribeLink) return undefined;
    return unsubscribeUrl(deps.unsubscribe.baseUrl, deps.unsubscribe.key, { projectId: ctx.projectId, recipientId: first.id, address: first.address });
  }

  type RecipientRow = Awaited<ReturnType<typeof repo.loadRecipients>>[number];

  interface BatchRun {
    /** the batch's recipients, by mail */
    recipientsOf: Map<string, RecipientRow[]>;
    /** pending addresses of the batch on the send-block list */
    blocked: Set<string>;
    /** pending addresses of the batch in a domain their project blocks, by project */
    domainBlocked: Map<string, Set<string>>;
    /** a mail of the claim loop being sent or recorded: bounds what is sent and not yet recorded */
    slot: Limiter;
    /** a transport slot of the claim loop */
    transportSlot: Limiter;
    /** each mail's place in the claim's order (requests in turn): the order slots are given in */
    turnOf: Map<string, number>;
    /** whether the request was cancelled since the claim */
    isCancelled: () => boolean;
    /** past the batch's window, or stopping: mails not yet started go back unsent */
    isOver: () => boolean;
    release: (mailId: string) => void;
    record: (outcome: MailOutcome) => Promise<void>;
  }

  /** Sends the claimed mails of one request; each mail's outcome is recorded before its slot is given up. */
  async function sendBatch(ctx: RequestContext, mails: repo.ClaimedMail[], run: BatchRun): Promise<void> {
    const rows = mails.flatMap((m) => run.recipientsOf.get(m.id) ?? []);
    const byMail = new Map<string, MailRecipient[]>();
    for (const r of rows) {
      const list = byMail.get(r.mail_id) ?? [];
      list.push({
        id: r.id,
        address: r.address,
        name: r.name,
        type: r.type,
        parameters: (r.parameters as Record<string, unknown> | null) ?? null,
        retryCount: r.retry_count,
        status: r.status,
        pending: r.status === 'R' || r.status === 'I',
      });
      byMail.set(r.mail_id, list);
    }
    // The unsubscribe list, one query for an advertising request's mails of the batch (send-block
    // and blocked domains: one query each for the whole batch).
    const pendingAddresses = rows.filter((r) => r.status === 'R' || r.status === 'I').map((r) => r.address);
    const lists = {
      unsubscribed: ctx.advertising ? await unsubscribedAmong(deps.db, ctx.projectId, pendingAddresses) : new Set<string>(),
      blocked: run.blocked,
      domainBlocked: run.domainBlocked.get(ctx.projectId),
    };
    // Only a few mails per loop are with the transport at once (enough to keep its connections
    // busy), so that what a cancel finds not yet handed over is most of the batch. Every mail's
    // task settles before this returns, even when a recording failed: none may go on sending
    // detached, outside the lease renewal and the loop's in-flight bound.
    const settled = await Promise.allSettled(
      mails.map((m) =>
        run.slot(async () => {
          const outcome = await run.transportSlot(async (): Promise<MailOutcome | undefined> => {
            const cancelled = run.isCancelled();
            if (!cancelled && run.isOver()) return undefined;
            const skipped = skipListedRecipients(byMail.get(m.id) ?? [], lists, { advertising: ctx.advertising, cancelled }, deps.now());
            const recipients = skipped.rest;
            // A crash after the recipients were recorded leaves nothing pending: the mail just rolls up.
            const result: SendResult = !recipients.some((r) => r.pending)
              ? { kind: 'sent', response: '', rejected: [] }
              : cancelled
                ? { kind: 'cancelled' }
                : await attempt(deps.transport, ctx, recipients, urlFor(ctx, recipients[0]!));
            const applied = applySendResult(recipients, result, deps.now(), deps.retry);
            if (result.kind === 'failed') {
              const pending = recipients.filter((r) => r.pending);
              const update = applied.recipients.find((u) => pending.some((p) => p.id === u.id));
              relay.failed({
                recipients: pending.length,
                reply: result.error.response ?? result.error.message ?? String(result.error.errorCode),
                code: update?.temporaryResultCode ?? update?.resultCode ?? 'UNKNOWN_CAUSE_FAIL',
                temporary: update?.temporaryResultCode !== undefined,
              });
            } else if (result.kind === 'sent') relay.succeeded();
            return { mailId: m.id, projectId: ctx.projectId, mail: applied.mail, recipients: [...skipped.updates, ...applied.recipients], all: recipients };
          }, run.turnOf.get(m.id));
          // Not handed over (past the window, or stopping): back for the next claim.
          if (!outcome) return run.release(m.id);
          await run.record(outcome);
        }, run.turnOf.get(m.id)),
      ),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  let stopping = false;
  /** NOTIFYs on mails_due heard so far */
  let notifications = 0;
  const idle: (() => void)[] = [];
  let retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;

  /** Wakes one idle loop (all of them with `all`). */
  function wake(all = false) {
    do idle.shift()?.();
    while (all && idle.length);
  }

  /** A retry recorded here falls due at `at`: a loop looks then (other processes find it by polling). */
  function wakeAt(at: Date) {
    const ms = Math.max(0, at.getTime() - Date.now());
    if (retryTimer && retryTimer.at <= at.getTime()) return;
    if (retryTimer) clearTimeout(retryTimer.timer);
    const timer = setTimeout(() => {
      retryTimer = undefined;
      wake();
    }, ms);
    timer.unref();
    retryTimer = { at: at.getTime(), timer };
  }

  function waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const i = idle.indexOf(done);
        if (i >= 0) idle.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      idle.push(done);
    });
  }

  /** Claims one batch and sends it; returns how many mails were claimed. */
  async function runBatch(): Promise<number> {
    const token = crypto.randomUUID();
    const heard = notifications;
    const t0 = performance.now();
    const claimed = await repo.claimDueMails(deps.db, deps.claimBatch, LEASE_MS, token);
    const claimMs = performance.now() - t0;
    if (claimed.length === 0) return 0;
    // More may be due: an idle loop helps instead of waiting for its poll.
    if (claimed.length === deps.claimBatch) wake();
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
      mails.sort((a, b) => a.seq - b.seq).forEach((m, turn) => turns.push({ id: m.id, turn, request: BigInt(requestId) }));
    }
    turns.sort((a, b) => a.turn - b.turn || (a.request < b.request ? -1 : a.request > b.request ? 1 : 0));
    const turnOf = new Map(turns.map((t, i) => [t.id, i]));
    const renew = setInterval(() => {
      repo.renewLeases(deps.db, token, LEASE_MS).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'lease renewal failed'));
    }, LEASE_RENEW_MS);
    // A cancel must stop what is claimed but not yet handed to SMTP: the requests' statuses are
    // watched while the batch is sent, and mails not started by then are recorded as cancelled.
    let cancelled = new Set<string>();
    const watch = setInterval(() => {
      repo
        .cancelledAmong(deps.db, requestIds)
        .then((ids) => {
          if (ids.size) cancelled = ids;
        })
        .catch(() => undefined);
    }, CANCEL_WATCH_MS);
    const slot = createLimiter(deps.inFlight + RECORD_GROUP);
    const transportSlot = createLimiter(deps.inFlight);
    // Starts at the first handover after a NOTIFY: loading a batch may take a while on a busy database.
    let windowEnds: number | undefined;
    const released: string[] = [];
    const recorder = createRecorder(token);
    let nextRetry: Date | undefined;
    // Once a recording failed, nothing more of the batch is handed to SMTP: it goes back unsent.
    let recordFailed = false;
    const record = async (o: MailOutcome) => {
      await recorder(o).catch((err) => {
        recordFailed = true;
        throw err;
      });
      if (o.mail.nextAttemptAt && (!nextRetry || o.mail.nextAttemptAt < nextRetry)) nextRetry = o.mail.nextAttemptAt;
    };
    try {
      // A few queries for the whole batch, however many requests it spans: the API shares the pool.
      const [ctxs, rows] = await Promise.all([contextsFor(requestIds), repo.loadRecipients(deps.db, claimed.map((m) => m.id))]);
      const recipientsOf = new Map<string, RecipientRow[]>();
      for (const r of rows) {
        const list = recipientsOf.get(r.mail_id) ?? [];
        list.push(r);
        recipientsOf.set(r.mail_id, list);
      }
      const pending = rows.filter((r) => r.status === 'R' || r.status === 'I');
      const projectOf = new Map(requestIds.flatMap((id, i) => (ctxs[i] ? byRequest.get(id)!.map((m) => [m.id, ctxs[i]!.projectId] as const) : [])));
      const [blocked, domainBlocked] = await Promise.all([
        blockedAmong(deps.db, pending.map((r) => r.address), deps.now()),
        domainBlockedAmong(deps.db, pending.filter((r) => projectOf.has(r.mail_id)).map((r) => ({ projectId: projectOf.get(r.mail_id)!, address: r.address }))),
      ]);
      const sent = await Promise.allSettled(
        requestIds.map(async (requestId, i) => {
          const ctx = ctxs[i];
          // Gone (purged): its mails stay claimed until the lease runs out, like a lost worker's.
          if (!ctx) return;
          await sendBatch(ctx, byRequest.get(requestId)!, {
            recipientsOf,
            blocked,
            domainBlocked,
            slot,
            transportSlot,
            turnOf,
            isCancelled: () => cancelled.has(requestId),
            isOver: () => stopping || recordFailed || (notifications !== heard && Date.now() > (windowEnds ??= Date.now() + BATCH_WINDOW_MS)),
            release: (id) => void released.push(id),
            record,
          });
        }),
      );
      const failed = sent.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      if (released.length) await repo.releaseMails(deps.db, token, released);
    } finally {
      clearInterval(renew);
      clearInterval(watch);
      // Whatever else failed, requests whose mails are all recorded roll up now (best effort: the
      // sweep rolls up any this misses).
      await finishRequestsIfDone(deps.db, requestIds).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'roll-up failed; the sweep will retry'));
    }
    if (nextRetry) wakeAt(nextRetry);
    const sentMs = performance.now() - t0;
    deps.logger.debug(
      { mails: claimed.length - released.length, released: released.length, requests: requestIds.length, claimMs: Math.round(claimMs), sentMs: Math.round(sentMs), ms: Math.round(performance.now() - t0) },
      'delivery batch done',
    );
    return claimed.length;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await runBatch();
      } catch (err) {
        // The mails stay claimed until their lease runs out; then any loop takes them again.
        deps.logger.error({ err }, 'delivery batch failed');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      if (claimed === 0 && !stopping) await waitForWork();
    }
  }

  /**
   * Starts reservations whose time passed a while ago but are still R (their job was lost);
   * runs periodically in every worker process. Returns how many it started.
   */
  async function sweep(): Promise<number> {
    const started = await repo.startOverdueReservations(deps.db, RESERVATION_GRACE_MS, 200);
    if (started) {
      deps.logger.warn({ requests: started }, 'sweeper started reservations whose job was lost');
      await repo.notifyDue(deps.db);
    }
    // A request whose last roll-up was lost (an error in its batch, a kill between recording and
    // rolling up) would stay I for good.
    const unfinished = await repo.sendingWithoutPending(deps.db, 200);
    if (unfinished.length) {
      await finishRequestsIfDone(deps.db, unfinished);
      deps.logger.warn({ requests: unfinished.length }, 'sweeper rolled up requests left sending with nothing to send');
    }
    return started;
  }

  let loops: Promise<void>[] = [];
  return {
    /** Starts the claim loops. */
    start() {
      loops = Array.from({ length: deps.loops }, () => loop());
    },
    /** Mails may be due (a NOTIFY on mails_due): an idle loop looks at once, busy ones make room soon. */
    notified() {
      notifications++;
      wake();
    },
    sweep,
    /** Stop claiming: each loop records what it handed to SMTP and gives the rest back; resolves when all have. */
    async stop() {
      stopping = true;
      wake(true);
      if (retryTimer) clearTimeout(retryTimer.timer);
      await Promise.all(loops);
    },
  };
}

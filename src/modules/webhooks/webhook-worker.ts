import { Webhook } from 'standardwebhooks';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import { createLimiter } from '../../shared/limiter.ts';
import type { SecretBox } from '../../shared/secret-box.ts';
import { getExportsByIds } from '../exports/exports.read-model.ts';
import { getRecipientViewRows } from '../mails/recipients.read-model.ts';
import { getRequestRowsByIds } from '../mails/request-list.read-model.ts';
import { nextAttemptAfterFailure } from './backoff.ts';
import { createWebhookPoster, type PostResult } from './send-webhook.ts';
import { subjectOf } from './webhook-events.ts';
import * as repo from './webhooks.repository.ts';

export interface WebhookWorkerDeps {
  config: Readonly<Config>;
  db: Db;
  logger: Logger;
  now: () => Date;
  box: SecretBox;
}

/** Deliveries a loop claims at once, at most: a few rounds of the concurrency, so the lease covers a batch of timeouts. */
const MAX_CLAIM_BATCH = 500;
/** Delivered and failed deliveries are kept in the log this long. */
const LOG_KEEP_DAYS = 30;
const PRUNE_EVERY_MS = 10 * 60_000;
/** An idle loop looks for due deliveries this often (retries, and events of other processes). */
const POLL_MS = 250;

/** The payload's `data`: the row as the views show it (the id alone when the row is gone: purged). */
async function loadSubjects(deps: WebhookWorkerDeps, claimed: repo.ClaimedDelivery[]): Promise<Map<string, unknown>> {
  const ids = { recipient: new Set<string>(), request: new Set<string>(), export: new Set<string>() };
  for (const d of claimed) if (d.payload === null) ids[subjectOf(d.event_type)].add(d.subject_id);
  const view = { lang: 'en' as const, timeZone: deps.config.displayTimezone };
  const [recipients, requests, exports] = await Promise.all([
    ids.recipient.size ? getRecipientViewRows(deps.db, [...ids.recipient], view) : new Map(),
    ids.request.size ? getRequestRowsByIds(deps.db, [...ids.request], view) : new Map(),
    ids.export.size ? getExportsByIds(deps.db, [...ids.export], { ...view, publicBaseUrl: deps.config.publicBaseUrl, now: deps.now() }) : new Map(),
  ]);
  const out = new Map<string, unknown>();
  for (const [id, row] of recipients) out.set(`recipient:${id}`, row);
  for (const [id, row] of requests) out.set(`request:${id}`, row);
  for (const [id, row] of exports) out.set(`export:${id}`, row);
  return out;
}

/**
 * A process's webhook sender, a pipeline: a claim loop keeps up to twice `WEBHOOK_CONCURRENCY`
 * deliveries of enabled endpoints in hand (claimed under a lease, SKIP LOCKED, so processes take
 * different ones), posts them signed (Standard Webhooks) `WEBHOOK_CONCURRENCY` at once, and each
 * finished attempt joins the next recording (one statement for all that finished meanwhile). A
 * slow or dead endpoint holds its own slots until its timeout, never a batch of others. Failures
 * are retried with exponential backoff until the retry window has passed; an endpoint failing all
 * along is disabled with its reason.
 */
export function createWebhookWorker(deps: WebhookWorkerDeps) {
  const { config } = deps;
  const poster = createWebhookPoster({ allowPrivate: config.webhookAllowPrivate, timeoutMs: config.webhookTimeoutMs, maxSockets: config.webhookConcurrency });
  const slot = createLimiter(config.webhookConcurrency);
  const maxInHand = Math.min(MAX_CLAIM_BATCH, config.webhookConcurrency * 2);
  // Long enough for every delivery in hand to time out in turn: a lease that ran out would let
  // another process send the same delivery while this one still holds it.
  const leaseMs = Math.ceil(maxInHand / config.webhookConcurrency) * config.webhookTimeoutMs + 60_000;
  const signers = new Map<string, { sealed: string; signer: Webhook }>();
  let stopping = false;
  let inHand = 0;
  let wakeClaimer: (() => void) | undefined;
  const inFlight = new Set<Promise<void>>();

  function signerFor(d: repo.ClaimedDelivery): Webhook {
    const cached = signers.get(d.webhook_id);
    if (cached && cached.sealed === d.secret_sealed) return cached.signer;
    const signer = new Webhook(deps.box.open(d.secret_sealed));
    signers.set(d.webhook_id, { sealed: d.secret_sealed, signer });
    return signer;
  }

  // ---- recording: what finished meanwhile, in one statement (and one for the endpoints' health)
  let finished: { record: repo.AttemptRecord; webhookId: string; ok: boolean }[] = [];
  let recording: Promise<void> | undefined;

  async function recordFinished(): Promise<void> {
    while (finished.length) {
      const group = finished;
      finished = [];
      const health = new Map<string, repo.EndpointHealth>();
      for (const f of group) {
        const h = health.get(f.webhookId) ?? { webhookId: f.webhookId, reset: false, failures: 0, firstFailureAt: null };
        if (f.ok) Object.assign(h, { reset: true, failures: 0, firstFailureAt: null });
        else {
          h.failures++;
          h.firstFailureAt ??= f.record.attemptAt;
        }
        health.set(f.webhookId, h);
      }
      for (let attemptNo = 1; ; attemptNo++) {
        try {
          await repo.recordAttempts(
            deps.db,
            group.map((f) => f.record),
          );
          break;
        } catch (err) {
          // Unrecorded, a delivery is sent again once its lease runs out (at least once, same webhook-id).
          if (attemptNo >= 5) throw err;
          deps.logger.warn({ err: (err as Error).message, attempt: attemptNo }, 'recording webhook attempts failed; retrying');
          await new Promise((r) => setTimeout(r, 200 * 2 ** attemptNo));
        }
      }
      const disabled = await repo.updateEndpointHealth(
        deps.db,
        [...health.values()],
        { failures: config.webhookDisableFailures, afterMs: config.webhookDisableAfterMs },
        'disabled: every delivery failed',
      );
      for (const id of disabled) deps.logger.warn({ webhookId: id }, 'webhook endpoint disabled: it kept failing');
    }
  }

  function scheduleRecording() {
    recording ??= recordFinished()
      .catch((err) => deps.logger.error({ err }, 'recording webhook attempts failed; their leases will run out and they are sent again'))
      .finally(() => {
        recording = undefined;
        if (finished.length) scheduleRecording();
      });
  }

  // ---- one attempt
  async function attempt(d: repo.ClaimedDelivery, subjects: Map<string, unknown>): Promise<void> {
    const payload =
      d.payload ??
      JSON.stringify({
        type: d.event_type,
        timestamp: d.event_at.toISOString(),
        data: subjects.get(`${subjectOf(d.event_type)}:${d.subject_id}`) ?? { [`${subjectOf(d.event_type)}Id`]: d.subject_id },
      });
    const at = deps.now();
    let result: PostResult;
    try {
      const signature = signerFor(d).sign(d.id, at, payload);
      result = await poster.post(
        d.url,
        { 'webhook-id': d.id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature },
        payload,
      );
    } catch (err) {
      result = { statusCode: null, latencyMs: 0, response: null, error: `could not sign: ${(err as Error).message}` };
    }
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const next = ok
      ? null
      : nextAttemptAfterFailure(d.attempts + 1, d.event_at, deps.now(), { baseMs: config.webhookRetryBaseMs, windowMs: config.webhookRetryWindowMs });
    const redirect = result.statusCode !== null && result.statusCode >= 300 && result.statusCode < 400;
    finished.push({
      webhookId: d.webhook_id,
      ok,
      record: {
        id: d.id,
        payload,
        status: ok ? 'S' : next ? 'P' : 'F',
        nextAttemptAt: next,
        attemptAt: at,
        statusCode: result.statusCode,
        latencyMs: result.latencyMs,
        response: result.response,
        error: result.error ?? (redirect ? 'redirects are not followed' : null),
      },
    });
    scheduleRecording();
  }

  function dispatch(d: repo.ClaimedDelivery, subjects: Map<string, unknown>) {
    inHand++;
    const p = slot(() => attempt(d, subjects))
      .catch((err) => deps.logger.error({ err, deliveryId: d.id }, 'webhook attempt failed unexpectedly'))
      .finally(() => {
        inHand--;
        inFlight.delete(p);
        // Room for another claim once half the hand is free.
        if (inHand <= maxInHand / 2) wakeClaimer?.();
      });
    inFlight.add(p);
  }

  function waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, POLL_MS);
      function done() {
        clearTimeout(timer);
        wakeClaimer = undefined;
        resolve();
      }
      wakeClaimer = done;
    });
  }

  async function claimLoop(): Promise<void> {
    while (!stopping) {
      const room = maxInHand - inHand;
      let claimed = 0;
      if (room > 0) {
        try {
          const batch = await repo.claimDueDeliveries(deps.db, room, leaseMs);
          claimed = batch.length;
          if (batch.length) {
            const subjects = await loadSubjects(deps, batch);
            for (const d of batch) dispatch(d, subjects);
          }
        } catch (err) {
          // What was claimed stays leased until the lease runs out; then it is claimed again.
          deps.logger.error({ err }, 'claiming webhook deliveries failed');
        }
      }
      // A full claim means more may be due: claim again as soon as there is room.
      if (!stopping && (room <= 0 || claimed < room || inHand >= maxInHand)) await waitForWork();
    }
  }

  let claimer: Promise<void> | undefined;
  let pruner: NodeJS.Timeout | undefined;
  return {
    start() {
      claimer = claimLoop();
      pruner = setInterval(() => {
        repo
          .pruneDeliveryLog(deps.db, LOG_KEEP_DAYS, 10_000)
          .catch((err) => deps.logger.warn({ err: (err as Error).message }, 'pruning the webhook delivery log failed; next time'));
      }, PRUNE_EVERY_MS);
      pruner.unref();
    },
    /** Stops claiming; what is in hand is sent (each within its timeout) and recorded. */
    async stop() {
      stopping = true;
      clearInterval(pruner);
      wakeClaimer?.();
      await claimer;
      while (inFlight.size) await Promise.all([...inFlight]);
      while (recording) await recording;
      poster.close();
    },
  };
}

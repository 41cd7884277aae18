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
const LOOPS = 2;

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
 * A process's webhook sender: claim loops taking due deliveries of enabled endpoints in batches,
 * posting them signed (Standard Webhooks) with bounded concurrency, and recording each batch's
 * attempts in one statement. Failures are retried with exponential backoff until the retry window
 * has passed; an endpoint failing all along is disabled with its reason.
 */
export function createWebhookWorker(deps: WebhookWorkerDeps) {
  const { config } = deps;
  const poster = createWebhookPoster({ allowPrivate: config.webhookAllowPrivate, timeoutMs: config.webhookTimeoutMs, maxSockets: config.webhookConcurrency });
  const slot = createLimiter(config.webhookConcurrency);
  const claimBatch = Math.min(MAX_CLAIM_BATCH, config.webhookConcurrency * 4);
  // Long enough for every delivery of a batch to time out in turn: a lease that ran out would let
  // another loop send the same delivery while this one still holds it.
  const leaseMs = Math.ceil(claimBatch / config.webhookConcurrency) * config.webhookTimeoutMs + 60_000;
  const signers = new Map<string, { sealed: string; signer: Webhook }>();
  let stopping = false;
  const idle = new Set<() => void>();

  function signerFor(d: repo.ClaimedDelivery): Webhook {
    const cached = signers.get(d.webhook_id);
    if (cached && cached.sealed === d.secret_sealed) return cached.signer;
    const signer = new Webhook(deps.box.open(d.secret_sealed));
    signers.set(d.webhook_id, { sealed: d.secret_sealed, signer });
    return signer;
  }

  async function runBatch(): Promise<number> {
    const claimed = await repo.claimDueDeliveries(deps.db, claimBatch, leaseMs);
    if (!claimed.length) return 0;
    const subjects = await loadSubjects(deps, claimed);
    const records: repo.AttemptRecord[] = [];
    const health = new Map<string, repo.EndpointHealth>();
    await Promise.all(
      claimed.map((d) =>
        slot(async () => {
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
          const after = deps.now();
          const next = ok
            ? null
            : nextAttemptAfterFailure(d.attempts + 1, d.event_at, after, { baseMs: config.webhookRetryBaseMs, windowMs: config.webhookRetryWindowMs });
          records.push({
            id: d.id,
            payload,
            status: ok ? 'S' : next ? 'P' : 'F',
            nextAttemptAt: next,
            attemptAt: at,
            statusCode: result.statusCode,
            latencyMs: result.latencyMs,
            response: result.response,
            error:
              result.error ??
              (ok ? null : result.statusCode !== null && result.statusCode >= 300 && result.statusCode < 400 ? 'redirects are not followed' : null),
          });
          const h = health.get(d.webhook_id) ?? { webhookId: d.webhook_id, reset: false, failures: 0, firstFailureAt: null };
          if (ok) Object.assign(h, { reset: true, failures: 0, firstFailureAt: null });
          else {
            h.failures++;
            h.firstFailureAt ??= at;
          }
          health.set(d.webhook_id, h);
        }),
      ),
    );
    await repo.recordAttempts(deps.db, records);
    const disabled = await repo.updateEndpointHealth(
      deps.db,
      [...health.values()],
      { failures: config.webhookDisableFailures, afterMs: config.webhookDisableAfterMs },
      'disabled: every delivery failed',
    );
    for (const id of disabled) deps.logger.warn({ webhookId: id }, 'webhook endpoint disabled: it kept failing');
    return claimed.length;
  }

  function waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        idle.delete(done);
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      idle.add(done);
    });
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await runBatch();
      } catch (err) {
        // What was claimed stays leased until the lease runs out; then it is claimed again.
        deps.logger.error({ err }, 'webhook batch failed');
      }
      if (!stopping && claimed < claimBatch) await waitForWork();
    }
  }

  let loops: Promise<void>[] = [];
  let pruner: NodeJS.Timeout | undefined;
  return {
    start() {
      loops = Array.from({ length: LOOPS }, () => loop());
      pruner = setInterval(() => {
        repo
          .pruneDeliveryLog(deps.db, LOG_KEEP_DAYS, 10_000)
          .catch((err) => deps.logger.warn({ err: (err as Error).message }, 'pruning the webhook delivery log failed; next time'));
      }, PRUNE_EVERY_MS);
      pruner.unref();
    },
    async stop() {
      stopping = true;
      clearInterval(pruner);
      for (const wake of [...idle]) wake();
      await Promise.all(loops);
      poster.close();
    },
  };
}

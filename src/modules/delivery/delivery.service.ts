import crypto from 'node:crypto';
import type { SentMessageInfo, Transporter } from 'nodemailer';
import type { Db, Tx } from '../../db/schema.ts';
import type { DeliverChunkJob, JobQueue } from '../../jobs/queue.ts';
import { QUEUES } from '../../jobs/queue.ts';
import type { Logger } from '../../logger.ts';
import { applySendResult, type RecipientUpdate, type RetryPolicy, type SendResult } from './apply-send-result.ts';
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

/** Mails per deliver-chunk job: big enough that job overhead is noise, small enough to spread. */
export const CHUNK_MAILS = 1_000;
/** Mails claimed and recorded together. */
export const CLAIM_BATCH = 100;
/** A claim not renewed within this time is taken to be lost with its worker. */
export const LEASE_MS = 30_000;
/** How often a sending batch looks for a cancel of its request. */
export const CANCEL_WATCH_MS = 250;
/** Mails of one batch with the transport at once (four jobs at once keep a pool of 4-16 busy). */
export const IN_FLIGHT_PER_BATCH = 16;
/** Live workers renew their claims this often, however long the relay takes. */
export const LEASE_RENEW_MS = 10_000;

/** Due mails that nobody holds for this long are taken to have lost their job. */
export const SWEEP_AFTER_MS = 60_000;

export function chunkJobsFor(requestId: string, fromSeq: number, toSeq: number, startAfter: Date, now: Date): { data: DeliverChunkJob; startAfter?: Date }[] {
  const jobs: { data: DeliverChunkJob; startAfter?: Date }[] = [];
  for (let from = fromSeq; from <= toSeq; from += CHUNK_MAILS) {
    const data = { requestId, fromSeq: from, toSeq: Math.min(from + CHUNK_MAILS - 1, toSeq) };
    jobs.push(startAfter.getTime() > now.getTime() ? { data, startAfter } : { data });
  }
  return jobs;
}

/** Rolls the request up to its final status once no mail is pending. Safe to call from anywhere, any number of times. */
export async function finishRequestIfDone(db: Db, requestId: string): Promise<void> {
  // Called after every chunk: a request still sending answers from the pending index alone,
  // instead of counting all its mails (100 counts of 100,000 mails for a large request).
  if (await repo.hasPendingMails(db, requestId)) return;
  const status = rollUpStatus(await repo.mailStatusCounts(db, requestId));
  if (status && status !== 'I') await repo.finishRequest(db, requestId, status);
}

export interface DeliveryDeps {
  db: Db;
  queue: JobQueue;
  transport: Transporter;
  logger: Logger;
  retry: RetryPolicy;
  now: () => Date;
  /** DATA_DIR: attachments are read from its files/ */
  dataDir: string;
  /** advertising mail: the token key, PUBLIC_BASE_URL and the basic notice's language */
  unsubscribe: { key: Buffer; baseUrl: string; lang: Lang };
}

/** Like Promise.all over `items`, with at most `limit` calls running at once; results keep their order. */
export async function mapWithConcurrency<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
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

/**
 * A process's delivery worker: claims due mails of a chunk in batches, sends them through the
 * pooled transport, records every recipient's result, schedules the chunk again for retries,
 * and rolls the request up when nothing is left.
 */
export function createDeliveryWorker(deps: DeliveryDeps) {
  const contexts = new Map<string, RequestContext>();

  async function contextFor(requestId: string): Promise<RequestContext | undefined> {
    const cached = contexts.get(requestId);
    if (cached) return cached;
    const row = await repo.loadRequestForDelivery(deps.db, requestId);
    if (!row) return undefined;
    const notice = row.advertising
      ? unsubscribeMessageFor({ useBasicUnsubscribeMsg: row.use_basic_unsubscribe_msg, unsubscribeMessage: row.unsubscribe_message }, deps.unsubscribe.lang)
      : null;
    const ctx = buildRequestContext(row, await attachmentsForDelivery(deps.db, deps.dataDir, requestId), notice);
    if (contexts.size >= 200) contexts.delete(contexts.keys().next().value!);
    contexts.set(requestId, ctx);
    return ctx;
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

  /** An individual mail's link: its one recipient's own. */
  function urlFor(ctx: RequestContext, first: MailRecipient): string | undefined {
    if (!ctx.unsubscribeLink) return undefined;
    return unsubscribeUrl(deps.unsubscribe.baseUrl, deps.unsubscribe.key, { projectId: ctx.projectId, recipientId: first.id, address: first.address });
  }

  async function sendBatch(ctx: RequestContext, mails: repo.ClaimedMail[], token: string): Promise<void> {
    const renew = setInterval(() => {
      repo.renewLeases(deps.db, token, LEASE_MS).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'lease renewal failed'));
    }, LEASE_RENEW_MS);
    // A cancel must stop what is claimed but not yet handed to SMTP: the request's status is
    // watched while the batch is sent, and mails not started by then are recorded as cancelled.
    let cancelled = false;
    const watch = setInterval(() => {
      repo
        .requestStatus(deps.db, ctx.requestId)
        .then((s) => {
          if (s === 'C') cancelled = true;
        })
        .catch(() => undefined);
    }, CANCEL_WATCH_MS);
    try {
      const rows = await repo.loadRecipients(deps.db, mails.map((m) => m.id));
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
      // The unsubscribe, send-block and blocked-domain lists, one query each for the whole batch.
      const pendingAddresses = rows.filter((r) => r.status === 'R' || r.status === 'I').map((r) => r.address);
      const lists = {
        unsubscribed: ctx.advertising ? await unsubscribedAmong(deps.db, ctx.projectId, pendingAddresses) : new Set<string>(),
        blocked: await blockedAmong(deps.db, pendingAddresses, deps.now()),
        domainBlocked: await domainBlockedAmong(deps.db, ctx.projectId, pendingAddresses),
      };
      // Only a few mails per batch are with the transport at once (enough to keep its connections
      // busy), so that what a cancel finds not yet handed over is most of the batch.
      const results = await mapWithConcurrency(mails, IN_FLIGHT_PER_BATCH, async (m) => {
        const skipped = skipListedRecipients(byMail.get(m.id) ?? [], lists, { advertising: ctx.advertising, cancelled }, deps.now());
        const recipients = skipped.rest;
        // A crash after the recipients were recorded leaves nothing pending: the mail just rolls up.
        const result: SendResult = !recipients.some((r) => r.pending)
          ? { kind: 'sent', response: '', rejected: [] }
          : cancelled
            ? { kind: 'cancelled' }
            : await attempt(deps.transport, ctx, recipients, urlFor(ctx, recipients[0]!));
        const applied = applySendResult(recipients, result, deps.now(), deps.retry);
        return { mailId: m.id, mail: applied.mail, recipients: [...skipped.updates, ...applied.recipients], all: recipients };
      });
      const mailRows: repo.MailResultRow[] = results.map((r) => ({ id: r.mailId, ...r.mail }));
      const recipientRows = results.flatMap((r) => r.recipients.map((u) => ({ ...u, mailId: r.mailId })));
      const bounces = results.flatMap((r) =>
        r.recipients
          .filter((u) => u.status === 'F' && HARD_BOUNCE_CODES.has(u.resultCode))
          .map((u) => ({ mailId: r.mailId, address: r.all.find((x) => x.id === u.id)!.address, projectId: ctx.projectId, resultCode: u.resultCode, resultMessage: u.resultMessage })),
      );
      await recordWithRetry(token, mailRows, recipientRows, bounces);
    } finally {
      clearInterval(renew);
      clearInterval(watch);
    }
  }

  async function deliverChunk(job: DeliverChunkJob): Promise<void> {
    const log = deps.logger.child({ requestId: job.requestId, fromSeq: job.fromSeq, toSeq: job.toSeq });
    // Read fresh each run: the request may have been cancelled or started since the job was queued.
    let status = await repo.requestStatus(deps.db, job.requestId);
    if (status === 'R') {
      // Reserved: starts at its time (whichever chunk gets there first flips it; the others see I).
      // Waiting for confirmation: only "send now" starts it.
      await repo.startReservedRequest(deps.db, job.requestId);
      status = await repo.requestStatus(deps.db, job.requestId);
    }
    if (status !== 'P' && status !== 'I') return;
    const ctx = await contextFor(job.requestId);
    if (!ctx) return;
    let sent = 0;
    while (!stopping) {
      const token = crypto.randomUUID();
      const claimed = await repo.claimMails(deps.db, job.requestId, job.fromSeq, job.toSeq, CLAIM_BATCH, LEASE_MS, token);
      if (claimed.length === 0) break;
      await sendBatch(ctx, claimed, token);
      sent += claimed.length;
    }
    if (stopping) {
      // Shutting down between batches: what is left of the chunk goes back to the queue now.
      await deps.queue.insert<DeliverChunkJob>(QUEUES.deliverChunk, [{ data: job }]);
      log.info({ attempted: sent }, 'chunk handed back at shutdown');
      return;
    }
    const retryAt = await repo.nextRetryAt(deps.db, job.requestId, job.fromSeq, job.toSeq);
    if (retryAt) {
      await deps.queue.insert<DeliverChunkJob>(QUEUES.deliverChunk, [{ data: job, startAfter: retryAt }]);
      log.info({ attempted: sent, retryAt }, 'chunk waiting for retries');
    } else {
      log.debug({ attempted: sent }, 'chunk done');
    }
    await finishRequestIfDone(deps.db, job.requestId);
  }

  /** Chunks of a request that a queued, retrying or running job already covers. */
  async function coveredChunks(requestId: string): Promise<(chunk: number) => boolean> {
    const jobs = await deps.queue.boss.findJobs<DeliverChunkJob>(QUEUES.deliverChunk, { data: { requestId }, limit: 100_000 });
    const live = jobs.filter((j) => j.state === 'created' || j.state === 'retry' || j.state === 'active').map((j) => j.data);
    return (chunk) => {
      const from = chunk * CHUNK_MAILS + 1;
      const to = from + CHUNK_MAILS - 1;
      return live.some((j) => j.fromSeq <= to && j.toSeq >= from);
    };
  }

  /**
   * Re-queues chunks whose job was lost (due mails nobody holds, and no job that would send
   * them); runs periodically in every worker process. A chunk merely waiting its turn in a long
   * queue has its job and is left alone.
   */
  async function sweep(): Promise<number> {
    const stuck = await repo.findStuckChunks(deps.db, SWEEP_AFTER_MS, CHUNK_MAILS, 200);
    const jobs: { data: DeliverChunkJob; singletonKey: string; singletonSeconds: number }[] = [];
    for (const requestId of new Set(stuck.map((c) => c.request_id))) {
      const covered = await coveredChunks(requestId);
      for (const c of stuck) {
        if (c.request_id !== requestId || covered(c.chunk)) continue;
        jobs.push({
          data: { requestId, fromSeq: c.chunk * CHUNK_MAILS + 1, toSeq: (c.chunk + 1) * CHUNK_MAILS },
          // Two workers sweeping at once add one job, not two (an extra would be harmless).
          singletonKey: `sweep:${requestId}:${c.chunk}`,
          singletonSeconds: 60,
        });
      }
    }
    await deps.queue.insert<DeliverChunkJob>(QUEUES.deliverChunk, jobs);
    if (jobs.length) deps.logger.warn({ chunks: jobs.length }, 'sweeper re-queued chunks whose job was lost');
    return jobs.length;
  }

  let stopping = false;
  return {
    deliverChunk,
    sweep,
    /** Stop claiming: running chunks finish their current batch and hand the rest back. */
    stop() {
      stopping = true;
    },
  };
}

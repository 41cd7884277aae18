import crypto from 'node:crypto';
import type { AppDeps } from '../../deps.ts';
import type { JobRun } from '../../jobs/job.ts';
import { conflict } from '../../shared/errors.ts';
import { dayNumber } from '../../shared/clock.ts';
import { formatNumericId } from '../../shared/ids.ts';
import { reservationJobsFor, START_RESERVATION, type StartReservationPayload } from '../lifecycle/start-reservation.job.ts';
import { attachFilesToRequest, resolveAttachments } from '../files/files.service.ts';
import { countRecipientFile, useRecipientFile } from '../recipient-files/recipient-files.service.ts';
import { templateForMail, type MailTemplate } from '../templates/templates.read-model.ts';
import * as repo from './requests.repository.ts';
import { STORE_RECIPIENTS, type StoreRecipientsPayload } from './store-recipients.job.ts';
import { splitRecipients, type SplitRecipient } from './split-recipients.ts';
import type { GroupFilter } from '../address-book/group-filter.ts';
import { countGroupRecipients, groupSource } from './store-from-groups.ts';
import { fileSource } from './store-from-file.ts';
import { storeInBatches, type RecipientSource, type StoreDeps } from './store-in-batches.ts';
import { storeInParts } from './store-in-parts.ts';
import * as parts from './store-parts.repository.ts';
import { validateMailRequest, type DeferredRecipientInputs, type MailRequestInput, type ValidMailRequest } from './validate-mail-request.ts';

/** Requests up to this many recipients are stored in the POST's own transaction. */
export const INLINE_RECIPIENTS = 2_000;
/** Larger ones are stored by a job in batches of this size (status P meanwhile). */
export const STORE_BATCH = 5_000;
const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

export interface CreateMailRequestInput {
  projectId: string;
  body: MailRequestInput;
  requesterIp: string | null;
  idempotencyKey: string | null;
  /** hash of the raw body, to tell a replay from a different request under the same key */
  bodyHash: string;
  /** a large body's recipients left as bytes (body.recipients is then empty) */
  deferredRecipients?: DeferredRecipientInputs;
  /** CONSOLE when sent from the web console (its session), else API */
  dispatchType?: 'API' | 'CONSOLE';
}

export interface CreatedRequest {
  requestId: string;
  count: number;
}

export function hashBody(raw: Buffer | undefined, parsed: unknown): string {
  return crypto
    .createHash('sha256')
    .update(raw ?? JSON.stringify(parsed))
    .digest('hex');
}

/** When the request's mails may first be sent: now, at its reservation, or only on confirmation (null). */
function firstAttemptAt(v: ValidMailRequest, now: Date): Date | null {
  if (v.confirmAndSend) return null;
  return v.reservationAt ?? now;
}

function batchOf(ordered: SplitRecipient[], mailIndex: number[], from: number, to: number): repo.MailBatch {
  const recipients = ordered.slice(from, to);
  const recipientSeq = mailIndex.slice(from, to).map((i) => i + 1);
  const mailSeq: number[] = [];
  const mailRecipientCount: number[] = [];
  const mailRepresentative: string[] = [];
  for (let i = 0; i < recipients.length; i++) {
    const seq = recipientSeq[i]!;
    if (mailSeq[mailSeq.length - 1] !== seq) {
      mailSeq.push(seq);
      mailRecipientCount.push(0);
      mailRepresentative.push(recipients[i]!.address);
    }
    mailRecipientCount[mailRecipientCount.length - 1]!++;
  }
  return { mailSeq, mailRecipientCount, mailRepresentative, recipientSeq, recipients };
}

/** `at`: the new request's instant (the window is counted back from it). */
async function replayIdempotent(deps: Pick<AppDeps, 'db'>, input: CreateMailRequestInput, at: Date): Promise<CreatedRequest | undefined> {
  if (!input.idempotencyKey) return undefined;
  const prior = await repo.findByIdempotencyKey(deps.db, input.projectId, input.idempotencyKey);
  if (!prior || prior.created_at.getTime() < at.getTime() - IDEMPOTENCY_WINDOW_MS) return undefined;
  if (prior.idempotency_hash !== input.bodyHash) {
    throw conflict('Idempotency-Key: this key was used with a different request body in the last 24 hours');
  }
  return { requestId: formatNumericId(prior.id_day, prior.id), count: prior.request_count };
}

/** With templateSid, the template's sender, title and body replace the request's own (NCP's rule). */
function withTemplate(body: MailRequestInput, template: MailTemplate | undefined): MailRequestInput {
  if (!template) return body;
  return { ...body, senderAddress: template.senderAddress, senderName: template.senderName, title: template.title, body: template.body };
}

/**
 * createMailRequest: validates (resolving the template and the attachments), then stores the
 * request durably with its jobs in one transaction; 201 follows the commit. A refused request
 * leaves no row and no job.
 */
export async function createMailRequest(deps: Pick<AppDeps, 'db' | 'queue' | 'config' | 'now'>, input: CreateMailRequestInput): Promise<CreatedRequest> {
  const now = deps.now();
  const templateSid = input.body.templateSid;
  const template = templateSid === null || templateSid === undefined ? undefined : await templateForMail(deps.db, input.projectId, templateSid);
  const v = validateMailRequest(withTemplate(input.body, template), now, deps.config.displayTimezone, input.deferredRecipients);
  const replay = await replayIdempotent(deps, input, now);
  if (replay) return replay;
  const attachments = await resolveAttachments(deps, input.projectId, input.body.attachFileIds);
  // Recipients from address-book groups or a recipient file are stored by the store-recipients
  // job, like a large request's; they count what the groups select now / the file's valid rows.
  const sourceCount = v.groupFilter
    ? await countGroupRecipients(deps, input.projectId, v.groupFilter)
    : v.recipientFileId
      ? await countRecipientFile(deps, input.projectId, v.recipientFileId)
      : undefined;

  const recipientCount = (v.deferredRecipients ?? v.recipients).length;
  // Deferred recipients are individual (general mail is capped far below): a mail each.
  const split = v.deferredRecipients ? undefined : splitRecipients(v.recipients, v.individual);
  const count = sourceCount ?? split?.mailCount ?? recipientCount;
  const inline = sourceCount === undefined && split !== undefined && recipientCount <= INLINE_RECIPIENTS;
  const nextAttemptAt = firstAttemptAt(v, now);
  const sendsNow = nextAttemptAt !== null && nextAttemptAt.getTime() <= now.getTime();
  const idDay = dayNumber(now, deps.config.displayTimezone);
  const status = !inline ? 'P' : sendsNow ? 'I' : 'R';

  const row: repo.NewRequestRow = {
    id_day: idDay,
    project_id: input.projectId,
    status,
    sender_address: v.senderAddress,
    sender_name: v.senderName,
    // Stored with the advertising prefix, so the mail, every view and every export agree.
    title: v.advertising && !v.title.startsWith(deps.config.adTitlePrefix) ? deps.config.adTitlePrefix + v.title : v.title,
    body: v.body,
    template_sid: template?.sid ?? null,
    template_name: template?.name ?? null,
    individual: v.individual,
    advertising: v.advertising,
    confirm_and_send: v.confirmAndSend,
    parameters: v.parameters ? JSON.stringify(v.parameters) : null,
    references_header: v.referencesHeader,
    use_basic_unsubscribe_msg: v.useBasicUnsubscribeMsg,
    unsubscribe_message: v.unsubscribeMessage,
    reservation_at: v.reservationAt,
    requester_ip: input.requesterIp,
    dispatch_type: input.dispatchType ?? 'API',
    request_count: count,
    recipient_count: sourceCount ?? recipientCount,
    stored_count: inline ? recipientCount : 0,
    idempotency_key: input.idempotencyKey,
    idempotency_hash: input.idempotencyKey ? input.bodyHash : null,
    created_at: now,
    started_at: sendsNow ? now : null,
    recipient_group_filter: v.groupFilter ? JSON.stringify(v.groupFilter) : null,
    recipient_file_id: v.recipientFileId,
    test_mail: v.testMail,
  };
  const reserved = inline && nextAttemptAt !== null && !sendsNow;
  const mails = inline && split ? { nextAttemptAt, batch: batchOf(split.ordered, split.mailIndex, 0, split.ordered.length) } : undefined;

  try {
    // The common case (an inline request and nothing else to store): one statement, its own
    // transaction, instead of BEGIN, two inserts and COMMIT.
    if (inline && !input.idempotencyKey && attachments.length === 0 && !reserved) {
      const id = await repo.insertRequest(deps.db, row, mails);
      return { requestId: formatNumericId(idDay, id), count };
    }
    const requestId = await deps.db.transaction().execute(async (tx) => {
      if (input.idempotencyKey) {
        await repo.releaseIdempotencyKey(tx, input.projectId, input.idempotencyKey, new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS));
      }
      const id = await repo.insertRequest(tx, row, mails);
      // Marked used in this transaction: the clean-up can't remove them while the request may send.
      await attachFilesToRequest(tx, input.projectId, id, attachments, now);
      if (v.recipientFileId) await useRecipientFile(tx, input.projectId, v.recipientFileId, now);
      if (inline) {
        // Mails due now wake the claim loops by themselves (a trigger notifies at the commit).
        await deps.queue.insertInTx<StartReservationPayload>(tx, START_RESERVATION, reservationJobsFor(id, nextAttemptAt, now));
      } else {
        if (sourceCount === undefined) await repo.insertPayload(tx, id, v.deferredRecipients ?? split!.ordered, STORE_BATCH);
        await deps.queue.insertInTx<StoreRecipientsPayload>(tx, STORE_RECIPIENTS, [{ data: { requestId: id } }]);
      }
      return id;
    });
    return { requestId: formatNumericId(idDay, requestId), count };
  } catch (err) {
    // Two requests raced with the same Idempotency-Key: the loser answers like a replay.
    if (input.idempotencyKey && (err as { code?: string }).code === '23505') {
      const replayed = await replayIdempotent(deps, input, now);
      if (replayed) return replayed;
    }
    throw err;
  }
}

/** A large JSON request's recipients, parked in request_payloads by the POST, a chunk at a time. */
async function payloadSource(deps: Pick<AppDeps, 'db'>, requestId: string): Promise<RecipientSource | undefined> {
  if (!(await repo.hasPayload(deps.db, requestId))) return undefined;
  return {
    name: 'payload',
    async storeBatch(tx, req, target) {
      const from = req.stored_count;
      const chunk = await repo.loadPayloadChunk(tx, requestId, from);
      const offset = chunk ? from - chunk.firstSeq : 0;
      const to = chunk ? Math.min(offset + STORE_BATCH, chunk.recipients.length) : 0;
      if (chunk && offset < to) {
        // Large requests are always individual (general mode is capped at 1,060 recipients): mail i = recipient i.
        const mailIndex = chunk.recipients.map((_, i) => chunk.firstSeq + i);
        await repo.insertMailsAndRecipients(tx, target, batchOf(chunk.recipients, mailIndex, offset, to));
      }
      const stored = Math.max(to - offset, 0);
      return { stored, exhausted: stored === 0 || from + stored >= req.recipient_count };
    },
    async finish(tx) {
      await repo.deletePayload(tx, requestId);
    },
  };
}

/**
 * Job: stores a request's recipients (status P) from its source: address-book groups or a
 * recipient file in parts at once (store-in-parts.ts), a large JSON request's payload in
 * batches (store-in-batches.ts).
 */
export async function storeRecipients(deps: StoreDeps, requestId: string, run: JobRun = {}): Promise<void> {
  const head = await repo.findRecipientSource(deps.db, requestId);
  if (head?.status !== 'P') {
    // a request cancelled in P: the parts it was being stored in go
    if (head) await parts.deletePartsIfLeftP(deps.db, requestId);
    return;
  }
  if (head.recipient_group_filter !== null) {
    await storeInParts(deps, requestId, await groupSource(deps, head.project_id, head.recipient_group_filter as GroupFilter), run);
  } else if (head.recipient_file_id !== null) {
    await storeInParts(deps, requestId, fileSource(head.recipient_file_id), run);
  } else {
    const source = await payloadSource(deps, requestId);
    if (source) await storeInBatches(deps, requestId, source, run);
  }
}

/** A request may sit in P this long before the sweep asks whether its store job still exists. */
const STORING_SWEEP_AFTER_MS = 60_000;

/**
 * Re-queues the store job of requests left in P without one: a job whose retries were all used
 * up (a long database outage) or that was lost would otherwise leave its request preparing
 * forever. Runs with the delivery sweep; returns how many jobs it queued.
 */
export async function sweepStoring(deps: StoreDeps): Promise<number> {
  const before = new Date(deps.now().getTime() - STORING_SWEEP_AFTER_MS);
  const jobs: { data: StoreRecipientsPayload; singletonKey: string; singletonSeconds: number }[] = [];
  for (const requestId of await repo.findPreparingRequests(deps.db, before, 100)) {
    const found = await deps.queue.boss.findJobs<StoreRecipientsPayload>(STORE_RECIPIENTS, { data: { requestId } });
    if (found.some((j) => j.state === 'created' || j.state === 'retry' || j.state === 'active')) continue;
    // Two workers sweeping at once add one job, not two (an extra would be harmless: storing is locked and resumable).
    jobs.push({ data: { requestId }, singletonKey: `sweep-store:${requestId}`, singletonSeconds: 60 });
  }
  await deps.queue.insert<StoreRecipientsPayload>(STORE_RECIPIENTS, jobs);
  if (jobs.length) deps.logger.warn({ requests: jobs.length }, 'sweeper re-queued the storing of requests left in P');
  return jobs.length;
}

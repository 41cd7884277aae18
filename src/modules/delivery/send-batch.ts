import { unsubscribeUrl } from '../unsubscribes/unsubscribes.service.ts';
import type { Limiter } from '../../shared/limiter.ts';
import { applySendResult, type RetryPolicy, type SendResult } from './apply-send-result.ts';
import type { MailRecipient } from './build-message.ts';
import type * as repo from './delivery.repository.ts';
import type { DeliveryDeps, DeliverySettings } from './delivery-deps.ts';
import type { RelayHealth } from './relay-health.ts';
import type { RequestContext } from './request-context.ts';
import type { BatchThrottle, Deferral } from './throttle.ts';
import type { MailOutcome } from './result-recorder.ts';
import { skipListedRecipients } from './skip-listed-recipients.ts';
import { attempt } from './smtp-attempt.ts';
import { verpAddress } from '../feedback/verp.ts';

/** A claimed batch as its requests' senders share it. */
export interface BatchRun {
  /** the batch's recipients, by mail */
  recipientsOf: Map<string, repo.DeliveryRecipientRow[]>;
  /** pending addresses of the batch on the send-block list */
  blocked: ReadonlySet<string>;
  /** pending addresses of the batch in a domain their project blocks, by project */
  domainBlocked: Map<string, Set<string>>;
  /** pending addresses of the batch's advertising mails on their project's unsubscribe list, by project */
  unsubscribed: Map<string, Set<string>>;
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
  /** a mail held back by a delivery limit met during the batch (its domain slowed down): back, not attempted, due at `until` */
  hold: (mailId: string, until: Date) => void;
  /** mails the throttle's plan deferred (their domains stay unreachable): recorded as such, not attempted */
  deferred: ReadonlyMap<string, Deferral>;
  /** the batch's delivery limits: domain transaction slots, slow-downs met, what each attempt said */
  throttle: Pick<BatchThrottle, 'withSlots' | 'heldUntil' | 'report'>;
  record: (outcome: MailOutcome) => Promise<void>;
}

/** A recipient row as sending sees it: pending while ready (R) or being retried (I). */
function toMailRecipient(r: repo.DeliveryRecipientRow): MailRecipient {
  return {
    id: r.id,
    address: r.address,
    name: r.name,
    type: r.type,
    parameters: (r.parameters as Record<string, unknown> | null) ?? null,
    retryCount: r.retry_count,
    status: r.status,
    pending: r.status === 'R' || r.status === 'I',
  };
}

/**
 * What a deferred mail's pending recipients get (throttle-policy.ts, defers()): a temporary
 * failure, CONNECTION_ABNORMAL whatever the reply's text says (so never a permanent result or a
 * send-block entry), a retry spent or RESEND_MAIL_FAIL past the limit, `reason` as the message;
 * the mail is due again no sooner than the pause ends.
 */
export function deferralResult(recipients: MailRecipient[], reason: string, until: Date, now: Date, retry: RetryPolicy): ReturnType<typeof applySendResult> {
  const applied = applySendResult(recipients, { kind: 'failed', error: { errorCode: 'ECONNECTION' } }, now, retry);
  const mail = applied.mail.status === 'I' && applied.mail.nextAttemptAt! < until ? { ...applied.mail, nextAttemptAt: until } : applied.mail;
  return { recipients: applied.recipients.map((u) => ({ ...u, resultMessage: reason })), mail };
}

/** Sends a request's part of a claimed batch (sendBatch), through the loop's slots. */
export function createBatchSender(
  deps: Pick<DeliveryDeps, 'db' | 'transport' | 'now'>,
  settings: Pick<DeliverySettings, 'retry' | 'unsubscribe' | 'bounce'>,
  relay: RelayHealth,
) {
  /** An individual mail's link: its one recipient's own. */
  function urlFor(ctx: RequestContext, first: MailRecipient): string | undefined {
    if (!ctx.unsubscribeLink) return undefined;
    return unsubscribeUrl(settings.unsubscribe.baseUrl, settings.unsubscribe.key, { projectId: ctx.projectId, recipientId: first.id, address: first.address });
  }

  /** Each recipient's own VERP return path (BOUNCE_DOMAIN); none: the sender's address. */
  const returnPathOf = settings.bounce ? (r: MailRecipient) => verpAddress(settings.bounce!.key, settings.bounce!.domain, r.id) : undefined;

  /**
   * Sends the claimed mails of one request; each mail's outcome is recorded before its loop slot
   * is given up (its domains' transaction slots go back as soon as its transaction ended).
   */
  async function sendBatch(ctx: RequestContext, mails: repo.ClaimedMail[], run: BatchRun): Promise<void> {
    const rows = mails.flatMap((m) => run.recipientsOf.get(m.id) ?? []);
    const byMail = new Map<string, MailRecipient[]>();
    for (const r of rows) {
      const list = byMail.get(r.mail_id) ?? [];
      list.push(toMailRecipient(r));
      byMail.set(r.mail_id, list);
    }
    // The unsubscribe list, the send-block list and the blocked domains: asked for the whole batch in one statement.
    const lists = {
      unsubscribed: (ctx.advertising ? run.unsubscribed.get(ctx.projectId) : undefined) ?? new Set<string>(),
      blocked: run.blocked,
      domainBlocked: run.domainBlocked.get(ctx.projectId),
    };
    // Only a few mails per loop are with the transport at once (enough to keep its connections
    // busy), so that what a cancel finds not yet handed over is most of the batch. Every mail's
    // task settles before this returns, even when a recording failed: none may go on sending
    // detached, outside the lease renewal and the loop's in-flight bound.
    const settled = await Promise.allSettled(
      mails.map((m) =>
        // A domain's transactions wait for its slots before they take any of the loop's.
        run.throttle.withSlots(
          m.id,
          (releaseSlots) =>
            run.slot(async () => {
              const outcome = await run.transportSlot(async (): Promise<MailOutcome | undefined | 'held'> => {
                const cancelled = run.isCancelled();
                // A deferral is only recorded: past the window it still is (given back, it would be claimed again at once).
                if (!cancelled && !run.deferred.has(m.id) && run.isOver()) return undefined;
                const stop = cancelled ? undefined : (run.deferred.get(m.id) ?? run.throttle.heldUntil(m.id));
                if (stop && !stop.reason) {
                  run.hold(m.id, stop.until);
                  return 'held';
                }
                const skipped = skipListedRecipients(byMail.get(m.id) ?? [], lists, { advertising: ctx.advertising, cancelled }, deps.now());
                const recipients = skipped.rest;
                if (stop?.reason) {
                  // Its domains stay unreachable: the recipients the lists leave spend a retry, no connection made.
                  const deferral = deferralResult(recipients, stop.reason, stop.until, deps.now(), settings.retry);
                  return {
                    mailId: m.id,
                    projectId: ctx.projectId,
                    mail: deferral.mail,
                    recipients: [...skipped.updates, ...deferral.recipients],
                    all: recipients,
                  };
                }
                // A crash after the recipients were recorded leaves nothing pending: the mail just rolls up.
                const result: SendResult = !recipients.some((r) => r.pending)
                  ? { kind: 'sent', response: '', rejected: [] }
                  : cancelled
                    ? { kind: 'cancelled' }
                    : await attempt(deps.transport, ctx, recipients, urlFor(ctx, recipients[0]!), returnPathOf);
                if (result.kind === 'sent' || result.kind === 'failed') {
                  run.throttle.report(
                    m.id,
                    recipients.filter((r) => r.pending),
                    result,
                  );
                }
                const applied = applySendResult(recipients, result, deps.now(), settings.retry, ctx.testMail ? 'TEST_MAIL_SEND' : 'MAIL_SENT');
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
              // The domains' transaction is over: their slots go to the batch's next mail while this one is recorded.
              releaseSlots();
              if (outcome === 'held') return;
              // Not handed over (past the window, or stopping): back for the next claim.
              if (!outcome) return run.release(m.id);
              await run.record(outcome);
            }, run.turnOf.get(m.id)),
          run.turnOf.get(m.id),
        ),
      ),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  return sendBatch;
}

import type { Config } from '../../config.ts';
import type { Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import { groupCommit } from '../../shared/group-commit.ts';
import { derivedKeyFor } from '../../shared/secret-box.ts';
import { recordHardBounces } from '../send-block/send-block.service.ts';
import { addUnsubscribers } from '../unsubscribes/unsubscribes.service.ts';
import { emitWebhookEvents } from '../webhooks/webhooks.service.ts';
import { finishRequestsIfDone } from '../lifecycle/lifecycle.service.ts';
import { changesFor, type FeedbackChange } from './feedback-rules.ts';
import * as repo from './feedback.repository.ts';
import type { ParsedReport } from './parse-report.ts';
import { deriveVerpKey } from './verp.ts';

/** The VERP key of this deployment (from MASTER_KEY or DATA_DIR/master.key), derived once per process. */
export function verpKeyFor(config: Pick<Config, 'masterKey' | 'dataDir'>): Buffer {
  return derivedKeyFor(config, 'verp', deriveVerpKey);
}

/** A report the listener accepted, with the recipients its VERP tokens name. */
export interface ReceivedReport {
  recipientIds: string[];
  report: ParsedReport;
}

/** What a report did: the strongest change it made, or nothing (a duplicate, a delivery notice, a purged recipient). */
export type FeedbackOutcome = FeedbackChange['kind'] | 'ignored';

const EVENT_OF: Record<FeedbackChange['kind'], string> = {
  hard_bounce: 'recipient.bounced',
  soft_bounce: 'recipient.bounced',
  complaint: 'recipient.complained',
};

/** Two writes to one recipient in a batch: the later one wins where it sets something. */
function merge(a: repo.FeedbackWrite, b: repo.FeedbackWrite): repo.FeedbackWrite {
  return {
    ...b,
    resultCode: b.resultCode ?? a.resultCode,
    resultMessage: b.resultCode ? b.resultMessage : a.resultMessage,
    ...(b.bouncedAt ? {} : { bounceType: a.bounceType, bounceStatus: a.bounceStatus, bounceMessage: a.bounceMessage, bouncedAt: a.bouncedAt }),
    ...(b.complainedAt ? {} : { complaintType: a.complaintType, complainedAt: a.complainedAt }),
  };
}

/**
 * Applies a batch of reports in one transaction: the recipients' bounce and complaint columns,
 * late failures and their mails' and requests' roll-up, send-block entries for hard bounces of
 * addresses that can't receive (the synchronous 5xx rule), complainers on their project's
 * unsubscribe list, and the webhook events. All or nothing: on an error every report of the
 * batch is answered 451 and its sender retries.
 */
export async function applyReports(deps: FeedbackDeps, items: ReceivedReport[]): Promise<FeedbackOutcome[]> {
  let sending: string[] = [];
  const outcomes = await deps.db.transaction().execute(async (tx) => {
    const ids = [...new Set(items.flatMap((i) => i.recipientIds))];
    // Requests first, then recipients: the order a cancel and the roll-ups take them in.
    await repo.lockRequestsOf(tx, ids);
    const targets = await repo.lockTargets(tx, ids);
    const byId = new Map(targets.map((t) => [t.id, t]));
    const now = deps.now();
    const all: FeedbackChange[] = [];
    const outcomes = items.map((item): FeedbackOutcome => {
      let outcome: FeedbackOutcome = 'ignored';
      // One recipient named twice is one token: the report applies to it once.
      const tokens = [...new Set(item.recipientIds)];
      for (const id of tokens) {
        const token = byId.get(id);
        if (!token) continue;
        for (const change of changesFor(item.report, token, now, tokens.length === 1)) {
          // Later reports of the batch see this one's effect (a duplicate in the same batch is one).
          const t = byId.get(change.write.id)!;
          t.status = change.write.status;
          t.bounce_type = change.write.bounceType;
          if (change.write.bouncedAt) {
            t.bounce_status = change.write.bounceStatus;
            t.bounce_message = change.write.bounceMessage;
          }
          t.complaint_type = change.write.complaintType;
          all.push(change);
          if (outcome === 'ignored' || change.kind === 'hard_bounce') outcome = change.kind;
        }
      }
      return outcome;
    });
    if (all.length) sending = await record(tx, all, now);
    return outcomes;
  });
  // A request still sending when one of its mails failed late: its roll-up may have skipped it
  // while this batch held it (rollUpAfterFailure), and its last mails may be done by now. The
  // reports are committed: a failure here is the sweep's to mend, not a reason to apply them again.
  await finishRequestsIfDone(deps, sending).catch((err: unknown) =>
    deps.logger.warn({ err: (err as Error).message, requests: sending.length }, 'roll-up after late failures failed; the sweep will retry'),
  );
  return outcomes;
}

/** What applying reports needs; the logger reports a roll-up the sweep has to do instead. */
export type FeedbackDeps = Pick<AppDeps, 'db' | 'now' | 'logger'>;

/** Writes the changes; the ids of the requests still sending one of whose mails failed. */
async function record(tx: Tx, changes: FeedbackChange[], now: Date): Promise<string[]> {
  const writes = new Map<string, repo.FeedbackWrite>();
  for (const c of changes) {
    const before = writes.get(c.write.id);
    writes.set(c.write.id, before ? merge(before, c.write) : c.write);
  }
  await repo.writeRecipients(tx, [...writes.values()]);
  const blocks = changes.filter((c) => c.block).map((c) => ({ address: c.address, projectId: c.projectId, ...c.block! }));
  await recordHardBounces(tx, blocks, now);
  for (const [projectId, group] of Map.groupBy(
    changes.filter((c) => c.kind === 'complaint'),
    (c) => c.projectId,
  )) {
    await addUnsubscribers(tx, projectId, [...new Set(group.map((c) => c.address))], now);
  }
  await emitWebhookEvents(
    tx,
    changes.map((c) => ({ projectId: c.projectId, type: EVENT_OF[c.kind], subjectId: c.write.id })),
  );
  // Last: the requests' roll-up (they were locked at the batch's start, lockRequestsOf).
  return repo.rollUpAfterFailure(tx, [...new Set(changes.filter((c) => c.failed).map((c) => c.mailId))]);
}

/** Deadlock and serialization failures: two batches met on one request or address; the batch is tried again. */
const RETRYABLE = new Set(['40P01', '40001']);

async function applyWithRetry(deps: FeedbackDeps, items: ReceivedReport[]): Promise<FeedbackOutcome[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyReports(deps, items);
    } catch (err) {
      if (attempt >= 3 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
    }
  }
}

/**
 * The listener's applier: reports are applied in group commits (src/shared/group-commit.ts),
 * one batch at a time by default. Measured (npm run bench:inbound, 5,000 DSNs of one campaign):
 * 521/s one at a time against 355/s with three at once, whose batches were smaller (3 reports
 * against 7) and waited on each other's lock of the campaign's request row.
 * apply() resolves once its report is committed: the listener answers 250 only then, and
 * nothing it accepted can be lost to a crash.
 */
export function createFeedbackApplier(deps: FeedbackDeps, maxBatch = 200, inFlight = 1): (item: ReceivedReport) => Promise<FeedbackOutcome> {
  return groupCommit((items: ReceivedReport[]) => applyWithRetry(deps, items), maxBatch, inFlight);
}

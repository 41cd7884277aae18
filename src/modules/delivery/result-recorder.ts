import type { HistoryRange } from '../../db/history-range.ts';
import type { Tx } from '../../db/schema.ts';
import { groupCommit } from '../../shared/group-commit.ts';
import { countRecipientResults } from '../../metrics.ts';
import { recordHardBounces, type HardBounce } from '../send-block/send-block.service.ts';
import type { MailUpdate, RecipientUpdate } from './apply-send-result.ts';
import type { MailRecipient } from './build-message.ts';
import { HARD_BOUNCE_CODES } from './classify-smtp-reply.ts';
import * as repo from './delivery.repository.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { RECORD_GROUP, RECORD_LINGER_MS } from './delivery-settings.ts';

/** One mail's outcome, as the batch records it. */
export interface MailOutcome {
  mailId: string;
  projectId: string;
  mail: MailUpdate;
  recipients: RecipientUpdate[];
  all: MailRecipient[];
}

/** Recording is retried for a while: a result lost to a database blip would mean sending again. */
async function recordWithRetry(
  deps: Pick<DeliveryDeps, 'db' | 'logger' | 'now'>,
  token: string,
  months: HistoryRange,
  mails: repo.MailResultRow[],
  recipients: (RecipientUpdate & { mailId: string })[],
  bounces: (HardBounce & { mailId: string })[],
) {
  // Hard bounces block their address in the same transaction as the results that report them.
  const blockBounces = bounces.length
    ? async (tx: Tx, held: Set<string>) => {
        await recordHardBounces(
          tx,
          bounces.filter((b) => held.has(b.mailId)),
          deps.now(),
        );
      }
    : undefined;
  for (let attemptNo = 1; ; attemptNo++) {
    try {
      await repo.recordResults(deps.db, token, months, mails, recipients, blockBounces);
      return countRecipientResults(recipients);
    } catch (err) {
      if (attemptNo >= 8) throw err;
      deps.logger.warn({ err: (err as Error).message, attempt: attemptNo }, 'recording results failed; retrying');
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attemptNo, 8_000)));
    }
  }
}

function recordOutcomes(deps: Pick<DeliveryDeps, 'db' | 'logger' | 'now'>, token: string, months: HistoryRange, results: MailOutcome[]) {
  const mailRows: repo.MailResultRow[] = results.map((r) => ({ id: r.mailId, ...r.mail }));
  const recipientRows = results.flatMap((r) => r.recipients.map((u) => ({ ...u, mailId: r.mailId })));
  const bounces = results.flatMap((r) =>
    r.recipients
      .filter((u) => u.status === 'F' && HARD_BOUNCE_CODES.has(u.resultCode))
      .map((u) => ({
        mailId: r.mailId,
        address: r.all.find((x) => x.id === u.id)!.address,
        projectId: r.projectId,
        resultCode: u.resultCode,
        resultMessage: u.resultMessage,
      })),
  );
  return recordWithRetry(deps, token, months, mailRows, recipientRows, bounces);
}

/**
 * Records a batch's outcomes as they come, in groups of at most RECORD_GROUP (one recording at a
 * time; what arrives meanwhile goes in the next group; a lone outcome waits RECORD_LINGER_MS for others). record() resolves once its outcome is
 * recorded: the sender holds its transport slot until then, so what a kill can leave sent but
 * unrecorded is bounded by the slots.
 */
export function createRecorder(
  deps: Pick<DeliveryDeps, 'db' | 'logger' | 'now'>,
  token: string,
  /** the created_at of the claim's mails */
  months: HistoryRange,
): (outcome: MailOutcome) => Promise<undefined> {
  return groupCommit((outcomes: MailOutcome[]) => recordOutcomes(deps, token, months, outcomes).then(() => undefined), RECORD_GROUP, 1, RECORD_LINGER_MS);
}

import type { HistoryRange } from '../../db/history-range.ts';
import type { Tx } from '../../db/schema.ts';
import { groupCommit, type GroupCommitOptions } from '../../shared/group-commit.ts';
import { countRecipientResults } from '../../metrics.ts';
import { recordHardBounces } from '../send-block/send-block.service.ts';
import type { MailUpdate, RecipientUpdate } from './apply-send-result.ts';
import type { MailRecipient } from './build-message.ts';
import { HARD_BOUNCE_CODES } from './classify-smtp-reply.ts';
import * as repo from './delivery.repository.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { RECORD_LINGER_MS, RECORD_STATEMENT_MAILS } from './delivery-settings.ts';

/** One mail's outcome, as the batch records it. */
export interface MailOutcome {
  mailId: string;
  projectId: string;
  mail: MailUpdate;
  recipients: RecipientUpdate[];
  all: MailRecipient[];
}

/** An outcome with its claim: the lease token it is written under, and the claim's created_at range. */
export interface ClaimedOutcome extends MailOutcome {
  token: string;
  months: HistoryRange;
}

type RecorderDeps = Pick<DeliveryDeps, 'db' | 'logger' | 'now'> & { retryWaitMs: (attemptNo: number) => number };

/**
 * Errors no retry mends: a value the database refuses (SQLSTATE class 22, a check or not-null
 * violation). Retrying them would only hold the process's recording back.
 */
function refusedForGood(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '23502' || code === '23514');
}

/**
 * Recording is retried for a while, from attempt `from` to `attempts`: a result lost to a
 * database blip would mean sending again.
 */
async function recordWithRetry(deps: RecorderDeps, results: ClaimedOutcome[], attempts: number, from = 1): Promise<void> {
  const mails: repo.MailResultRow[] = results.map((r) => ({ id: r.mailId, token: r.token, ...r.mail }));
  const recipients = results.flatMap((r) => r.recipients.map((u) => ({ ...u, mailId: r.mailId, token: r.token })));
  const bounces = results.flatMap((r) =>
    r.recipients
      .filter((u) => u.status === 'F' && HARD_BOUNCE_CODES.has(u.resultCode))
      .map((u) => ({
        held: repo.heldKey(r.mailId, r.token),
        address: r.all.find((x) => x.id === u.id)!.address,
        projectId: r.projectId,
        resultCode: u.resultCode,
        resultMessage: u.resultMessage,
      })),
  );
  // Hard bounces block their address in the same transaction as the results that report them.
  const blockBounces = bounces.length
    ? async (tx: Tx, held: Set<string>) => {
        await recordHardBounces(
          tx,
          bounces.filter((b) => held.has(b.held)),
          deps.now(),
        );
      }
    : undefined;
  // the claims' ranges together (mostly one month; a retried older mail's adds its own)
  const months = {
    from: new Date(Math.min(...results.map((r) => r.months.from.getTime()))),
    to: new Date(Math.max(...results.map((r) => r.months.to.getTime()))),
  };
  for (let attemptNo = from; ; attemptNo++) {
    try {
      const done = await repo.recordResults(deps.db, months, mails, recipients, blockBounces);
      // what was not written (a lost claim's outcome) is not counted either
      countRecipientResults(recipients.filter((u) => done.recipients.has(u.id) && done.held.has(repo.heldKey(u.mailId, u.token))));
      return;
    } catch (err) {
      if (attemptNo >= attempts || refusedForGood(err)) throw err;
      deps.logger.warn({ err: (err as Error).message, attempt: attemptNo }, 'recording results failed; retrying');
      await new Promise((r) => setTimeout(r, deps.retryWaitMs(attemptNo)));
    }
  }
}

/** Attempts at recording a claim's outcomes before its batch gives up (about 31 s with the waits). */
const RECORD_ATTEMPTS = 8;

/**
 * A group's outcomes in one statement. When that fails, each claim's outcomes are recorded on
 * their own, one claim after the other, continuing the retries (the same attempts and waits as
 * a group of one claim): an outcome the database refuses fails its own batch only, not the
 * others that shared its statement. Each outcome's error, or undefined when it was recorded.
 */
async function recordGroup(deps: RecorderDeps, results: ClaimedOutcome[]): Promise<({ err: unknown } | undefined)[]> {
  const claims = Map.groupBy(results, (r) => r.token);
  try {
    await recordWithRetry(deps, results, claims.size > 1 ? 1 : RECORD_ATTEMPTS);
    return results.map(() => undefined);
  } catch (err) {
    if (claims.size === 1) return results.map(() => ({ err }));
    deps.logger.warn({ err: (err as Error).message, claims: claims.size }, 'recording results failed; recording them claim by claim');
    if (!refusedForGood(err)) await new Promise((r) => setTimeout(r, deps.retryWaitMs(1)));
    const failed = new Map<string, { err: unknown }>();
    for (const [token, own] of claims) {
      await recordWithRetry(deps, own, RECORD_ATTEMPTS, 2).catch((e: unknown) => {
        failed.set(token, { err: e });
      });
    }
    return results.map((r) => failed.get(r.token));
  }
}

/**
 * Records the outcomes of all of a process's batches as they come, in groups of at most
 * RECORD_STATEMENT_MAILS (one group at a time; a group's first outcome waits RECORD_LINGER_MS
 * for others, and what arrives meanwhile joins it). One recorder for the process, not one a
 * batch: the outcomes of the batches sent at once share statements (bench:send, 30,000 mails on
 * PostgreSQL 15: 9,577 recordings of 3.1 mails on average, against 15,971 of 1.9 with a
 * recorder a batch).
 * record() resolves once its outcome is recorded: the sender holds its batch's slot until then
 * (its in-flight mails and RECORD_GROUP more), so what a kill can leave sent but unrecorded
 * stays bounded by the slots. `opts` as groupCommit's: batchRecording (below) sets them.
 */
export function createRecorder(
  deps: Pick<DeliveryDeps, 'db' | 'logger' | 'now'>,
  /** the wait after a failed attempt (tests shorten it) */
  retryWaitMs = (attemptNo: number) => Math.min(250 * 2 ** attemptNo, 8_000),
  /** how long a group's first outcome waits for others (tests lengthen it) */
  lingerMs = RECORD_LINGER_MS,
): (outcome: ClaimedOutcome, opts?: GroupCommitOptions) => Promise<void> {
  const recorderDeps = { ...deps, retryWaitMs };
  const write = groupCommit((outcomes: ClaimedOutcome[]) => recordGroup(recorderDeps, outcomes), RECORD_STATEMENT_MAILS, 1, lingerMs);
  return async (outcome, opts) => {
    const failed = await write(outcome, opts);
    if (failed) throw failed.err;
  };
}

/**
 * A batch's recordings through the process's recorder. An outcome that finds `backlog` of the
 * batch's outcomes waiting for a group, itself included, is urgent: its group goes without the
 * linger. With `backlog` RECORD_GROUP, the batch's slot (inFlight + RECORD_GROUP) then takes no
 * new mail for SMTP, and without this its connections idled while the group waited for company
 * (bench:send, 30,000 mails, a fast hour: 1,676-1,790 mails/s against nodemailer's 2,394-2,463).
 * Outcomes already in a group being written are not counted: their places come back when that
 * write ends, so what comes back meanwhile may wait for company.
 */
export function batchRecording<T>(record: (outcome: T, opts: GroupCommitOptions) => Promise<void>, backlog: number): (outcome: T) => Promise<void> {
  let waiting = 0;
  return async (outcome) => {
    let counted = true;
    const taken = () => {
      if (counted) waiting--;
      counted = false;
    };
    waiting++;
    try {
      await record(outcome, { urgent: waiting >= backlog, taken });
    } finally {
      taken();
    }
  };
}

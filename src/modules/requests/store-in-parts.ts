import { SERVICE_POOL_MAX } from '../../db/connect.ts';
import type { Tx } from '../../db/schema.ts';
import type { JobRun } from '../../jobs/job.ts';
import type { Logger } from '../../logger.ts';
import { createLimiter } from '../../shared/limiter.ts';
import { finishRequestIfDone } from '../lifecycle/lifecycle.service.ts';
import { partitionStatistics, type PartitionStatistics } from './partition-statistics.ts';
import * as repo from './requests.repository.ts';
import type { MailTarget } from './store-batches.repository.ts';
import { isDue, firstAttemptOf, leaveStoring, RUN_BUDGET_MS, type StoreDeps, type StoringRequest } from './store-in-batches.ts';
import * as parts from './store-parts.repository.ts';
import type { NewStorePart, StorePart } from './store-parts.repository.ts';
import { STORE_RECIPIENTS, type StoreRecipientsPayload } from './store-recipients.job.ts';

/**
 * The store-recipients job for recipients that come from a query (address-book groups, a
 * recipient file): one INSERT … SELECT at a time keeps one PostgreSQL backend busy and the rest of
 * the machine idle, so the source is split into parts stored at once, each on its own connection.
 *
 * The first run splits what is left to store into `STORE_PARALLELISM` parts (store_parts; no more
 * than a quarter of the connection pool: partsAtOnce), each a range of the source's keys (file positions; address ids, cut where the selection counts equal
 * shares) with its own range of mail numbers (seq: a file row's is its position; a group part's
 * starts after the parts before it, as counted when splitting) and its own progress. Each batch
 * is one transaction that locks only its part's row, stores the next mails of the part's keys
 * after its cursor, moves the cursor on, and adds what it stored to the request's stored_count
 * last (so the request's row is locked from there to the commit only, and a cancel committed
 * first rolls the batch back). A crash resumes every part after its last committed batch; two
 * runs at once queue on the part's row: nothing is stored twice and no number is skipped.
 *
 * Address-book groups change while they are stored: the last part has no upper bound (addresses
 * added to the book come last), and a part whose numbers are used up while its keys hold more
 * (addresses added to a group meanwhile) is marked full and goes on after every other part, alone
 * and unbounded, numbered after them. Removed addresses leave their numbers unused.
 *
 * When no part is left storing, one transaction (parts locked, then the request: the order
 * every batch takes them in) moves the request out of P exactly once, as the JSON payload path
 * does (store-in-batches.ts). A request cancelled in P loses its parts when its store job next
 * runs (or the running one sees the cancel): the cancel locks the request, so it can not take
 * the parts after it without risking a deadlock with a batch that holds a part.
 */

export interface PartedSource {
  /** for the logs */
  name: string;
  /** mails stored per transaction and part */
  batch: number;
  /** Splits what is left to store (after `req.stored_count`) into at most `count` parts. */
  split(tx: Tx, req: StoringRequest, count: number): Promise<NewStorePart[]>;
  /**
   * Stores up to `limit` mails of the part's keys after its cursor, seq from `part.nextSeq` on: how
   * many, and the last key stored. Throws BatchRaced to have the batch rolled back and run again.
   */
  storeBatch(tx: Tx, part: StorePart, target: MailTarget, limit: number): Promise<{ stored: number; lastKey: string }>;
  /** Whether the part's keys hold more after its cursor (asked when its numbers are used up). */
  hasMore(tx: Tx, part: StorePart, target: MailTarget): Promise<boolean>;
  /** Runs in the transaction that moves the request out of P (settle counts). */
  finish?(tx: Tx, req: StoringRequest, storedCount: number): Promise<void>;
}

/** STORE_PARALLELISM's default, for callers without a config (tests, scripts). */
export const DEFAULT_STORE_PARALLELISM = 2;

/**
 * How many parts a run stores at once: STORE_PARALLELISM, but no more than a quarter of the
 * connection pool (at least one). Each part holds a pooled connection in multi-second
 * transactions; the API, the claim loops and the recorder draw on the same pool, and a second
 * run of the same request (a retry, the sweep) takes as many again.
 */
export function partsAtOnce(storeParallelism: number, poolMax: number = SERVICE_POOL_MAX): number {
  return Math.min(storeParallelism, Math.max(1, Math.floor(poolMax / 4)));
}

type PartOutcome = 'done' | 'stopped' | 'handover';

/** Thrown inside a batch's transaction to roll it back: the request left P meanwhile. */
class RequestLeftP extends Error {}

/**
 * Thrown by a source's storeBatch when its page may have missed a change committed before it was
 * read (store-from-groups.ts): the batch rolls back and runs again (the source then reads it the
 * safe way).
 */
export class BatchRaced extends Error {}

export async function storeInParts(deps: StoreDeps, requestId: string, source: PartedSource, run: JobRun = {}): Promise<void> {
  const log = deps.logger.child({ requestId, source: source.name });
  const started = Date.now();
  const atOnce = partsAtOnce(deps.config?.storeParallelism ?? DEFAULT_STORE_PARALLELISM);
  const req = await splitOnce(deps, requestId, source, atOnce, log);
  const statistics = req && partitionStatistics(deps.db, req.created_at, log, () => isDue(req, deps.now()));
  try {
    if (req && statistics) {
      const target: MailTarget = { requestId, projectId: req.project_id, idDay: req.id_day, nextAttemptAt: firstAttemptOf(req), createdAt: req.created_at };
      let failed = false;
      const stop = () => failed || run.isStopping?.() === true || Date.now() - started > RUN_BUDGET_MS;
      for (;;) {
        const open = await parts.openParts(deps.db, requestId);
        if (open.length > 0) {
          // Parts split earlier by a run with more at once (another config) wait for a free turn.
          const slot = createLimiter(atOnce);
          const results = await Promise.allSettled(
            open.map((part) =>
              slot(() => storePart(deps, requestId, part, source, target, stop, log, statistics)).catch((err: unknown) => {
                // the other parts stop at their next batch; the job's retry resumes them all
                failed = true;
                throw err;
              }),
            ),
          );
          await statistics.settled();
          const rejected = results.find((r) => r.status === 'rejected');
          if (rejected) throw rejected.reason;
          const outcomes = results.map((r) => (r as PromiseFulfilledResult<PartOutcome>).value);
          if (outcomes.includes('stopped')) {
            await parts.deletePartsIfLeftP(deps.db, requestId);
            break;
          }
          if (outcomes.includes('handover')) {
            // Each part's row says where the next job goes on.
            await deps.queue.insert<StoreRecipientsPayload>(STORE_RECIPIENTS, [{ data: { requestId } }]);
            log.info('storing handed over to a new job');
            return;
          }
          continue;
        }
        const settled = await settleParts(deps, requestId, source, log);
        if (settled === 'finished') statistics.storeEnded();
        if (settled !== 'again') break;
      }
    } else {
      await parts.deletePartsIfLeftP(deps.db, requestId);
    }
    await finishRequestIfDone(deps, requestId);
  } finally {
    // the last look's analysis ends with the job, after the request's own state, whichever way it ends
    await statistics?.settled();
  }
}

/** The request, if still P; its parts are made by the first run (under the request's lock, so once). */
async function splitOnce(deps: StoreDeps, requestId: string, source: PartedSource, count: number, log: Logger): Promise<StoringRequest | undefined> {
  return deps.db.transaction().execute(async (tx) => {
    const req = await repo.lockRequest(tx, requestId);
    if (req?.status !== 'P') return undefined;
    if (!(await parts.hasParts(tx, requestId))) {
      const made = await source.split(tx, req, count);
      await parts.insertParts(tx, requestId, made);
      log.debug({ parts: made.length }, 'storing in parts');
    }
    return req;
  });
}

/** Stores one part a batch per transaction until it is done (or full), the request leaves P, or the run must stop. */
async function storePart(
  deps: StoreDeps,
  requestId: string,
  partNo: number,
  source: PartedSource,
  target: MailTarget,
  stop: () => boolean,
  log: Logger,
  statistics: PartitionStatistics,
): Promise<PartOutcome> {
  for (;;) {
    if (stop()) return 'handover';
    const batchStart = performance.now();
    const { outcome, stored } = await deps.db
      .transaction()
      .execute(async (tx) => {
        const part = await parts.lockPart(tx, requestId, partNo);
        if (part?.state !== 'S') return { outcome: 'done' as const, stored: 0 };
        const limit = part.lastSeq === null ? source.batch : Math.min(source.batch, part.lastSeq - part.nextSeq + 1);
        const { stored, lastKey } = limit > 0 ? await source.storeBatch(tx, part, target, limit) : { stored: 0, lastKey: part.keyAfter };
        const next: StorePart = { ...part, keyAfter: lastKey, nextSeq: part.nextSeq + stored, stored: part.stored + stored };
        const numbersUsedUp = next.lastSeq !== null && next.nextSeq > next.lastSeq;
        next.state = numbersUsedUp ? ((await source.hasMore(tx, next, target)) ? 'F' : 'D') : stored < limit ? 'D' : 'S';
        await parts.updatePart(tx, requestId, next);
        if (!(await repo.addStoredCount(tx, requestId, stored))) throw new RequestLeftP();
        log.debug({ part: partNo, stored: next.stored, ms: Math.round(performance.now() - batchStart) }, 'stored recipients');
        return { outcome: next.state === 'S' ? ('more' as const) : ('done' as const), stored };
      })
      .catch((err: unknown) => {
        if (err instanceof RequestLeftP) return { outcome: 'stopped' as const, stored: 0 };
        if (err instanceof BatchRaced) {
          log.info({ part: partNo }, 'the groups changed while a batch was read: it runs again');
          return { outcome: 'more' as const, stored: 0 };
        }
        throw err;
      });
    statistics.added(stored);
    if (outcome !== 'more') return outcome;
  }
}

/**
 * No part is storing: a full part goes on, numbered after every other (the book grew within its
 * keys), or the request leaves P. 'again' when parts are storing again.
 */
async function settleParts(deps: StoreDeps, requestId: string, source: PartedSource, log: Logger): Promise<'again' | 'stopped' | 'finished'> {
  return deps.db.transaction().execute(async (tx) => {
    const all = await parts.lockParts(tx, requestId);
    const req = await repo.lockRequest(tx, requestId);
    if (req?.status !== 'P') {
      // cancelled: the parts go with it (locked first, as every batch takes them)
      await parts.deleteParts(tx, requestId);
      return 'stopped';
    }
    if (all.some((p) => p.state === 'S')) return 'again';
    const full = all.find((p) => p.state === 'F');
    if (full) {
      const top = Math.max(...all.map((p) => p.nextSeq));
      await parts.updatePart(tx, requestId, { ...full, nextSeq: top, lastSeq: null, state: 'S' });
      log.info({ part: full.part, from: top }, 'a part outgrew its numbers: it goes on after the others');
      return 'again';
    }
    await source.finish?.(tx, req, req.stored_count);
    await parts.deleteParts(tx, requestId);
    await leaveStoring(deps, tx, req, req.stored_count, log);
    return 'finished';
  });
}

import type { HistoryRange } from '../../db/history-range.ts';
import type { Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import * as repo from './lifecycle.repository.ts';

/**
 * A request's life: P (storing its recipients) -> R (reserved, or awaiting confirmation) or I
 * (sending) -> S, F, PF, U or C. This module owns every transition; requests/ (POST, send now,
 * cancel, the store job) and delivery/ (the roll-up, the sweep) call it.
 */

/** Wakes the claim loops of every worker process (at the commit when `db` is a transaction). */
export const notifyDue = repo.notifyDue;
export { DUE_CHANNEL } from './lifecycle.repository.ts';

/**
 * Rolls each request up to its final status once no mail of it is pending. Safe to call from
 * anywhere, any number of times. `months`: the requests' created_at, when the caller knows it
 * (the statements then look in those months only). `likelyPending`: most of the requests
 * probably have mails left (a batch of a large request's mails); they are looked for first by a
 * statement cheaper to plan than the roll-up, which then runs only for those done (bench:send,
 * 30,000 mails: the roll-up planned in 1.3-4 ms a call, once a batch, nearly always for nothing).
 */
export async function finishRequestsIfDone(deps: Pick<AppDeps, 'db'>, requestIds: string[], months?: HistoryRange, likelyPending = false): Promise<void> {
  const done = likelyPending ? await repo.doneAmong(deps.db, requestIds, months) : requestIds;
  await repo.finishDoneRequests(deps.db, done, months);
}

export async function finishRequestIfDone(deps: Pick<AppDeps, 'db'>, requestId: string): Promise<void> {
  await finishRequestsIfDone(deps, [requestId]);
}

/** Job: a reservation's time has come. */
export async function startReservation(deps: Pick<AppDeps, 'db'>, requestId: string): Promise<void> {
  if (await repo.startReservedRequest(deps.db, requestId)) await repo.notifyDue(deps.db);
}

/** Stored (P): it fails when nothing was stored (F), else it sends now (I, started at `startedAt`) or waits (R). */
export async function finishStoring(tx: Tx, requestId: string, outcome: 'F' | 'I' | 'R', at: Date, startedAt: Date | null): Promise<void> {
  await repo.setStatus(tx, requestId, 'P', outcome);
  if (outcome === 'F') await repo.markFinished(tx, requestId, at);
  if (outcome === 'I' && startedAt) await repo.markStarted(tx, requestId, startedAt);
}

/** sendMailRequestNow: R -> I at once (its ready mails are released by the caller). */
export async function startNow(tx: Tx, requestId: string, at: Date): Promise<void> {
  await repo.setStatus(tx, requestId, 'R', 'I');
  await repo.markStarted(tx, requestId, at, true);
  // The claim loops look at the commit. A job queued for the reservation time still runs then and finds the request no longer R.
  await repo.notifyDue(tx);
}

/** cancelMailRequest: C at once; finished once no mail of it is pending (finishCancelled). */
export const markCancelled = repo.markCancelled;
export const finishCancelled = repo.markFinished;

/** The sweep: reservations whose job was lost are started, and the claim loops woken. */
export async function startOverdueReservations(deps: Pick<AppDeps, 'db'>, graceMs: number, limit: number): Promise<number> {
  const started = await repo.startOverdueReservations(deps.db, graceMs, limit);
  if (started) await repo.notifyDue(deps.db);
  return started;
}

/** Requests still I with no mail left to send (a roll-up lost to an error or a kill). */
export async function sendingWithoutPending(deps: Pick<AppDeps, 'db'>, limit: number): Promise<string[]> {
  return repo.sendingWithoutPending(deps.db, limit);
}

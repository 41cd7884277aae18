import type { Db } from '../../db/schema.ts';
import type { StartReservationJob } from '../../jobs/queue.ts';
import * as repo from './delivery.repository.ts';
import { rollUpStatus } from './roll-up-status.ts';

// The delivery module's use cases for other modules and jobs. The engine itself: claim-loops.ts
// (claim, send, record), send-batch.ts, result-recorder.ts, smtp-attempt.ts.

/** The job that starts a reserved request at its time (none when it sends now or awaits confirmation). */
export function reservationJobsFor(requestId: string, at: Date | null, now: Date): { data: StartReservationJob; startAfter: Date }[] {
  return at && at.getTime() > now.getTime() ? [{ data: { requestId }, startAfter: at }] : [];
}

/** Rolls each request up to its final status once no mail of it is pending. Safe to call from anywhere, any number of times. */
export async function finishRequestsIfDone(db: Db, requestIds: string[]): Promise<void> {
  // A request still sending answers from the pending index alone, instead of counting all its mails.
  const counts = await repo.statusCountsOfDone(db, requestIds);
  const finished: { id: string; status: string }[] = [];
  for (const [id, byStatus] of counts) {
    const status = rollUpStatus(byStatus);
    if (status && status !== 'I') finished.push({ id, status });
  }
  await repo.finishRequests(db, finished);
}

export async function finishRequestIfDone(db: Db, requestId: string): Promise<void> {
  await finishRequestsIfDone(db, [requestId]);
}

/** sendMailRequestNow and a reservation's time: the claim loops of every process look at once. */
export const notifyDue = repo.notifyDue;

/** Job: a reservation's time has come. */
export async function startReservation(db: Db, requestId: string): Promise<void> {
  if (await repo.startReservedRequest(db, requestId)) await repo.notifyDue(db);
}

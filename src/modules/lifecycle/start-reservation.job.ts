import { isRequestIdPayload, type OnDemandJob, type RequestIdPayload } from '../../jobs/job.ts';
import { startReservation } from './lifecycle.service.ts';

/**
 * At a reservation's time: the request starts sending (R -> I) and the claim loops are woken.
 * Mails are not sent by jobs: claim loops take due mails from our own tables. The delivery
 * sweep starts a reserved request whose job was lost.
 */
export const START_RESERVATION = 'start-reservation';
export type StartReservationPayload = RequestIdPayload;

export const startReservationJob: OnDemandJob<StartReservationPayload> = {
  name: START_RESERVATION,
  queue: { retryLimit: 20, retryDelay: 2, retryBackoff: true, expireInSeconds: 60, notify: true },
  isPayload: isRequestIdPayload,
  run: (ctx, data) => startReservation(ctx, data.requestId),
};

/** The job that starts a reserved request at its time (none when it sends now or awaits confirmation). */
export function reservationJobsFor(requestId: string, at: Date | null, now: Date): { data: StartReservationPayload; startAfter: Date }[] {
  return at && at.getTime() > now.getTime() ? [{ data: { requestId }, startAfter: at }] : [];
}

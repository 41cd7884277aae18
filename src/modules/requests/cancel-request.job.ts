import { isRequestIdPayload, type OnDemandJob, type RequestIdPayload } from '../../jobs/job.ts';
import { finishCancellation } from './request-actions.service.ts';

/** Cancels what is left of a cancelled request (large requests, mails held by workers). */
export const CANCEL_REQUEST = 'cancel-request';
export type CancelRequestPayload = RequestIdPayload;

export const cancelRequestJob: OnDemandJob<CancelRequestPayload> = {
  name: CANCEL_REQUEST,
  queue: { retryLimit: 20, retryDelay: 2, retryBackoff: true, expireInSeconds: 600, heartbeatSeconds: 10, notify: true },
  isPayload: isRequestIdPayload,
  run: (ctx, data) => finishCancellation(ctx, data.requestId),
};

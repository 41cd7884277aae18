import { isRequestIdPayload, type OnDemandJob, type RequestIdPayload } from '../../jobs/job.ts';
import { storeRecipients } from './requests.service.ts';

/** Stores the recipients of a large request (status P) as mails and recipient rows. */
export const STORE_RECIPIENTS = 'store-recipients';
export type StoreRecipientsPayload = RequestIdPayload;

export const storeRecipientsJob: OnDemandJob<StoreRecipientsPayload> = {
  name: STORE_RECIPIENTS,
  // A run hands over to a new job before expireInSeconds (store-in-batches.ts); retries resume
  // after the last committed batch.
  queue: { retryLimit: 10, retryDelay: 2, retryBackoff: true, expireInSeconds: 600, heartbeatSeconds: 10, notify: true },
  isPayload: isRequestIdPayload,
  run: (ctx, data) => storeRecipients(ctx, data.requestId, { isStopping: ctx.isStopping }),
};

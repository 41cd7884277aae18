import type { AppDeps } from '../../deps.ts';
import type { Tx } from '../../db/schema.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import { parseNumericId } from '../../shared/ids.ts';
import { cancelPendingMails } from '../delivery/delivery.service.ts';
import { finishCancelled, markCancelled, startNow } from '../lifecycle/lifecycle.service.ts';
import { CANCEL_REQUEST, type CancelRequestPayload } from './cancel-request.job.ts';
import * as repo from './requests.repository.ts';

/** Ready requests older than this can no longer be sent now (console guide). */
const SEND_NOW_MAX_AGE_MS = 30 * 86_400_000;
/** Mails cancelled inside the API call; the rest (and mails workers hold) by a job. */
const CANCEL_BATCH = 5_000;

/** Locks the project's request for a state change; malformed, unknown and other projects' ids are all 77103. */
async function lockRequestOrNotFound(tx: Tx, projectId: string, publicId: string) {
  const id = parseNumericId(publicId);
  const req = id && (await repo.lockProjectRequest(tx, projectId, id));
  if (!req) throw notFound(`requestId: request ${publicId} does not exist`);
  return req;
}

/** sendMailRequestNow: an R request (reserved or awaiting confirmation) goes out at once. */
export async function sendRequestNow(deps: Pick<AppDeps, 'db' | 'queue' | 'now'>, projectId: string, publicId: string): Promise<void> {
  const now = deps.now();
  await deps.db.transaction().execute(async (tx) => {
    const req = await lockRequestOrNotFound(tx, projectId, publicId);
    if (req.status !== 'R') throw badRequest(`requestId: only a ready (R) request can be sent now; this request is ${req.status}`);
    if (req.created_at.getTime() < now.getTime() - SEND_NOW_MAX_AGE_MS) {
      throw badRequest('requestId: a ready request created more than 30 days ago can not be sent');
    }
    await repo.releaseReadyMails(tx, req.id, req.created_at, now);
    await startNow(tx, req.id, now);
  });
}

/**
 * cancelMailRequest. P: storing stops (what is not stored is never stored). R: everything is
 * cancelled. I: what no worker has claimed is cancelled; claimed mails finish as sent or failed.
 * New claims stop the moment the request is C, so delivery stops within one batch.
 */
export async function cancelRequest(deps: Pick<AppDeps, 'db' | 'queue' | 'now'>, projectId: string, publicId: string): Promise<void> {
  const now = deps.now();
  await deps.db.transaction().execute(async (tx) => {
    const req = await lockRequestOrNotFound(tx, projectId, publicId);
    if (!['P', 'R', 'I'].includes(req.status)) {
      throw badRequest(`requestId: only a request that is preparing (P), ready (R) or sending (I) can be cancelled; this request is ${req.status}`);
    }
    await markCancelled(tx, req.id, now);
    await repo.deletePayload(tx, req.id);
    const { remaining } = await cancelPendingMails(tx, req.id, CANCEL_BATCH);
    if (remaining > 0) await deps.queue.insertInTx<CancelRequestPayload>(tx, CANCEL_REQUEST, [{ data: { requestId: req.id } }]);
    else await finishCancelled(tx, req.id, now);
  });
}

/** Job: cancels the rest of a cancelled request; waits for mails workers still hold. */
export async function finishCancellation(deps: Pick<AppDeps, 'db' | 'queue' | 'logger' | 'now'>, requestId: string): Promise<void> {
  for (;;) {
    const { cancelled, remaining } = await cancelPendingMails(deps.db, requestId, CANCEL_BATCH);
    if (remaining === 0) {
      await finishCancelled(deps.db, requestId, deps.now());
      deps.logger.info({ requestId }, 'cancellation complete');
      return;
    }
    if (cancelled === 0) {
      // Only mails held by workers are left: look again once they are recorded or their lease ends.
      await deps.queue.insert<CancelRequestPayload>(CANCEL_REQUEST, [{ data: { requestId }, startAfter: new Date(deps.now().getTime() + 2_000) }]);
      return;
    }
  }
}

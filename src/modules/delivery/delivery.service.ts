import type { Db, Tx } from '../../db/schema.ts';
import * as repo from './delivery.repository.ts';

// The delivery module's use cases for other modules. The engine itself: claim-loops.ts (claim,
// send, record), send-batch.ts, result-recorder.ts, smtp-attempt.ts.

/**
 * Cancels up to `limit` pending mails of a request that no worker holds, with their pending
 * recipients; returns how many were cancelled and how many are still pending.
 */
export async function cancelPendingMails(db: Db | Tx, requestId: string, limit: number): Promise<{ cancelled: number; remaining: number }> {
  return repo.cancelPendingMails(db, requestId, limit);
}

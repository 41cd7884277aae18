import { attachmentsForDelivery, evictAttachmentCopies } from '../files/files.service.ts';
import { createSigningKeys } from '../sender-domains/signing-keys.ts';
import { unsubscribeMessageFor } from '../unsubscribes/unsubscribe-message.ts';
import * as repo from './delivery.repository.ts';
import type { DeliveryDeps, DeliverySettings } from './delivery-deps.ts';
import { buildRequestContext, type RequestContext } from './request-context.ts';

const EVICT_EVERY_MS = 3600_000;

/**
 * What a process needs to send a request's mails (sender, content, attachments, notice), loaded
 * once per request and kept for the last 1,000 requests.
 */
export function createContextCache(deps: Pick<DeliveryDeps, 'db' | 'config' | 'box' | 'blobs' | 'logger'>, settings: Pick<DeliverySettings, 'unsubscribe'>) {
  const contexts = new Map<string, Promise<RequestContext | undefined>>();
  const signingKeyOf = createSigningKeys(deps);
  let evictedAt = Date.now();

  async function loadContexts(requestIds: string[]): Promise<Map<string, RequestContext>> {
    // A remote store's attachment copies on this host go once their files are (checked at most
    // hourly, when requests are loaded: a worker that loads none has no new copies either).
    if (Date.now() - evictedAt > EVICT_EVERY_MS) {
      evictedAt = Date.now();
      evictAttachmentCopies(deps).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'evicting attachment copies failed'));
    }
    const rows = await repo.loadRequestsForDelivery(deps.db, requestIds);
    const attachments = await attachmentsForDelivery(
      deps,
      rows.filter((r) => r.has_files).map((r) => String(r.id)),
    );
    const out = new Map<string, RequestContext>();
    for (const row of rows) {
      const notice = row.advertising
        ? unsubscribeMessageFor(
            { useBasicUnsubscribeMsg: row.use_basic_unsubscribe_msg, unsubscribeMessage: row.unsubscribe_message },
            settings.unsubscribe.lang,
          )
        : null;
      out.set(String(row.id), buildRequestContext(row, attachments.get(String(row.id)) ?? [], notice, signingKeyOf(row)));
    }
    return out;
  }

  /** Requests not seen before are loaded together (one statement for a batch, a second for their attachments if any); loops claiming the same new request share one load. */
  function contextsFor(requestIds: string[]): Promise<(RequestContext | undefined)[]> {
    const missing = requestIds.filter((id) => !contexts.has(id));
    if (missing.length) {
      const loading = loadContexts(missing);
      for (const id of missing) {
        const one = loading.then((m) => m.get(id));
        one.catch(() => contexts.delete(id));
        contexts.set(id, one);
      }
      while (contexts.size > 1_000) contexts.delete(contexts.keys().next().value!);
    }
    return Promise.all(requestIds.map((id) => contexts.get(id)!));
  }

  return contextsFor;
}

import type { Db } from '../../db/schema.ts';
import type { MailListItem, RecipientListItem, RequestListItem, ViewOptions } from './mails.mapper.ts';
import { iterateMailRows } from './mails.read-model.ts';
import { iterateRecipientRows } from './recipients.read-model.ts';
import { iterateRequestRows } from './request-list.read-model.ts';
import { parseFilters, type ViewFilters, type ViewName } from './view-filters.ts';

export type { ViewFilters, ViewName } from './view-filters.ts';

/**
 * Parses a view's filters: the same query parameters as its GET endpoint (page/size/sort
 * ignored); throws badRequest (77102) naming the field. The `mails` view spans one request:
 * its filters must name a `requestId` (400 otherwise).
 */
export function parseViewFilters(view: ViewName, raw: Record<string, unknown>, opts: { timeZone: string; now: Date }): ViewFilters {
  return parseFilters(view, raw, { ...opts, defaultWindow: view !== 'mails', requireRequestId: view === 'mails' });
}

/** The API row type of each view. */
export type ViewRow<V extends ViewName> = V extends 'requests' ? RequestListItem : V extends 'mails' ? MailListItem : RecipientListItem;

/**
 * Every matching row of the view, in its default order, in batches of `batchSize`, by keyset
 * (never OFFSET), rendered exactly as the GET endpoint renders them (lang, time zone). Requests
 * newest first; mails (of the filters' requestId) in mailId order; recipients newest request
 * first. Each batch is one short query: rows written meanwhile may or may not appear.
 */
export async function* iterateViewRows<V extends ViewName>(
  db: Db,
  projectId: string,
  view: V,
  filters: ViewFilters,
  opts: ViewOptions & { batchSize: number },
): AsyncIterable<ViewRow<V>[]> {
  const options: ViewOptions = { lang: opts.lang, timeZone: opts.timeZone };
  const batchSize = Math.max(1, Math.floor(opts.batchSize));
  const rows =
    view === 'requests'
      ? iterateRequestRows(db, projectId, filters, options, batchSize)
      : view === 'mails'
        ? iterateMailRows(db, projectId, filters, options, batchSize)
        : iterateRecipientRows(db, projectId, filters, options, batchSize);
  for await (const batch of rows) yield batch as ViewRow<V>[];
}

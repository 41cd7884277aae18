import { parsePaging, parseSort, type Paging, type SortKey } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { parseFilters, type ViewFilters } from './view-filters.ts';

/** Query parameters of the request, mail and recipient views: paging, sorting and the shared filters. */

export const REQUEST_SORT_PROPERTIES = ['createUtc', 'recipientCount', 'reservationUtc', 'sendUtc', 'statusCode'] as const;
export const MAIL_SORT_PROPERTIES = ['id', 'createUtc', 'statusCode'] as const;

export interface RequestListQuery extends ViewFilters {
  paging: Paging;
  sort: SortKey[];
}

export const DEFAULT_REQUEST_SORT: readonly SortKey[] = [{ property: 'createUtc', direction: 'DESC' }];

/**
 * getMailRequestList. NCP documents one start and one end as required, but real clients call it
 * without dates and expect 200: a missing start then means two months before the end (or now),
 * as the console shows. A lookup by requestId or mailId gets no default window.
 */
export function parseRequestListQuery(query: RawQuery, opts: { timeZone: string; now: Date }): RequestListQuery {
  return {
    paging: parsePaging(query),
    sort: parseSort(query.sort, REQUEST_SORT_PROPERTIES, DEFAULT_REQUEST_SORT),
    ...parseFilters('requests', query, { ...opts, defaultWindow: true }),
  };
}

export interface MailListQuery extends ViewFilters {
  paging: Paging;
  sort: SortKey[];
}

export const DEFAULT_MAIL_SORT: readonly SortKey[] = [{ property: 'id', direction: 'ASC' }];

/**
 * getMailList: the mails of one request, in mailId order unless sorted otherwise. The shared
 * filters narrow it (a requestId filter other than the path's matches nothing).
 */
export function parseMailListQuery(query: RawQuery, opts: { timeZone: string; now: Date }): MailListQuery {
  return {
    paging: parsePaging(query),
    sort: parseSort(query.sort, MAIL_SORT_PROPERTIES, DEFAULT_MAIL_SORT),
    ...parseFilters('mails', query, opts),
  };
}

export interface RecipientListQuery {
  paging: Paging;
  sort: SortKey[];
  filters: ViewFilters;
}

export const RECIPIENT_SORT_PROPERTIES = ['createUtc', 'sendUtc', 'receivedUtc', 'statusCode'] as const;
export const DEFAULT_RECIPIENT_SORT: readonly SortKey[] = [{ property: 'createUtc', direction: 'DESC' }];

/** getRecipientList (extension): the request view's filters and default window. */
export function parseRecipientListQuery(query: RawQuery, opts: { timeZone: string; now: Date }): RecipientListQuery {
  return {
    paging: parsePaging(query),
    sort: parseSort(query.sort, RECIPIENT_SORT_PROPERTIES, DEFAULT_RECIPIENT_SORT),
    filters: parseFilters('recipients', query, { ...opts, defaultWindow: true }),
  };
}

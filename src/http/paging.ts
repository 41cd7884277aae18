import type { components } from '../generated/api.ts';
import { badRequest } from '../shared/errors.ts';
import { wholeNumber, type RawQuery } from './query-params.ts';

/**
 * Spring Data's paging and sorting as NCP's list operations speak it (ncp-api-reference §3.4,
 * §3.5, §5.2, §5.4): `page`, `size` and `sort` in, the Page JSON out.
 */

export type SortOrder = components['schemas']['SortOrder'];
export type Page<T> = components['schemas']['PageMeta'] & { content: T[] };

export interface Paging {
  page: number;
  size: number;
}

export interface SortKey {
  property: string;
  direction: 'ASC' | 'DESC';
}

export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 1000;
/** Spring's page number is a Java int. */
const MAX_PAGE = 2_147_483_647;

export function parsePaging(query: RawQuery): Paging {
  return {
    page: wholeNumber(query, 'page', 0, MAX_PAGE) ?? 0,
    size: wholeNumber(query, 'size', 1, MAX_PAGE_SIZE) ?? DEFAULT_PAGE_SIZE,
  };
}

/**
 * Spring's `sort` parameter: each value is `property(,property)*(,asc|desc)`, the direction
 * (default ASC) applying to the properties before it; repeat the key for several directions.
 */
export function parseSort(raw: unknown, allowed: readonly string[], defaults: readonly SortKey[]): SortKey[] {
  const values = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
  const keys: SortKey[] = [];
  for (const value of values) {
    if (typeof value !== 'string') throw badRequest('sort: must be "property" or "property,asc|desc"');
    const parts = value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (parts.length === 0) continue;
    const last = parts[parts.length - 1]!.toUpperCase();
    const direction = last === 'ASC' || last === 'DESC' ? last : undefined;
    if (direction) parts.pop();
    if (parts.length === 0) throw badRequest(`sort: "${value}" names no property (allowed: ${allowed.join(', ')})`);
    for (const property of parts) {
      if (!allowed.includes(property)) throw badRequest(`sort: unknown property "${property}" (allowed: ${allowed.join(', ')})`);
      if (!keys.some((k) => k.property === property)) keys.push({ property, direction: direction ?? 'ASC' });
    }
  }
  return keys.length > 0 ? keys : [...defaults];
}

export function toSortOrder(key: SortKey): SortOrder {
  return {
    direction: key.direction,
    property: key.property,
    ignoreCase: false,
    nullHandling: 'NATIVE',
    ascending: key.direction === 'ASC',
    descending: key.direction === 'DESC',
  };
}

/** Spring Data's Page JSON, in the key order NCP's examples show. A page past the end is empty, not an error. */
export function toPage<T>(items: T[], total: number, paging: Paging, sort: readonly SortKey[], exact = true): Page<T> {
  const totalPages = Math.ceil(total / paging.size);
  return {
    content: items,
    last: paging.page + 1 >= totalPages,
    totalElements: total,
    // extension: only when totalElements is a lower bound (modules/mails/view-sql.ts, COUNT_CAP)
    ...(exact ? {} : { totalElementsExact: false }),
    totalPages,
    first: paging.page === 0,
    numberOfElements: items.length,
    size: paging.size,
    number: paging.page,
    sort: sort.map(toSortOrder),
  };
}

/**
 * The total without a count query where the page itself tells it (Spring's
 * PageableExecutionUtils): a first page that is not full, or any non-empty page that is not full.
 */
export function totalFromPage(rowCount: number, paging: Paging): number | undefined {
  const offset = paging.page * paging.size;
  if (rowCount > 0 && rowCount < paging.size) return offset + rowCount;
  if (rowCount === 0 && offset === 0) return 0;
  return undefined;
}

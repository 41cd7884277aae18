import { parseZonedDateTime } from '../shared/clock.ts';
import { badRequest } from '../shared/errors.ts';

/**
 * Query-string values of the list and search operations, parsed in one pure place. Values arrive
 * coerced by the OpenAPI validator (numbers, arrays) or raw from the query string (strings,
 * repeated keys as arrays): both are accepted. Every rejection is 400/77102 naming the field.
 */

export type RawQuery = Record<string, unknown>;

export interface DateRange {
  /** inclusive */
  start?: Date;
  /** inclusive */
  end?: Date;
}

/** One value of a query key: the first when repeated; undefined when absent or empty. */
export function single(raw: unknown, field: string): string | number | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string' || typeof v === 'number') return v;
  throw badRequest(`${field}: must be a single value`);
}

function text(query: RawQuery, field: string): string | undefined {
  const v = single(query[field], field);
  return v === undefined ? undefined : String(v);
}

export function wholeNumber(query: RawQuery, field: string, min: number, max: number): number | undefined {
  const v = single(query[field], field);
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${field}: must be a whole number between ${min} and ${max}`);
  return n;
}

/** Every value of a multi-valued key, repeated (`a=S&a=PF`) or comma-separated (`a=S%2CPF`). */
export function parseMultiValue(raw: unknown, field: string): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const items = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string' && typeof item !== 'number') throw badRequest(`${field}: must be a list of values`);
    for (const part of String(item).split(',')) {
      const v = part.trim();
      if (v !== '' && !out.includes(v)) out.push(v);
    }
  }
  return out.length > 0 ? out : undefined;
}

/** Status codes (case-insensitive); an unknown code is refused with the allowed ones. */
export function parseStatuses(raw: unknown, allowed: readonly string[], field = 'sendStatus'): string[] | undefined {
  const values = parseMultiValue(raw, field);
  if (!values) return undefined;
  const codes: string[] = [];
  for (const v of values) {
    const code = v.toUpperCase();
    if (!allowed.includes(code)) throw badRequest(`${field}: unknown status "${v}" (allowed: ${allowed.join(', ')})`);
    if (!codes.includes(code)) codes.push(code);
  }
  return codes;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const TO_MINUTE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$/;
const TO_SECOND = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$/;

/**
 * Dates a filter may name: years 1 to 9999. JavaScript dates reach ±273,790 years and PostgreSQL's
 * timestamptz only 4713 BC to 294276 AD, so an extreme value would pass here and fail in SQL (500,
 * or an export job failing at every retry).
 */
const MIN_FILTER_MS = -62135596800000; // 0001-01-01T00:00:00Z
const MAX_FILTER_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

function inFilterRange(date: Date, field: string): Date {
  const t = date.getTime();
  if (t < MIN_FILTER_MS || t > MAX_FILTER_MS)
    throw badRequest(`${field}: must be between 0001-01-01 and 9999-12-31 (epoch milliseconds ${MIN_FILTER_MS} to ${MAX_FILTER_MS})`);
  return date;
}

function epochMs(query: RawQuery, field: string): Date | undefined {
  const v = single(query[field], field);
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  const date = new Date(n);
  if (!Number.isSafeInteger(n) || Number.isNaN(date.getTime())) throw badRequest(`${field}: must be epoch milliseconds`);
  return inFilterRange(date, field);
}

/**
 * A date string as the start or the end of the period it names: "2025-01-02" as an end means
 * the whole day, "2025-01-02 23:59" the whole minute (NCP's own example ends at "23:59").
 */
function zonedDate(query: RawQuery, field: string, timeZone: string, asEnd: boolean): Date | undefined {
  const value = text(query, field)?.trim();
  if (value === undefined || value === '') return undefined;
  const parsed = parseZonedDateTime(value, timeZone);
  if (!parsed) {
    throw badRequest(`${field}: must be a date "yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss.SSS" or "yyyy-MM-dd HH:mm:ss SSS"`);
  }
  const date = inFilterRange(parsed, field);
  if (!asEnd) return date;
  if (DATE_ONLY.test(value)) {
    // The next day's midnight in the zone, so a 23- or 25-hour day ends where it really ends.
    const next = new Date(Date.UTC(+value.slice(0, 4), +value.slice(5, 7) - 1, +value.slice(8, 10) + 1));
    const nextDay = `${next.getUTCFullYear()}-${String(next.getUTCMonth() + 1).padStart(2, '0')}-${String(next.getUTCDate()).padStart(2, '0')}`;
    const midnight = parseZonedDateTime(nextDay, timeZone);
    return midnight ? new Date(midnight.getTime() - 1) : date;
  }
  if (TO_MINUTE.test(value)) return new Date(date.getTime() + 59_999);
  if (TO_SECOND.test(value)) return new Date(date.getTime() + 999);
  return date;
}

/** `startUtc`/`endUtc` win over `startDateTime`/`endDateTime`; both ends inclusive. */
export function parseDateRange(query: RawQuery, timeZone: string): DateRange {
  const startUtc = epochMs(query, 'startUtc');
  const endUtc = epochMs(query, 'endUtc');
  const start = startUtc ?? zonedDate(query, 'startDateTime', timeZone, false);
  const end = endUtc ?? zonedDate(query, 'endDateTime', timeZone, true);
  if (start && end && start.getTime() > end.getTime()) {
    const startField = startUtc ? 'startUtc' : 'startDateTime';
    const endField = endUtc ? 'endUtc' : 'endDateTime';
    throw badRequest(`${startField} must not be after ${endField}`);
  }
  return { start, end };
}

/**
 * Dates as NCP shows them (NesDateTime): epoch ms plus two strings in the display time zone.
 * formattedDateTime has the milliseconds after a space: "2018-11-20 15:19:53 240".
 */
export interface NesDateTime {
  utc: number;
  formattedDate: string;
  formattedDateTime: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      // year 0 and before show as 1, 2 ... BC: the era tells them apart
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock parts of an instant in a time zone. */
export function zonedParts(date: Date, timeZone: string) {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(date)) parts[p.type] = p.value;
  const year = date.getUTCFullYear() < 1000 ? astronomicalYear(parts) : parts.year!;
  return {
    year,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
    ms: String(date.getUTCMilliseconds()).padStart(3, '0'),
  };
}

/** Years before 1000 as four digits, 1 BC as 0000 (ISO 8601's astronomical numbering). */
function astronomicalYear(parts: Record<string, string>): string {
  const y = Number(parts.year);
  const year = /^B/i.test(parts.era ?? '') ? 1 - y : y;
  return year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0');
}

/**
 * Epoch ms of a UTC wall time. Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear takes the
 * year as given.
 */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

export function toNesDateTime(date: Date | null | undefined, timeZone: string): NesDateTime | null {
  if (!date) return null;
  const p = zonedParts(date, timeZone);
  const formattedDate = `${p.year}-${p.month}-${p.day}`;
  return {
    utc: date.getTime(),
    formattedDate,
    formattedDateTime: `${formattedDate} ${p.hour}:${p.minute}:${p.second} ${p.ms}`,
  };
}

/** Each zone's last dayNumber, by the minute it was computed for: every POST asks for the same one. */
const lastDay = new Map<string, { minute: number; day: number }>();

/**
 * yyyyMMdd of an instant in a time zone, as used in public ids. Zones change day (and offset) on
 * whole minutes, so one answer holds for its minute; formatToParts costs ~70 us a call.
 */
export function dayNumber(date: Date, timeZone: string): number {
  const minute = Math.floor(date.getTime() / 60_000);
  const hit = lastDay.get(timeZone);
  if (hit && hit.minute === minute) return hit.day;
  const p = zonedParts(date, timeZone);
  const day = Number(`${p.year}${p.month}${p.day}`);
  lastDay.set(timeZone, { minute, day });
  return day;
}

/** Offset of a time zone from UTC at an instant, in ms (KST: +9h). */
function zoneOffsetMs(date: Date, timeZone: string): number {
  const p = zonedParts(date, timeZone);
  const asUtc = utcMs(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second, date.getUTCMilliseconds());
  return asUtc - date.getTime();
}

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[. ](\d{1,3}))?)?)?$/;

/**
 * Parses NCP's date strings ("yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss.SSS",
 * "yyyy-MM-dd HH:mm:ss SSS") as wall-clock time in the given zone. undefined when malformed.
 * Years are taken as written (0030 is year 30, not 1930).
 *
 * Around a DST change, as most schedulers (and Temporal's "compatible" rule) do: a time that
 * happens twice (fall back) is the first of the two; a time that does not exist (spring forward,
 * e.g. 02:30 in New York on 2027-03-14) is read with the offset before the change, which lands
 * after the gap by its length (03:30 EDT).
 */
export function parseZonedDateTime(text: string, timeZone: string): Date | undefined {
  const m = LOCAL_DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', ms = '0'] = m;
  const fields = [+y!, +mo! - 1, +d!, +h, +mi, +s, +ms.padEnd(3, '0')] as const;
  const wall = utcMs(...fields);
  const check = new Date(wall);
  if (check.getUTCMonth() !== fields[1] || check.getUTCDate() !== fields[2] || +h > 23 || +mi > 59 || +s > 59) {
    return undefined;
  }
  // The offsets a day before and a day after: a zone changes at most once in between.
  const before = zoneOffsetMs(new Date(wall - 86_400_000), timeZone);
  const after = zoneOffsetMs(new Date(wall + 86_400_000), timeZone);
  // Each candidate is valid when the zone has that offset at that instant.
  const valid = [wall - before, wall - after].filter((t) => zoneOffsetMs(new Date(t), timeZone) === wall - t);
  // none valid: a gap, read with the earlier offset
  return new Date(valid.length ? Math.min(...valid) : wall - before);
}

/** "HH:mm:ss.SSS" for a duration; hours may exceed 24 ("479:49:34.573"), as NCP shows them. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const milli = total % 1000;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(milli, 3)}`;
}

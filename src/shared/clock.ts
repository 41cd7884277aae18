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
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock parts of an instant in a time zone. */
export function zonedParts(date: Date, timeZone: string) {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(date)) parts[p.type] = p.value;
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
    ms: String(date.getUTCMilliseconds()).padStart(3, '0'),
  };
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

/** yyyyMMdd of an instant in a time zone, as used in public ids. */
export function dayNumber(date: Date, timeZone: string): number {
  const p = zonedParts(date, timeZone);
  return Number(`${p.year}${p.month}${p.day}`);
}

/** Offset of a time zone from UTC at an instant, in ms (KST: +9h). */
function zoneOffsetMs(date: Date, timeZone: string): number {
  const p = zonedParts(date, timeZone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second, date.getUTCMilliseconds());
  return asUtc - date.getTime();
}

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[. ](\d{1,3}))?)?)?$/;

/**
 * Parses NCP's date strings ("yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss.SSS",
 * "yyyy-MM-dd HH:mm:ss SSS") as wall-clock time in the given zone. undefined when malformed.
 */
export function parseZonedDateTime(text: string, timeZone: string): Date | undefined {
  const m = LOCAL_DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', ms = '0'] = m;
  const fields = [+y!, +mo! - 1, +d!, +h, +mi, +s, +ms.padEnd(3, '0')] as const;
  // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear takes the year as written.
  const wall = new Date(0).setUTCFullYear(fields[0], fields[1], fields[2]) + ((fields[3] * 60 + fields[4]) * 60 + fields[5]) * 1000 + fields[6];
  const check = new Date(wall);
  if (check.getUTCMonth() !== fields[1] || check.getUTCDate() !== fields[2] || +h > 23 || +mi > 59 || +s > 59) {
    return undefined;
  }
  // Two passes settle the offset also next to a DST change.
  let guess = wall - zoneOffsetMs(new Date(wall), timeZone);
  guess = wall - zoneOffsetMs(new Date(guess), timeZone);
  return new Date(guess);
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

/**
 * NCP's public ids: requestId and mailId are 20 digits, yyyyMMdd + 12 digits.
 * We store the 12-digit part as a bigint from one sequence (shared by requests and
 * mails, as in NCP's examples) and the day as an int; the public id joins the two.
 */
export interface NumericId {
  day: number;
  seq: bigint;
}

export function formatNumericId(day: number, seq: bigint | string | number): string {
  return String(day) + String(seq).padStart(12, '0');
}

/** undefined for anything that is not a well-formed id (callers answer 77103, never 500). */
export function parseNumericId(id: string): NumericId | undefined {
  if (!/^\d{20}$/.test(id)) return undefined;
  return { day: Number(id.slice(0, 8)), seq: BigInt(id.slice(8)) };
}

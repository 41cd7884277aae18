/**
 * How a request's recipients become mails. Individual: one mail per recipient (type R only).
 * General: R, then C, then B, cut into mails of at most 30 envelope recipients; every mail of a
 * general request shows the same To/Cc headers would be wrong, so each mail carries its own slice.
 */
export const GENERAL_MAIL_MAX_RECIPIENTS = 30;

export interface SplitRecipient {
  address: string;
  name: string | null;
  type: 'R' | 'C' | 'B';
  parameters: Record<string, unknown> | null;
}

/** Recipients to store, a slice at a time: an array, or deferred ones (their JSON text kept, or parsed again per slice). */
export interface RecipientSlices {
  readonly length: number;
  slice(from: number, to: number): SplitRecipient[];
  /** JSON.stringify(slice(from, to)), where the text was kept from an earlier pass (nothing parsed again) */
  json?(from: number, to: number): string;
}

/** mailIndex[i] is the 0-based mail of recipient i (in the returned order); mailCount mails in all. */
export interface Split<T> {
  ordered: T[];
  mailIndex: number[];
  mailCount: number;
}

export function splitRecipients<T extends { type: 'R' | 'C' | 'B' }>(recipients: T[], individual: boolean): Split<T> {
  if (individual) {
    return { ordered: recipients, mailIndex: recipients.map((_, i) => i), mailCount: recipients.length };
  }
  const rank = { R: 0, C: 1, B: 2 } as const;
  const ordered = recipients
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank[a.r.type] - rank[b.r.type] || a.i - b.i)
    .map((x) => x.r);
  const mailIndex = ordered.map((_, i) => Math.floor(i / GENERAL_MAIL_MAX_RECIPIENTS));
  return { ordered, mailIndex, mailCount: Math.ceil(ordered.length / GENERAL_MAIL_MAX_RECIPIENTS) };
}

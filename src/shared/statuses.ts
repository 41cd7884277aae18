// The status letters of requests, mails and recipients (NCP's codes), defined once. The columns
// of db/schema.ts are typed with them; views, filters and the lifecycle use these lists.

/** A request: P storing its recipients, R ready (reserved or awaiting confirmation), I sending, then final. */
export const REQUEST_STATUSES = ['P', 'R', 'I', 'S', 'F', 'U', 'C', 'PF'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** A mail (one per recipient when individual): R ready, I sending or waiting for a retry, then final. */
export const MAIL_STATUSES = ['R', 'I', 'S', 'F', 'U', 'C', 'PF'] as const;
export type MailStatus = (typeof MAIL_STATUSES)[number];

/** A recipient: R ready, I sending or waiting for a retry; S sent, F failed, U unsubscribed, C cancelled. */
export const RECIPIENT_STATUSES = ['R', 'I', 'S', 'F', 'U', 'C'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** Statuses nothing moves out of. */
export const FINAL_STATUSES = ['S', 'F', 'PF', 'U', 'C'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Mails (and recipients) still to be sent: what a claim takes and what keeps a request sending. */
export const PENDING_STATUSES = ['R', 'I'] as const;

export const isFinalStatus = (s: string): s is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(s);

/** The event types an endpoint may subscribe to (PRODUCT.md §11). */
export const WEBHOOK_EVENTS = [
  'request.finished',
  'recipient.sent',
  'recipient.failed',
  'recipient.bounced',
  'recipient.complained',
  'recipient.unsubscribed',
  'export.completed',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** What an event is about: its payload's `data` is that row as the views show it. */
export function subjectOf(type: string): 'recipient' | 'request' | 'export' {
  if (type.startsWith('recipient.')) return 'recipient';
  if (type === 'request.finished') return 'request';
  return 'export';
}

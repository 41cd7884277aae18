import type { RecipientUpdate } from './apply-send-result.ts';
import type { MailRecipient } from './build-message.ts';

/**
 * Pending recipients that must not be sent to (pure): on the project's unsubscribe list
 * (advertising mail only: U / UNSUBSCRIBE_ADDRESS), in a domain the project blocks
 * (F / UNKNOWN_DOMAIN_ADDRESS) or on the service-wide send-block list (F / SEND_BLOCK_ADDRESS).
 * They are finished here, without an SMTP attempt; `rest` is the mail's recipient list with them
 * no longer pending, so the mail rolls up with them counted. Sets hold lower-case addresses.
 */
export function skipListedRecipients(
  recipients: MailRecipient[],
  lists: { unsubscribed: ReadonlySet<string>; blocked: ReadonlySet<string>; domainBlocked?: ReadonlySet<string> },
  mail: { advertising: boolean; cancelled: boolean },
  now: Date,
): { updates: RecipientUpdate[]; rest: MailRecipient[] } {
  const advertising = mail.advertising;
  // A cancelled request's unsent recipients are all cancelled (C), listed or not.
  if (mail.cancelled) return { updates: [], rest: recipients };
  const domainBlocked = lists.domainBlocked ?? new Set<string>();
  if (lists.blocked.size === 0 && domainBlocked.size === 0 && (!advertising || lists.unsubscribed.size === 0)) return { updates: [], rest: recipients };
  const updates: RecipientUpdate[] = [];
  const rest = recipients.map((r) => {
    if (!r.pending) return r;
    const key = r.address.toLowerCase();
    // An address both unsubscribed and blocked shows its owner's choice, then the project's.
    const skip =
      advertising && lists.unsubscribed.has(key)
        ? { status: 'U', resultCode: 'UNSUBSCRIBE_ADDRESS' as const }
        : domainBlocked.has(key)
          ? { status: 'F', resultCode: 'UNKNOWN_DOMAIN_ADDRESS' as const }
          : lists.blocked.has(key)
            ? { status: 'F', resultCode: 'SEND_BLOCK_ADDRESS' as const }
            : undefined;
    if (!skip) return r;
    updates.push({ id: r.id, ...skip, resultMessage: null, retryCount: r.retryCount, receivedAt: null, finishedAt: now });
    return { ...r, status: skip.status, pending: false };
  });
  return { updates, rest };
}

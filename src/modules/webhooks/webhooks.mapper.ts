import type { components } from '../../generated/api.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import type { DeliveryRow, WebhookRow } from './webhooks.repository.ts';

type Schemas = components['schemas'];
export type Webhook = Schemas['Webhook'];
export type WebhookCreated = Schemas['WebhookCreated'];
export type WebhookCreate = Schemas['WebhookCreate'];
export type WebhookUpdate = Schemas['WebhookUpdate'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookEventType = Schemas['WebhookEventType'];

export function toWebhook(row: WebhookRow, timeZone: string): Webhook {
  return {
    webhookId: String(row.id),
    url: row.url,
    events: row.events as WebhookEventType[],
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.enabled ? null : row.disabled_reason,
    disabledDate: row.enabled ? null : toNesDateTime(row.disabled_at, timeZone),
    createDate: toNesDateTime(row.created_at, timeZone)!,
    updateDate: toNesDateTime(row.updated_at, timeZone)!,
  };
}

const DELIVERY_STATUS = { P: 'pending', S: 'delivered', F: 'failed' } as const;

export function toWebhookDelivery(row: DeliveryRow, timeZone: string): WebhookDelivery {
  return {
    deliveryId: String(row.id),
    eventType: row.event_type as WebhookEventType,
    status: DELIVERY_STATUS[row.status as keyof typeof DELIVERY_STATUS] ?? 'pending',
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastAttemptDate: toNesDateTime(row.last_attempt_at, timeZone),
    nextAttemptDate: row.status === 'P' ? toNesDateTime(row.next_attempt_at, timeZone) : null,
    latencyMs: row.last_latency_ms,
    responseExcerpt: row.last_response,
    error: row.last_error,
    eventDate: toNesDateTime(row.event_at, timeZone)!,
  };
}

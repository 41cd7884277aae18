import crypto from 'node:crypto';
import type { Db, Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import { toPage, totalFromPage, type Page, type Paging } from '../../http/paging.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import type { SecretBox } from '../../shared/secret-box.ts';
import { WEBHOOK_EVENTS } from './webhook-events.ts';
import { webhookUrlProblem } from './webhook-url.ts';
import {
  toWebhook,
  toWebhookDelivery,
  type Webhook,
  type WebhookCreate,
  type WebhookCreated,
  type WebhookDelivery,
  type WebhookUpdate,
} from './webhooks.mapper.ts';
import * as repo from './webhooks.repository.ts';

type Deps = Pick<AppDeps, 'db' | 'config'>;

const LIST_SORT = [{ property: 'createUtc', direction: 'DESC' as const }];

const webhookNotFound = (id: string) => notFound(`webhookId: webhook ${id.slice(0, 40)} does not exist`);
const deliveryNotFound = (id: string) => notFound(`deliveryId: delivery ${id.slice(0, 40)} does not exist`);
const isId = (id: string) => /^[1-9]\d{0,17}$/.test(id);

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format. */
function newSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/** What the validator does not check: the URL's scheme and address, the events' meaning. */
function checked(body: { url: string; events: string[]; description?: string | null }, allowPrivate: boolean) {
  const url = body.url.trim();
  const problem = webhookUrlProblem(url, allowPrivate);
  if (problem) throw badRequest(`url: ${problem}`);
  const unknown = body.events.find((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  if (unknown !== undefined) throw badRequest(`events: unknown event type "${String(unknown).slice(0, 50)}" (allowed: ${WEBHOOK_EVENTS.join(', ')})`);
  return { url, events: [...new Set(body.events)] };
}

export async function createWebhook(deps: Deps, box: SecretBox, projectId: string, body: WebhookCreate): Promise<WebhookCreated> {
  const { url, events } = checked(body, deps.config.webhookAllowPrivate);
  const secret = newSecret();
  const row = await repo.insertWebhook(deps.db, { projectId, url, events, description: body.description ?? null, secretSealed: box.seal(secret) });
  return { ...toWebhook(row, deps.config.displayTimezone), secret };
}

async function findOrFail(db: Db | Tx, projectId: string, webhookId: string) {
  if (!isId(webhookId)) throw webhookNotFound(webhookId);
  const row = await repo.findWebhook(db, projectId, webhookId);
  if (!row) throw webhookNotFound(webhookId);
  return row;
}

export async function getWebhook(deps: Deps, projectId: string, webhookId: string): Promise<Webhook> {
  return toWebhook(await findOrFail(deps.db, projectId, webhookId), deps.config.displayTimezone);
}

export async function getWebhookList(deps: Deps, projectId: string, paging: Paging): Promise<Page<Webhook>> {
  const rows = await repo.listWebhooks(deps.db, projectId, paging.size, paging.page * paging.size);
  const total = totalFromPage(rows.length, paging) ?? (await repo.countWebhooks(deps.db, projectId));
  return toPage(
    rows.map((r) => toWebhook(r, deps.config.displayTimezone)),
    total,
    paging,
    LIST_SORT,
  );
}

export async function updateWebhook(deps: Deps, projectId: string, webhookId: string, body: WebhookUpdate): Promise<Webhook> {
  const { url, events } = checked(body, deps.config.webhookAllowPrivate);
  return deps.db.transaction().execute(async (tx) => {
    const current = await findOrFail(tx, projectId, webhookId);
    const row = await repo.updateWebhook(tx, projectId, webhookId, {
      url,
      events,
      description: body.description === undefined ? current.description : body.description,
      enabled: body.enabled ?? current.enabled,
    });
    if (!row) throw webhookNotFound(webhookId);
    return toWebhook(row, deps.config.displayTimezone);
  });
}

export async function deleteWebhook(deps: Deps, projectId: string, webhookId: string): Promise<void> {
  if (!isId(webhookId) || !(await repo.deleteWebhook(deps.db, projectId, webhookId))) throw webhookNotFound(webhookId);
}

export async function getWebhookDeliveryList(deps: Deps, projectId: string, webhookId: string, paging: Paging): Promise<Page<WebhookDelivery>> {
  await findOrFail(deps.db, projectId, webhookId);
  const rows = await repo.listDeliveries(deps.db, webhookId, paging.size, paging.page * paging.size);
  const total = totalFromPage(rows.length, paging) ?? (await repo.countDeliveries(deps.db, webhookId));
  return toPage(
    rows.map((r) => toWebhookDelivery(r, deps.config.displayTimezone)),
    total,
    paging,
    LIST_SORT,
  );
}

export async function retryWebhookDelivery(deps: Deps, projectId: string, webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
  await findOrFail(deps.db, projectId, webhookId);
  if (!isId(deliveryId) || !(await repo.scheduleAgain(deps.db, webhookId, deliveryId))) throw deliveryNotFound(deliveryId);
  const rows = await deps.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).execute();
  return toWebhookDelivery(rows[0]!, deps.config.displayTimezone);
}

/** For other modules: the outbox write to put in the statement that records an outcome (see repo.outboxInsert). */
export const webhookOutboxInsert = repo.outboxInsert;

/** For other modules: events written in their transaction, one statement for all of them. */
export async function emitWebhookEvents(tx: Db | Tx, events: { projectId: string; type: string; subjectId: string }[]): Promise<void> {
  await repo.insertEvents(tx, events);
}

import type { Readable } from 'node:stream';
import type { AppDeps } from '../../deps.ts';
import { CREATE_EXPORT, type ExportPayload } from './export.job.ts';
import { zonedParts } from '../../shared/clock.ts';
import { AppError, badRequest, notFound, rateLimited } from '../../shared/errors.ts';
import type { Lang } from '../../shared/i18n.ts';
import { getRequestRow } from '../mails/request-list.read-model.ts';
import { parseViewFilters } from '../mails/view-rows.ts';
import type { ExportView } from './export-columns.ts';
import { BlobNotFoundError } from '../../shared/blob-store/blob-store.ts';
import { storesToSweep, sweepOrphans } from '../../shared/blob-store/sweep-orphans.ts';
import { openExportBlob, ownerOfFile, removeExportFile } from './export-store.ts';
import { exportStatus, toExport, type Export, type ExportCreate } from './exports.mapper.ts';
import * as repo from './exports.repository.ts';

/** A file can be downloaded this long after it was created (the console: one week). */
export const EXPORT_TTL_MS = 7 * 86_400_000;
/** A run that renewed no heartbeat for this long lost its job (the periodic job fails it). */
const STALLED_AFTER_MS = 15 * 60_000;
/** Files that no live export owns (a crash between steps) are removed after this. */
const ORPHAN_AFTER_MS = 3600_000;

/** The views' search parameters (src/modules/mails/view-filters.ts); paging is accepted and ignored. */
const FILTER_NAMES = [
  'startUtc',
  'endUtc',
  'startDateTime',
  'endDateTime',
  'requestId',
  'mailId',
  'recipientAddress',
  'senderAddress',
  'title',
  'templateSid',
  'dispatchType',
  'sendStatus',
  'sendResultCode',
  'bounceType',
  'complained',
];
const IGNORED_NAMES = ['page', 'size', 'sort'];

/**
 * The filters as the view would parse them, and the mail view's request as getMailList would
 * look it up (unknown or another project's: 77103); every refusal names `filters.<field>`.
 */
async function checkFilters(
  deps: Pick<AppDeps, 'db'>,
  projectId: string,
  view: ExportView,
  filters: Record<string, unknown>,
  opts: { timeZone: string; now: Date },
): Promise<void> {
  const unknown = Object.keys(filters).find((k) => !FILTER_NAMES.includes(k) && !IGNORED_NAMES.includes(k));
  if (unknown !== undefined) throw badRequest(`filters.${unknown}: unknown filter (allowed: ${FILTER_NAMES.join(', ')})`);
  try {
    parseViewFilters(view, filters, opts);
    if (view === 'mails') {
      const raw = Array.isArray(filters.requestId) ? filters.requestId[0] : filters.requestId;
      await getRequestRow(deps.db, projectId, String(raw).trim(), 'en', opts.timeZone);
    }
  } catch (err) {
    if (err instanceof AppError) throw new AppError(err.status, err.code, `filters.${err.message}`);
    throw err;
  }
}

/**
 * createExport: the filters are checked now, exactly as the view checks them (400/77102 naming
 * the field; nothing stored), then the export and its job commit together.
 */
export async function createExport(deps: Pick<AppDeps, 'db' | 'queue' | 'config' | 'now'>, projectId: string, body: ExportCreate, lang: Lang): Promise<Export> {
  const filters = body.filters ?? {};
  const requestedAt = deps.now();
  const timeZone = deps.config.displayTimezone;
  await checkFilters(deps, projectId, body.view, filters, { timeZone, now: requestedAt });
  const row = await deps.db.transaction().execute(async (tx) => {
    // Exports are heavy (a job each, any size): a project may have MAX_QUEUED_EXPORTS waiting or
    // being built. The lock makes two concurrent requests count one after the other.
    const queued = await repo.lockAndCountQueued(tx, projectId);
    if (queued >= deps.config.maxQueuedExports) {
      throw rateLimited(
        30,
        `Rate Limited: ${queued} exports of this project are waiting or being built, the most allowed; request more when one has completed`,
      );
    }
    const created = await repo.insertExport(tx, { project_id: projectId, view: body.view, filters, lang, time_zone: timeZone, requested_at: requestedAt });
    await deps.queue.insertInTx<ExportPayload>(tx, CREATE_EXPORT, [{ data: { exportId: created.id } }]);
    return created;
  });
  return toExport(row, { lang, timeZone, publicBaseUrl: deps.config.publicBaseUrl, now: requestedAt });
}

const unknownExport = (raw: string) => notFound(`exportId: export ${raw} does not exist or has expired`);

/** downloadExport: the completed file, opened, with the name it is downloaded under. */
export async function openExportFile(
  deps: Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now'>,
  projectId: string,
  rawId: string,
): Promise<{ stream: Readable; fileName: string; size: number }> {
  if (!/^\d{1,18}$/.test(rawId)) throw unknownExport(rawId);
  const row = await repo.findExport(deps.db, projectId, rawId);
  const status = row ? exportStatus(row, deps.now()) : 'E';
  if (!row || status === 'E') throw unknownExport(rawId);
  if (status === 'F') throw notFound(`exportId: export ${rawId} failed (${row.error ?? 'no reason recorded'}); request a new export`);
  if (status !== 'C') throw notFound(`exportId: export ${rawId} is not completed yet (status ${status}); see getExportList`);
  // Written by a worker: with BLOB_STORE=local, an instance that doesn't share its DATA_DIR has no such file.
  const { stream, size } = await openExportBlob(deps.blobs, row.id, row.attempts).catch((err) => {
    throw err instanceof BlobNotFoundError ? unknownExport(rawId) : err;
  });
  const p = zonedParts(row.requested_at, deps.config.displayTimezone);
  return {
    stream,
    fileName: `mail-list-${row.view as ExportView}-${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}-${row.id}.xlsx`,
    size,
  };
}

/** How long an expired or failed export stays listed after its end. */
export const FINISHED_ROWS_KEPT_MS = 7 * 24 * 3600 * 1000;

/**
 * Periodic job: completed files past their expiry become E and are deleted; runs whose job was
 * lost (no heartbeat for STALLED_AFTER_MS) fail with a message; files no live export owns go.
 * Idempotent; safe on several workers at once.
 */
export async function expireExports(
  deps: Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now' | 'logger'>,
): Promise<{ expired: number; stalled: number; orphans: number }> {
  const now = deps.now();
  const expired = await repo.expireExports(deps.db, now);
  await Promise.all(expired.map((e) => removeExportFile(deps.blobs, e.id, e.attempts)));
  const stalled = await repo.failStalledExports(
    deps.db,
    new Date(now.getTime() - STALLED_AFTER_MS),
    'creating the file stopped (its worker went away); request the export again',
    now,
  );
  // The list shows expired and failed exports for a while, then they go (they have no file).
  await repo.deleteFinishedBefore(deps.db, new Date(now.getTime() - FINISHED_ROWS_KEPT_MS));
  const orphans = await removeOrphans(deps, now);
  if (expired.length || stalled.length || orphans) deps.logger.info({ expired: expired.length, stalled: stalled.length, orphans }, 'export files cleaned up');
  return { expired: expired.length, stalled: stalled.length, orphans };
}

/**
 * `at`: the run's instant, the one its other steps use. Stored files, and this worker's .part
 * files (with a remote store, other workers' parts are their own: a run clears its earlier
 * attempts' parts and removes its own when it fails).
 */
async function removeOrphans(deps: Pick<AppDeps, 'db' | 'config' | 'blobs'>, at: Date): Promise<number> {
  return sweepOrphans({
    stores: storesToSweep(deps.blobs, deps.config.dataDir),
    prefix: 'exports/',
    before: at.getTime() - ORPHAN_AFTER_MS,
    // "<id>" for a partial file or one of the older layout, "<id>.<attempt>" for a published one
    idOf: (name) => {
      const owner = ownerOfFile(name);
      return owner && (owner.publishedBy === undefined ? owner.id : `${owner.id}.${owner.publishedBy}`);
    },
    live: async (tokens) => {
      const exports = await repo.liveExports(deps.db, [...new Set(tokens.map((t) => t.split('.')[0]!))]);
      return new Set(
        tokens.filter((t) => {
          const [id, publishedBy] = t.split('.');
          const e = exports.get(id!);
          return e !== undefined && (publishedBy === undefined || e.status === 'I' || e.attempts === Number(publishedBy));
        }),
      );
    },
    remove: (store, key) => store.remove(key),
  });
}

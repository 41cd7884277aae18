import { once } from 'node:events';
import fs from 'node:fs';
import type { AppDeps } from '../../deps.ts';
import { hasDecimalId, type JobRun, type OnDemandJob } from '../../jobs/job.ts';
import type { Logger } from '../../logger.ts';
import { AppError } from '../../shared/errors.ts';
import { langFromHeader } from '../../shared/i18n.ts';
import { XlsxWriter } from '../../shared/xlsx/xlsx-writer.ts';
import { iterateViewRows, parseViewFilters } from '../mails/view-rows.ts';
import { columnWidths, headerRow, rowToCells, type ExportView } from './export-columns.ts';
import { exportKey, exportsDir, partPath, removeEarlierParts, removePart } from './export-store.ts';
import * as repo from './exports.repository.ts';
import { EXPORT_TTL_MS } from './exports.service.ts';

/** Writes an export's .xlsx (createExport). */
export const CREATE_EXPORT = 'export';
export interface ExportPayload {
  exportId: string;
}

const isExportPayload = (d: unknown): d is ExportPayload => hasDecimalId(d, 'exportId');

/**
 * Runs an export may take. A run interrupted by a restart (killed, or stopped with SIGTERM) is
 * retried by pg-boss once its heartbeat is missed and starts the file again; the run after the
 * last allowed attempt fails the export with a message, so it never stays in I.
 */
export const EXPORT_MAX_ATTEMPTS = 3;
/** rows read from the view per query (keyset batches) */
const EXPORT_BATCH_ROWS = 5000;
const HEARTBEAT_MS = 5000;

type ExportJobDeps = Pick<AppDeps, 'db' | 'config' | 'blobs' | 'logger' | 'now'>;

export const exportJob: OnDemandJob<ExportPayload> = {
  name: CREATE_EXPORT,
  // A run killed mid-file stops its heartbeats and is retried soon; it starts the file again.
  queue: { retryLimit: EXPORT_MAX_ATTEMPTS, retryDelay: 2, expireInSeconds: 3600, heartbeatSeconds: 10, notify: true },
  isPayload: isExportPayload,
  run: (ctx, data) => runExport(ctx, data.exportId, { isStopping: ctx.isStopping }),
  interruptedByShutdown: true,
};

/** The service is stopping: the run gives up its file, and pg-boss retries it (here or elsewhere). */
class Interrupted extends Error {
  readonly rows: number;
  constructor(message: string, rows: number) {
    super(message);
    this.rows = rows;
  }
}
/** The export is no longer this run's (another attempt claimed it, or it was failed as stalled). */
class TakenOver extends Error {}

/**
 * Job: writes an export's rows to DATA_DIR/exports/<id>.<attempt>.part through the streaming
 * .xlsx writer (a batch of rows in memory at a time), syncs it, moves it into the blob store as
 * exports/<id>.<attempt>.xlsx and completes the export. Idempotent: a finished export is left alone; an interrupted one starts
 * again from the first row.
 */
export async function runExport(deps: ExportJobDeps, exportId: string, run: JobRun = {}): Promise<void> {
  const claimed = await repo.claimExport(deps.db, exportId, deps.now());
  if (!claimed) return;
  const attempt = claimed.attempts;
  const log = deps.logger.child({ exportId, attempt });
  await removeEarlierParts(deps.config.dataDir, exportId, attempt);
  if (attempt > EXPORT_MAX_ATTEMPTS) {
    const message = `creating the file was interrupted ${attempt - 1} times (the service stopped or restarted); request the export again`;
    if (await repo.failExport(deps.db, exportId, attempt, message, deps.now())) log.warn('export failed: interrupted too often');
    return;
  }
  const view = claimed.view as ExportView;
  const lang = langFromHeader(claimed.lang);
  log.info({ view }, 'export started');
  const started = Date.now();
  let rows: number;
  let size: number;
  try {
    rows = await writeFile(deps, run, claimed, attempt, log);
    const part = partPath(deps.config.dataDir, exportId, attempt);
    // Gone: a newer attempt on this host claimed the export and cleared this run's file; the export is its now.
    if (
      !(await fs.promises.stat(part).then(
        () => true,
        () => false,
      ))
    )
      throw new TakenOver();
    // One on another host clears nothing here: ask before publishing over its file.
    if (!(await repo.renewHeartbeat(deps.db, exportId, attempt, deps.now()))) throw new TakenOver();
    size = await deps.blobs.putFile(exportKey(exportId, attempt), part);
  } catch (err) {
    // Only this run's file: a run that took over writes its own.
    await removePart(deps.config.dataDir, exportId, attempt);
    if (err instanceof Interrupted) {
      await repo.releaseExport(deps.db, exportId, attempt);
      log.info({ rows: err.rows }, 'export interrupted by shutdown; it will be retried');
      throw err;
    }
    if (err instanceof TakenOver) return void log.warn('export taken over by another run; this run stops');
    // A filter the view refuses now (it was checked when requested) will not pass on a retry.
    const permanent = err instanceof AppError && err.status < 500;
    if (permanent || attempt >= EXPORT_MAX_ATTEMPTS) {
      const message = permanent ? (err as Error).message : `creating the file failed ${attempt} times; last error: ${(err as Error).message}`;
      await repo.failExport(deps.db, exportId, attempt, message, deps.now());
      log.error({ err }, 'export failed');
      return;
    }
    throw err;
  }
  const at = deps.now();
  const done = await repo.completeExport(deps.db, exportId, attempt, { rowCount: rows, fileSize: size, at, expiresAt: new Date(at.getTime() + EXPORT_TTL_MS) });
  const seconds = (Date.now() - started) / 1000;
  if (done) log.info({ view, lang, rows, bytes: size, seconds, rowsPerSecond: Math.round(rows / Math.max(seconds, 0.001)) }, 'export completed');
  else {
    // Its file is its own attempt's, not the one the export names: the run that took over publishes that.
    await deps.blobs.remove(exportKey(exportId, attempt));
    log.warn('export completed, but another run had taken it over meanwhile; its file is removed');
  }
}

async function writeFile(deps: ExportJobDeps, run: JobRun, row: repo.ExportRow, attempt: number, log: Logger): Promise<number> {
  const view = row.view as ExportView;
  const lang = langFromHeader(row.lang);
  const filters = parseViewFilters(view, (row.filters ?? {}) as Record<string, unknown>, { timeZone: row.time_zone, now: row.requested_at });
  await fs.promises.mkdir(exportsDir(deps.config.dataDir), { recursive: true });
  // flush: the data is synced to disk before the descriptor closes, so what is published is a whole file.
  const out = fs.createWriteStream(partPath(deps.config.dataDir, row.id, attempt), { flags: 'w', flush: true });
  const closed = once(out, 'close');
  closed.catch(() => undefined);
  const writer = new XlsxWriter(out, { sheetName: view, headerRow: headerRow(view, lang), columnWidths: columnWidths(view) });
  const toCells = rowToCells(view, lang);
  let rows = 0;
  let beatAt = Date.now();
  const batches = iterateViewRows(deps.db, row.project_id, view, filters, { lang, timeZone: row.time_zone, batchSize: EXPORT_BATCH_ROWS })[
    Symbol.asyncIterator
  ]();
  // A prefetched batch may fail while the previous one is being written: handled here at once
  // (an unhandled rejection would end the process), and thrown where it is awaited.
  const ask = () => {
    const p = batches.next();
    p.catch(() => undefined);
    return p;
  };
  let next = ask();
  try {
    for (;;) {
      const result = await next;
      if (result.done) break;
      const batch = result.value;
      // The next batch's queries run while this one is written: Postgres and the writer overlap.
      next = ask();
      for (const item of batch) await writer.addRow(toCells(item));
      rows += batch.length;
      if (run.isStopping?.()) throw new Interrupted(`export ${row.id}: the service is stopping; a later run starts the file again`, rows);
      if (Date.now() - beatAt >= HEARTBEAT_MS) {
        beatAt = Date.now();
        if (!(await repo.renewHeartbeat(deps.db, row.id, attempt, deps.now()))) throw new TakenOver();
        log.info({ rows }, 'export progress');
      }
    }
    await writer.finish();
    await closed;
  } catch (err) {
    out.destroy();
    await closed.catch(() => undefined);
    // A batch already asked for may still fail or hold a connection: let it settle, then stop the iterator.
    await next.catch(() => undefined);
    await batches.return?.(undefined).catch(() => undefined);
    throw err;
  }
  return rows;
}

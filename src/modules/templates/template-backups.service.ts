import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { AppDeps } from '../../deps.ts';
import { BlobNotFoundError } from '../../shared/blob-store/blob-store.ts';
import { BACKUP_TEMPLATES, type TemplateBackupPayload } from './template-backup.job.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import { zonedParts } from '../../shared/clock.ts';
import { backupHeader, type BackupCategory, type BackupTemplate } from './template-backup.ts';
import { backupStatus, type StructureNode } from './templates.mapper.ts';
import { getTemplateStructure } from './templates.read-model.ts';
import * as repo from './templates.repository.ts';
import { parsePathSid } from './validate-template.ts';

type Deps = Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now'>;

/** Backups can be downloaded for this long after they are made. */
export const BACKUP_TTL_MS = 7 * 86_400_000;
/**
 * Runs that may write a backup. The queue's retryLimit (src/jobs/queue.ts) is this: the run after
 * the last allowed one only records the failure.
 */
export const TEMPLATE_BACKUP_MAX_ATTEMPTS = 6;

// The area keeps its first name: backups written before the rename are still downloaded from it
// (BLOB_STORE=local: DATA_DIR/template-exports/<sid>.json).
const backupKey = (sid: string) => `template-exports/${BigInt(sid)}.json`;
const backupsDir = (dataDir: string) => path.join(dataDir, 'template-exports');

/** createTemplateExportRequest: a backup of the project's templates, written by a job. */
export async function requestTemplateBackup(deps: Pick<AppDeps, 'db' | 'queue' | 'now'>, projectId: string): Promise<{ sid: number }> {
  return deps.db.transaction().execute(async (tx) => {
    const row = await repo.insertBackup(tx, projectId, deps.now());
    await deps.queue.insertInTx<TemplateBackupPayload>(tx, BACKUP_TEMPLATES, [{ data: { requestId: row.sid } }]);
    return { sid: Number(row.sid) };
  });
}

async function write(stream: fs.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * Job: writes a project's backup to DATA_DIR/template-exports/<sid>.json.part on its worker, a
 * page of templates at a time (bodies are up to 500 KB each), then moves it into the blob store as
 * template-exports/<sid>.json. Runs again from the start after a crash (a put replaces the key
 * only once whole).
 */
export async function runTemplateBackup(deps: Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now' | 'logger'>, sid: string): Promise<void> {
  const claimed = await repo.claimBackup(deps.db, sid);
  if (!claimed) return;
  const attempt = claimed.attempts;
  // A run that died without a word (killed, out of memory) counts too: the one after the last
  // allowed attempt only records the failure.
  if (attempt > TEMPLATE_BACKUP_MAX_ATTEMPTS) {
    await repo.failBackup(deps.db, sid, `creating the backup stopped ${attempt - 1} times; request a new backup`, deps.now());
    deps.logger.warn({ backupSid: sid, attempt }, 'template backup failed: attempts used up');
    return;
  }
  const projectId = claimed.project_id;
  const part = path.join(backupsDir(deps.config.dataDir), `${BigInt(sid)}.json.part`);
  let out: fs.WriteStream | undefined;
  let size: number;
  const order: string[] = [];
  try {
    await fs.promises.mkdir(backupsDir(deps.config.dataDir), { recursive: true });
    out = fs.createWriteStream(part, { flush: true }); // flush: on disk before putFile renames it into place (BLOB_STORE=local)
    await write(out, backupHeader(deps.now()));
    const structure = await getTemplateStructure(deps.db, projectId, false, 'UTC');
    const categories: BackupCategory[] = [];
    // Depth first, parents before children, without recursion (a tree's depth is the user's).
    const stack = [...(structure.contents as unknown as StructureNode[])].reverse();
    for (let item = stack.pop(); item; item = stack.pop()) {
      if (item.isCategory) categories.push({ sid: item.sid, parentSid: item.parentSid, name: item.name });
      else order.push(String(item.sid));
      for (let i = item.templates.length - 1; i >= 0; i--) stack.push(item.templates[i]!);
      for (let i = item.subCategoris.length - 1; i >= 0; i--) stack.push(item.subCategoris[i]!);
    }
    await write(out, `"categories":${JSON.stringify(categories)},"templates":[`);
    for (let i = 0; i < order.length; i += 20) {
      const page = order.slice(i, i + 20);
      const rows = new Map((await repo.templatesBySid(deps.db, projectId, page)).map((r) => [r.sid, r]));
      for (const [j, templateSid] of page.entries()) {
        const t = rows.get(templateSid);
        if (!t) continue;
        const entry: BackupTemplate = {
          sid: Number(t.sid),
          categorySid: t.category_sid === null ? -1 : Number(t.category_sid),
          name: t.name,
          description: t.description,
          title: t.title,
          senderAddress: t.sender_address,
          senderName: t.sender_name,
          body: t.body,
          isUse: t.is_use,
        };
        await write(out, (i + j > 0 ? ',' : '') + JSON.stringify(entry));
      }
    }
    await write(out, ']}\n');
    out.end();
    await finished(out);
    size = await deps.blobs.putFile(backupKey(sid), part);
  } catch (err) {
    out?.destroy();
    // What made the run fail (a missing or unwritable directory) may make removing fail too.
    await fs.promises.rm(part, { force: true }).catch(() => undefined);
    if (attempt < TEMPLATE_BACKUP_MAX_ATTEMPTS) throw err;
    // The last attempt: the backup fails (F) with the reason instead of staying in I for good.
    await repo.failBackup(deps.db, sid, `creating the backup failed ${attempt} times; last error: ${(err as Error).message}`, deps.now());
    deps.logger.error({ err, backupSid: sid, attempt }, 'template backup failed');
    return;
  }
  const now = deps.now();
  await repo.completeBackup(deps.db, sid, size, now, new Date(now.getTime() + BACKUP_TTL_MS));
  deps.logger.info({ backupSid: sid, templates: order.length }, 'template backup written');
}

/** exportTemplate (NCP's name for the download): the backup file, opened, and the name it is downloaded under. */
export async function openTemplateBackup(deps: Deps, projectId: string, rawSid: string): Promise<{ stream: Readable; fileName: string }> {
  const sid = parsePathSid('requestId', 'export request', rawSid); // (the 77103 message keeps NCP's wording)
  const row = await repo.findBackup(deps.db, projectId, sid);
  const status = row ? backupStatus(row, deps.now()) : undefined;
  if (!row || status === 'E') throw notFound(`requestId: backup ${rawSid} does not exist or has expired`);
  if (status !== 'C') throw badRequest(`requestId: backup ${rawSid} is not ready yet (status ${status}); see getTemplateExportRequestList`);
  const p = zonedParts(row.requested_at, deps.config.displayTimezone);
  const stamp = `${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}`;
  // Written by a worker: with BLOB_STORE=local, an instance that doesn't share its DATA_DIR has no such file.
  const { stream } = await deps.blobs.get(backupKey(row.sid)).catch((err) => {
    throw err instanceof BlobNotFoundError ? notFound(`requestId: backup ${rawSid} does not exist or has expired`) : err;
  });
  return { stream, fileName: `template_${stamp}.json` };
}

/** Job part: completed backups past their time become E and their files go. */
export async function removeExpiredTemplateBackups(deps: Pick<AppDeps, 'db' | 'blobs' | 'now'>): Promise<number> {
  const sids = await repo.expireBackups(deps.db, deps.now());
  await Promise.all(sids.map((sid) => deps.blobs.remove(backupKey(sid))));
  return sids.length;
}

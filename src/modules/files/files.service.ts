import type { Readable } from 'node:stream';
import { detectMimeType } from 'nodemailer/lib/mime-funcs';
import type { Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import type { FileParts } from '../../http/multipart.ts';
import { badRequest, notFound, rateLimited } from '../../shared/errors.ts';
import { parseNumericId } from '../../shared/ids.ts';
import { blockedExtension, baseName } from './blocked-extensions.ts';
import { FILE_LIMITS, MB } from './file-limits.ts';

export { FILE_LIMITS };
import { BlobNotFoundError } from '../../shared/blob-store/blob-store.ts';
import { storesToSweep, sweepOrphans } from '../../shared/blob-store/sweep-orphans.ts';
import { commitPart, fileKey, isUploadId, newUploadId, openForReading, openOriginalContent, partPath, removeStored, writePart } from './file-store.ts';
import { deliveryAttachmentRows, findMailAttachment } from './files.read-model.ts';
import { attachmentHead } from './attachment-part.ts';
import { toFileUpload, type FileUpload } from './files.mapper.ts';
import * as repo from './files.repository.ts';
import { inspectContent } from './inspect-zip.ts';

type FilesDeps = Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now'>;

const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

/** The name a file is stored and sent under: no client path, no control characters, NFC. */
export function cleanFileName(raw: string | undefined): string {
  return (
    baseName(raw ?? '')
      .normalize('NFC')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .trim()
  );
}

interface Received {
  /** the part's place in the body: files finish writing in any order */
  index: number;
  id: string;
  name: string;
  size: number;
}

/**
 * createFile: streams every `fileList` part to DATA_DIR/files (never held in memory), checks it
 * (size, blocked extension, what it really is) and records the upload once all are good. A
 * refused upload keeps nothing: the 400 names every file refused and why.
 */
export async function createFiles(deps: FilesDeps, projectId: string, parts: FileParts): Promise<FileUpload> {
  // Checked before a byte is read: a project that keeps its quota full can't make us store more.
  const maxStored = deps.config.maxStoredFiles;
  if ((await repo.countUnusedFiles(deps.db, projectId)) >= maxStored) {
    throw rateLimited(
      3600,
      `Rate Limited: this project keeps ${maxStored} unused uploaded files, the most allowed; delete some (DELETE /files/{tempRequestId}), use them, or wait until unused ones are removed after 24 hours`,
    );
  }
  const received: Received[] = [];
  const written: string[] = [];
  const problems: string[] = [];
  let count = 0;
  try {
    await parts(async (part) => {
      if (part.field !== 'fileList') return void part.stream.resume();
      const index = count++;
      const name = cleanFileName(part.filename);
      const shown = name ? `"${name}"` : `file ${index + 1}`;
      if (!name) problems.push(`fileList: ${shown} has no file name`);
      else if ([...name].length > FILE_LIMITS.nameChars) problems.push(`fileList: ${shown}: the name is longer than ${FILE_LIMITS.nameChars} characters`);
      else if (blockedExtension(name)) problems.push(`fileList: ${shown}: .${blockedExtension(name)} files are not allowed`);
      if (problems.length) return void part.stream.resume();
      const id = newUploadId();
      written.push(id);
      const size = await writePart(deps.config.dataDir, id, part.stream);
      if (part.stream.truncated) {
        problems.push(`fileList: ${shown} is larger than ${FILE_LIMITS.fileBytes / MB} MB`);
        return;
      }
      const file = await openForReading(partPath(deps.config.dataDir, id));
      try {
        const inspection = await inspectContent(file.readAt, size);
        if (!inspection.ok) return void problems.push(`fileList: ${shown} ${inspection.reason}`);
      } finally {
        await file.close();
      }
      received.push({ index, id, name, size });
    });
    if (problems.length) throw badRequest(problems.join('; '));
    if (received.length === 0) throw badRequest('fileList: at least one file is required (multipart/form-data field "fileList")');
    received.sort((a, b) => a.index - b.index);
    for (const f of received) await commitPart(deps.blobs, deps.config.dataDir, f.id);
    const tempRequestId = newUploadId();
    const createdAt = deps.now();
    await deps.db.transaction().execute((tx) =>
      repo.insertFiles(
        tx,
        received.map((f, i) => ({
          id: f.id,
          temp_request_id: tempRequestId,
          project_id: projectId,
          position: i + 1,
          name: f.name,
          size: f.size,
          created_at: createdAt,
        })),
      ),
    );
    return toFileUpload(tempRequestId, received);
  } catch (err) {
    await Promise.all(written.map((id) => removeStored(deps.blobs, deps.config.dataDir, id)));
    throw err;
  }
}

const uploadNotFound = (id: string) => notFound(`tempRequestId: upload ${id} does not exist`);

export async function getFiles(deps: Pick<AppDeps, 'db'>, projectId: string, tempRequestId: string): Promise<FileUpload> {
  if (!isUploadId(tempRequestId)) throw uploadNotFound(tempRequestId);
  const rows = await repo.findUpload(deps.db, projectId, tempRequestId);
  if (rows.length === 0) throw uploadNotFound(tempRequestId);
  return toFileUpload(tempRequestId, rows);
}

/**
 * deleteFile: the upload is gone for the client at once (it can't be listed or attached any
 * more); its bytes are removed now unless a request that can still be sent uses them, in which
 * case the clean-up job removes them once that request is done.
 */
export async function deleteFiles(deps: FilesDeps, projectId: string, tempRequestId: string): Promise<FileUpload> {
  if (!isUploadId(tempRequestId)) throw uploadNotFound(tempRequestId);
  const rows = await deps.db.transaction().execute((tx) => repo.markUploadDeleted(tx, projectId, tempRequestId, deps.now()));
  if (rows.length === 0) throw uploadNotFound(tempRequestId);
  const removed = await repo.deleteRemovable(deps.db, { olderThan: deps.now(), ids: rows.map((r) => r.id), limit: rows.length });
  await Promise.all(removed.map((id) => removeStored(deps.blobs, deps.config.dataDir, id)));
  return toFileUpload(
    tempRequestId,
    rows.sort((a, b) => a.position - b.position),
  );
}

export interface ResolvedFile {
  id: string;
  name: string;
  size: number;
}

/**
 * The files of createMailRequest's attachFileIds (each once, in the order given), checked: they
 * exist in the project and together fit in one mail. 400/77103 for an unknown id, 400/77102
 * naming the files when they are too large together.
 */
export async function resolveAttachments(deps: Pick<AppDeps, 'db'>, projectId: string, ids: readonly string[] | null | undefined): Promise<ResolvedFile[]> {
  const unique = [...new Set(ids ?? [])];
  if (unique.length === 0) return [];
  if (unique.length > FILE_LIMITS.filesPerMail) throw badRequest(`attachFileIds: at most ${FILE_LIMITS.filesPerMail} files a mail`);
  const bad = unique.find((id) => !isUploadId(id));
  if (bad !== undefined) throw notFound(`attachFileIds: file ${bad} does not exist`);
  const rows = new Map((await repo.findFiles(deps.db, projectId, unique)).map((r) => [r.id, r]));
  const files = unique.map((id) => {
    const row = rows.get(id);
    if (!row) throw notFound(`attachFileIds: file ${id} does not exist`);
    return { id, name: row.name, size: Number(row.size) };
  });
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > FILE_LIMITS.mailBytes) {
    const list = files.map((f) => `"${f.name}" ${mb(f.size)}`).join(', ');
    throw badRequest(`attachFileIds: the attachments total ${mb(total)}, more than the ${FILE_LIMITS.mailBytes / MB} MB a mail may carry (${list})`);
  }
  return files;
}

/**
 * Inside createMailRequest's transaction (hence `tx`, and the request's own time as `usedAt`):
 * links the files to the request and marks them used, so they stay while the request can still
 * be sent. A file deleted meanwhile fails the request.
 */
export async function attachFilesToRequest(tx: Tx, projectId: string, requestId: string, files: ResolvedFile[], usedAt: Date): Promise<void> {
  if (files.length === 0) return;
  const present = new Set(
    await repo.markUsed(
      tx,
      projectId,
      files.map((f) => f.id),
      usedAt,
    ),
  );
  const gone = files.find((f) => !present.has(f.id));
  if (gone) throw notFound(`attachFileIds: file ${gone.id} does not exist`);
  await repo.insertRequestFiles(tx, requestId, files);
}

const CLEANUP_BATCH = 500;
/** Bytes without a row (a crash between writing and recording) are removed after this. */
const ORPHAN_AFTER_MS = FILE_LIMITS.keepUnusedMs + 3600 * 1000;

/**
 * Job: removes uploads no request can still send that are older than 24 h or deleted by the
 * client, and stored bytes that no row knows. Idempotent; safe on several workers at once.
 */
export async function cleanupFiles(deps: Pick<AppDeps, 'db' | 'config' | 'blobs' | 'now' | 'logger'>): Promise<{ removed: number; orphans: number }> {
  const olderThan = new Date(deps.now().getTime() - FILE_LIMITS.keepUnusedMs);
  let removed = 0;
  for (;;) {
    const ids = await repo.deleteRemovable(deps.db, { olderThan, limit: CLEANUP_BATCH });
    await Promise.all(ids.map((id) => removeStored(deps.blobs, deps.config.dataDir, id)));
    removed += ids.length;
    if (ids.length < CLEANUP_BATCH) break;
  }
  const orphans = await removeOrphans(deps);
  if (removed || orphans) deps.logger.info({ removed, orphans }, 'removed unused uploads');
  return { removed, orphans };
}

/**
 * Stored blobs and this host's .part files with no row. With a remote store the API hosts'
 * .part files are theirs: an upload removes its own when it fails, and only a crash mid-upload
 * leaves one, swept here when this worker shares that DATA_DIR.
 */
async function removeOrphans(deps: FilesDeps): Promise<number> {
  return sweepOrphans({
    stores: storesToSweep(deps.blobs, deps.config.dataDir),
    prefix: 'files/',
    // bytes written at the cutoff or before
    before: deps.now().getTime() - ORPHAN_AFTER_MS + 1,
    idOf: (name) => {
      const id = name.replace(/\.part$/, '');
      return isUploadId(id) ? id : undefined;
    },
    live: (ids) => repo.existingIds(deps.db, ids),
    remove: (_store, _key, id) => removeStored(deps.blobs, deps.config.dataDir, id),
  });
}

/**
 * What delivery attaches to every mail of each request: names, MIME heads and a local file of
 * each stored body (the blob store's own file, or this worker's read-through copy of it); `path`
 * is null when the file is gone, which the clean-up never does to a request that can still send.
 */
export async function attachmentsForDelivery(deps: Pick<AppDeps, 'db' | 'blobs'>, requestIds: string[]): Promise<Map<string, DeliveryAttachment[]>> {
  const out = new Map<string, DeliveryAttachment[]>(requestIds.map((id) => [id, []]));
  if (requestIds.length === 0) return out;
  const rows = await deliveryAttachmentRows(deps.db, requestIds);
  for (const r of rows) {
    const path = r.present
      ? await deps.blobs.localFile(fileKey(r.file_id)).catch((err) => {
          if (err instanceof BlobNotFoundError) return null;
          throw err;
        })
      : null;
    out.get(String(r.request_id))?.push({ fileName: r.file_name, head: attachmentHead(r.file_name), path });
  }
  return out;
}

export interface DeliveryAttachment {
  fileName: string;
  /** the part's MIME headers (and the blank line after them) */
  head: Buffer;
  /** a local file of the stored (base64) body; null when the file is gone */
  path: string | null;
}

/** Drops this worker's read-through copies of attachments whose file rows are gone (no request can send them). */
export async function evictAttachmentCopies(deps: Pick<AppDeps, 'db' | 'blobs'>): Promise<number> {
  return deps.blobs.evictLocalCopies('files/', async (keys) => {
    const ids = keys.map((k) => k.slice('files/'.length)).filter(isUploadId);
    const known = await repo.existingIds(deps.db, ids);
    return new Set([...known].map(fileKey));
  });
}

export interface AttachmentDownload {
  fileName: string;
  /** bytes of the original content */
  size: number;
  contentType: string;
  stream: Readable;
}

/**
 * An attachment of a mail (downloadMailAttachment, extension): its original bytes, decoded from
 * the stored base64 as they stream. The request keeps its attachments' names and sizes for ever,
 * but the bytes only while the upload is kept (24 h after upload, longer while a request can
 * still send it): after that, and for another project's or unknown ids, 400/77103.
 */
export async function openMailAttachment(deps: Pick<AppDeps, 'db' | 'blobs'>, projectId: string, mailId: string, fileId: string): Promise<AttachmentDownload> {
  const id = parseNumericId(mailId);
  const unknown = () => notFound(`mailId/fileId: mail ${mailId} has no attachment ${fileId}`);
  if (!id || !isUploadId(fileId)) throw unknown();
  const row = await findMailAttachment(deps.db, projectId, id, fileId);
  if (!row) throw unknown();
  const gone = () =>
    notFound(`fileId: the content of attachment ${fileId} is no longer kept (uploads are kept 24 hours, or while a request can still send them)`);
  if (!row.present) throw gone();
  let stream: Readable;
  try {
    stream = await openOriginalContent(deps.blobs, fileId);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw gone();
    throw err;
  }
  return { fileName: row.file_name, size: Number(row.file_size), contentType: detectMimeType(row.file_name), stream };
}

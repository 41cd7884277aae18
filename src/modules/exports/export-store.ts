import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobNotFoundError, type BlobStore } from '../../shared/blob-store/blob-store.ts';

/**
 * Export files: the blob store's exports/<id>.<attempt>.xlsx once complete (BLOB_STORE=local:
 * DATA_DIR/exports/<id>.<attempt>.xlsx), the attempt being the run that completed the export. A
 * run writes DATA_DIR/exports/<id>.<attempt>.part on its worker and moves it into the store when
 * the file is whole and synced (local: a rename; else an upload that becomes visible only once
 * whole), so a download never sees a partial file, and a run that was taken over never writes
 * into its successor's file, nor over the one it published (an upload still going when a newer
 * attempt completed goes to its own key, removed by its run or the sweep). Exports completed
 * before the attempt was in the name are exports/<id>.xlsx (legacyExportKey), read and removed
 * the same way until they expire.
 */

export const exportsDir = (dataDir: string) => path.join(dataDir, 'exports');

function checkId(id: string): string {
  // Ids come from our own rows, but a path is built from them: never let one escape.
  if (!/^\d+$/.test(id)) throw new Error(`not an export id: ${id}`);
  return id;
}

const checkAttempt = (attempt: number) => {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new Error(`not an export attempt: ${attempt}`);
  return attempt;
};

/** The file the export's attempt `attempt` publishes (and a download of it reads, once that attempt completed it). */
export const exportKey = (id: string, attempt: number) => `exports/${checkId(id)}.${checkAttempt(attempt)}.xlsx`;
/** Where exports completed before the attempt was in the name keep their file. */
export const legacyExportKey = (id: string) => `exports/${checkId(id)}.xlsx`;
export const partPath = (dataDir: string, id: string, attempt: number) => path.join(exportsDir(dataDir), `${checkId(id)}.${checkAttempt(attempt)}.part`);

/** What a file in the directory belongs to: its export's id, and the attempt that published it (an .xlsx of this layout). */
export function ownerOfFile(name: string): { id: string; publishedBy?: number } | undefined {
  const published = /^(\d+)\.(\d+)\.xlsx$/.exec(name);
  if (published) return { id: published[1]!, publishedBy: Number(published[2]) };
  const other = /^(\d+)\.(?:xlsx|\d+\.part)$/.exec(name);
  return other ? { id: other[1]! } : undefined;
}

/**
 * Removes an export's partial files of attempts before `attempt` (left by runs that died); a
 * later attempt's file belongs to a run that took over and is never touched.
 */
export async function removeEarlierParts(dataDir: string, id: string, attempt: number): Promise<void> {
  const names = await fs.promises.readdir(exportsDir(dataDir)).catch(() => [] as string[]);
  const earlier = names.filter((n) => {
    const m = /^(\d+)\.(\d+)\.part$/.exec(n);
    return m !== null && m[1] === checkId(id) && Number(m[2]) < attempt;
  });
  await Promise.all(earlier.map((n) => fs.promises.rm(path.join(exportsDir(dataDir), n), { force: true })));
}

/** Removes one attempt's partial file; a file already gone is fine. */
export async function removePart(dataDir: string, id: string, attempt: number): Promise<void> {
  await fs.promises.rm(partPath(dataDir, id, attempt), { force: true });
}

/** Removes an export's file, whichever of its attempts (up to `attempts`) published it, and one of the older layout. */
export async function removeExportFile(blobs: BlobStore, id: string, attempts: number): Promise<void> {
  const keys = [legacyExportKey(id), ...Array.from({ length: Math.max(0, attempts) }, (_, i) => exportKey(id, i + 1))];
  await Promise.all(keys.map((k) => blobs.remove(k)));
}

/** The export's file: the completing attempt's, or (completed before that layout) the older one. */
export async function openExportBlob(blobs: BlobStore, id: string, attempt: number): Promise<{ stream: Readable; size: number }> {
  return blobs.get(exportKey(id, attempt)).catch((err: unknown) => {
    if (err instanceof BlobNotFoundError) return blobs.get(legacyExportKey(id));
    throw err;
  });
}

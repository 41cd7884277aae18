import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from '../../shared/blob-store/blob-store.ts';

/**
 * Export files: the blob store's exports/<id>.xlsx once complete (BLOB_STORE=local:
 * DATA_DIR/exports/<id>.xlsx). A run writes DATA_DIR/exports/<id>.<attempt>.part on its worker and
 * moves it into the store when the file is whole and synced (local: a rename; else an upload that
 * becomes visible only once whole), so a download never sees a partial file and a run that was
 * taken over never writes into its successor's file.
 */

export const exportsDir = (dataDir: string) => path.join(dataDir, 'exports');

function checkId(id: string): string {
  // Ids come from our own rows, but a path is built from them: never let one escape.
  if (!/^\d+$/.test(id)) throw new Error(`not an export id: ${id}`);
  return id;
}

export const exportKey = (id: string) => `exports/${checkId(id)}.xlsx`;
export const partPath = (dataDir: string, id: string, attempt: number) => path.join(exportsDir(dataDir), `${checkId(id)}.${attempt}.part`);

/** The export id a file in the directory belongs to (finished or partial), if any. */
export function idOfFile(name: string): string | undefined {
  return /^(\d+)\.(?:xlsx|\d+\.part)$/.exec(name)?.[1];
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

export async function removeExportFile(blobs: BlobStore, id: string): Promise<void> {
  await blobs.remove(exportKey(id));
}

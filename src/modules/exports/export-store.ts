import fs from 'node:fs';
import path from 'node:path';

/**
 * Export files: DATA_DIR/exports/<id>.xlsx once complete. A run writes <id>.<attempt>.part and
 * renames it when the file is whole and synced, so a download never sees a partial file and a
 * run that was taken over never writes into its successor's file. Instances with ROLE=api and
 * ROLE=worker must share DATA_DIR.
 */

export const exportsDir = (dataDir: string) => path.join(dataDir, 'exports');

function checkId(id: string): string {
  // Ids come from our own rows, but a path is built from them: never let one escape.
  if (!/^\d+$/.test(id)) throw new Error(`not an export id: ${id}`);
  return id;
}

export const finalPath = (dataDir: string, id: string) => path.join(exportsDir(dataDir), `${checkId(id)}.xlsx`);
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

export async function removeExportFile(dataDir: string, id: string): Promise<void> {
  await fs.promises.rm(finalPath(dataDir, id), { force: true });
}

/** Makes a rename durable: the directory entry is synced too. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

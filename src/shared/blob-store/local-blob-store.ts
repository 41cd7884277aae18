import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobNotFoundError, checkKey, isFile, type BlobStore } from './blob-store.ts';

/**
 * BLOB_STORE=local: a blob is the file DATA_DIR/<key>, the layout from before the setting, so
 * existing deployments keep their files. A put writes DATA_DIR/blob-tmp/<uuid> and renames it
 * into place (same filesystem): a file at a key is always whole, and a put that died leaves only
 * a temporary file, which removeAbandoned clears. Several instances need one shared DATA_DIR.
 */
export function createLocalBlobStore(dataDir: string): BlobStore {
  const fileOf = (key: string) => path.join(dataDir, checkKey(key));
  const tempDir = path.join(dataDir, 'blob-tmp');

  async function publish(key: string, temp: string): Promise<number> {
    const file = fileOf(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.rename(temp, file);
    await syncDir(path.dirname(file));
    return (await fs.promises.stat(file)).size;
  }

  return {
    kind: 'local',
    async put(key, source: Readable) {
      fileOf(key);
      await fs.promises.mkdir(tempDir, { recursive: true });
      const temp = path.join(tempDir, crypto.randomUUID());
      try {
        // flush: the data is on disk before the rename publishes it
        await pipeline(source, fs.createWriteStream(temp, { flags: 'wx', flush: true }));
        return await publish(key, temp);
      } catch (err) {
        await fs.promises.rm(temp, { force: true });
        throw err;
      }
    },
    putFile: (key, file) => publish(key, file),
    async get(key) {
      const handle = await fs.promises.open(fileOf(key), 'r').catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? new BlobNotFoundError(key) : err;
      });
      try {
        const { size } = await handle.stat();
        return { stream: handle.createReadStream({ highWaterMark: 64 * 1024 }), size };
      } catch (err) {
        await handle.close();
        throw err;
      }
    },
    async remove(key) {
      await fs.promises.rm(fileOf(key), { force: true });
    },
    exists: (key) => isFile(fileOf(key)),
    async *list(prefix) {
      const dir = path.dirname(fileOf(`${prefix}x`));
      let handle: fs.Dir;
      try {
        handle = await fs.promises.opendir(dir);
      } catch {
        return; // nothing stored yet
      }
      for await (const entry of handle) {
        if (!entry.isFile()) continue;
        const stat = await fs.promises.stat(path.join(dir, entry.name)).catch(() => undefined);
        if (stat) yield { key: prefix + entry.name, modifiedAt: stat.mtime };
      }
    },
    async localFile(key) {
      const file = fileOf(key);
      if (!(await isFile(file))) throw new BlobNotFoundError(key);
      return file;
    },
    evictLocalCopies: async () => 0,
    async removeAbandoned(before) {
      const names = await fs.promises.readdir(tempDir).catch(() => [] as string[]);
      let removed = 0;
      for (const name of names) {
        const stat = await fs.promises.stat(path.join(tempDir, name)).catch(() => undefined);
        if (!stat || stat.mtime >= before) continue;
        await fs.promises.rm(path.join(tempDir, name), { force: true });
        removed++;
      }
      return removed;
    },
    close: async () => undefined,
  };
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

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checkKey, type BlobStore } from './blob-store.ts';
import { syncDir } from './local-blob-store.ts';

/** A half-written copy (a process died while fetching) is removed after this. */
const TEMP_AFTER_MS = 3600_000;

/**
 * The read-through copies of a remote store (postgres, s3) under DATA_DIR/blob-cache: delivery
 * streams an attachment from a file for every mail, so each worker host fetches it once. A copy
 * is written under a temporary name, flushed, checked against the blob's size and renamed (the
 * directory synced), so a copy that exists is whole even after a crash; two loads of the same
 * blob at once both write and the last rename wins (same bytes). A copy found on disk is checked
 * against the stored size once per process (a copy left by a crash before copies were flushed, or
 * damaged since, would otherwise go out with every later mail) and fetched again if it differs.
 * Copies are dropped when the blob's owner is gone (evict), never by age: a request sending over
 * days keeps its file.
 */
export function localCopies(dir: string, get: BlobStore['get']): Pick<BlobStore, 'localFile' | 'evictLocalCopies'> {
  /** Keys whose copy this process wrote or checked (blobs read this way never change). */
  const checked = new Set<string>();
  return {
    async localFile(key) {
      const file = path.join(dir, checkKey(key));
      const have = await fs.promises.stat(file).catch(() => undefined);
      if (have?.isFile() && checked.has(key)) return file;
      const { stream, size } = await get(key);
      if (have?.isFile() && have.size === size) {
        stream.destroy();
        checked.add(key);
        return file;
      }
      const temp = `${file}.${crypto.randomUUID()}.tmp`;
      try {
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        // flush: the data is on disk before the rename publishes it
        await pipeline(stream, fs.createWriteStream(temp, { flags: 'wx', flush: true }));
        const written = (await fs.promises.stat(temp)).size;
        if (written !== size) throw new Error(`local copy of blob ${key} has ${written} bytes, the blob ${size}`);
        await fs.promises.rename(temp, file);
        await syncDir(path.dirname(file));
      } catch (err) {
        stream.destroy();
        await fs.promises.rm(temp, { force: true });
        throw err;
      }
      checked.add(key);
      return file;
    },

    async evictLocalCopies(prefix, live) {
      const sub = path.join(dir, checkKey(`${prefix}x`).slice(0, -1));
      const names = await fs.promises.readdir(sub).catch(() => [] as string[]);
      let removed = 0;
      const stale = Date.now() - TEMP_AFTER_MS;
      for (const name of names.filter((n) => n.endsWith('.tmp'))) {
        const st = await fs.promises.stat(path.join(sub, name)).catch(() => undefined);
        if (st && st.mtimeMs < stale) await fs.promises.rm(path.join(sub, name), { force: true });
      }
      const keys = names.filter((n) => !n.endsWith('.tmp')).map((n) => prefix + n);
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const keep = await live(batch);
        for (const key of batch) {
          if (keep.has(key)) continue;
          checked.delete(key);
          await fs.promises.rm(path.join(dir, key), { force: true });
          removed++;
        }
      }
      return removed;
    },
  };
}

import fs from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Where attachments, template backups and exports keep their bytes (BLOB_STORE): files under
 * DATA_DIR (local, the layout before the setting existed), chunks in Postgres, or objects in an
 * S3-compatible bucket. With postgres or s3, ROLE=api and ROLE=worker hosts share no filesystem.
 *
 * Keys are `<area>/<name>` (`files/<fileId>`, `exports/<id>.<attempt>.xlsx`, `template-exports/<sid>.json`):
 * the local store's paths under DATA_DIR, the same as before the setting.
 */
export interface BlobStore {
  readonly kind: BlobStoreKind;
  /** Streams `source` into the blob (backpressure included), replacing one of the same key only once whole; returns the bytes stored. */
  put(key: string, source: Readable): Promise<number>;
  /** Moves a finished local file into the store (local: a rename; else an upload, then the file goes); returns its bytes. */
  putFile(key: string, file: string): Promise<number>;
  /** The blob, opened: a missing key is a BlobNotFoundError here, never an error in the middle of the stream. */
  get(key: string): Promise<{ stream: Readable; size: number }>;
  /** A blob already gone is fine. */
  remove(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Every blob whose key starts with `prefix`, with when it was written (for the orphan sweeps). */
  list(prefix: string): AsyncIterable<BlobEntry>;
  /**
   * A local file holding the blob's bytes, for what streams them many times (delivery attaches a
   * file to every mail). Local: the stored file itself; else a read-through copy under
   * DATA_DIR/blob-cache, fetched once per process host. Blobs read this way must never change.
   */
  localFile(key: string): Promise<string>;
  /** Drops local copies of blobs under `prefix` that `live` does not keep (their rows are gone). */
  evictLocalCopies(prefix: string, live: (keys: string[]) => Promise<Set<string>>): Promise<number>;
  /** Removes what puts left half-written by a process that died before `before`. */
  removeAbandoned(before: Date): Promise<number>;
  close(): Promise<void>;
}

export type BlobStoreKind = 'local' | 'postgres' | 's3';

export interface BlobEntry {
  key: string;
  modifiedAt: Date;
}

export class BlobNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(key: string) {
    super(`blob ${key} does not exist`);
  }
}

const KEY = /^[a-z0-9-]+\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Keys are built from our own ids, but they become paths and object names: never let one escape. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.includes('..')) throw new Error(`not a blob key: ${key}`);
  return key;
}

/** Counts what streams through a for-await loop without holding it. */
export async function* counted(source: AsyncIterable<Buffer>, into: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    into.bytes += chunk.length;
    yield chunk;
  }
}

/** putFile of a store that uploads: the file is streamed in, then goes. */
export function uploadFile(put: BlobStore['put']): BlobStore['putFile'] {
  return async (key, file) => {
    const size = await put(key, fs.createReadStream(file));
    await fs.promises.rm(file, { force: true });
    return size;
  };
}

export const isFile = (file: string) =>
  fs.promises.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );

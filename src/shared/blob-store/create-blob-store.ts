import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/schema.ts';
import type { BlobStore } from './blob-store.ts';
import { createLocalBlobStore } from './local-blob-store.ts';
import { createPostgresBlobStore } from './postgres-blob-store.ts';
import { createS3BlobStore } from './s3-blob-store.ts';

/** The store BLOB_STORE names; remote stores keep their read-through copies under DATA_DIR/blob-cache. */
export function createBlobStore(config: Pick<Config, 'blobStore' | 'dataDir'>, db: Db): BlobStore {
  const cacheDir = path.join(config.dataDir, 'blob-cache');
  const b = config.blobStore;
  if (b.kind === 'postgres') return createPostgresBlobStore(db, cacheDir);
  if (b.kind === 's3') return createS3BlobStore(b, cacheDir);
  return createLocalBlobStore(config.dataDir);
}

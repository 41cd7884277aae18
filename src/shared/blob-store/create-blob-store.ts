import path from 'node:path';
import type { BlobStoreConfig, Config } from '../../config.ts';
import type { Db } from '../../db/schema.ts';
import { withoutUserinfo } from '../../logger.ts';
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

/** What the start-up log says of the store: an S3 endpoint without any user name or password in its URL. */
export function blobStoreLogFields(b: BlobStoreConfig): Record<string, string | undefined> {
  if (b.kind !== 's3') return { blobStore: b.kind };
  return { blobStore: b.kind, bucket: b.bucket, endpoint: b.endpoint === undefined ? undefined : withoutUserinfo(b.endpoint) };
}

import type { Config } from './config.ts';
import type { Db } from './db/schema.ts';
import type { Logger } from './logger.ts';
import type { KeyResolver } from './modules/projects/projects.service.ts';
import type { JobQueue } from './jobs/queue.ts';
import type { Readiness } from './http/operations.ts';
import type { SecretBox } from './shared/secret-box.ts';
import type { BlobStore } from './shared/blob-store/blob-store.ts';

/**
 * What the HTTP layer and the workers are built from; tests build their own.
 *
 * One way to pass them: repositories and read models are plain functions taking `db: Db | Tx`
 * first; services and job handlers take `deps: Pick<AppDeps, ...>` first and read the time from
 * `deps.now()` (no `now` next to a db); pure domain functions take `now` as a plain argument.
 * No ad-hoc dependency objects, no closures holding deps.
 */
export interface AppDeps {
  config: Readonly<Config>;
  db: Db;
  logger: Logger;
  resolveKey: KeyResolver;
  queue: JobQueue;
  /** seals what is kept secret at rest (access-key secrets, DKIM private keys) with the master key */
  box: SecretBox;
  /** attachments, template backups and exports (BLOB_STORE): one per process, shared by the API and the workers */
  blobs: BlobStore;
  now: () => Date;
  /** starting / ready / draining, for /health/ready; absent: ready (tests) */
  readiness?: Readiness;
}

import type { Config } from './config.ts';
import type { Db } from './db/schema.ts';
import type { Logger } from './logger.ts';
import type { KeyResolver } from './modules/projects/projects.service.ts';
import type { JobQueue } from './jobs/queue.ts';
import type { Readiness } from './http/operations.ts';

/** What the HTTP layer and the workers are built from; tests build their own. */
export interface AppDeps {
  config: Readonly<Config>;
  db: Db;
  logger: Logger;
  resolveKey: KeyResolver;
  queue: JobQueue;
  now: () => Date;
  /** starting / ready / draining, for /health/ready; absent: ready (tests) */
  readiness?: Readiness;
}

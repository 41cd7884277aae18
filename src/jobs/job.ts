import type { BlobStore } from '../shared/blob-store/blob-store.ts';
import type { Queue } from 'pg-boss';
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { JobQueue } from './queue.ts';

/**
 * The shape of a job file (`src/modules/<module>/<name>.job.ts`): its queue name, the queue's
 * options, its schedule if periodic, its payload check and its handler. Every job is listed once
 * in registry.ts; queue.ts creates the queues from it and workers.ts works them.
 */

/** What a handler gets from the worker process. */
export interface JobContext {
  db: Db;
  queue: JobQueue;
  config: Readonly<Config>;
  blobs: BlobStore;
  /** bound to the job's id for on-demand jobs */
  logger: Logger;
  now: () => Date;
  /** the process is shutting down: long runs hand their rest over */
  isStopping: () => boolean;
}

interface JobBase {
  /** the pg-boss queue name; jobs stored by running deployments carry it, so it never changes */
  name: string;
  /** pg-boss queue options (createQueue) */
  queue: Omit<Queue, 'name'>;
}

/**
 * A job queued for one row of work. Its payload carries ids only and is checked before the
 * handler runs; the handler claims its rows with guarded updates, so a run twice does nothing twice.
 */
export interface OnDemandJob<T extends object> extends JobBase {
  isPayload(data: unknown): data is T;
  run(ctx: JobContext, data: T): Promise<void>;
  /** a shutdown interrupts a run on purpose (the run logs that itself): no "job failed" line then */
  interruptedByShutdown?: boolean;
}

/** A job pg-boss starts on a cron schedule; idempotent, so a missed or failed run is made up by the next one. */
export interface PeriodicJob extends JobBase {
  schedule: string;
  /** false: not worked, and a schedule left by an earlier configuration is removed */
  enabled?(config: Readonly<Config>): boolean;
  run(ctx: JobContext): Promise<void>;
}

/** The payload of a job for one request: its id, as a decimal string. */
export interface RequestIdPayload {
  requestId: string;
}

export const isRequestIdPayload = (d: unknown): d is RequestIdPayload => hasDecimalId(d, 'requestId');

/** A payload whose `key` is an id as a decimal string (jobs carry ids only). */
export function hasDecimalId<K extends string>(d: unknown, key: K): d is Record<K, string> {
  return typeof d === 'object' && d !== null && typeof (d as Record<K, unknown>)[key] === 'string' && /^\d+$/.test((d as Record<K, string>)[key]);
}

/** What a long job run learns from its worker: the process is stopping, so hand the rest over rather than be cut off. */
export interface JobRun {
  isStopping?: () => boolean;
}

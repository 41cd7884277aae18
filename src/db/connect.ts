import crypto from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Db } from './schema.ts';

// int8 (bigint) stays a string: ids exceed 2^53 only in theory, but we never want silent rounding.
// numeric stays a string too. Counts we cast to int in SQL.

/**
 * A statement whose text starts with this comment is prepared once per connection and then only
 * bound and executed, so it is parsed and analysed once, not on every call: the hot path's
 * statements (claim, record, roll-up, a POST's insert). Only fixed texts may carry it: each
 * distinct text stays prepared on every connection for the connection's life. Every call is
 * still planned with its values (plan_cache_mode=force_custom_plan below).
 */
export const PREPARED = '/*prepared*/';

const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `om_${crypto.createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** kysely passes (text, values); marked texts go as named (prepared) statements. */
class PreparingClient extends pg.Client {
  // @ts-expect-error -- one override for pg's many query() overloads
  override query(config: unknown, values?: unknown, callback?: unknown) {
    if (typeof config === 'string' && config.startsWith(PREPARED) && typeof values !== 'function') {
      // @ts-expect-error -- the QueryConfig overload
      return super.query({ name: statementName(config), text: config, values }, callback);
    }
    // @ts-expect-error -- passed through as given
    return super.query(config, values, callback);
  }
}

export interface DbHandle {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * The service's pool (src/main.ts): the API, the claim loops, the recorder and the jobs share it.
 * Jobs that hold connections for long (storing in parts) take a share of it only.
 */
export const SERVICE_POOL_MAX = 20;

export interface ConnectOptions {
  max?: number;
  onError?: (err: Error) => void;
  applicationName?: string;
}

export function connectDb(connectionString: string, opts: ConnectOptions = {}): DbHandle {
  const pool = new pg.Pool({
    Client: PreparingClient as unknown as typeof pg.Client,
    connectionString,
    max: opts.max ?? 10,
    // A restarted or unreachable server must surface as an error, not a hang.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName ?? 'outbound-mailer',
    // The service's queries are short index walks under a LIMIT. Launching parallel workers
    // costs about 20 ms before the first row (measured on a 10M-recipient history: a filtered
    // first page took 26 ms with a Gather, 0.6 ms without), more than whole queries take.
    // force_custom_plan: after five calls PostgreSQL may switch a prepared statement to a generic
    // plan, which keeps the table sizes of when it was made. Made while a large request was
    // being stored, the claim's generic plan held delivery at 260-330 mails/s (680/s with
    // custom plans) until an autoanalyze replaced it.
    options: '-c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan',
  });
  // Idle clients that lose their server (restart) emit 'error' on the pool; without a
  // listener that would crash the process. The pool replaces them on next use.
  pool.on('error', (err) => opts.onError?.(err));
  // pg-pool listens for errors only on idle clients; a checked-out client whose server goes
  // away (restart, terminated backend) would emit an unhandled 'error' and crash the process.
  // Its query fails and the caller retries; the listener just keeps the process alive.
  pool.on('connect', (client) => client.on('error', (err) => opts.onError?.(err)));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    async close() {
      await db.destroy();
    },
  };
}

import crypto from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Db } from './schema.ts';

// int8 (bigint) stays a string: ids exceed 2^53 only in theory, but we never want silent rounding.
// numeric stays a string too. Counts we cast to int in SQL.

/**
 * A statement whose text starts with this comment is prepared once per connection and then only
 * bound and executed: the hot path's statements (claim, record, roll-up, a POST's inserts) took
 * longer to parse and plan than to run (measured with pg_stat_statements at 100 mails/s: 4.2 s of
 * planning beside 2.9 s of execution). Only fixed texts may carry it: each distinct text stays
 * prepared on every connection for the connection's life.
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

export interface ConnectOptions {
  max?: number;
  onError?: (err: Error) => void;
  /**
   * Plan prepared statements once per connection (plan_cache_mode=force_generic_plan). Only for
   * a pool whose every statement has a fixed shape (the delivery loops'): PostgreSQL keeps
   * re-planning `= ANY($1)` statements for every call otherwise, since their generic plan's
   * estimate never beats a custom one. The API's view queries need plans for their values.
   */
  genericPlans?: boolean;
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
    options: `-c max_parallel_workers_per_gather=0${opts.genericPlans ? ' -c plan_cache_mode=force_generic_plan' : ''}`,
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

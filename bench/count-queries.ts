// Preloaded into the service by benchmarks (`node --import ./bench/count-queries.ts`): counts
// the statements the process sends to PostgreSQL (every pg Client.query, which kysely and
// pg-boss both go through: one count is one round trip, BEGIN and COMMIT included) and writes
// the running total to BENCH_QUERY_COUNT_FILE ten times a second, for db-work.ts to read.
import fs from 'node:fs';
import pg from 'pg';

const file = process.env.BENCH_QUERY_COUNT_FILE;
if (file) {
  let count = 0;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    count++;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  // One positional write of a fixed-width number to a file opened once: no open, rename or
  // allocation on the service's path, whatever the machine's load.
  const fd = fs.openSync(file, 'w');
  let written = -1;
  setInterval(() => {
    if (count === written) return;
    written = count;
    fs.writeSync(fd, String(count).padStart(20), 0);
  }, 100).unref();
}

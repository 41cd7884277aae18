/**
 * Node options the service runs with: `npm start` and the Dockerfile's CMD (both through
 * src/start.ts), the benchmarks and the process-level tests (test/unit/node-args.test.ts keeps
 * them in step).
 *
 * Live heap stays under ~100 MB even while a 100,000-recipient request is stored and sent, but
 * V8 lets the old space grow to several times that between full collections (670 MB RSS
 * measured); a 256 MB old space keeps the service under 400 MB RSS at no measurable cost.
 * MAX_HEAP_MB changes it (e.g. for a container with more memory, or less).
 */
export const DEFAULT_MAX_HEAP_MB = 256;

/**
 * The young generation's semi-spaces (V8's default is 16 MB each on 64-bit): at 8 MB a 63 MB
 * POST /mails of 100,000 recipients peaked at 323 MB RSS instead of 372-384 (npm run
 * bench:large-posts), two at once at 336 MB instead of 414-491.
 */
const SEMI_SPACE_MB = 8;

export function serviceNodeArgs(env: Record<string, string | undefined> = {}): string[] {
  const raw = env.MAX_HEAP_MB?.trim();
  const semiSpace = `--max-semi-space-size=${SEMI_SPACE_MB}`;
  if (raw === undefined || raw === '') return [`--max-old-space-size=${DEFAULT_MAX_HEAP_MB}`, semiSpace];
  if (!/^\d+$/.test(raw) || Number(raw) < 64 || Number(raw) > 65_536) {
    throw new Error(`MAX_HEAP_MB must be a whole number of megabytes between 64 and 65536, got "${raw}"`);
  }
  return [`--max-old-space-size=${Number(raw)}`, semiSpace];
}

/**
 * glibc malloc settings of the service's process, unless the environment sets them: large
 * buffers (request bodies, query results) mapped and unmapped on their own instead of growing
 * the heap arenas, and two arenas instead of eight per core. Freed memory then goes back to the
 * system: after a 100,000-recipient POST the idle service stayed at 345 MB RSS instead of 478,
 * and the peak of one such POST fell from 323 to 273 MB (npm run bench:large-posts).
 */
export const SERVICE_MALLOC_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/** `env` with SERVICE_MALLOC_ENV's variables where it has none. */
export function serviceEnv<T extends Record<string, string | undefined>>(env: T): T {
  const out: Record<string, string | undefined> = { ...env };
  for (const [k, v] of Object.entries(SERVICE_MALLOC_ENV)) if (out[k] === undefined || out[k] === '') out[k] = v;
  return out as T;
}

export const SERVICE_NODE_ARGS = serviceNodeArgs();

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

export function serviceNodeArgs(env: Record<string, string | undefined> = {}): string[] {
  const raw = env.MAX_HEAP_MB?.trim();
  if (raw === undefined || raw === '') return [`--max-old-space-size=${DEFAULT_MAX_HEAP_MB}`];
  if (!/^\d+$/.test(raw) || Number(raw) < 64 || Number(raw) > 65_536) {
    throw new Error(`MAX_HEAP_MB must be a whole number of megabytes between 64 and 65536, got "${raw}"`);
  }
  return [`--max-old-space-size=${Number(raw)}`];
}

export const SERVICE_NODE_ARGS = serviceNodeArgs();

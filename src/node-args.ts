/**
 * Node options the service runs with: `npm start`, the Dockerfile's CMD, the benchmarks and the
 * process-level tests (test/unit/node-args.test.ts keeps them in step).
 *
 * Live heap stays under ~100 MB even while a 100,000-recipient request is stored and sent, but
 * V8 lets the old space grow to several times that between full collections (670 MB RSS
 * measured); a 256 MB old space keeps the service under 400 MB RSS at no measurable cost.
 */
export const SERVICE_NODE_ARGS = ['--max-old-space-size=256'] as const;

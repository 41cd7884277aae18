// `npm start` and the Docker image's CMD: runs src/main.ts in a Node process with the service's
// Node options (src/node-args.ts), which must be set when that process starts (the heap limit
// can't be changed from inside). Signals are passed on, and its exit code is ours.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { serviceEnv, serviceNodeArgs } from './node-args.ts';

let args: string[];
try {
  args = serviceNodeArgs(process.env);
} catch (err) {
  process.stderr.write(`configuration error: ${(err as Error).message}\n`);
  process.exit(1);
}
const child = spawn(process.execPath, [...args, path.join(import.meta.dirname, 'main.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: serviceEnv(process.env),
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  // Killed by a signal: the shell's convention, 128 + its number.
  process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1));
});

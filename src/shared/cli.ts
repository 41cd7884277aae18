import { ConfigError } from '../config.ts';

/** A command line that can't be run as given: the message, then the usage, exit status 2. */
export class UsageError extends Error {}

/**
 * Runs a CLI's main and turns what it throws into one `name: message` line on stderr and an exit
 * status: 2 for usage and configuration errors (the usage follows a usage error), 1 for the rest.
 */
export async function cliExitCode(name: string, usage: string, main: () => Promise<number>): Promise<number> {
  try {
    return await main();
  } catch (err) {
    const isUsage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`${name}: ${(err as Error).message}\n${isUsage ? usage + '\n' : ''}`);
    return isUsage || err instanceof ConfigError ? 2 : 1;
  }
}

// `npm run lint:spec` (CI): Redocly's rule engine (@redocly/openapi-core, the library behind
// `redocly lint`, without the CLI's hundreds of packages) over openapi/openapi.yaml with the
// rules in redocly.yaml. Exits 1 on any error or warning.
import { formatProblems, lint, loadConfig } from '@redocly/openapi-core';

const spec = process.argv[2] ?? 'openapi/openapi.yaml';
const config = await loadConfig({ configPath: 'redocly.yaml' });
const problems = await lint({ ref: spec, config });
if (problems.length) {
  formatProblems(problems, { format: 'stylish', totals: { errors: 0, warnings: 0, ignored: 0 }, version: 'openapi-core' });
  process.exit(1);
}
process.stdout.write(`${spec}: no problems (rules: redocly.yaml)\n`);

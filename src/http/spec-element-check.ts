import fs from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import YAML from 'yaml';

/**
 * A check of values against one schema of the spec, for the elements of a deferred array
 * (large-json.ts): express-openapi-validator validated the body with that array empty, so each
 * element is checked here as it is parsed. Its refusal is the validator's own, which
 * error-handler.ts maps alike: the same ajv (2020, OpenAPI 3.1), the same first error, its enum
 * message, and its path ("/body/recipients/7/name"), so a bad element answers the same 400 in a
 * body of any size. The schema is compiled when the first element is checked, not at start-up.
 */
export function specElementCheck(specPath: string, schemaName: string, arrayPath: string): (value: unknown, index: number) => void {
  let validate: ValidateFunction | undefined;
  const compile = (): ValidateFunction => {
    const spec = YAML.parse(fs.readFileSync(specPath, 'utf8')) as { components: unknown };
    const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
    ajv.addSchema({ $id: 'spec', components: spec.components });
    const found = ajv.getSchema(`spec#/components/schemas/${schemaName}`);
    if (!found) throw new Error(`the spec has no schema ${schemaName}`);
    return found;
  };
  return (value, index) => {
    validate ??= compile();
    if (validate(value)) return;
    const errors = (validate.errors ?? []).slice(0, 1).map((e) => ({ path: `${arrayPath}/${index}${pathOf(e)}`, message: messageOf(e) }));
    throw Object.assign(new Error(errors.map((e) => `${e.path}: ${e.message}`).join('; ')), { status: 400 as const, errors });
  };
}

function pathOf(e: ErrorObject): string {
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  const prop = params.missingProperty ?? params.additionalProperty;
  return prop !== undefined ? `${e.instancePath}/${prop}` : e.instancePath;
}

function messageOf(e: ErrorObject): string {
  const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
  return e.keyword === 'enum' && allowed ? `${e.message}: ${allowed.join(', ')}` : (e.message ?? 'invalid');
}

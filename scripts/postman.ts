// `npm run postman`: writes the Postman collection (v2.1) generated from openapi/openapi.yaml;
// `npm run postman:check` fails when the committed one is not what the spec gives (CI).
// One request per operation, grouped by tag, with the spec's example bodies and parameters;
// a collection-level pre-request script signs every request (NCP signature v2) with the
// collection variables accessKey and secretKey, using the CryptoJS that Postman provides.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';

export const COLLECTION_PATH = 'postman/outbound-mailer.postman_collection.json';
const SPEC_PATH = 'openapi/openapi.yaml';

type Obj = Record<string, any>;

/** The signing script, as Postman runs it before each request of the collection. */
export const PRE_REQUEST_SCRIPT = [
  '// NCP API Gateway signature v2: Base64(HMAC-SHA256(secretKey, "{METHOD} {path?query}\\n{timestamp}\\n{accessKey}")).',
  '// Set the collection variables baseUrl (scheme://host:port), accessKey and secretKey.',
  "const accessKey = pm.variables.get('accessKey');",
  "const secretKey = pm.variables.get('secretKey');",
  'if (!accessKey || !secretKey) {',
  "  console.warn('accessKey / secretKey are not set: the request goes unsigned (401)');",
  '} else {',
  '  const timestamp = String(Date.now());',
  '  // Path variables (:requestId) and {{variables}} resolved, enabled query parameters as sent.',
  '  const target = pm.variables.replaceIn(pm.request.url.getPathWithQuery());',
  "  const message = pm.request.method.toUpperCase() + ' ' + target + '\\n' + timestamp + '\\n' + accessKey;",
  '  const signature = CryptoJS.enc.Base64.stringify(CryptoJS.HmacSHA256(message, secretKey));',
  "  pm.request.headers.upsert({ key: 'x-ncp-apigw-timestamp', value: timestamp });",
  "  pm.request.headers.upsert({ key: 'x-ncp-iam-access-key', value: accessKey });",
  "  pm.request.headers.upsert({ key: 'x-ncp-apigw-signature-v2', value: signature });",
  '}',
];

function resolver(spec: Obj) {
  const resolve = (node: any): any => {
    if (!node || typeof node !== 'object' || typeof node.$ref !== 'string') return node;
    const target = node.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce((o: any, k: string) => o?.[k.replaceAll('~1', '/').replaceAll('~0', '~')], spec);
    if (target === undefined) throw new Error(`unresolvable $ref ${node.$ref}`);
    return resolve(target);
  };
  return resolve;
}

function exampleOf(media: Obj | undefined, resolve: (n: any) => any): unknown {
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const first = media.examples && Object.values(media.examples)[0];
  if (first) return resolve(first).value;
  return resolve(media.schema)?.example;
}

function paramValue(p: Obj, resolve: (n: any) => any): string {
  const schema = resolve(p.schema) ?? {};
  const v = p.example ?? schema.example ?? schema.default ?? (schema.enum ? schema.enum[0] : undefined);
  if (v === undefined) return '';
  return Array.isArray(v) ? String(v[0] ?? '') : String(v);
}

const oneLine = (s: unknown) => (typeof s === 'string' ? s.trim() : undefined);

/** The collection for a parsed spec: deterministic (no generated ids), so CI can compare it. */
export function buildCollection(spec: Obj): Obj {
  const resolve = resolver(spec);
  const base = String(spec.servers?.[0]?.url ?? '').replace(/\/+$/, '');
  const folders = new Map<string, Obj[]>();
  for (const [p, pathItem] of Object.entries<Obj>(spec.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = pathItem[method];
      if (!op) continue;
      const params: Obj[] = [...(pathItem.parameters ?? []), ...(op.parameters ?? [])].map(resolve);
      const fullPath = `${base}${p}`;
      const segments = fullPath
        .split('/')
        .filter(Boolean)
        .map((s) => s.replace(/^\{(.+)\}$/, ':$1'));
      const query = params
        .filter((x) => x.in === 'query')
        .map((x) => ({
          key: x.name,
          value: paramValue(x, resolve),
          ...(x.required ? {} : { disabled: true }),
          ...(oneLine(x.description) ? { description: oneLine(x.description) } : {}),
        }));
      const variable = params
        .filter((x) => x.in === 'path')
        .map((x) => ({ key: x.name, value: paramValue(x, resolve), ...(oneLine(x.description) ? { description: oneLine(x.description) } : {}) }));
      const header = params
        .filter((x) => x.in === 'header')
        .map((x) => ({
          key: x.name,
          value: paramValue(x, resolve),
          ...(x.required ? {} : { disabled: true }),
          ...(oneLine(x.description) ? { description: oneLine(x.description) } : {}),
        }));
      const request: Obj = { method: method.toUpperCase(), header };
      const content: Obj = resolve(op.requestBody)?.content ?? {};
      if (content['application/json']) {
        header.push({ key: 'Content-Type', value: 'application/json' });
        const example = exampleOf(content['application/json'], resolve);
        request.body = { mode: 'raw', raw: JSON.stringify(example ?? {}, null, 2), options: { raw: { language: 'json' } } };
      } else if (content['multipart/form-data']) {
        const schema = resolve(content['multipart/form-data'].schema) ?? {};
        const formdata = Object.entries<Obj>(schema.properties ?? {}).map(([key, prop]) => {
          const item = resolve(prop.type === 'array' ? prop.items : prop) ?? {};
          return item.format === 'binary' || item.contentMediaType ? { key, type: 'file', src: [] } : { key, type: 'text', value: '' };
        });
        request.body = { mode: 'formdata', formdata };
      }
      const queryString = query
        .filter((q) => !q.disabled)
        .map((q) => `${q.key}=${q.value}`)
        .join('&');
      request.url = {
        raw: `{{baseUrl}}/${segments.join('/')}${queryString ? `?${queryString}` : ''}`,
        host: ['{{baseUrl}}'],
        path: segments,
        ...(query.length ? { query } : {}),
        ...(variable.length ? { variable } : {}),
      };
      const description = [op.operationId, oneLine(op.description)].filter(Boolean).join('\n\n');
      request.description = description;
      const tag = op.tags?.[0] ?? 'other';
      if (!folders.has(tag)) folders.set(tag, []);
      folders.get(tag)!.push({ name: op.summary ?? op.operationId, request, response: [] });
    }
  }
  const tagDescriptions = new Map<string, string>((spec.tags ?? []).map((t: Obj) => [t.name, t.description ?? '']));
  return {
    info: {
      name: spec.info?.title ?? 'API',
      description: `Generated from ${SPEC_PATH} by \`npm run postman\` (do not edit by hand). Set the collection variables baseUrl, accessKey and secretKey; the collection's pre-request script signs every request.`,
      version: spec.info?.version,
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    event: [{ listen: 'prerequest', script: { type: 'text/javascript', exec: PRE_REQUEST_SCRIPT } }],
    variable: [
      { key: 'baseUrl', value: 'http://localhost:8080' },
      { key: 'accessKey', value: '' },
      { key: 'secretKey', value: '' },
    ],
    item: [...folders].map(([name, item]) => ({ name, description: tagDescriptions.get(name) ?? '', item })),
  };
}

export function collectionText(specText: string): string {
  return `${JSON.stringify(buildCollection(YAML.parse(specText)), null, 2)}\n`;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, file: { type: 'string' }, spec: { type: 'string' } } });
  const file = values.file ?? COLLECTION_PATH;
  const fresh = collectionText(fs.readFileSync(values.spec ?? SPEC_PATH, 'utf8'));
  if (values.check) {
    const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (committed !== fresh) {
      process.stderr.write(`${file} is not what ${values.spec ?? SPEC_PATH} gives: run \`npm run postman\` and commit the result\n`);
      process.exit(1);
    }
    process.stdout.write(`${file} is up to date\n`);
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, fresh);
    process.stdout.write(`wrote ${file}\n`);
  }
}

// A fuzzer driven by openapi/openapi.yaml (issue 11 §2): for every operation it builds a
// plausible request from the schemas, then breaks one field at a time (body, query, path) with
// wrong types, NUL, lone surrogates, huge and extreme values, and sends malformed JSON and
// multipart bodies and long query strings, signed as a client would. The caller asserts that no
// answer is a 5xx and that the process is still alive. Seeded (mulberry32): a failing case is
// reproduced by running the same seed again.
import fs from 'node:fs';
import { parse } from 'yaml';
import { multipartBody, signedRaw, type RawResult, type SignedKey } from './raw-http.ts';

type Schema = Record<string, any>;

export interface FuzzOptions {
  port: number;
  key: SignedKey;
  specPath: string;
  seed: number;
  /** random field mutations per field (the fixed hostile values are always sent once per field) */
  perField?: number;
  /** ids of existing resources by path parameter name (or "path:name"), so mutations reach past the lookup */
  pathValues?: Record<string, string>;
  /** called for every answer; return false to stop */
  onCase?: (c: FuzzCase, res: RawResult) => void;
}

export interface FuzzCase {
  operationId: string;
  what: string;
  method: string;
  target: string;
  status: number;
  body: string;
  ms: number;
}

export interface FuzzReport {
  cases: number;
  /** every 5xx, and every connection that closed without an answer */
  failures: FuzzCase[];
  ms: number;
}

/** mulberry32: tiny, seedable, good enough to pick mutations. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof prng>;

// ---------- the spec ----------

export interface Operation {
  operationId: string;
  method: string;
  path: string;
  params: { name: string; in: 'path' | 'query' | 'header'; schema: Schema; required: boolean }[];
  json?: Schema;
  multipart?: Schema;
}

function resolver(spec: any) {
  const seen = new Map<string, any>();
  const lookup = (ref: string) =>
    ref
      .replace(/^#\//, '')
      .split('/')
      .reduce((o: any, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  const resolve = (node: any, depth = 0): any => {
    if (depth > 20 || node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map((n) => resolve(n, depth + 1));
    if (typeof node.$ref === 'string') {
      if (!seen.has(node.$ref)) {
        seen.set(node.$ref, {});
        seen.set(node.$ref, resolve(lookup(node.$ref), depth + 1));
      }
      return seen.get(node.$ref);
    }
    const out: any = {};
    for (const [k, v] of Object.entries(node)) out[k] = k === 'example' || k === 'examples' ? v : resolve(v, depth + 1);
    return out;
  };
  return resolve;
}

function loadOperations(specPath: string): Operation[] {
  const spec = parse(fs.readFileSync(specPath, 'utf8'));
  const resolve = resolver(spec);
  const base = (spec.servers?.[0]?.url as string | undefined)?.replace(/^https?:\/\/[^/]+/, '') ?? '';
  const ops: Operation[] = [];
  for (const [p, item] of Object.entries<any>(spec.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'delete', 'patch']) {
      const op = item[method];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((x: any) => resolve(x));
      const content = resolve(op.requestBody)?.content ?? {};
      ops.push({
        operationId: op.operationId ?? `${method} ${p}`,
        method: method.toUpperCase(),
        path: base + p,
        params: params.map((x: any) => ({ name: x.name, in: x.in, schema: x.schema ?? {}, required: !!x.required })),
        json: content['application/json']?.schema,
        multipart: content['multipart/form-data']?.schema,
      });
    }
  }
  return ops;
}

// ---------- values ----------

const typeOf = (s: Schema): string | undefined => {
  if (Array.isArray(s.type)) return s.type.find((t: string) => t !== 'null');
  if (s.type) return s.type;
  if (s.properties) return 'object';
  if (s.items) return 'array';
  const alt = s.oneOf ?? s.anyOf ?? s.allOf;
  return alt ? typeOf(alt[0] ?? {}) : undefined;
};

const merged = (s: Schema): Schema =>
  s.allOf ? Object.assign({}, ...s.allOf.map(merged), { ...s, allOf: undefined }) : s.oneOf || s.anyOf ? merged((s.oneOf ?? s.anyOf)[0]) : s;

/** A plausible value: the schema's example, an enum member, or a small value of its type. */
function sample(schema: Schema, depth = 0): unknown {
  const s = merged(schema ?? {});
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (Array.isArray(s.enum)) return s.enum.find((e: unknown) => e !== null);
  if (s.const !== undefined) return s.const;
  switch (typeOf(s)) {
    case 'string':
      if (s.format === 'email' || /address/i.test(s.description ?? '')) return 'fuzz@example.com';
      return 'fuzz';
    case 'integer':
      return s.minimum ?? 1;
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return depth > 4 ? [] : [sample(s.items ?? {}, depth + 1)];
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth > 4) return out;
      for (const [k, v] of Object.entries<Schema>(s.properties ?? {})) {
        if ((s.required ?? []).includes(k) || depth === 0) out[k] = sample(v, depth + 1);
      }
      return out;
    }
    default:
      return 'fuzz';
  }
}

const EMAIL = 'fuzz@example.com';
const BACKUP = JSON.stringify({
  format: 'outbound-mailer-templates',
  version: 1,
  categories: [{ sid: 1, parentSid: -1, name: 'c' }],
  templates: [{ sid: 1, categorySid: 1, name: 't', description: null, title: 'T', senderAddress: EMAIL, senderName: null, body: 'B', isUse: true }],
});

/**
 * Requests that succeed (or nearly: a valid request about something absent), per operation, where
 * the schema's own examples don't: every mutation breaks one field of a request that is otherwise
 * good, so it reaches the service and the database rather than stopping at the first check.
 */
const BASELINES: Record<string, { body?: unknown; query?: Record<string, string>; multipart?: { name: string; filename: string; content: string } }> = {
  createMailRequest: {
    body: {
      senderAddress: EMAIL,
      senderName: 'Fuzz',
      title: 'Hi ${NAME}',
      body: '<p>${NAME} #{RECIPIENT_NAME}</p>',
      recipients: [{ address: EMAIL, name: 'Fuzz', type: 'R', parameters: { NAME: 'r' } }],
      parameters: { NAME: 'p' },
      individual: true,
      advertising: false,
      confirmAndSend: true,
    },
  },
  createTemplate: { body: { templateName: 'fuzz', title: 'T', body: 'B', senderAddress: EMAIL, senderName: 'S', description: 'D' } },
  updateTemplate: { body: { templateName: 'fuzz', title: 'T', body: 'B', senderAddress: EMAIL, senderName: 'S', description: 'D' } },
  updateCategory: { body: { categoryName: 'fuzz2' } },
  createAddressBook: { body: { groups: [{ groupName: 'fuzz', emailAddresses: [EMAIL] }] } },
  deleteAddress: { body: { emailAddresses: ['gone@example.com'] } },
  deleteRecipientGroupRelation: { body: { groupName: 'fuzz', emailAddresses: ['gone@example.com'] } },
  deleteRecipientGroup: { query: { groupName: 'nothere' } },
  deleteRecipientGroupRelationEmpty: { query: { groupName: 'fuzz' } },
  getGroupCombination: { query: { andFilter: 'true', groups: 'fuzz' } },
  registerUnsubscribers: { body: { blockedReceivers: [EMAIL] } },
  deleteUnsubscribers: { body: { blockedReceivers: [EMAIL] } },
  getSendBlockList: { query: { targetAddress: EMAIL } },
  getConfig: { query: { type: 'SEND_BLOCK_TIME' } },
  createConfig: { body: { type: 'SEND_BLOCK_TIME', value: '168', unit: 'HOUR' } },
  createExport: { body: { view: 'requests', filters: { startDateTime: '2025-01-01', sendStatus: ['S'] } } },
  createFile: { multipart: { name: 'fileList', filename: 'a.txt', content: 'hello' } },
  createRecipientFile: { multipart: { name: 'file', filename: 'r.csv', content: `address,name,NAME\n${EMAIL},Fuzz,x\n` } },
  importTemplate: { multipart: { name: 'file', filename: 'backup.json', content: BACKUP } },
};

const LONE_HIGH = '\ud800';
const LONE_LOW = '\udfff';
/** Values every field gets once: what broke Postgres (NUL, lone surrogates) and the extremes. */
const FIXED_JSON: unknown[] = ['a\u0000b', `x${LONE_HIGH}y`, LONE_LOW, -8640000000000000, 8640000000000001, null, { $: 1 }, [[]]];

function hostileJson(rng: Rng): unknown {
  const big = (n: number, c = 'a') => c.repeat(n);
  const choices: (() => unknown)[] = [
    () => '',
    () => ' ',
    () => '\u0000',
    () => `${LONE_HIGH}${LONE_HIGH}`,
    () => `\ud83d`,
    () => big(1 + rng.int(70_000)),
    () => big(600_000),
    () => '${' + big(rng.int(3000), 'X') + '}',
    () => '#{UNSUBSCRIBE_URL}'.repeat(rng.int(500)),
    () => '\u202e\u200b\ufeff\uffff',
    () => -1,
    () => 0,
    () => 1.5,
    () => 2 ** 53 + 1,
    () => -(2 ** 63),
    () => 1e308,
    () => -1e308,
    () => 8640000000000000,
    () => -8640000000000000,
    () => true,
    () => false,
    () => [],
    () => {
      const a: unknown[] = [];
      for (let i = 0; i < 2000; i++) a.push('fuzz@example.com');
      return a;
    },
    () => ({}),
    () => ({ toString: 'x', __proto__: { a: 1 }, constructor: 1 }),
    () => '9999-12-31 23:59',
    () => '0000-00-00',
    () => '-271821-04-20',
    () => '2026-02-30 25:61',
    () => 'a@b',
    () => '"><script>alert(1)</script>',
    () => "'; drop table requests; --",
    () => '../../../etc/passwd',
    () => '%00',
  ];
  return rng.pick(choices)();
}

/** Query and path values as they go on the wire (already encoded): the URL's own hostile forms. */
const FIXED_QUERY = ['%00', 'a%00b', '%ED%A0%80', '%C0%AF', '-8640000000000000', '8640000000000001', '99999999999999999999999'];
function hostileQuery(rng: Rng): string {
  const choices: (() => string)[] = [
    () => '',
    () => '-1',
    () => '0',
    () => '1e308',
    () => 'NaN',
    () => 'Infinity',
    () => '-0',
    () => '0x10',
    () => '1.5',
    () => 'true',
    () => '%FF%FE',
    () => '%',
    () => '%E2%80%AE',
    () => 'a'.repeat(1 + rng.int(6000)),
    () => encodeURIComponent('9999-12-31 23:59'),
    () => encodeURIComponent('-271821-04-20'),
    () => '0000-00-00',
    () => encodeURIComponent("x' or 1=1 --"),
    () => 'S,F,PF,,,',
    () => ',',
    () => 'id,desc,asc',
  ];
  return rng.pick(choices)();
}

// ---------- requests ----------

const setAt = (obj: any, path: (string | number)[], value: unknown): any => {
  if (path.length === 0) return value;
  const copy = Array.isArray(obj) ? [...obj] : { ...(obj ?? {}) };
  const [head, ...rest] = path;
  copy[head as any] = setAt(copy[head as any], rest, value);
  return copy;
};

/** Every field path of a schema (objects' properties, arrays' first item), a few levels deep. */
function fieldPaths(schema: Schema, prefix: (string | number)[] = [], depth = 0): (string | number)[][] {
  const s = merged(schema ?? {});
  const out: (string | number)[][] = [];
  if (depth > 3) return out;
  const t = typeOf(s);
  if (t === 'object') {
    for (const [k, v] of Object.entries<Schema>(s.properties ?? {})) {
      out.push([...prefix, k]);
      out.push(...fieldPaths(v, [...prefix, k], depth + 1));
    }
    // additionalProperties (parameters maps): a hostile key and value
    if (s.additionalProperties && typeof s.additionalProperties === 'object')
      out.push([...prefix, 'k\u0000'], [...prefix, LONE_HIGH], [...prefix, 'K'.repeat(300)], [...prefix, 'V']);
  } else if (t === 'array') {
    out.push([...prefix, 0]);
    out.push(...fieldPaths(s.items ?? {}, [...prefix, 0], depth + 1));
  }
  return out;
}

const json = (v: unknown) => JSON.stringify(v);

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const rng = prng(opts.seed);
  const ops = loadOperations(opts.specPath);
  const failures: FuzzCase[] = [];
  let cases = 0;
  const perField = opts.perField ?? 2;

  const send = async (op: Operation, what: string, target: string, headers: string[], body?: Buffer | string) => {
    // A raw case stops sending (half-closes) after its body: a body shorter than announced, or
    // chunking Node refuses itself, gets no answer and that is expected.
    const raw = what.startsWith('raw:');
    const t0 = Date.now();
    const res = await signedRaw(opts.port, opts.key, op.method, target, headers, body ?? '', raw ? { endInput: true, idleMs: 3000 } : { idleMs: 15_000 }).catch(
      (err: Error): RawResult => ({ status: 0, headers: {}, body: `connection error: ${err.message}`, json: undefined }),
    );
    cases++;
    const c: FuzzCase = {
      operationId: op.operationId,
      what,
      method: op.method,
      target: target.length > 300 ? `${target.slice(0, 300)}…` : target,
      status: res.status,
      body: res.body.slice(0, 500),
      ms: Date.now() - t0,
    };
    // A status of 0 is a connection closed unanswered: a crash, or a body Node refused outright
    // (bad chunking); the caller tells them apart by checking the process.
    if (res.status >= 500 || (res.status === 0 && !raw)) failures.push(c);
    opts.onCase?.(c, res);
  };

  for (const op of ops) {
    const pathParams = op.params.filter((p) => p.in === 'path');
    const queryParams = op.params.filter((p) => p.in === 'query');
    const pathWith = (override: Record<string, string> = {}) =>
      op.path.replace(
        /\{([^}]+)\}/g,
        (_m, name: string) =>
          override[name] ??
          opts.pathValues?.[`${op.path}:${name}`] ??
          opts.pathValues?.[name] ??
          encodeURIComponent(String(sample(pathParams.find((p) => p.name === name)?.schema ?? {}))),
      );
    const baseline = BASELINES[op.operationId] ?? {};
    const baseQuery = (): [string, string][] => {
      const given = Object.entries(baseline.query ?? {}).map(([k, v]) => [k, encodeURIComponent(v)] as [string, string]);
      const missing = queryParams.filter((p) => p.required && !baseline.query?.[p.name]);
      return [...given, ...missing.map((p) => [p.name, encodeURIComponent(String([sample(p.schema)].flat()[0]))] as [string, string])];
    };
    const qs = (pairs: [string, string][]) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : '');
    const baseBody = op.json ? (baseline.body ?? sample(op.json)) : undefined;
    const jsonHeaders = (body: string | Buffer) => ['content-type: application/json', `content-length: ${Buffer.byteLength(body)}`];
    const sendJson = (what: string, target: string, body: unknown) => {
      const text = json(body);
      return send(op, what, target, jsonHeaders(text), text);
    };
    const B = 'fuzzBOUNDARY';
    const ct = `content-type: multipart/form-data; boundary=${B}`;
    const mp = baseline.multipart ?? {
      name: Object.keys(merged(op.multipart ?? {}).properties ?? { file: {} })[0] ?? 'file',
      filename: 'a.csv',
      content: `address\n${EMAIL}\n`,
    };
    const good = {
      headers: [`Content-Disposition: form-data; name="${mp.name}"; filename="${mp.filename}"`, 'Content-Type: application/octet-stream'],
      content: mp.content,
    };
    const plain = () => {
      const target = pathWith() + qs(baseQuery());
      if (op.json) return sendJson('baseline', target, baseBody);
      if (op.multipart) {
        const body = multipartBody(B, [good]);
        return send(op, 'baseline', target, [ct, `content-length: ${body.length}`], body);
      }
      return send(op, 'baseline', target, []);
    };

    await plain();
    if (op.method === 'GET') await send({ ...op, method: 'HEAD' }, 'HEAD', pathWith() + qs(baseQuery()), []);

    // path parameters
    for (const p of pathParams) {
      const values = [...FIXED_QUERY, ...Array.from({ length: perField }, () => hostileQuery(rng))];
      for (const v of values) {
        if (v === '' || v === '%') continue; // an empty segment is another route; '%' alone is not a URL
        await (op.json
          ? sendJson(`path ${p.name}=${v}`, pathWith({ [p.name]: v }) + qs(baseQuery()), baseBody)
          : send(op, `path ${p.name}=${v}`, pathWith({ [p.name]: v }) + qs(baseQuery()), []));
      }
    }
    // query parameters, one at a time, then all at once
    for (const p of queryParams) {
      const values = [...FIXED_QUERY, ...Array.from({ length: perField }, () => hostileQuery(rng))];
      for (const v of values) {
        const pairs = [...baseQuery().filter(([k]) => k !== p.name), [p.name, v] as [string, string]];
        await (op.json ? sendJson(`query ${p.name}`, pathWith() + qs(pairs), baseBody) : send(op, `query ${p.name}`, pathWith() + qs(pairs), []));
      }
    }
    if (queryParams.length) {
      const pairs = queryParams.map((p) => [p.name, hostileQuery(rng)] as [string, string]);
      await send(op, 'query all', pathWith() + qs(pairs), []);
    }
    // query strings longer than the server takes, and unknown parameters
    await send(op, 'query 20 KB', `${pathWith()}?x=${'a'.repeat(20_000)}`, []);
    await send(op, 'query 15 KB', `${pathWith()}?${op.params.find((p) => p.in === 'query')?.name ?? 'q'}=${'%00'.repeat(5000)}`, []);

    // JSON body fields
    if (op.json) {
      for (const field of fieldPaths(op.json)) {
        const values = [...FIXED_JSON, ...Array.from({ length: perField }, () => hostileJson(rng))];
        for (const v of values) await sendJson(`body ${field.join('.')}`, pathWith() + qs(baseQuery()), setAt(baseBody, field, v));
      }
      const target = pathWith() + qs(baseQuery());
      const malformed: (string | Buffer)[] = [
        '{',
        '{"a":',
        '',
        'null',
        '"\\u0000"',
        '[]',
        '123',
        '{"title":"\\ud800"}',
        '{"a":"\\x"}',
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
        `{"a":${'{"a":'.repeat(3000)}1${'}'.repeat(3001)}`,
        // valid JSON nested far deeper than any recursive walk survives
        `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
        ...(op.json && typeOf(merged(op.json)) === 'object'
          ? Object.keys(merged(op.json).properties ?? {})
              .slice(0, 3)
              .map((k) => `{"${k}":${'{"a":'.repeat(50_000)}"\\u0000"${'}'.repeat(50_001)}`)
          : []),
        Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
        '\ufeff{}',
      ];
      for (const m of malformed) await send(op, `malformed JSON ${String(m).slice(0, 20)}`, target, jsonHeaders(m), m);
      await send(op, 'JSON as text/plain', target, ['content-type: text/plain', 'content-length: 2'], '{}');
      await send(op, 'JSON with a bad charset', target, ['content-type: application/json; charset=utf-7', 'content-length: 2'], '{}');
      await send(op, 'raw: JSON, length longer than the body', target, ['content-type: application/json', 'content-length: 100'], '{}');
    }

    // multipart bodies
    if (op.multipart) {
      const field = mp.name;
      const target = pathWith() + qs(baseQuery());
      const bodies: [string, Buffer][] = [
        ['no parts', Buffer.from(`--${B}--\r\n`)],
        ['empty', Buffer.alloc(0)],
        [
          'cut-off boundary',
          Buffer.concat([
            multipartBody(B, [good], false),
            Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${field}"; filename="b.csv"\r\n\r\nab`),
          ]),
        ],
        [
          'CR LF in filename',
          Buffer.concat([
            multipartBody(B, [good], false),
            Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${field}"; filename="b\r\n.csv"\r\n\r\nab\r\n--${B}--\r\n`),
          ]),
        ],
        ['NUL in filename', multipartBody(B, [{ ...good, headers: [`Content-Disposition: form-data; name="${field}"; filename="a\u0000.csv"`] }])],
        [
          'lone surrogate filename',
          multipartBody(B, [{ ...good, headers: [`Content-Disposition: form-data; name="${field}"; filename*=UTF-8''%ED%A0%80.csv`] }]),
        ],
        ['no headers', Buffer.from(`--${B}\r\n\r\nab\r\n--${B}--\r\n`)],
        ['huge header', multipartBody(B, [{ ...good, headers: [`Content-Disposition: form-data; name="${field}"; filename="${'a'.repeat(100_000)}.csv"`] }])],
        ['binary content', multipartBody(B, [{ ...good, content: Buffer.from(Array.from({ length: 4096 }, () => rng.int(256))) }])],
        [
          'many parts',
          multipartBody(
            B,
            Array.from({ length: 300 }, () => good),
          ),
        ],
        ['garbage', Buffer.from(Array.from({ length: 2048 }, () => rng.int(256)))],
      ];
      for (const [what, body] of bodies) await send(op, `multipart ${what}`, target, [ct, `content-length: ${body.length}`], body);
      await send(op, 'multipart without boundary', target, ['content-type: multipart/form-data', 'content-length: 4'], 'abcd');
      // Node refuses a bad chunk size itself and closes the connection: no status is expected.
      const part = multipartBody(B, [good], false);
      await send(
        op,
        'raw: bad chunk size',
        target,
        [ct, 'transfer-encoding: chunked'],
        Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\nzz\r\nx\r\n0\r\n\r\n')]),
      );
      await send(op, 'raw: multipart, length longer than the body', target, [ct, 'content-length: 100000'], Buffer.concat([part]));
    }
  }
  return { cases, failures, ms: Date.now() - started };
}

/**
 * A few real resources (template, category, request, upload, exports) so that path parameters
 * name things that exist and body mutations reach past the lookup. Returns them by parameter name.
 */
export async function createFuzzFixtures(port: number, key: SignedKey): Promise<Record<string, string>> {
  const call = async (method: string, target: string, body?: unknown, headers: string[] = []) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const h = body === undefined ? headers : ['content-type: application/json', `content-length: ${Buffer.byteLength(text)}`, ...headers];
    const res = await signedRaw(port, key, method, target, h, text);
    if (res.status >= 300) throw new Error(`fuzz fixtures: ${method} ${target} answered ${res.status} ${res.body}`);
    return res.json;
  };
  const category = await call('POST', '/api/v1/category', { categoryName: 'fuzz' });
  const template = await call('POST', '/api/v1/template', {
    templateName: 'fuzz',
    title: 'Hi ${NAME}',
    body: '<p>${NAME}</p>',
    senderAddress: 'fuzz@example.com',
    categorySid: category.sid,
  });
  const request = await call('POST', '/api/v1/mails', {
    senderAddress: 'fuzz@example.com',
    title: 'fuzz',
    body: 'fuzz',
    recipients: [{ address: 'fuzz@example.com', type: 'R' }],
    confirmAndSend: true,
  });
  const B = 'fixtureBOUNDARY';
  const file = multipartBody(B, [
    { headers: ['Content-Disposition: form-data; name="fileList"; filename="a.txt"', 'Content-Type: text/plain'], content: 'hello' },
  ]);
  const upload = await signedRaw(
    port,
    key,
    'POST',
    '/api/v1/files',
    [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${file.length}`],
    file,
  );
  if (upload.status !== 201) throw new Error(`fuzz fixtures: POST /files answered ${upload.status} ${upload.body}`);
  const exp = await call('POST', '/api/v1/exports', { view: 'requests' });
  const backup = await call('POST', '/api/v1/template/export/request');
  return {
    categorySid: String(category.sid),
    templateSid: String(template.sid),
    requestId: String(request.requestId),
    tempRequestId: String(upload.json.tempRequestId),
    exportId: String(exp.exportId),
    // the template backup's path parameter is named requestId too
    '/api/v1/template/export/{requestId}:requestId': String(backup.sid),
  };
}

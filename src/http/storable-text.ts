import type { NextFunction, Request, Response } from 'express';
import { badRequest } from '../shared/errors.ts';

/**
 * Text PostgreSQL can't store: U+0000 (refused in text and jsonb) and lone UTF-16 surrogates
 * (JSON's "\ud800" parses to one; it has no UTF-8 form, so text gets U+FFFD or the query fails).
 * Refused once, at the edge, for every JSON body and query parameter, instead of surfacing as a
 * 500 from whichever statement stores or compares it first.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding U+0000 is the point
const SUSPECT = /[\u0000\ud800-\udfff]/;

function problemOf(text: string): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (text.includes('\u0000')) return 'must not contain the character U+0000 (NUL)';
  if (!text.isWellFormed()) return 'must not contain a lone surrogate (\\ud800-\\udfff without its pair: not valid Unicode)';
  return undefined;
}

const MAX_PATH_CHARS = 200;
const keyPath = (parent: string, key: string | number): string => {
  // A path through a deeply nested body would make the message (and each step) huge.
  if (parent.length > MAX_PATH_CHARS) return parent.endsWith('…') ? parent : `${parent}…`;
  return typeof key === 'number' ? `${parent}[${key}]` : parent ? `${parent}.${key.slice(0, MAX_PATH_CHARS)}` : key.slice(0, MAX_PATH_CHARS);
};

/**
 * The first string (value or object key) of a parsed JSON value that can't be stored, as
 * "field: rule" naming it as clients know it ("recipients[0].parameters.NAME"); undefined when all
 * are fine. Iterative: a deeply nested body must not exhaust the stack.
 */
export function findUnstorableText(value: unknown, root = ''): string | undefined {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length) {
    const [v, at] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = problemOf(v);
      if (problem) return `${at || 'body'}: ${problem}`;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], keyPath(at, i)]);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const problem = problemOf(k);
        // The key itself is shown escaped: it is what is wrong.
        if (problem) return `${keyPath(at, JSON.stringify(k).slice(1, -1))}: the name ${problem}`;
        stack.push([child, keyPath(at, k)]);
      }
    }
  }
  return undefined;
}

const SUSPECT_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;
/** searched a slice at a time (a regular expression over one-byte text), overlapping by an escape's length */
const SLICE_BYTES = 1024 * 1024;

/**
 * Whether JSON text may parse to a NUL or a lone surrogate. In JSON text both can only be written
 * as escapes (a raw NUL is not allowed in a string; UTF-8 has no surrogates, and invalid bytes
 * decode to U+FFFD), so text without `\u0000` or `\uD800`-`\uDFFF` needs no walk. For a 90 MB body
 * (100,000 recipients x 18 parameters) walking the parsed form took 0.6-2.3 s, this search
 * 20-80 ms, and a few hundred ms when every non-ASCII character is escaped (on this shared
 * 2-core machine).
 */
export function mayHoldUnstorableText(json: Buffer): boolean {
  // Most clients send raw UTF-8 and no escape at all; Python's json.dumps escapes all non-ASCII.
  if (json.indexOf('\\u') < 0) return false;
  for (let at = 0; at < json.length; at += SLICE_BYTES) {
    if (SUSPECT_ESCAPE.test(json.toString('latin1', at, Math.min(json.length, at + SLICE_BYTES + 5)))) return true;
  }
  return false;
}

/** Middleware after the JSON parser: 400/77102 naming the first body field or query parameter with unstorable text. */
export function refuseUnstorableText() {
  return (req: Request, _res: Response, next: NextFunction) => {
    const raw = (req as Request & { rawBody?: Buffer }).rawBody;
    const bodyToCheck = req.body !== undefined && (!raw || mayHoldUnstorableText(raw));
    const problem = findUnstorableText(req.query) ?? (bodyToCheck ? findUnstorableText(req.body) : undefined);
    next(problem ? badRequest(problem) : undefined);
  };
}

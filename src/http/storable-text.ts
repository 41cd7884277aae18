import type { NextFunction, Request, Response } from 'express';
import { badRequest } from '../shared/errors.ts';

/**
 * Text PostgreSQL can't store: U+0000 (refused in text and jsonb) and lone UTF-16 surrogates
 * (JSON's "\ud800" parses to one; it has no UTF-8 form, so text gets U+FFFD or the query fails).
 * Refused once, at the edge, for every JSON body and query parameter, instead of surfacing as a
 * 500 from whichever statement stores or compares it first.
 */
const SUSPECT = /[\u0000\ud800-\udfff]/;

function problemOf(text: string): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (text.includes('\u0000')) return 'must not contain the character U+0000 (NUL)';
  if (!text.isWellFormed()) return 'must not contain a lone surrogate (\\ud800-\\udfff without its pair: not valid Unicode)';
  return undefined;
}

const keyPath = (parent: string, key: string | number) => (typeof key === 'number' ? `${parent}[${key}]` : parent ? `${parent}.${key}` : key);

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

/** Middleware after the JSON parser: 400/77102 naming the first body field or query parameter with unstorable text. */
export function refuseUnstorableText() {
  return (req: Request, _res: Response, next: NextFunction) => {
    const problem = findUnstorableText(req.query) ?? (req.body !== undefined ? findUnstorableText(req.body) : undefined);
    next(problem ? badRequest(problem) : undefined);
  };
}

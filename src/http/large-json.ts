/**
 * JSON.parse of a large request body without the body as one string: a 63 MB body would be a
 * 63 MB string beside the raw bytes and the objects built from them. The elements of the
 * top-level "recipients" array (nearly all of a large createMailRequest) are parsed one at a
 * time from the bytes, the rest of the object with the array left empty; the result is what
 * JSON.parse of the whole text gives. Anything the scan does not expect (no object at the top,
 * "recipients" twice or not an array, broken structure) goes to plain JSON.parse, which
 * parses it or reports the syntax error just the same.
 */
export function parseLargeJson(raw: Buffer, arrayKey = 'recipients'): unknown {
  return parseFound(raw, findTopLevelArray(raw, arrayKey), arrayKey);
}

type Found = ReturnType<typeof findTopLevelArray>;

function parseFound(raw: Buffer, found: Found, arrayKey: string): unknown {
  if (!found) return JSON.parse(raw.toString('utf8'));
  const rest = parseRest(raw, found);
  const items: unknown[] = new Array(found.elements.length / 2);
  for (let i = 0; i < found.elements.length; i += 2) items[i / 2] = JSON.parse(raw.toString('utf8', found.elements[i], found.elements[i + 1]));
  rest[arrayKey] = items;
  return rest;
}

/** The body with the array left empty. */
function parseRest(raw: Buffer, found: NonNullable<Found>): Record<string, unknown> {
  return JSON.parse(raw.toString('utf8', 0, found.start) + '[]' + raw.toString('utf8', found.end)) as Record<string, unknown>;
}

/**
 * The elements of a body's top-level array, left as bytes: each is parsed when asked for, and
 * nothing keeps it. A 100,000-recipient body (63 MB) held as objects is about 170 MB of heap
 * (measured: 562 MB peak RSS for one such POST); as bytes it is the body's own size.
 */
export interface JsonElements {
  readonly length: number;
  /** the elements' bytes in the body, all together */
  readonly bytes: number;
  /** JSON.parse of element i (undefined outside 0..length-1): a fresh value on every call; SyntaxError as JSON.parse throws it */
  at(i: number): unknown;
}

/**
 * parseLargeJson, except that a top-level `arrayKey` array of at least `minElements` elements is
 * left unparsed: the body has it empty and `deferred` gives its elements one at a time. The
 * elements' structure is scanned (nesting, strings); their full syntax is checked as each is
 * parsed.
 */
export function parseLargeJsonDeferring(raw: Buffer, arrayKey: string, minElements: number): { body: unknown; deferred?: JsonElements } {
  const found = findTopLevelArray(raw, arrayKey);
  if (!found || found.elements.length / 2 < minElements) return { body: parseFound(raw, found, arrayKey) };
  const bounds = Float64Array.from(found.elements);
  let bytes = 0;
  for (let i = 0; i < bounds.length; i += 2) bytes += bounds[i + 1]! - bounds[i]!;
  return {
    body: parseRest(raw, found),
    deferred: {
      length: bounds.length / 2,
      bytes,
      at: (i) => (Number.isInteger(i) && i >= 0 && 2 * i < bounds.length ? JSON.parse(raw.toString('utf8', bounds[2 * i], bounds[2 * i + 1])) : undefined),
    },
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Index just past the string that starts at `i` (a quote), or -1 if it does not end. */
function skipString(b: Buffer, i: number): number {
  for (let j = i + 1; j < b.length; j++) {
    const c = b[j]!;
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return -1;
}

/** Index just past the value that starts at `i` (the first non-space byte), scanning only its nesting; -1 if it does not end. */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const d = b[j]!;
      if (d === QUOTE) {
        j = skipString(b, j) - 1;
        if (j < 0) return -1;
      } else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // a number, true, false or null: up to the next delimiter
  let j = i;
  while (j < b.length && b[j] !== 0x2c && b[j] !== 0x7d && b[j] !== 0x5d && !isSpace(b[j]!)) j++;
  return j;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && isSpace(b[i]!)) i++;
  return i;
}

/** The byte range of the top-level `key` array and its elements' ranges (start, end pairs), or undefined to fall back. */
function findTopLevelArray(b: Buffer, key: string): { start: number; end: number; elements: number[] } | undefined {
  let i = skipSpace(b, 0);
  if (b[i] !== 0x7b) return undefined;
  i = skipSpace(b, i + 1);
  let found: { start: number; end: number; elements: number[] } | undefined;
  while (i < b.length && b[i] !== 0x7d) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = skipString(b, i);
    if (keyEnd < 0) return undefined;
    let name: unknown;
    try {
      name = JSON.parse(b.toString('utf8', i, keyEnd));
    } catch {
      return undefined;
    }
    i = skipSpace(b, keyEnd);
    if (b[i] !== 0x3a) return undefined;
    i = skipSpace(b, i + 1);
    if (name === key) {
      if (found || b[i] !== 0x5b) return undefined;
      const elements: number[] = [];
      const start = i;
      let j = skipSpace(b, i + 1);
      if (b[j] !== 0x5d) {
        for (;;) {
          const end = skipValue(b, j);
          if (end <= j) return undefined;
          elements.push(j, end);
          j = skipSpace(b, end);
          if (b[j] === 0x5d) break;
          if (b[j] !== 0x2c) return undefined;
          j = skipSpace(b, j + 1);
        }
      }
      found = { start, end: j + 1, elements };
      i = j + 1;
    } else {
      const end = skipValue(b, i);
      if (end <= i) return undefined;
      i = end;
    }
    i = skipSpace(b, i);
    if (b[i] === 0x2c) i = skipSpace(b, i + 1);
    else if (b[i] !== 0x7d) return undefined;
  }
  return found;
}

/**
 * Substitution tags: `${NAME}` user tags (recipient parameters, else request parameters) and
 * `#{NAME}` meta tags filled from the mail itself. A template is compiled once per request and
 * then rendered per recipient by joining parts, which keeps the hot path free of regex work.
 */
export const META_TAGS = ['RECIPIENT_NAME', 'RECIPIENT_ADDRESS', 'SENDER_NAME', 'SENDER_ADDRESS', 'UNSUBSCRIBE_URL', 'UNSUBSCRIBE_MESSAGE'] as const;
export type MetaTag = (typeof META_TAGS)[number];

type Part = { kind: 'text'; text: string } | { kind: 'user'; name: string; raw: string } | { kind: 'meta'; name: string; raw: string };

export interface CompiledTemplate {
  parts: Part[];
  userTags: string[];
  metaTags: string[];
  /** #{...} names that are not meta tags (refused at POST; left as written when rendering) */
  unknownMetaTags: string[];
}

// A user tag's name is any text but "}" (the guide sets no rule on names; spaces occur, as in
// recipient-file column headers). A meta tag is one of META_TAGS, in capitals exactly.
const TAG = /\$\{([^}]{1,100})\}|#\{([^{}\s]{1,100})\}/g;

export function compileTemplate(text: string): CompiledTemplate {
  const parts: Part[] = [];
  const userTags = new Set<string>();
  const metaTags = new Set<string>();
  const unknownMetaTags = new Set<string>();
  let last = 0;
  for (const m of text.matchAll(TAG)) {
    if (m.index > last) parts.push({ kind: 'text', text: text.slice(last, m.index) });
    if (m[1] !== undefined) {
      parts.push({ kind: 'user', name: m[1], raw: m[0] });
      userTags.add(m[1]);
    } else {
      const name = m[2]!;
      if ((META_TAGS as readonly string[]).includes(name)) {
        parts.push({ kind: 'meta', name, raw: m[0] });
        metaTags.add(name);
      } else {
        parts.push({ kind: 'text', text: m[0] });
        unknownMetaTags.add(name);
      }
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) });
  return { parts, userTags: [...userTags], metaTags: [...metaTags], unknownMetaTags: [...unknownMetaTags] };
}

export type Params = Record<string, unknown> | null | undefined;

export interface RenderValues {
  recipientParams?: Params;
  requestParams?: Params;
  meta: Partial<Record<MetaTag, string | null | undefined>>;
}

export type RenderResult = { ok: true; text: string } | { ok: false; missingTag: string };

function paramValue(params: Params, name: string): string | undefined {
  // Own keys only: a tag named ${constructor} must not find Object.prototype's.
  if (!params || !Object.hasOwn(params, name)) return undefined;
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  return String(v);
}

/** Renders a compiled template; a user tag with no value makes the result fail (CONTENT_HAS_TAG_FORM). */
export function renderTemplate(tpl: CompiledTemplate, values: RenderValues): RenderResult {
  if (tpl.parts.length === 1 && tpl.parts[0]!.kind === 'text') return { ok: true, text: tpl.parts[0]!.text };
  let out = '';
  for (const p of tpl.parts) {
    if (p.kind === 'text') out += p.text;
    else if (p.kind === 'user') {
      const v = paramValue(values.recipientParams, p.name) ?? paramValue(values.requestParams, p.name);
      if (v === undefined) return { ok: false, missingTag: p.name };
      out += v;
    } else out += values.meta[p.name as MetaTag] ?? '';
  }
  return { ok: true, text: out };
}

/** Like renderTemplate, but leaves a tag without value as written (for showing a mail that failed). */
export function renderLeniently(tpl: CompiledTemplate, values: RenderValues): string {
  let out = '';
  for (const p of tpl.parts) {
    if (p.kind === 'text') out += p.text;
    else if (p.kind === 'user') out += paramValue(values.recipientParams, p.name) ?? paramValue(values.requestParams, p.name) ?? p.raw;
    else out += values.meta[p.name as MetaTag] ?? '';
  }
  return out;
}

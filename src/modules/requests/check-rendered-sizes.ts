import { badRequest } from '../../shared/errors.ts';
import { compileTemplate } from '../../shared/render-tags.ts';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export interface RenderedSizeInput {
  title: string;
  body: string;
  /** the request's parameters */
  parameters: Record<string, unknown> | null;
  limits: { titleBytes: number; bodyBytes: number };
}

/** Bytes of a template with every `${tag}` counted once per occurrence: the rendered size is the rest plus each value times its count. */
function shapeOf(text: string) {
  const tpl = compileTemplate(text);
  let fixed = 0;
  const counts = new Map<string, number>();
  for (const p of tpl.parts) {
    if (p.kind === 'user') counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
    // Meta tags count as written: their values (names, addresses, the unsubscribe link) are the
    // service's and bounded, and are checked with the rest when each mail is built.
    else fixed += bytes(p.kind === 'text' ? p.text : p.raw);
  }
  return { fixed, counts };
}

/**
 * The title and body as they will be rendered with the tag values the request carries (the
 * recipient's value, else the request's; a missing one fails only that recipient later) must
 * stay within the title and body limits: `title: "${X}"` with a 5 MB X is refused, naming the
 * first recipient it happens for. Returns the check of one set of a recipient's own values
 * (null: the request's alone), or undefined when neither text has a tag. Values from recipient
 * files are checked when each mail is built (delivery fails that recipient with
 * MIME_MESSAGE_CREATE_FAIL). Pure.
 */
export function renderedSizeCheck(input: RenderedSizeInput): ((own: Record<string, unknown> | null, where: string) => void) | undefined {
  const fields = [
    { field: 'title', shape: shapeOf(input.title), max: input.limits.titleBytes, unit: (n: number) => `${n} bytes` },
    { field: 'body', shape: shapeOf(input.body), max: input.limits.bodyBytes, unit: (n: number) => `${Math.ceil(n / 1024)} KB` },
  ]
    .filter((f) => f.shape.counts.size > 0)
    .map((f) => ({ ...f, tags: [...f.shape.counts.entries()] }));
  if (fields.length === 0) return undefined;
  const paramValue = (params: Record<string, unknown> | null, name: string): string | undefined =>
    params && Object.hasOwn(params, name) ? String(params[name]) : undefined;
  return (own, where) => {
    for (const f of fields) {
      // A string of n UTF-16 units is at most 3n UTF-8 bytes: exact sizes only when that bound is over.
      let bound = f.shape.fixed;
      for (const [name, count] of f.tags) bound += ((paramValue(own, name) ?? paramValue(input.parameters, name))?.length ?? name.length + 3) * 3 * count;
      if (bound <= f.max) continue;
      let total = f.shape.fixed;
      for (const [name, count] of f.tags) {
        const value = paramValue(own, name) ?? paramValue(input.parameters, name);
        // no value: the tag stays as written (the recipient fails with CONTENT_HAS_TAG_FORM)
        total += (value === undefined ? name.length + 3 : bytes(value)) * count;
      }
      if (total > f.max)
        throw badRequest(`${f.field}: at most ${f.unit(f.max)} after tag substitution; with the parameters of ${where} it is ${f.unit(total)}`);
    }
  };
}

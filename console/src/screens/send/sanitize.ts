/**
 * The rich-text editor's HTML, made safe. The API stores and sends a body as given (it has no
 * sanitiser), and what is pasted into a contentEditable (or loaded into it from a template) may
 * carry scripts, event handlers and javascript: links. The editor's content is parsed in an inert
 * document (DOMParser runs nothing and loads nothing), cleaned here, and only then shown or sent.
 * The console's CSP (script-src 'self') would block such scripts anyway; this keeps them out of
 * the mail too.
 */

const DROP = new Set([
  'script',
  'style',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'base',
  'link',
  'meta',
  'form',
  'input',
  'button',
  'select',
  'textarea',
  'noscript',
  'template',
  'svg',
  'math',
]);

const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'background', 'poster', 'srcset']);

/** Link targets allowed in the mail: web, mail and phone links, in-page anchors and the tags. */
function safeUrl(value: string): boolean {
  // Browsers ignore whitespace and control characters in a scheme ("java\tscript:").
  const v = [...value]
    .filter((c) => c.charCodeAt(0) > 0x20)
    .join('')
    .toLowerCase();
  if (v.startsWith('#{') || v.startsWith('${') || v.startsWith('#')) return true;
  if (!/^[a-z][a-z0-9+.-]*:/.test(v)) return true; // relative
  return /^(https?|mailto|tel|cid):/.test(v) || /^data:image\/(png|gif|jpe?g|webp);/.test(v);
}

function clean(node: Element) {
  for (const child of [...node.children]) {
    const name = child.localName;
    if (DROP.has(name)) {
      child.remove();
      continue;
    }
    for (const attr of [...child.attributes]) {
      const a = attr.name.toLowerCase();
      if (a.startsWith('on') || a === 'srcdoc' || a === 'contenteditable' || (URL_ATTRS.has(a) && !safeUrl(attr.value))) child.removeAttribute(attr.name);
      else if (a === 'style' && /expression\s*\(|url\s*\(\s*['"]?\s*javascript:/i.test(attr.value)) child.removeAttribute(attr.name);
    }
    clean(child);
  }
}

/** The HTML with scripts, event handlers, active content and unsafe links removed. */
export function sanitizeHtml(html: string): string {
  const doc = new DOMParser().parseFromString(`<!doctype html><body>${html}`, 'text/html');
  clean(doc.body);
  // Comments can't run anything, but conditional comments of old mail clients are dropped too.
  const walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_COMMENT);
  const comments: Node[] = [];
  while (walker.nextNode()) comments.push(walker.currentNode);
  for (const c of comments) c.parentNode?.removeChild(c);
  return doc.body.innerHTML;
}

/** Parsed sanitised nodes, to put into the live editor without ever assigning raw HTML to it. */
export function sanitizedFragment(html: string, into: Document): DocumentFragment {
  const doc = new DOMParser().parseFromString(`<!doctype html><body>${sanitizeHtml(html)}`, 'text/html');
  const fragment = into.createDocumentFragment();
  for (const n of [...doc.body.childNodes]) fragment.append(into.importNode(n, true));
  return fragment;
}

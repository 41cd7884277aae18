/**
 * Whether a rendered HTML body shows nothing (pure): no text once tags, comments, the head,
 * styles and scripts are gone and invisible spaces (nbsp, zero-width) are ignored, and no element
 * that shows something by itself (an image, a video, a form control...). Such a mail fails with
 * EMPTY_BODY_CONTENT instead of going out empty (e.g. a body of `${B}` with B = "").
 */
const INVISIBLE_BLOCKS = /<!--[\s\S]*?(?:-->|$)|<(head|style|script|template)\b[\s\S]*?(?:<\/\1\s*>|$)/gi;
const CONTENT_ELEMENTS = /<(img|svg|video|audio|iframe|object|embed|canvas|input|textarea|select|button|math)\b/i;
const INVISIBLE_ENTITIES = /&(?:nbsp|zwnj|zwj|ZeroWidthSpace|#0*160|#x0*a0|#0*820[3-5]|#x0*200[b-d]|#0*65279|#x0*feff);/gi;
const INVISIBLE_CHARS = /^[\s\u00a0\u200b-\u200d\ufeff]*$/;

export function isBlankHtml(html: string): boolean {
  const visible = html.replace(INVISIBLE_BLOCKS, '');
  if (CONTENT_ELEMENTS.test(visible)) return false;
  return INVISIBLE_CHARS.test(visible.replace(/<[^>]*>?/g, '').replace(INVISIBLE_ENTITIES, ''));
}

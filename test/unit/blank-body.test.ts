import { describe, expect, it } from '@jest/globals';
import { isBlankHtml } from '../../src/modules/delivery/blank-body.ts';

describe('isBlankHtml', () => {
  it.each([
    '',
    '   \n',
    '<div></div>',
    '<p> &nbsp; </p><br>',
    '<p>&#160;&#xA0;&ZeroWidthSpace;\u200b</p>',
    '<html><head><title>Title</title><style>p{color:red}</style></head><body><!-- nothing --></body></html>',
    '<script>alert(1)</script>',
    '<table><tr><td> </td></tr></table>',
  ])('%j is blank', (html) => expect(isBlankHtml(html)).toBe(true));

  it.each([
    'x',
    '<p>hello</p>',
    '<img src="https://example.com/a.png">',
    '<p>&amp;</p>',
    '<svg viewBox="0 0 1 1"></svg>',
    '<a href="https://example.com">link</a>',
    '<!-- a --> b',
  ])('%j is not blank', (html) => expect(isBlankHtml(html)).toBe(false));
});

import { describe, expect, it } from '@jest/globals';
import { rememberedConversions, templateToText } from '../../src/modules/delivery/request-context.ts';
import { requestContext } from '../helpers/request-context.ts';
import { compileTemplate } from '../../src/shared/render-tags.ts';

/** A converter that counts its calls per HTML. */
function counting() {
  const calls = new Map<string, number>();
  const convert = (html: string) => {
    calls.set(html, (calls.get(html) ?? 0) + 1);
    return html.toUpperCase();
  };
  return { convert, calls };
}

describe('text alternatives of templates', () => {
  it('converts a template seen again once, keyed by its text, not by the string object', () => {
    const { convert, calls } = counting();
    const toText = rememberedConversions(convert, 1_000);
    const body = '<p>Hello ${NAME}</p>';
    for (let i = 0; i < 5; i++) expect(toText((body + ' ').slice(0, -1))).toBe('<P>HELLO ${NAME}</P>');
    expect(calls.get(body)).toBe(1);
    expect(toText('<p>other</p>')).toBe('<P>OTHER</P>');
    expect(calls.get('<p>other</p>')).toBe(1);
  });

  it('holds at most its characters, dropping the template used least lately first', () => {
    const { convert, calls } = counting();
    // each entry is 2 x 10 characters: eight fit in 160 (and none is over an eighth of it)
    const toText = rememberedConversions(convert, 160);
    const html = (i: number) => `<p>${String(i).padStart(3, '0')}</p>`;
    for (let i = 0; i < 8; i++) toText(html(i));
    toText(html(0)); // 0 is now the latest used; 1 is the least
    toText(html(8)); // one has to go: 1
    for (const i of [0, 2, 3, 4, 5, 6, 7, 8]) toText(html(i));
    for (const i of [0, 2, 3, 4, 5, 6, 7, 8]) expect(calls.get(html(i))).toBe(1);
    toText(html(1));
    expect(calls.get(html(1))).toBe(2);
  });

  it('converts a template larger than an eighth of its room every time, keeping the others', () => {
    const { convert, calls } = counting();
    const toText = rememberedConversions(convert, 800);
    const small = '<p>small</p>';
    const large = `<p>${'x'.repeat(60)}</p>`; // 67 characters, 134 with its text: over 100
    toText(small);
    for (let i = 0; i < 3; i++) expect(toText(large)).toBe(large.toUpperCase());
    expect(calls.get(large)).toBe(3);
    toText(small);
    expect(calls.get(small)).toBe(1);
  });

  it("the service's conversion keeps what a request's context converted, and gives it again", () => {
    const html = `<p>Dear \${NAME}, <a href="#{UNSUBSCRIBE_URL}">stop</a> ${Math.random()}</p>`;
    expect(templateToText.has(html)).toBe(false);
    const ctx = requestContext({ body: html });
    expect(templateToText.has(html)).toBe(true);
    const first = templateToText(html);
    expect(first).toMatch(/^Dear \$\{NAME\}, stop \[#\{UNSUBSCRIBE_URL\}\] 0\.\d+$/);
    expect(ctx.text).toEqual(compileTemplate(first));
    expect(templateToText((html + ' ').slice(0, -1))).toBe(first);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from '@jest/globals';

// A newcomer follows the README: every file it names and every link in it must lead somewhere.
const readme = fs.readFileSync('README.md', 'utf8');
const REPO_DIRS = /^(src|test|scripts|bin|bench|openapi|examples|migrations|postman|\.ci)\//;

function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** A Markdown page's heading anchors as GitHub makes them: fenced code left out, a repeated one numbered (-1, -2 ...). */
function anchorsOf(text: string): Set<string> {
  const prose = text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose.matchAll(/^#+ (.+)$/gm)) {
    const base = anchorOf(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n ? `${base}-${n}` : base);
  }
  return anchors;
}

/** Each page's anchors, read once however many links name it. */
const pageAnchors = new Map<string, Set<string>>();
function anchorsOfPage(page: string): Set<string> {
  const known = pageAnchors.get(page);
  if (known) return known;
  const anchors = anchorsOf(fs.readFileSync(page, 'utf8'));
  pageAnchors.set(page, anchors);
  return anchors;
}

/** The relative links of a page (in the repository) that lead nowhere: no such file, or no such heading in a linked page. */
function brokenLinks(page: string): string[] {
  const text = fs.readFileSync(page, 'utf8');
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  return links.filter((link) => {
    const [file, anchor] = link.split('#') as [string, string | undefined];
    const target = file ? path.normalize(path.join(path.dirname(page), file)) : page;
    if (!fs.existsSync(target)) return true;
    return anchor !== undefined && target.endsWith('.md') && !anchorsOfPage(target).has(anchor);
  });
}

it('every repository path the README names exists', () => {
  const named = [...readme.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!).filter((p) => REPO_DIRS.test(p) && !/[<>*…]/.test(p));
  expect(named.length).toBeGreaterThan(10);
  expect(named.filter((p) => !fs.existsSync(p))).toEqual([]);
});

it('every link points at a file in the repository or a heading of the README (or of the page it names)', () => {
  expect(brokenLinks('README.md')).toEqual([]);
  expect(readme).not.toMatch(/\.\.\/shared\//);
});

it('every link in docs/ points at a file in the repository, and at a heading of the page it names', () => {
  const pages = fs.readdirSync('docs').filter((f) => f.endsWith('.md'));
  expect(pages.flatMap((f) => brokenLinks(path.join('docs', f)).map((l) => `docs/${f}: ${l}`))).toEqual([]);
});

it('heading anchors are made as GitHub makes them', () => {
  const page = '# Top\n\n## The baseline\n\n```sh\n# not a heading\n```\n\n## The baseline\n\n### `bench:send` (fast)\n';
  expect([...anchorsOf(page)]).toEqual(['top', 'the-baseline', 'the-baseline-1', 'benchsend-fast']);
});

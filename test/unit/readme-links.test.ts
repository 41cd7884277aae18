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

it('every repository path the README names exists', () => {
  const named = [...readme.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!).filter((p) => REPO_DIRS.test(p) && !/[<>*…]/.test(p));
  expect(named.length).toBeGreaterThan(10);
  expect(named.filter((p) => !fs.existsSync(p))).toEqual([]);
});

it('every link points at a file in the repository or a heading of the README', () => {
  const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => anchorOf(m[1]!)));
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  expect(links.filter((l) => (l.startsWith('#') ? !anchors.has(l.slice(1)) : !fs.existsSync(l.split('#')[0]!)))).toEqual([]);
  expect(readme).not.toMatch(/\.\.\/shared\//);
});

it('every link in docs/ points at a file in the repository, and into the README or its own page at a heading', () => {
  const headings = (text: string) => new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => anchorOf(m[1]!)));
  const broken: string[] = [];
  for (const name of fs.readdirSync('docs').filter((f) => f.endsWith('.md'))) {
    const page = path.join('docs', name);
    const text = fs.readFileSync(page, 'utf8');
    for (const link of [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l))) {
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file ? path.normalize(path.join('docs', file)) : page;
      const ok = fs.existsSync(target) && (!anchor || !target.endsWith('.md') || headings(fs.readFileSync(target, 'utf8')).has(anchor));
      if (!ok) broken.push(`${page}: ${link}`);
    }
  }
  expect(broken).toEqual([]);
});

import { expect, it } from '@jest/globals';
import { randomToken } from '../../src/modules/projects/projects.service.ts';

// A key starting with "-" reads as an option on a command line: `npm run keys -- revoke -RAx…`
// failed as a usage error (one key in 64 did before). 5,000 draws would include ~78 such keys.
it('access and secret keys are base64url of their length and never start with "-"', () => {
  const tokens = Array.from({ length: 5_000 }, () => randomToken(15));
  expect(tokens.filter((t) => t.startsWith('-'))).toEqual([]);
  expect(tokens.every((t) => /^[A-Za-z0-9_][A-Za-z0-9_-]{19}$/.test(t))).toBe(true);
  expect(new Set(tokens).size).toBe(tokens.length);
});

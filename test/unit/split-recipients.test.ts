import { describe, it, expect } from '@jest/globals';
import { splitRecipients, GENERAL_MAIL_MAX_RECIPIENTS } from '../../src/modules/requests/split-recipients.ts';

type T = 'R' | 'C' | 'B';
interface Rcpt {
  address: string;
  type: T;
}

const make = (type: T, n: number, prefix = type.toLowerCase()): Rcpt[] => Array.from({ length: n }, (_, i) => ({ address: `${prefix}${i}@example.com`, type }));

/** Groups the ordered recipients by their mail index. */
const mails = <X>(split: { ordered: X[]; mailIndex: number[]; mailCount: number }): X[][] => {
  const out: X[][] = Array.from({ length: split.mailCount }, () => []);
  for (const [i, r] of split.ordered.entries()) out[split.mailIndex[i]!]!.push(r);
  return out;
};

describe('splitRecipients: individual', () => {
  it.each([0, 1, 2, 31, 100])('%i recipients give one mail each, in input order', (n) => {
    const list = make('R', n);
    const split = splitRecipients(list, true);
    expect(split.ordered).toEqual(list);
    expect(split.mailIndex).toEqual(list.map((_, i) => i));
    expect(split.mailCount).toBe(n);
  });

  it('does not reorder by type (individual mode never regroups)', () => {
    const list: Rcpt[] = [
      { address: 'b@x.co', type: 'B' },
      { address: 'r@x.co', type: 'R' },
    ];
    expect(splitRecipients(list, true).ordered).toEqual(list);
  });
});

describe('splitRecipients: general', () => {
  it('caps a mail at 30 recipients', () => {
    expect(GENERAL_MAIL_MAX_RECIPIENTS).toBe(30);
  });

  it('orders R, then C, then B, keeping input order within each type', () => {
    const list: Rcpt[] = [
      { address: 'b1@x.co', type: 'B' },
      { address: 'c1@x.co', type: 'C' },
      { address: 'r1@x.co', type: 'R' },
      { address: 'b2@x.co', type: 'B' },
      { address: 'r2@x.co', type: 'R' },
      { address: 'c2@x.co', type: 'C' },
      { address: 'r3@x.co', type: 'R' },
    ];
    const split = splitRecipients(list, false);
    expect(split.ordered.map((r) => r.address)).toEqual(['r1@x.co', 'r2@x.co', 'r3@x.co', 'c1@x.co', 'c2@x.co', 'b1@x.co', 'b2@x.co']);
    expect(split.mailIndex).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(split.mailCount).toBe(1);
  });

  it('keeps input order within a type for a large list (stable)', () => {
    const list = make('R', 200);
    expect(splitRecipients(list, false).ordered).toEqual(list);
  });

  it('does not mutate the input array', () => {
    const list: Rcpt[] = [
      { address: 'c@x.co', type: 'C' },
      { address: 'r@x.co', type: 'R' },
    ];
    const copy = [...list];
    splitRecipients(list, false);
    expect(list).toEqual(copy);
  });

  type Row = [n: number, mailCount: number, sizes: number[]];
  const rows: Row[] = [
    [0, 0, []],
    [1, 1, [1]],
    [29, 1, [29]],
    [30, 1, [30]],
    [31, 2, [30, 1]],
    [59, 2, [30, 29]],
    [60, 2, [30, 30]],
    [61, 3, [30, 30, 1]],
    [1000, 34, [...Array(33).fill(30), 10]],
  ];

  it.each(rows)('%i type R recipients → %i mails', (n, mailCount, sizes) => {
    const split = splitRecipients(make('R', n), false);
    expect(split.mailCount).toBe(mailCount);
    expect(split.mailIndex).toHaveLength(n);
    expect(mails(split).map((m) => m.length)).toEqual(sizes);
    // mail indices never decrease and every mail is used
    for (let i = 1; i < n; i++) expect(split.mailIndex[i]!).toBeGreaterThanOrEqual(split.mailIndex[i - 1]!);
    expect(new Set(split.mailIndex).size).toBe(mailCount);
  });

  it('cuts across types after ordering: 29 R + 2 C + 30 B', () => {
    const list = [...make('B', 30), ...make('C', 2), ...make('R', 29)];
    const split = splitRecipients(list, false);
    expect(split.mailCount).toBe(3);
    const [m0, m1, m2] = mails(split);
    expect(m0!.map((r) => r.type)).toEqual([...Array(29).fill('R'), 'C']);
    expect(m1!.map((r) => r.type)).toEqual(['C', ...Array(29).fill('B')]);
    expect(m2!.map((r) => r.address)).toEqual(['b29@example.com']);
  });

  it('mailIndex is floor(position / 30) over the ordered list', () => {
    const split = splitRecipients([...make('C', 5), ...make('R', 60)], false);
    for (const [i, m] of split.mailIndex.entries()) expect(m).toBe(Math.floor(i / 30));
    expect(split.ordered.slice(60).every((r) => r.type === 'C')).toBe(true);
  });

  it('keeps extra fields of the recipient objects', () => {
    const list = [{ address: 'a@x.co', type: 'R' as const, name: 'A', parameters: { k: 'v' } }];
    expect(splitRecipients(list, false).ordered[0]).toBe(list[0]);
  });
});
